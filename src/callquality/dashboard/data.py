"""What the dashboard shows, computed from any backend (no Streamlit here).

Everything goes through the protocols (:class:`~callquality.protocols.FeatureStore`,
:class:`~callquality.protocols.Registry`, :class:`~callquality.protocols.PredictionLog`), plus
``read_feature_view(..., store="online")`` where the feature store has it (local and
Snowflake do) to list the calls; without it the calls are those of the prediction log.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..coaching import (
    CallPrediction,
    CoachingEngine,
    CoachingReport,
    coach_rows,
    plain_value,
)
from ..exceptions import CallQualityError, ConfigurationError
from ..schema import FEATURES
from ..serving import LoadedModel, OnlineFeatures, load_registered, online_views, parse_model_ref

__all__ = [
    "CALL_METRICS",
    "CallDetails",
    "DashboardConfig",
    "MonitoringView",
    "call_details",
    "feature_table",
    "headline",
    "list_calls",
    "load_monitoring",
    "resolve_model",
]

#: Schema features shown as the call's metrics (when present).
CALL_METRICS: tuple[str, ...] = (
    "call_duration_sec", "agent_talk_ratio", "speaking_rate_wpm", "agent_speaking_rate_wpm",
    "interruption_count", "overtalk_ratio", "silence_ratio", "avg_pause_duration_sec",
    "long_silence_count", "longest_monologue_sec", "turn_taking_rate", "avg_pitch_hz",
)
_SPECS = {s.name: s for s in FEATURES}

ENV_STORE = "CALLQUALITY_STORE"
ENV_BACKEND = "CALLQUALITY_BACKEND"
ENV_MODEL = "CALLQUALITY_MODEL"
ENV_REFRESH = "CALLQUALITY_REFRESH_S"


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard reads from.

    Attributes:
        backend: backend name for :func:`callquality.connect`.
        options: its options (``{"path": store}`` for ``local``).
        model: the model reference whose predictions and coaching are shown.
        refresh_s: auto-refresh interval in seconds (0: off).
    """

    backend: str = "local"
    options: Mapping[str, Any] = field(default_factory=dict)
    model: str = "call_quality@PRODUCTION"
    refresh_s: float = 30.0

    @property
    def store(self) -> str | None:
        """The local store folder, if any."""
        path = self.options.get("path")
        return None if path is None else str(path)

    def connect(self) -> Any:
        """``cq.connect(backend, **options)``.

        Raises:
            ConfigurationError: the local backend without a store folder (the dashboard
                reads what another process wrote; an in-memory store would be empty).
        """
        from ..backends import connect

        if self.backend == "local" and not self.store:
            raise ConfigurationError(
                "dashboard: no store given; run `callquality dashboard --store ./cq-store` "
                f"(or set {ENV_STORE})")
        return connect(self.backend, **dict(self.options))

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> DashboardConfig:
        """From command-line options (``--store``, ``--backend``, ``--backend-option K=V``,
        ``--model``, ``--refresh``) falling back to the environment variables
        ``CALLQUALITY_STORE``, ``CALLQUALITY_BACKEND``, ``CALLQUALITY_MODEL`` and
        ``CALLQUALITY_REFRESH_S``.

        Raises:
            ConfigurationError: a malformed option.
        """
        env = os.environ if environ is None else environ
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--store", default=env.get(ENV_STORE))
        parser.add_argument("--backend", default=env.get(ENV_BACKEND, "local"))
        parser.add_argument("--backend-option", action="append", default=[])
        parser.add_argument("--model", default=env.get(ENV_MODEL, "call_quality@PRODUCTION"))
        parser.add_argument("--refresh", default=env.get(ENV_REFRESH, "30"))
        args, _ = parser.parse_known_args(list(argv or []))
        options: dict[str, Any] = {}
        for item in args.backend_option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigurationError(f"dashboard: --backend-option {item!r}: expected "
                                         "KEY=VALUE")
            options[key] = value
        if args.store:
            options["path"] = args.store
        try:
            refresh = float(args.refresh)
        except ValueError as exc:
            raise ConfigurationError(f"dashboard: --refresh {args.refresh!r} is not a number "
                                     "of seconds") from exc
        if not math.isfinite(refresh) or refresh < 0:
            raise ConfigurationError(f"dashboard: --refresh {args.refresh!r} must be >= 0")
        parse_model_ref(args.model)
        return cls(backend=args.backend, options=options, model=args.model, refresh_s=refresh)


# --------------------------------------------------------------------------- calls


