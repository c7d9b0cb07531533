"""The champion/challenger retraining loop, one period at a time.

:func:`process_period` runs the batch job of one period (a day, a month: whatever the caller
schedules) in nine steps, each recorded in the backend's monitoring store::

    extract   features of the period's calls (``cq.extract`` with its default groups, or a
              given table); ingested into the feature store's views that they fill
    label     outcomes (the heuristic labeler, or a given table)
    serve     PRODUCTION's predictions of the calls, logged for those the serving path did
              not already score (in a live deployment the online service logged them when
              the calls came in, and this step logs nothing)
    actuals   the labels attached to the earlier predictions of these calls
    evaluate  PRODUCTION and the base model on the newly labeled calls; drift of the period's
              features against PRODUCTION's reference; the decision: retrain when F1 is below
              ``f1_threshold`` or the largest drift is above ``drift_threshold``
    alerts    alert rules evaluated on PRODUCTION's monitor over the period (stored, sent)
    train     a challenger on PRODUCTION's reference pool, the labeled calls of earlier
              periods and part of this period's labeled calls (the rest is kept for the
              comparison)
    promote   champion, challenger and base compared on the same held-out recent calls;
              the best gets the PRODUCTION alias (a challenger or base model only when its
              own F1 there clears the policy's floor)
    score     PRODUCTION (if it changed) scores the period's calls it has not scored yet;
              predictions logged with their features (for drift) and actuals (except on the
              calls it was trained on)

**Idempotent**: a step marked done is never run again, so rerunning a finished period does
nothing and duplicates nothing. **Resumable**: a step that fails is recorded as failed; the
next run starts at that step, with the tables the earlier steps stored. Each step's side
effects are themselves idempotent (feature-store upserts, actual upserts, deterministic model
version and prediction ids), so a process killed between a side effect and the step's commit
leaves nothing twice. A lease stops two processes from running the same period at once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import (
    CallQualityError,
    ConfigurationError,
    MonitoringError,
    NotFoundError,
    TrainingError,
)
from .alerts import AlertRule, AlertSink, evaluate_alerts
from .drift import NON_FEATURE_COLUMNS, drift_table
from .monitor import Monitor, monitoring_store, read_log

__all__ = [
    "STEPS",
    "Candidate",
    "PeriodReport",
    "RetrainingPolicy",
    "fault",
    "loop_state",
    "process_period",
    "select_champion",
    "set_baseline",
]

logger = logging.getLogger("callquality.retraining")

#: The steps of :func:`process_period`, in order.
STEPS: tuple[str, ...] = ("extract", "label", "serve", "actuals", "evaluate", "alerts",
                          "train", "promote", "score")
_BOOKKEEPING = NON_FEATURE_COLUMNS | {"label", "role"}


def fault(point: str) -> None:
    """Test hook called at ``"<step>:start"`` and ``"<step>:end"`` (after the step's side
    effects, before it is marked done); a no-op that tests replace to make a step fail."""


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class RetrainingPolicy:
    """When to train a challenger and how to choose the champion.

    Attributes:
        f1_threshold: retrain when PRODUCTION's F1 on the period's labeled calls is below this.
        drift_threshold: ... or when the largest feature drift (``drift_method``) is above this
            (PSI: 0.1 moderate, 0.25 major).
        drift_method: drift measure for the decision (see :func:`~callquality.monitoring.drift`).
        min_labeled: fewer labeled calls than this in the period: evaluate, never retrain.
        eval_fraction: share of the period's labeled calls held out (stratified by label) to
            compare champion, challenger and base; the rest may train the challenger.
        selection_metric: ``"f1"``, ``"roc_auc"``, ``"pr_auc"``, ``"accuracy"``,
            ``"precision"`` or ``"recall"`` on the held-out calls (each model at its own
            threshold).
        min_improvement: a candidate replaces the champion only when it beats the champion's
            ``selection_metric`` by more than this (ties keep the champion).
        max_training_rows: cap on the challenger's training pool (the newest rows are kept);
            ``None`` keeps all.
        accumulate: the challenger's pool also takes the labeled calls of the periods labeled
            before this one (besides PRODUCTION's reference and this period's training part),
            so that periods without retraining still teach the next challenger. Worth it when
            the inputs shift but their meaning holds (new lines, a new customer mix); under a
            new concept the older calls teach the old one, so the default is off.
        promote_min_f1: a challenger or base model takes PRODUCTION only when its F1 on the
            held-out calls is at least this, or at least the champion's F1 there when that is
            lower; ``None`` means ``f1_threshold``. So a model ranked first by ROC AUC whose
            threshold makes unusable decisions does not replace a working champion.
        seed: seed of the held-out split and of the default trainer.
    """

    f1_threshold: float = 0.6
    drift_threshold: float = 0.25
    drift_method: str = "psi"
    min_labeled: int = 20
    eval_fraction: float = 0.5
    selection_metric: str = "f1"
    min_improvement: float = 0.0
    max_training_rows: int | None = None
    accumulate: bool = False
    promote_min_f1: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigurationError(f"RetrainingPolicy: eval_fraction={self.eval_fraction} "
                                     "must be in (0, 1)")
        if self.selection_metric not in ("f1", "roc_auc", "pr_auc", "accuracy", "precision",
                                         "recall"):
            raise ConfigurationError(f"RetrainingPolicy: unknown selection_metric "
                                     f"{self.selection_metric!r}")
        if self.min_labeled < 0 or self.min_improvement < 0:
            raise ConfigurationError("RetrainingPolicy: min_labeled and min_improvement must "
                                     "be >= 0")
        if self.promote_min_f1 is not None and not 0.0 <= self.promote_min_f1 <= 1.0:
            raise ConfigurationError(f"RetrainingPolicy: promote_min_f1={self.promote_min_f1} "
                                     "must be in [0, 1]")

    def as_dict(self) -> dict[str, Any]:
        """The policy as a JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Candidate:
    """One model in the champion/challenger comparison.

    Attributes:
        role: ``"champion"``, ``"challenger"`` or ``"base"``.
        version: registry version.
        metrics: its metrics on the held-out recent calls.
    """

    role: str
    version: str
    metrics: Mapping[str, float]


