"""Performance and drift of one model version, per time window, from the prediction log.

A :class:`Monitor` is the local equivalent of a Snowflake model monitor
(``Registry.add_monitor``): its *source* is the backend's prediction log (columns
``prediction_id``, ``predicted_at``, ``score``, ``predicted_class``, ``actual``, plus the
feature and segment columns logged with each prediction), its *baseline* a reference table (the
training set, or the first N predictions), and it aggregates per window (``"1D"`` by default).

Windows are left-closed ``[window_start, window_end)`` in UTC. Fixed-size windows (``"1h"``,
``"1D"``, ``"7D"``) are aligned on the Unix epoch; calendar windows (``"W"``, ``"MS"``,
``"QS"``) on their calendar boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, MonitoringError, NotFoundError
from .drift import NON_FEATURE_COLUMNS, drift_table, is_categorical

__all__ = [
    "DEFAULT_BASELINE_SIZE",
    "DRIFT_COLUMNS",
    "METRIC_COLUMNS",
    "PERFORMANCE_METRICS",
    "Monitor",
    "assign_windows",
    "monitoring_store",
    "read_log",
    "window_metrics",
]

#: Columns of :meth:`Monitor.metrics`.
METRIC_COLUMNS: tuple[str, ...] = (
    "window_start", "window_end", "segment", "count", "n_actual", "accuracy", "precision",
    "recall", "f1", "roc_auc", "null_predictions", "null_actuals")
#: Columns of :meth:`Monitor.drift`.
DRIFT_COLUMNS: tuple[str, ...] = ("window_start", "window_end", "feature", "method", "value",
                                  "n_reference", "n_current")
#: Metrics of :meth:`Monitor.metrics` that need actuals (compared on ``n_actual`` rows).
PERFORMANCE_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Size of the default baseline (the first predictions) when no reference table is stored.
DEFAULT_BASELINE_SIZE = 1000
_COUNT_METRICS = ("count", "n_actual", "null_predictions", "null_actuals")


def monitoring_store(backend: Any, call: str) -> Any:
    """The backend's monitoring state store (alerts, loop state, baselines).

    Raises:
        MonitoringError: the backend keeps none.
    """
    store = getattr(backend, "monitoring_store", None)
    if store is None:
        raise MonitoringError(f"{call}: backend {getattr(backend, 'name', backend)!r} keeps no "
                              "monitoring state (it has no monitoring_store); use the local "
                              "backend")
    return store


def read_log(backend: Any, model_name: str, version: str | None = None, *,
             start: Any = None, end: Any = None) -> pd.DataFrame:
    """Predictions of ``model_name`` (and ``version``, when given) from the backend's
    prediction log with ``start <= predicted_at < end``, joined with their actuals."""
    log = backend.predictions
    if version is not None and _reads_versions(log):
        df = log.read(model_name=model_name, start=start, end=end, model_version=version)
    else:
        df = log.read(model_name=model_name, start=start, end=end)
        if version is not None:
            df = df[df["model_version"].astype(str).str.upper() == version.upper()]
    return df.reset_index(drop=True)


def _reads_versions(log: Any) -> bool:
    """Whether the log's ``read`` filters by ``model_version`` (an extension of the
    protocol that the local log has)."""
    import inspect

    try:
        return "model_version" in inspect.signature(log.read).parameters
    except (TypeError, ValueError):
        return False


#: Calendar windows given as offsets (month start, ...) and the period they mean.
_PERIOD_ALIASES = {"MS": "M", "ME": "M", "QS": "Q", "QE": "Q", "YS": "Y", "YE": "Y",
                   "AS": "Y"}


_CALENDAR = ("W", "M", "Q", "Y", *_PERIOD_ALIASES)


def _offset(window: str, call: str) -> pd.DateOffset | None:
    """The fixed duration of ``window`` (a pandas ``Tick``), or ``None`` for a calendar
    window."""
    if not isinstance(window, str) or not window:
        raise ConfigurationError(f"{call}: window must be a string such as '1D', got "
                                 f"{window!r}")
    if window in _CALENDAR or window.startswith(("W-", "Q-", "Y-")):
        _period_freq(window, call)
        return None
    try:
        off = pd.tseries.frequencies.to_offset(window)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{call}: window={window!r} is not a duration such as '1h', "
                                 "'1D', '7D' nor a calendar period ('W', 'MS', 'QS', 'YS')"
                                 ) from exc
    if not isinstance(off, pd.offsets.Tick):
        raise ConfigurationError(f"{call}: window={window!r}: use a fixed duration ('1h', "
                                 "'1D', '7D') or a calendar period ('W', 'MS', 'QS', 'YS')")
    return off


def _period_freq(window: str, call: str) -> str:
    """The pandas period frequency of a calendar window (``"W"``, ``"M"``/``"MS"``, ...)."""
    freq = _PERIOD_ALIASES.get(window, window)
    try:
        pd.Period("2025-01-01", freq=freq)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{call}: window={window!r} is neither a fixed duration "
                                 "('1h', '1D', '7D') nor a calendar period ('W', 'M'/'MS', "
                                 "'Q'/'QS', 'Y'/'YS')") from exc
    return freq


def assign_windows(ts: pd.Series, window: str, *, call: str = "assign_windows"
                   ) -> tuple[pd.Series, pd.Series]:
    """``(window_start, window_end)`` of each UTC timestamp in ``ts`` for windows of size
    ``window``: a fixed duration (``"1h"``, ``"1D"``, ``"7D"``: aligned on the Unix epoch) or a
    calendar period (``"W"``: weeks ending on Sunday, ``"M"``/``"MS"``, ``"Q"``, ``"Y"``)."""
    off = _offset(window, call)
    ts = pd.to_datetime(ts, utc=True)
    if off is not None:
        start = ts.dt.floor(off)
        return start, start + pd.Timedelta(off)
    periods = ts.dt.tz_localize(None).dt.to_period(_period_freq(window, call))
    return (periods.dt.start_time.dt.tz_localize("UTC"),
            (periods + 1).dt.start_time.dt.tz_localize("UTC"))


def _window_range(lo: pd.Timestamp, hi: pd.Timestamp, window: str, call: str
                  ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Every window from the one holding ``lo`` to the one holding ``hi`` (inclusive)."""
    off = _offset(window, call)
    if off is not None:
        step = pd.Timedelta(off)
        first, last = lo.floor(off), hi.floor(off)
        n = int((last - first) / step) + 1
        _check_count(n, window, lo, hi, call)
        starts = pd.date_range(first, periods=n, freq=off)
        ends = starts + step
    else:
        freq = _period_freq(window, call)
        periods = pd.period_range(lo.tz_localize(None).to_period(freq),
                                  hi.tz_localize(None).to_period(freq), freq=freq)
        _check_count(len(periods), window, lo, hi, call)
        starts = periods.start_time.tz_localize("UTC")
        ends = (periods + 1).start_time.tz_localize("UTC")
    return list(zip(starts, ends, strict=True))