def _latest_predictions(backend: Any, model_name: str | None) -> pd.DataFrame:
    """The newest logged prediction of each call (call_id, score, predicted_class,
    model_version, predicted_at)."""
    log = backend.predictions.read(model_name=model_name)
    cols = ["call_id", "last_score", "last_class", "last_version", "last_predicted_at"]
    if len(log) == 0:
        return pd.DataFrame(columns=cols)
    log = log[log["call_id"].notna()]
    last = log.groupby("call_id", sort=False).tail(1)
    return pd.DataFrame({"call_id": last["call_id"].astype(str).to_numpy(),
                         "last_score": last["score"].to_numpy(),
                         "last_class": last["predicted_class"].to_numpy(),
                         "last_version": last["model_version"].astype(str).to_numpy(),
                         "last_predicted_at": last["predicted_at"].to_numpy()})


def list_calls(backend: Any, *, model_name: str | None = None, limit: int = 5000
               ) -> pd.DataFrame:
    """The calls in the store, newest first.

    Columns: ``call_id``, ``processed_at`` (newest feature row over the online views),
    ``views`` (how many views hold the call) and, from the prediction log,
    ``last_score``, ``last_class``, ``last_version``, ``last_predicted_at`` (missing when the
    call was never scored).
    """
    fs = backend.feature_store
    reader = getattr(fs, "read_feature_view", None)
    parts: list[pd.DataFrame] = []
    if callable(reader):
        for view in online_views(fs):
            try:
                rows = reader(view["name"], version=view["version"], store="online")
            except (CallQualityError, TypeError):
                continue
            if "call_id" not in rows.columns or len(rows) == 0:
                continue
            ts = view["timestamp_col"]
            parts.append(pd.DataFrame({
                "call_id": rows["call_id"].astype(str).to_numpy(),
                "processed_at": pd.to_datetime(rows[ts], utc=True).to_numpy()
                if ts in rows.columns else pd.NaT}))
    preds = _latest_predictions(backend, model_name)
    if parts:
        calls = pd.concat(parts, ignore_index=True)
        calls["processed_at"] = pd.to_datetime(calls["processed_at"], utc=True)
        calls = calls.groupby("call_id", as_index=False).agg(
            processed_at=("processed_at", "max"), views=("processed_at", "size"))
    else:  # no online listing: the calls of the prediction log
        calls = pd.DataFrame({"call_id": preds["call_id"],
                              "processed_at": pd.to_datetime(preds["last_predicted_at"],
                                                             utc=True),
                              "views": 0})
    calls = calls.merge(preds, on="call_id", how="left")
    calls = calls.sort_values(["processed_at", "call_id"], ascending=[False, True],
                              kind="mergesort", na_position="last")
    return calls.head(limit).reset_index(drop=True)


def resolve_model(backend: Any, ref: str, cache: dict[tuple[str, str, str], LoadedModel]
                  | None = None) -> LoadedModel:
    """The model ``ref`` points at now, loaded once per version (``cache`` keeps it).

    Raises:
        NotFoundError: no such model or alias (yet).
    """
    parsed = parse_model_ref(ref)
    info = backend.registry.get_version(parsed.name, parsed.selector)
    key = (info.model_name, info.version, info.artifact_sha256)
    if cache is not None and key in cache:
        return cache[key]
    lm = load_registered(backend, f"{info.model_name}/{info.version}")
    lm = LoadedModel(lm.model, parsed, lm.model_name, lm.version, lm.artifact_sha256,
                     lm.signature, lm.loaded_at)
    if cache is not None:
        cache.clear()
        cache[key] = lm
    return lm


@dataclass(frozen=True)
class CallDetails:
    """One call as the dashboard shows it.

    Attributes:
        call_id: the call.
        features: every feature found for it (schema names -> values), plus
            ``processed_at``.
        found: the online store holds the call.
        report: its coaching (prediction, drivers, suggestions).
        model_error: why no prediction was made (no model yet, ...), or ``None``.
    """

    call_id: str
    features: Mapping[str, Any]
    found: bool
    report: CoachingReport
    model_error: str | None = None

    @property
    def prediction(self) -> CallPrediction | None:
        return self.report.prediction


def call_details(backend: Any, call_id: str, model: LoadedModel | None, *,
                 engine: CoachingEngine | None = None, model_error: str | None = None
                 ) -> CallDetails:
    """Features, prediction and coaching of one call.

    Args:
        backend: the store.
        call_id: the call.
        model: the loaded model (``None``: coaching from the features only).
        engine: coaching rules and thresholds.
        model_error: shown instead of a prediction when ``model`` is ``None``.
    """
    engine = engine or CoachingEngine()
    wanted = [s.name for s in FEATURES]
    if model is not None:
        wanted += [f for f in model.feature_names if f not in wanted]
    online = OnlineFeatures(backend.feature_store, wanted)
    frame, found = online.fetch([call_id])
    values = {k: plain_value(v) for k, v in frame.iloc[0].to_dict().items()}
    values = {k: v for k, v in values.items() if k in ("call_id", "processed_at") or
              (k not in online.unavailable)}
    if model is not None and bool(found[0]):
        (report,) = coach_rows(engine, model, frame, found)
    else:
        report = engine.coach(values, call_id=call_id)
    return CallDetails(call_id, values, bool(found[0]), report, model_error)