_PREFERENCE = {"champion": 0, "challenger": 1, "base": 2}


def select_champion(candidates: Sequence[Candidate], *, metric: str = "f1",
                    min_improvement: float = 0.0,
                    floors: Mapping[str, float] | None = None) -> Candidate:
    """The candidate that should hold PRODUCTION.

    The incumbent (role ``"champion"``) keeps it unless another candidate's ``metric`` exceeds
    the champion's by more than ``min_improvement``; among those, the highest ``metric`` wins
    (ties: challenger before base). A candidate whose metric is missing (``NaN``) never wins,
    nor does one below any of ``floors`` (``{metric: minimum}``, e.g. ``{"f1": 0.6}``: a
    model ranked first by ROC AUC whose threshold gives no usable decisions is not promoted);
    without a champion the best of the others wins.

    Raises:
        ConfigurationError: no candidates, or several with role ``"champion"``.
    """
    if not candidates:
        raise ConfigurationError("select_champion: no candidates")
    champs = [c for c in candidates if c.role == "champion"]
    if len(champs) > 1:
        raise ConfigurationError("select_champion: more than one candidate has role 'champion'")

    def value(c: Candidate, name: str = metric) -> float:
        v = c.metrics.get(name, float("nan"))
        return float(v) if v is not None and math.isfinite(float(v)) else float("nan")

    def eligible(c: Candidate) -> bool:
        return math.isfinite(value(c)) and all(
            value(c, name) >= floor for name, floor in (floors or {}).items())

    others = sorted((c for c in candidates if c.role != "champion" and eligible(c)),
                    key=lambda c: (-value(c), _PREFERENCE.get(c.role, 9)))
    if not champs:
        if not others:
            return sorted(candidates, key=lambda c: _PREFERENCE.get(c.role, 9))[0]
        return others[0]
    champ = champs[0]
    bar = value(champ)
    if not math.isfinite(bar):
        return others[0] if others else champ
    for c in others:
        if value(c) > bar + min_improvement:
            return c
    return champ


# --------------------------------------------------------------------------- report