def _check_count(n: int, window: str, lo: Any, hi: Any, call: str) -> None:
    if n > 100_000:
        raise MonitoringError(f"{call}: {n} windows of {window!r} between {lo} and {hi}; use "
                              "a larger window or a shorter range")


def _roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC with tied scores ranked by their average rank (scikit-learn's
    ``roc_auc_score``); ``NaN`` with a single class."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each value
    ranks = avg_rank[inverse]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _array_metrics(score: np.ndarray, pred: np.ndarray, actual: np.ndarray
                   ) -> dict[str, float]:
    """:func:`window_metrics` on float arrays (``NaN`` = missing)."""
    n = len(score)
    null_pred = ~np.isfinite(score) | ~np.isfinite(pred)
    has_actual = np.isfinite(actual)
    ok = has_actual & ~null_pred
    out: dict[str, float] = {"count": n, "n_actual": int(has_actual.sum()),
                             "null_predictions": int(null_pred.sum()),
                             "null_actuals": int(n - has_actual.sum())}
    if not ok.any():
        out.update({m: float("nan") for m in PERFORMANCE_METRICS})
        return out
    y, p = actual[ok].astype(np.int64), pred[ok].astype(np.int64)
    tp = int(np.sum((p == 1) & (y == 1)))
    fp = int(np.sum((p == 1) & (y == 0)))
    fn = int(np.sum((p == 0) & (y == 1)))
    out["accuracy"] = float(np.mean(p == y))
    out["precision"] = tp / (tp + fp) if tp + fp else 0.0
    out["recall"] = tp / (tp + fn) if tp + fn else 0.0
    out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    out["roc_auc"] = _roc_auc(y, score[ok])
    return out