def headline(details: CallDetails) -> dict[str, str]:
    """The headline metrics as display strings: ``quality``, ``confidence``, ``score``,
    ``stress``, ``sentiment``, ``interruptions`` (``"n/a"`` where unknown)."""
    f = details.features
    p = details.prediction

    def num(name: str, fmt: str) -> str | None:
        v = f.get(name)
        return None if v is None or isinstance(v, str) else format(float(v), fmt)

    sentiment = num("customer_sentiment_end", ".2f") or num("sentiment_score", ".2f")
    return {
        "quality": "n/a" if p is None else
        ("High quality" if p.predicted_class == 1 else "Low quality"),
        "confidence": "n/a" if p is None else f"{p.confidence:.0%}",
        "score": "n/a" if p is None else f"{p.score:.3f} (threshold {p.threshold:.3f})",
        "stress": num("stress_indicators", ".2f") or "n/a",
        "sentiment": sentiment or "n/a",
        "interruptions": num("interruption_count", ".0f") or "n/a",
    }


def feature_table(details: CallDetails) -> pd.DataFrame:
    """Every feature of the call with its group, value and unit, in schema order (features
    outside the schema last)."""
    rows = []
    for name, value in details.features.items():
        if name in ("call_id", "processed_at"):
            continue
        spec = _SPECS.get(name)
        rows.append({"feature": name, "group": spec.group if spec else "",
                     "value": "" if value is None else
                     (f"{value:.4g}" if isinstance(value, float) else str(value)),
                     "unit": spec.unit if spec else ""})
    order = {s.name: i for i, s in enumerate(FEATURES)}
    rows.sort(key=lambda r: order.get(r["feature"], len(order)))
    return pd.DataFrame(rows, columns=["feature", "group", "value", "unit"])


# --------------------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class MonitoringView:
    """What the monitoring tab shows (or why it cannot).

    Attributes:
        available: ``callquality.monitoring`` could be used.
        reason: why not (when not available), or a partial failure.
        metrics: performance per window (``Monitor.metrics``).
        drift: drift per feature and window (``Monitor.drift``).
        alerts: fired alerts (``read_alerts``).
    """

    available: bool
    reason: str | None = None
    metrics: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None


def load_monitoring(backend: Any, model_ref: str, *, window: str = "1D",
                    method: str = "psi") -> MonitoringView:
    """Metrics per window, drift per feature and alerts of the model ``model_ref`` names,
    from ``callquality.monitoring`` (imported here: the tab works without it)."""
    try:
        import importlib

        monitoring = importlib.import_module("callquality.monitoring")
        monitor_cls = monitoring.Monitor
        read_alerts = monitoring.read_alerts
    except (ImportError, AttributeError) as exc:
        return MonitoringView(False, f"monitoring not available ({type(exc).__name__}: "
                                     f"{exc})")
    ref = parse_model_ref(model_ref)
    problems: list[str] = []
    metrics = drift = alerts = None
    try:
        monitor = monitor_cls(backend, ref.name, ref.selector, window=window)
    except Exception as exc:  # the monitor's own errors are shown, not raised
        return MonitoringView(False, f"monitoring not available for {model_ref}: "
                                     f"{type(exc).__name__}: {exc}")
    try:
        metrics = monitor.metrics(window=window)
    except Exception as exc:
        problems.append(f"metrics: {type(exc).__name__}: {exc}")
    try:
        drift = monitor.drift(window=window, method=method)
    except Exception as exc:
        problems.append(f"drift: {type(exc).__name__}: {exc}")
    try:
        alerts = read_alerts(backend, model_name=ref.name)
    except Exception as exc:
        problems.append(f"alerts: {type(exc).__name__}: {exc}")
    return MonitoringView(True, "; ".join(problems) or None, metrics, drift, alerts)


def drift_matrix(drift: pd.DataFrame) -> pd.DataFrame:
    """Drift values as a feature x window table (newest window last)."""
    if drift is None or len(drift) == 0:
        return pd.DataFrame()
    table = drift.pivot_table(index="feature", columns="window_start", values="value",
                              aggfunc="last")
    table.columns = [pd.Timestamp(c).strftime("%Y-%m-%d %H:%M") for c in table.columns]
    return table.sort_index()