@dataclass
class PeriodReport:
    """What :func:`process_period` did (rebuilt from the stored step results on a rerun).

    Attributes:
        period: the period's name.
        steps: ``{step: "ran" | "skipped (done before)"}`` for this run.
        results: each step's stored JSON result.
        champion_before, champion_after: PRODUCTION's version before and after.
        retrained, promoted: whether a challenger was trained / PRODUCTION moved.
        reasons: why retraining was (or was not) triggered.
        challenger: the challenger's version, or ``None``.
        alerts: messages of the alerts that fired in this period.
    """

    period: str
    steps: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def champion_before(self) -> str | None:
        return self.results.get("evaluate", {}).get("champion")

    @property
    def champion_after(self) -> str | None:
        return self.results.get("promote", {}).get("champion_after")

    @property
    def retrained(self) -> bool:
        return bool(self.results.get("train", {}).get("trained", False))

    @property
    def promoted(self) -> bool:
        return bool(self.results.get("promote", {}).get("promoted", False))

    @property
    def challenger(self) -> str | None:
        return self.results.get("train", {}).get("version")

    @property
    def reasons(self) -> list[str]:
        return list(self.results.get("evaluate", {}).get("reasons", []))

    @property
    def alerts(self) -> list[str]:
        return list(self.results.get("alerts", {}).get("messages", []))

    @property
    def ran_anything(self) -> bool:
        """Whether this run executed at least one step."""
        return any(v == "ran" for v in self.steps.values())

    def summary(self) -> str:
        """A few lines for people and logs."""
        ev = self.results.get("evaluate", {})
        champ = ev.get("champion_metrics", {})
        lines = [f"period {self.period}: "
                 f"{self.results.get('extract', {}).get('n_calls', 0)} calls, "
                 f"{self.results.get('label', {}).get('n_labeled', 0)} labeled, "
                 f"{self.results.get('actuals', {}).get('n_actuals', 0)} actuals attached"]
        if ev:
            f1 = champ.get("f1")
            lines.append(f"  PRODUCTION {self.champion_before}: F1 "
                         f"{'n/a' if f1 is None else f'{f1:.3f}'} on {ev.get('n_labeled', 0)} "
                         f"labeled calls; max drift {ev.get('max_drift_feature')} = "
                         f"{_fmt_num(ev.get('max_drift'))} ({ev.get('drift_method')})")
            lines.append(f"  decision: {'retrain' if ev.get('retrain') else 'keep'} "
                         f"({'; '.join(self.reasons) or 'no trigger'})")
        for msg in self.alerts:
            lines.append(f"  alert: {msg}")
        tr = self.results.get("train", {})
        if tr.get("trained"):
            earlier = tr.get("earlier_periods") or []
            lines.append(f"  challenger {tr.get('version')} trained on {tr.get('n_train')} rows "
                         f"({tr.get('n_recent')} of this period"
                         + (f", {tr.get('n_earlier')} of {', '.join(earlier)}" if earlier
                            else "") + ")")
        elif tr.get("reason"):
            lines.append(f"  no challenger: {tr.get('reason')}")
        pr = self.results.get("promote", {})
        for c in pr.get("candidates", []):
            lines.append(f"    {c['role']:10s} {c['version']:14s} "
                         + " ".join(f"{k}={_fmt_num(c['metrics'].get(k))}"
                                    for k in ("f1", "roc_auc", "accuracy")))
        if pr.get("candidates"):
            metric = pr.get("metric", "f1")
            by_role = {c["role"]: c for c in pr["candidates"]}
            champ = by_role.get("champion", {}).get("metrics", {}).get(metric)
            floor = pr.get("min_f1")
            n_eval = f"{pr.get('n_eval')} held-out recent calls"
            if pr.get("promoted"):
                why = f"{pr.get('winner_role')} has the best {metric} on {n_eval}"
            else:
                why = f"no candidate beats the champion's {metric} {_fmt_num(champ)} on {n_eval}"
            if floor is not None:
                why += f" (eligible: F1 >= {floor:.3g})"
            lines.append(f"  PRODUCTION -> {pr.get('champion_after')} "
                         f"({'promoted' if pr.get('promoted') else 'unchanged'}: {why})")
        elif pr:
            lines.append(f"  PRODUCTION -> {pr.get('champion_after')} (unchanged)")
        sv = self.results.get("serve", {})
        if sv.get("n_predictions"):
            lines.append(f"  served: {sv['n_predictions']} predictions of {sv.get('version')} "
                         "logged (not scored by the serving path before)")
        sc = self.results.get("score", {})
        if sc.get("n_predictions"):
            lines.append(f"  scored {sc['n_predictions']} calls with {sc.get('version')} "
                         f"({sc.get('n_actuals', 0)} with actuals, "
                         f"{sc.get('n_withheld_actuals', 0)} withheld: its training calls)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _fmt_num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{float(v):.3f}"


# --------------------------------------------------------------------------- helpers


def set_baseline(backend: Any, model_name: str, version: str, frame: pd.DataFrame, *,
                 label: str | None = None) -> None:
    """Store the reference table of a model version: its training rows (features, and the
    label when ``label`` is given).

    It is what :class:`Monitor` (with ``baseline=None``) and :func:`process_period` measure
    drift against, and the pool the next challenger is trained on (with the label).

    Raises:
        NotFoundError: no such version.
        SchemaError: ``label`` is not a column of ``frame``.
    """
    from ..exceptions import SchemaError

    info = backend.registry.get_version(model_name, version)
    if label is not None and label not in frame.columns:
        raise SchemaError(f"set_baseline({model_name}/{version}): label column {label!r} is "
                          "not in the table")
    keep = frame.copy()
    for c in keep.columns:  # categoricals at rest as strings (stable Parquet round trip)
        if isinstance(keep[c].dtype, pd.CategoricalDtype):
            keep[c] = keep[c].astype("string")
    monitoring_store(backend, "set_baseline").save_baseline(
        model_name, info.version, keep, {"label": label})


def loop_state(backend: Any, model_name: str = "call_quality", period: str | None = None
               ) -> pd.DataFrame:
    """The recorded steps of the retraining loop of ``model_name`` (one row per period and
    step: status, result, error, attempts, times)."""
    return monitoring_store(backend, "loop_state").steps(model_name, period)


def _period_bounds(period: str, start: Any, end: Any
                   ) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    def utc(v: Any) -> pd.Timestamp:
        ts = pd.Timestamp(v)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    if start is not None or end is not None:
        return (None if start is None else utc(start)), (None if end is None else utc(end))
    try:
        p = pd.Period(period)
    except (ValueError, TypeError):
        return None, None
    return utc(p.start_time), utc(p.end_time) + pd.Timedelta(1, "ns")


def _version_for(period: str) -> str:
    """A deterministic registry version name for the period's challenger."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", period).strip("_").upper() or "PERIOD"
    return f"P_{text}"[:200]


def _stable_seed(*parts: Any) -> int:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:4], "little")


def _held_out_split(df: pd.DataFrame, label: str, fraction: float, seed: int) -> pd.Series:
    """``"eval"`` / ``"train"`` per row, stratified by label (at least one eval row per class
    with two or more rows)."""
    rng = np.random.default_rng(seed)
    part = pd.Series("train", index=df.index, dtype=object)
    for _, idx in df.groupby(label).groups.items():
        idx = np.asarray(idx)
        n_eval = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            n_eval = min(max(n_eval, 1), len(idx) - 1)
        chosen = rng.permutation(idx)[:n_eval]
        part.loc[chosen] = "eval"
    return part


def _metrics(model: Any, df: pd.DataFrame, label: str) -> dict[str, float]:
    from ..training.metrics import binary_metrics

    if df.empty:
        return {"n": 0}
    y = df[label].to_numpy(dtype=np.int64)
    proba = np.asarray(model.predict_proba(df), dtype=float)
    m = binary_metrics(y, proba, float(getattr(model, "threshold", 0.5)))
    return {k: float(v) for k, v in m.as_dict().items()}


def _call_ids(calls: Any) -> list[str]:
    from ..calls import Call

    if calls is None:
        return []
    if isinstance(calls, (str, Path)) and Path(calls).is_dir():
        from ..calls import load_calls

        return sorted(c.call_id for c in load_calls(calls, progress=False))
    items = [calls] if isinstance(calls, (str, Path, Call)) else list(calls)
    return sorted(c.call_id if isinstance(c, Call) else Path(str(c)).stem for c in items)


def _fingerprint(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()[:16]


def _feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in _BOOKKEEPING
            and not pd.api.types.is_datetime64_any_dtype(df[c].dtype)]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (pd.Timestamp, datetime)):
        return pd.Timestamp(obj).isoformat()
    return obj


# --------------------------------------------------------------------------- the loop


@dataclass
class _Context:
    backend: Any
    store: Any
    period: str
    model_name: str
    label: str
    policy: RetrainingPolicy
    calls: Any
    features: pd.DataFrame | None
    outcomes: pd.DataFrame | None
    trainer: Any
    labeler: Any
    extract_options: Mapping[str, Any]
    alert_rules: Sequence[AlertRule]
    sinks: Sequence[AlertSink]
    as_of: pd.Timestamp
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    champion_alias: str
    base_alias: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = self.store.read_table(self.model_name, self.period, name)
        return self._tables[name]

    def keep(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self._tables.update(tables)

    def labeled(self) -> pd.DataFrame:
        return _with_labels(self.table("features"), self.table("outcomes"), self.label)


def _with_labels(features: pd.DataFrame, outcomes: pd.DataFrame, label: str) -> pd.DataFrame:
    """The labeled calls: features joined with their label."""
    return features.merge(outcomes[["call_id", label]], on="call_id", how="inner")


StepResult = tuple[dict[str, Any], dict[str, pd.DataFrame]]


def _step_extract(ctx: _Context) -> StepResult:
    if ctx.features is not None:
        feats = ctx.features.copy()
        source = "given"
    elif ctx.calls is not None:
        from ..features.extractor import extract

        feats = extract(ctx.calls, **dict(ctx.extract_options))
        source = "extracted"
    else:
        raise ConfigurationError("process_period: give the period's calls or its features")
    if "call_id" not in feats.columns:
        raise ConfigurationError("process_period: the features table has no call_id column")
    if feats["call_id"].duplicated().any():
        raise ConfigurationError("process_period: the features table repeats call ids "
                                 f"{list(feats.loc[feats['call_id'].duplicated(), 'call_id'])[:5]}")
    failed = feats["error"].notna() if "error" in feats.columns else \
        pd.Series(False, index=feats.index)
    ok = feats.loc[~failed].reset_index(drop=True)
    if "processed_at" not in ok.columns:
        ok["processed_at"] = ctx.as_of
    ingested = _ingest_views(ctx, ok)
    result = {"n_calls": len(feats), "n_failed": int(failed.sum()), "source": source,
              "input_sha": _fingerprint(feats["call_id"].astype(str)), "ingested": ingested,
              "errors": [str(e) for e in feats.loc[failed, "error"].head(5)]
              if "error" in feats.columns else []}
    return result, {"features": ok}


def _ingest_views(ctx: _Context, feats: pd.DataFrame) -> dict[str, int]:
    """Upsert the period's features into every registered view (newest version of each name)
    whose join keys, timestamp and features the table has; returns rows written per view."""
    fs = getattr(ctx.backend, "feature_store", None)
    if fs is None or feats.empty:
        return {}
    views = fs.list_feature_views()
    out: dict[str, int] = {}
    for rec in views.to_dict("records"):
        if any(r["name"] == rec["name"] and str(r["created_on"]) > str(rec["created_on"])
               for r in views.to_dict("records")):
            continue  # an older version of the view
        cols = [*rec["join_keys"], rec["timestamp_col"], *rec["features"]]
        if not all(c in feats.columns for c in cols):
            continue
        out[f"{rec['name']}/{rec['version']}"] = int(
            fs.ingest(rec["name"], feats[list(dict.fromkeys(cols))], version=rec["version"]))
    return out


def _step_label(ctx: _Context) -> StepResult:
    if ctx.outcomes is not None:
        out = ctx.outcomes
        source, quarantined = "given", 0
    elif ctx.calls is not None:
        from ..calls import Call, load_call, load_calls
        from ..labeling.heuristic import HeuristicLabeler

        labeler = ctx.labeler if ctx.labeler is not None else HeuristicLabeler()
        calls = ctx.calls
        if isinstance(calls, (str, Path)) and Path(calls).is_dir():
            calls = list(load_calls(calls, progress=False))
        elif isinstance(calls, (str, Path, Call)):
            calls = [calls]
        calls = [c if isinstance(c, Call) else load_call(c) for c in calls]
        feats = ctx.table("features")
        out = labeler.label(list(calls), features=feats)
        report = getattr(labeler, "report_", None)
        quarantined = int(getattr(report, "quarantined", 0))
        source = getattr(labeler, "name", type(labeler).__name__)
    else:
        raise ConfigurationError("process_period: give the period's calls (to label) or its "
                                 "outcomes")
    for col in ("call_id", ctx.label):
        if col not in out.columns:
            raise ConfigurationError(f"process_period: the outcomes table lacks column {col!r}")
    out = out[["call_id", ctx.label]].dropna().drop_duplicates("call_id", keep="last")
    out = out.astype({ctx.label: "int64"}).reset_index(drop=True)
    known = set(ctx.table("features")["call_id"].astype(str))
    out = out[out["call_id"].astype(str).isin(known)].reset_index(drop=True)
    return ({"n_labeled": len(out), "n_quarantined": quarantined, "source": source,
             "positive_rate": float(out[ctx.label].mean()) if len(out) else None},
            {"outcomes": out})


def _versions(ctx: _Context) -> tuple[str, str]:
    reg = ctx.backend.registry
    try:
        champ = reg.get_version(ctx.model_name, ctx.champion_alias).version
    except NotFoundError as exc:
        raise MonitoringError(
            f"process_period({ctx.period!r}): model {ctx.model_name!r} has no "
            f"{ctx.champion_alias} version; register a first model and alias it "
            f"(registry.set_alias(name, version, {ctx.champion_alias!r}))") from exc
    try:
        base = reg.get_version(ctx.model_name, ctx.base_alias).version
    except NotFoundError:
        versions = sorted(reg.versions(ctx.model_name), key=lambda v: v.created_at)
        base = versions[0].version
    return champ, base


def _load(ctx: _Context, version: str) -> Any:
    return ctx.backend.registry.load_model(f"{ctx.model_name}/{version}")


def _step_evaluate(ctx: _Context) -> StepResult:
    champ, base = _versions(ctx)
    labeled = ctx.labeled()
    pol = ctx.policy
    champ_model = _load(ctx, champ)
    champ_metrics = _metrics(champ_model, labeled, ctx.label)
    base_metrics = champ_metrics if base == champ else \
        _metrics(_load(ctx, base), labeled, ctx.label)
    ref = ctx.store.load_baseline(ctx.model_name, champ)
    feats = ctx.table("features")
    drift_df = pd.DataFrame()
    max_drift, max_feature = float("nan"), None
    if ref is not None and len(feats):
        cols = [f for f in champ_model.feature_names if f in ref.columns and f in feats.columns]
        if cols:
            drift_df = drift_table(ref, feats, features=cols, method=pol.drift_method)
            finite = drift_df[np.isfinite(drift_df["value"].to_numpy(dtype=float))]
            if len(finite):
                i = finite["value"].abs().idxmax()
                max_drift = float(finite.loc[i, "value"])
                max_feature = str(finite.loc[i, "feature"])
    reasons: list[str] = []
    f1 = champ_metrics.get("f1", float("nan"))
    if len(labeled) and math.isfinite(f1) and f1 < pol.f1_threshold:
        reasons.append(f"F1 {f1:.3f} < {pol.f1_threshold:g}")
    if math.isfinite(max_drift) and abs(max_drift) > pol.drift_threshold:
        reasons.append(f"{pol.drift_method} of {max_feature} {max_drift:.3f} > "
                       f"{pol.drift_threshold:g}")
    enough = len(labeled) >= pol.min_labeled
    retrain = bool(reasons) and enough
    if reasons and not enough:
        reasons.append(f"but only {len(labeled)} labeled calls (< {pol.min_labeled}): no "
                       "retraining")
    if ref is None:
        reasons.append(f"no reference stored for {champ}: drift not measured")
    split = pd.DataFrame({"call_id": labeled["call_id"].astype(str)})
    split["part"] = _held_out_split(labeled, ctx.label, pol.eval_fraction,
                                    _stable_seed(pol.seed, ctx.model_name, ctx.period)
                                    ).to_numpy() if len(labeled) else []
    result = {"champion": champ, "base": base, "n_labeled": len(labeled),
              "champion_metrics": champ_metrics, "base_metrics": base_metrics,
              "max_drift": max_drift, "max_drift_feature": max_feature,
              "drift_method": pol.drift_method, "retrain": retrain, "reasons": reasons,
              "policy": pol.as_dict()}
    return _jsonable(result), {"split": split, "drift": drift_df}


def _step_alerts(ctx: _Context) -> StepResult:
    if not ctx.alert_rules:
        return {"n_fired": 0, "messages": [], "alert_ids": []}, {}
    champ = ctx.results["evaluate"]["champion"]
    mon = Monitor(ctx.backend, ctx.model_name, champ)
    events = evaluate_alerts(mon, ctx.alert_rules, start=ctx.start, end=ctx.end,
                             sinks=ctx.sinks, now=ctx.as_of.to_pydatetime())
    return {"n_fired": len(events), "messages": [e.message for e in events],
            "alert_ids": [e.alert_id for e in events]}, {}


def _step_train(ctx: _Context) -> StepResult:
    ev = ctx.results["evaluate"]
    if not ev["retrain"]:
        return {"trained": False, "reason": "not triggered"}, {}
    from ..training.dataset import binary_labels
    from ..training.trainer import XGBTrainer

    champ = ev["champion"]
    champ_model = _load(ctx, champ)
    features = list(champ_model.feature_names)
    labeled = ctx.labeled()
    split = ctx.table("split")
    train_ids = set(split.loc[split["part"] == "train", "call_id"])
    recent = labeled[labeled["call_id"].astype(str).isin(train_ids)]
    ref = ctx.store.load_baseline(ctx.model_name, champ)
    pool_parts = []
    if ref is not None and ctx.label in ref.columns:
        pool_parts.append(ref)
    earlier, earlier_periods = (_earlier_labeled(ctx) if ctx.policy.accumulate
                                else (pd.DataFrame(), []))
    if len(earlier):
        pool_parts.append(earlier)
    pool_parts.append(recent)
    pool = pd.concat(pool_parts, ignore_index=True, sort=False)
    if "call_id" in pool.columns:
        pool = pool.drop_duplicates("call_id", keep="last")
    pool = pool.dropna(subset=[ctx.label]).reset_index(drop=True)
    if ctx.policy.max_training_rows is not None and len(pool) > ctx.policy.max_training_rows:
        pool = pool.tail(ctx.policy.max_training_rows).reset_index(drop=True)
    missing = [f for f in features if f not in pool.columns]
    if missing:
        return {"trained": False, "reason": f"training pool lacks features {missing[:5]}"}, {}
    pool[ctx.label] = binary_labels(pool[ctx.label], caller="process_period").astype(np.int64)
    version = _version_for(ctx.period)
    reg = ctx.backend.registry
    try:
        info = reg.get_version(ctx.model_name, version)
        reused = True  # logged by an earlier attempt that died before marking the step done
    except NotFoundError:
        reused = False
        trainer = ctx.trainer if ctx.trainer is not None else XGBTrainer(seed=ctx.policy.seed)
        try:
            model = trainer.fit(pool, label=ctx.label, features=features)
        except TrainingError as exc:
            return {"trained": False, "reason": f"training failed: {exc}"}, {}
        from ..training.dataset import snapshot_id

        cv = getattr(trainer, "cv_metrics_", None)
        info = reg.log_model(
            model, model_name=ctx.model_name, version_name=version,
            metrics=_jsonable(cv.as_dict(prefix="cv_")) if cv is not None else {},
            comment=f"challenger of period {ctx.period} (retrain: "
                    f"{'; '.join(ev['reasons'])})",
            lineage={"period": ctx.period, "parent": champ, "n_train": len(pool),
                     "n_recent": len(recent), "earlier_periods": earlier_periods,
                     "dataset_snapshot_id": snapshot_id(pool),
                     "label": ctx.label},
            tags={"role": "challenger", "period": ctx.period})
    keep = pool[[c for c in pool.columns if c in ("call_id", "agent_id", ctx.label)
                 or c in features or c in (ref.columns if ref is not None else [])]]
    set_baseline(ctx.backend, ctx.model_name, info.version, keep, label=ctx.label)
    result = {"trained": True, "version": info.version, "n_train": len(pool),
              "n_recent": len(recent), "n_earlier": len(earlier),
              "earlier_periods": earlier_periods, "reused": reused}
    return result, {"train_ids": pd.DataFrame({"call_id": sorted(train_ids)})}


def _earlier_labeled(ctx: _Context) -> tuple[pd.DataFrame, list[str]]:
    """Labeled calls (features + label) of this loop's periods whose labels were recorded
    before this period's, oldest first, and the names of those periods. With
    ``max_training_rows`` only the newest periods that fill it are read."""
    steps = ctx.store.steps(ctx.model_name)
    labeled = steps[(steps["step"] == "label") & (steps["status"] == "done")]
    mine = labeled[labeled["period"] == ctx.period]
    if mine.empty:  # pragma: no cover - train runs after label
        return pd.DataFrame(), []
    before = labeled[labeled["finished_at"] < mine["finished_at"].iloc[0]]
    cap = ctx.policy.max_training_rows
    frames, names, n = [], [], 0
    for period in before.sort_values("finished_at", ascending=False)["period"]:
        if cap is not None and n >= cap:
            break
        if not (ctx.store.has_table(ctx.model_name, period, "features")
                and ctx.store.has_table(ctx.model_name, period, "outcomes")):
            continue
        out = ctx.store.read_table(ctx.model_name, period, "outcomes")
        if ctx.label not in out.columns:
            continue
        frames.append(_with_labels(ctx.store.read_table(ctx.model_name, period, "features"),
                                   out, ctx.label))
        names.append(str(period))
        n += len(frames[-1])
    if not frames:
        return pd.DataFrame(), []
    return pd.concat(frames[::-1], ignore_index=True, sort=False), names[::-1]


def _step_promote(ctx: _Context) -> StepResult:
    ev = ctx.results["evaluate"]
    tr = ctx.results["train"]
    champ, base = ev["champion"], ev["base"]
    reg = ctx.backend.registry
    if not tr.get("trained"):
        current = reg.get_version(ctx.model_name, ctx.champion_alias).version
        return {"champion_before": champ, "champion_after": current, "promoted": False,
                "candidates": [], "reason": "no challenger"}, {}
    labeled = ctx.labeled()
    split = ctx.table("split")
    eval_ids = set(split.loc[split["part"] == "eval", "call_id"])
    held = labeled[labeled["call_id"].astype(str).isin(eval_ids)]
    roles = {"champion": champ, "challenger": tr["version"]}
    if base not in roles.values():
        roles["base"] = base
    cands = [Candidate(role, v, _metrics(_load(ctx, v), held, ctx.label))
             for role, v in roles.items()]
    pol = ctx.policy
    floor = pol.f1_threshold if pol.promote_min_f1 is None else pol.promote_min_f1
    champ_f1 = float(next(c for c in cands if c.role == "champion").metrics.get("f1", math.nan))
    if math.isfinite(champ_f1):  # a failing champion may be replaced by a less failing one
        floor = min(floor, champ_f1)
    winner = select_champion(cands, metric=pol.selection_metric,
                             min_improvement=pol.min_improvement, floors={"f1": floor})
    if winner.version != champ or \
            reg.get_version(ctx.model_name, ctx.champion_alias).version != winner.version:
        reg.set_alias(ctx.model_name, winner.version, ctx.champion_alias)
    result = {"champion_before": champ, "champion_after": winner.version,
              "promoted": winner.version != champ, "winner_role": winner.role,
              "n_eval": len(held), "metric": pol.selection_metric, "min_f1": floor,
              "candidates": [{"role": c.role, "version": c.version, "metrics": dict(c.metrics)}
                             for c in cands]}
    return _jsonable(result), {}


def _prediction_id(ctx: _Context, version: str, call_id: str) -> str:
    """Deterministic: one prediction per (model, version, call), whatever the reruns."""
    return f"{ctx.model_name}:{version}:{call_id}".lower()


def _log_scores(ctx: _Context, version: str) -> tuple[int, list[str]]:
    """Score the period's calls that ``version`` has not scored yet and log the predictions
    (with the period's features as extras, for drift); returns ``(n_logged, prediction ids
    of every call of the period)``."""
    feats = ctx.table("features")
    if feats.empty:
        return 0, []
    ids = feats["call_id"].astype(str)
    pred_ids = [_prediction_id(ctx, version, c) for c in ids]
    logged = read_log(ctx.backend, ctx.model_name, version)
    done = set(logged["prediction_id"].astype(str)) if len(logged) else set()
    todo = np.array([p not in done for p in pred_ids], dtype=bool)
    if not todo.any():
        return 0, pred_ids
    model = _load(ctx, version)
    sub = feats.loc[todo].reset_index(drop=True)
    score = np.asarray(model.predict_proba(sub), dtype=float)
    thr = float(getattr(model, "threshold", 0.5))
    preds = pd.DataFrame({
        "prediction_id": np.asarray(pred_ids, dtype=object)[todo],
        "call_id": sub["call_id"].astype(str).to_numpy(),
        "model_name": ctx.model_name, "model_version": version, "threshold": thr,
        "score": score, "predicted_class": (score >= thr).astype(np.int64),
        "predicted_at": ctx.as_of, "period": ctx.period,
    })
    if "agent_id" in sub.columns:
        preds["agent_id"] = sub["agent_id"].astype("string").to_numpy(dtype=object,
                                                                      na_value=None)
    for c in _feature_columns(sub):
        if c in ("score", "agent_id"):
            continue
        col = sub[c]
        preds[c] = col.astype("string").to_numpy(dtype=object, na_value=None) \
            if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == "string" \
            else col.to_numpy()
    return int(ctx.backend.predictions.log_predictions(preds)), pred_ids


def _step_serve(ctx: _Context) -> StepResult:
    champ, _ = _versions(ctx)
    n, _ = _log_scores(ctx, champ)
    return {"version": champ, "n_predictions": n}, {}


def _step_actuals(ctx: _Context) -> StepResult:
    out = ctx.table("outcomes")
    if out.empty:
        return {"n_actuals": 0, "n_calls": 0}, {}
    logged = ctx.backend.predictions.read(model_name=ctx.model_name)
    have = set(logged["call_id"].dropna().astype(str)) if len(logged) else set()
    todo = out[out["call_id"].astype(str).isin(have)]
    n = 0
    if len(todo):
        n = int(ctx.backend.predictions.log_actuals(pd.DataFrame({
            "call_id": todo["call_id"].astype(str).to_numpy(),
            "actual": todo[ctx.label].to_numpy(dtype=np.int64),
            "actual_at": ctx.as_of})))
    return {"n_actuals": n, "n_calls": len(todo)}, {}


def _step_score(ctx: _Context) -> StepResult:
    version = ctx.backend.registry.get_version(ctx.model_name, ctx.champion_alias).version
    n_pred, _ = _log_scores(ctx, version)
    # actuals for the calls whose label is known, except those this version trained on (its
    # monitor must not count its own training calls)
    out = ctx.table("outcomes")
    trained_on: set[str] = set()
    tr = ctx.results.get("train", {})
    if tr.get("trained") and tr.get("version") == version:
        trained_on = set(ctx.table("train_ids")["call_id"].astype(str))
    lab = out[~out["call_id"].astype(str).isin(trained_on)]
    n_act = 0
    if len(lab) and n_pred:
        n_act = int(ctx.backend.predictions.log_actuals(pd.DataFrame({
            "prediction_id": [_prediction_id(ctx, version, c)
                              for c in lab["call_id"].astype(str)],
            "actual": lab[ctx.label].to_numpy(dtype=np.int64), "actual_at": ctx.as_of})))
    return {"version": version, "n_predictions": n_pred, "n_actuals": n_act,
            "n_withheld_actuals": len(out) - len(lab) if n_pred else 0}, {}


_STEP_FUNCS: dict[str, Callable[[_Context], StepResult]] = {
    "extract": _step_extract, "label": _step_label, "serve": _step_serve,
    "actuals": _step_actuals,
    "evaluate": _step_evaluate, "alerts": _step_alerts, "train": _step_train,
    "promote": _step_promote, "score": _step_score,
}


def process_period(
    backend: Any,
    period: str,
    calls: Any = None,
    *,
    features: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    model_name: str = "call_quality",
    label: str = "high_quality_call",
    policy: RetrainingPolicy | None = None,
    trainer: Any = None,
    labeler: Any = None,
    extract_options: Mapping[str, Any] | None = None,
    alert_rules: Sequence[AlertRule] = (),
    sinks: Sequence[AlertSink] = (),
    as_of: datetime | str | None = None,
    period_start: datetime | str | None = None,
    period_end: datetime | str | None = None,
    champion_alias: str = "PRODUCTION",
    base_alias: str = "BASE",
    lease_ttl_s: float = 3600.0,
) -> PeriodReport:
    """Run (or resume) one period of the retraining loop; see the module docstring.

    Args:
        backend: the store (registry, feature store, prediction log, monitoring state).
        period: the period's name, e.g. ``"2025-03"`` or ``"2025-03-02"``; a name pandas
            reads as a period also gives the period's time window (for alerts and the
            default ``as_of``).
        calls: the period's calls (:class:`~callquality.Call` objects, audio paths or a
            folder); needed unless ``features`` and ``outcomes`` are both given.
        features: the period's features (one row per call, ``call_id``), instead of
            extracting them.
        outcomes: the period's labels (``call_id`` and ``label``), instead of labeling.
        model_name: the registered model; its ``champion_alias`` version must exist.
        label: the outcome column the model predicts (0/1).
        policy: :class:`RetrainingPolicy` (default thresholds: F1 < 0.6, PSI > 0.25).
        trainer: challenger trainer (default ``XGBTrainer(seed=policy.seed)``).
        labeler: default :class:`~callquality.labeling.HeuristicLabeler`.
        extract_options: keyword arguments of ``cq.extract`` (``device``, ``profile``,
            ``groups``; by default every group available).
        alert_rules, sinks: evaluated on PRODUCTION's monitor over the period
            (:func:`~callquality.monitoring.evaluate_alerts`).
        as_of: the time the period's predictions and actuals are recorded at (UTC); default
            the end of the period (minus one second) when it is over, else now.
        period_start, period_end: the period's window, overriding what ``period`` implies.
        champion_alias: the alias that marks the champion.
        base_alias: the alias of the base model; without it, the model's first version.
        lease_ttl_s: how long this run may hold the period before another may take it over.

    Returns:
        :class:`PeriodReport`. A rerun of a finished period runs nothing and returns the
        stored report.

    Raises:
        ConflictError: another live process is running this period.
        MonitoringError: a step failed (the message names it; the cause is chained). The
            steps before it are kept; the next call resumes at the failed step. Also raised
            when the period was processed before with other calls.
        ConfigurationError: bad arguments.
    """
    from ..backends.local.monitoring import process_owner

    if not isinstance(period, str) or not period.strip():
        raise ConfigurationError("process_period: period must be a non-empty string")
    policy = policy or RetrainingPolicy()
    store = monitoring_store(backend, f"process_period({period!r})")
    start, end = _period_bounds(period, period_start, period_end)
    now = pd.Timestamp.now(tz="UTC")
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        stamp = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    elif end is not None and end <= now:
        stamp = end - pd.Timedelta(1, "s")
    else:
        stamp = now
    ctx = _Context(backend=backend, store=store, period=period, model_name=model_name,
                   label=label, policy=policy, calls=calls, features=features,
                   outcomes=outcomes, trainer=trainer, labeler=labeler,
                   extract_options=dict(extract_options or {}), alert_rules=list(alert_rules),
                   sinks=list(sinks), as_of=stamp, start=start, end=end,
                   champion_alias=champion_alias, base_alias=base_alias)
    report = PeriodReport(period=period)
    owner = process_owner()
    store.acquire_lease(model_name, period, owner, lease_ttl_s)
    try:
        state = store.step_state(model_name, period)
        done = state.get("extract")
        if done is not None and done[0] == "done" and (calls is not None or features is not None):
            ids = features["call_id"].astype(str).tolist() if features is not None \
                else _call_ids(calls)
            if _fingerprint(ids) != done[1].get("input_sha"):
                raise MonitoringError(
                    f"process_period({period!r}): this period was processed with other calls "
                    f"(fingerprint {done[1].get('input_sha')}); use a new period name")
        for step in STEPS:
            prior = state.get(step)
            if prior is not None and prior[0] == "done":
                ctx.results[step] = prior[1]
                report.steps[step] = "skipped (done before)"
                continue
            started = pd.Timestamp.now(tz="UTC").value
            try:
                fault(f"{step}:start")
                result, tables = _STEP_FUNCS[step](ctx)
                fault(f"{step}:end")
                store.finish_step(model_name, period, step, result, started_ns=started,
                                  tables=tables)
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}"
                try:
                    store.fail_step(model_name, period, step, msg, started_ns=started)
                except CallQualityError:  # pragma: no cover - the store itself is failing
                    logger.exception("could not record the failure of step %s", step)
                raise MonitoringError(f"process_period({period!r}): step {step!r} failed: "
                                      f"{msg}; rerun to resume from this step") from exc
            ctx.keep(tables)
            ctx.results[step] = result
            report.steps[step] = "ran"
            logger.info("period %s: step %s done", period, step)
    finally:
        store.release_lease(model_name, period, owner)
    report.results = ctx.results
    return report