def window_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Counts and classification metrics of a set of logged predictions.

    ``frame`` has ``score``, ``predicted_class`` and ``actual`` (missing until known).
    Accuracy, precision, recall and F1 compare ``predicted_class`` with ``actual`` on the rows
    having both; precision, recall and F1 are 0 when undefined (scikit-learn's convention);
    ROC AUC ranks ``score`` (``NaN`` with a single class); all are ``NaN`` without actuals.
    """
    return _array_metrics(_as_float(frame["score"]), _as_float(frame["predicted_class"]),
                          _as_float(frame["actual"]))


class Monitor:
    """Drift and performance of one model version per time window (implements
    :class:`callquality.protocols.PredictionMonitor`).

    Args:
        backend: a backend (``cq.connect(...)``); its ``predictions`` log is the source.
        model_name: the registered model.
        version_or_alias: a version (``"V2"``) or an alias (``"PRODUCTION"``), resolved once,
            here (a monitor is bound to one version, as in Snowflake); ``None`` monitors every
            version of the model together (whichever served).
        baseline: the reference of drift: a table (e.g. the training set: feature columns,
            optionally ``score``), or an integer N (the first N predictions of the monitored
            version), or ``None``: the reference stored for the version by the retraining loop
            (:func:`~callquality.monitoring.set_baseline`), else the first
            :data:`DEFAULT_BASELINE_SIZE` predictions. A table without ``score`` is scored
            with the monitored version's model when that has its features.
        window: default aggregation window (pandas frequency: ``"1h"``, ``"1D"``, ``"7D"``,
            ``"W"``, ``"MS"``).
        features: feature columns whose drift is measured; ``None``: every column present both
            in the baseline and in the logged predictions (and ``score``).

    Attributes:
        version: the resolved version, or ``None`` for every version.

    Raises:
        NotFoundError: the model, version or alias does not exist in the registry.
    """

    def __init__(self, backend: Any, model_name: str, version_or_alias: str | None = None, *,
                 baseline: pd.DataFrame | int | None = None, window: str = "1D",
                 features: Sequence[str] | None = None) -> None:
        call = f"Monitor({model_name!r})"
        if not isinstance(model_name, str) or not model_name:
            raise ConfigurationError(f"{call}: model_name must be a non-empty string")
        if baseline is not None and not isinstance(baseline, (pd.DataFrame, int)):
            raise ConfigurationError(f"{call}: baseline must be a DataFrame, an int (first N "
                                     f"predictions) or None, got {type(baseline).__name__}")
        if isinstance(baseline, int) and (isinstance(baseline, bool) or baseline < 1):
            raise ConfigurationError(f"{call}: baseline={baseline!r}: the number of first "
                                     "predictions must be >= 1")
        _offset(window, call)
        self.backend = backend
        self.model_name = model_name
        self.version_or_alias = version_or_alias
        self.baseline = baseline
        self.window = window
        self.features = None if features is None else list(features)
        self.version: str | None = None
        if version_or_alias is not None:
            self.version = backend.registry.get_version(model_name, version_or_alias).version
        self._reference: pd.DataFrame | None = None
        self._snapshot: dict[tuple[int | None, int | None], pd.DataFrame] | None = None

    def __repr__(self) -> str:
        return (f"Monitor({self.model_name!r}, version={self.version!r}, "
                f"window={self.window!r})")

    # ------------------------------------------------------------------ source

    def predictions(self, start: datetime | str | None = None,
                    end: datetime | str | None = None) -> pd.DataFrame:
        """The monitored predictions with ``start <= predicted_at < end`` and their actuals
        (the prediction log's ``read``), oldest first."""
        if self._snapshot is None:
            return read_log(self.backend, self.model_name, self.version, start=start, end=end)
        key = (None if start is None else pd.Timestamp(start).value,
               None if end is None else pd.Timestamp(end).value)
        if key not in self._snapshot:
            self._snapshot[key] = read_log(self.backend, self.model_name, self.version,
                                           start=start, end=end)
        return self._snapshot[key]

    @contextmanager
    def snapshot(self) -> Iterator[Monitor]:
        """Within the block, each range of the prediction log is read once and reused (a
        consistent view for several reports, and one read instead of many)::

            with mon.snapshot():
                m, d = mon.metrics(), mon.drift()
        """
        outer = self._snapshot is not None
        if not outer:
            self._snapshot = {}
        try:
            yield self
        finally:
            if not outer:
                self._snapshot = None

    def reference(self) -> pd.DataFrame:
        """The baseline table drift is measured against (resolved once, then cached)."""
        if self._reference is not None:
            return self._reference
        call = f"Monitor({self.model_name!r}).reference"
        ref: pd.DataFrame | None
        if isinstance(self.baseline, pd.DataFrame):
            ref = self.baseline.copy()
        elif isinstance(self.baseline, int):
            ref = self.predictions().head(self.baseline)
        else:
            ref = None
            store = getattr(self.backend, "monitoring_store", None)
            if store is not None and self.version is not None:
                ref = store.load_baseline(self.model_name, self.version)
            if ref is None:
                ref = self.predictions().head(DEFAULT_BASELINE_SIZE)
        if ref.empty:
            raise MonitoringError(f"{call}: the baseline is empty (no reference table and no "
                                  "logged predictions yet)")
        if "score" not in ref.columns and self.version is not None:
            ref = self._score(ref)
        self._reference = ref
        return ref

    def _score(self, ref: pd.DataFrame) -> pd.DataFrame:
        try:
            model = self.backend.registry.load_model(f"{self.model_name}/{self.version}")
        except NotFoundError:
            return ref
        names = list(getattr(model, "feature_names", []))
        if names and all(f in ref.columns for f in names):
            ref = ref.copy()
            ref["score"] = np.asarray(model.predict_proba(ref), dtype=float)
        return ref

    # ------------------------------------------------------------------ metrics

    def _windows(self, df: pd.DataFrame, start: Any, end: Any, window: str, call: str
                 ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        if df.empty and (start is None or end is None):
            return []
        lo = pd.Timestamp(start) if start is not None else df["predicted_at"].min()
        hi = (pd.Timestamp(end) - pd.Timedelta(1, "ns")) if end is not None \
            else df["predicted_at"].max()
        lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo.tz_convert("UTC")
        hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC")
        if hi < lo:
            return []
        return _window_range(lo, hi, window, call)

    def metrics(self, start: datetime | str | None = None, end: datetime | str | None = None,
                window: str | None = None, segment: str | None = None) -> pd.DataFrame:
        """Performance per window (and per segment value).

        Args:
            start, end: ``start <= predicted_at < end`` (UTC; naive times are UTC); either
                may be ``None`` (open).
            window: aggregation window (default: the monitor's, ``"1D"``).
            segment: a column logged with the predictions (e.g. ``"agent_id"``): one row per
                window and value; ``None``: one row per window, ``segment`` missing.

        Returns:
            Columns :data:`METRIC_COLUMNS`: ``count`` predictions, ``n_actual`` of them with
            an actual, ``accuracy``, ``precision``, ``recall``, ``f1`` (of ``predicted_class``
            against ``actual``), ``roc_auc`` (of ``score``), ``null_predictions`` (missing
            score or class), ``null_actuals`` (no actual yet). Windows without predictions
            between the first and the last (or ``start`` and ``end``) have ``count`` 0 and
            missing metrics; with ``segment`` only non-empty (window, value) pairs appear.

        Raises:
            MonitoringError: ``segment`` is not a logged column.
        """
        window = window or self.window
        call = f"Monitor({self.model_name!r}).metrics"
        df = self.predictions(start, end)
        wins = self._windows(df, start, end, window, call)
        if segment is not None and not df.empty and segment not in df.columns:
            raise MonitoringError(f"{call}: segment column {segment!r} is not in the prediction "
                                  f"log (columns: {sorted(map(str, df.columns))})")
        rows: list[dict[str, Any]] = []
        score, pred, actual = (_as_float(df[c]) for c in ("score", "predicted_class", "actual"))
        groups: dict[Any, np.ndarray] = {}
        if not df.empty:
            ws, _ = assign_windows(df["predicted_at"], window, call=call)
            groups = {pd.Timestamp(k): v for k, v in
                      pd.Series(np.arange(len(df))).groupby(ws.to_numpy()).indices.items()}
        seg_keys = None if segment is None or df.empty else \
            df[segment].astype("string").fillna("(missing)").to_numpy(dtype=object)
        empty = np.array([], dtype=np.int64)
        for w_start, w_end in wins:
            idx = groups.get(w_start)
            if seg_keys is None:
                idx = empty if idx is None else idx
                rows.append({"window_start": w_start, "window_end": w_end, "segment": None,
                             **_array_metrics(score[idx], pred[idx], actual[idx])})
                continue
            if idx is None:
                continue
            for value, sub in sorted(pd.Series(idx).groupby(seg_keys[idx]).indices.items()):
                rows_idx = idx[sub]
                rows.append({"window_start": w_start, "window_end": w_end,
                             "segment": str(value),
                             **_array_metrics(score[rows_idx], pred[rows_idx],
                                              actual[rows_idx])})
        out = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
        out["segment"] = out["segment"].astype(object)
        for c in _COUNT_METRICS:
            out[c] = out[c].astype("int64")
        for c in PERFORMANCE_METRICS:
            out[c] = out[c].astype("float64")
        for c in ("window_start", "window_end"):
            out[c] = pd.to_datetime(out[c], utc=True)
        return out

    # ------------------------------------------------------------------ drift

    def drift_features(self, current: pd.DataFrame | None = None) -> list[str]:
        """The columns whose drift :meth:`drift` measures."""
        ref = self.reference()
        if self.features is not None:
            return [*self.features, *(["score"] if "score" in ref.columns
                                      and "score" not in self.features else [])]
        skip = set(NON_FEATURE_COLUMNS) | {ref.attrs.get("label")}  # the label is no feature
        cols = [c for c in ref.columns if c not in skip
                and not pd.api.types.is_datetime64_any_dtype(ref[c].dtype)]
        if current is not None:
            cols = [c for c in cols if c in current.columns]
        return [str(c) for c in cols]

    def drift(self, start: datetime | str | None = None, end: datetime | str | None = None,
              window: str | None = None, method: str = "psi", *, bins: int = 10,
              eps: float = 1e-4) -> pd.DataFrame:
        """Drift of each feature and of the score against the baseline, per window.

        Args:
            start, end, window: as in :meth:`metrics`.
            method: ``"psi"``, ``"ks"``, ``"wasserstein"``, ``"jensen_shannon"`` or
                ``"difference_of_means"`` (see :func:`callquality.monitoring.drift`).
            bins, eps: see :func:`callquality.monitoring.drift`.

        Returns:
            Columns :data:`DRIFT_COLUMNS`, one row per non-empty window and feature
            (``value`` ``NaN`` when the window has no values of the feature, or for a
            categorical feature with a numeric-only method).
        """
        window = window or self.window
        call = f"Monitor({self.model_name!r}).drift"
        df = self.predictions(start, end)
        cols = list(DRIFT_COLUMNS)
        if df.empty:
            return pd.DataFrame(columns=cols)
        ref = self.reference()
        feats = self.drift_features(df)
        if not feats:
            raise MonitoringError(f"{call}: no feature column is both in the baseline and in "
                                  "the logged predictions (log the features with the "
                                  "predictions, or pass features=)")
        missing = [f for f in feats if f not in df.columns]
        if missing:
            raise MonitoringError(f"{call}: feature(s) {missing} are not in the prediction log")
        cur = df[feats].copy()
        for f in feats:  # JSON extras: keep the reference's kind (numeric vs categorical)
            if not is_categorical(ref[f]):
                cur[f] = pd.to_numeric(cur[f], errors="coerce")
        ws, we = assign_windows(df["predicted_at"], window, call=call)
        tables = []
        prepared: dict[str, Any] = {}  # the baseline binned/sorted once for every window
        for (w_start, w_end), idx in pd.Series(df.index).groupby([ws, we], sort=True):
            t = drift_table(ref, cur.loc[idx.to_numpy()], features=feats, method=method,
                            bins=bins, eps=eps, prepared=prepared)
            t.insert(0, "window_end", w_end)
            t.insert(0, "window_start", w_start)
            tables.append(t[cols])
        out = pd.concat(tables, ignore_index=True)
        for c in ("window_start", "window_end"):
            out[c] = pd.to_datetime(out[c], utc=True)
        return out
