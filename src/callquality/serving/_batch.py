"""Batch scoring with prediction logging, and the group-commit writer the service uses."""

from __future__ import annotations

import logging
import math
import queue
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import BackendError, ConfigurationError
from ..protocols import PredictionLog
from ._model import LoadedModel, load_registered

__all__ = ["PREDICTION_OUTPUT_COLUMNS", "PredictionWriter", "prediction_rows", "score"]

log = logging.getLogger("callquality.serving")

#: Columns of :func:`score`'s result, in order (the prediction log's standard columns).
PREDICTION_OUTPUT_COLUMNS = ("prediction_id", "call_id", "model_name", "model_version",
                             "threshold", "score", "predicted_class", "predicted_at")


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def prediction_rows(lm: LoadedModel, features: pd.DataFrame, scores: np.ndarray,
                    classes: np.ndarray, *, call_ids: Sequence[Any] | None = None,
                    predicted_at: datetime | None = None, log_features: bool = True,
                    extra: dict[str, Sequence[Any]] | None = None) -> pd.DataFrame:
    """The prediction-log rows of one scored batch.

    Columns: :data:`PREDICTION_OUTPUT_COLUMNS`, then (with ``log_features``) the model's input
    features as the log's extra columns (what drift monitoring compares), then ``extra``.
    """
    n = len(scores)
    at = pd.Timestamp(predicted_at or datetime.now(timezone.utc))
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    ids = [None] * n if call_ids is None else [_json_value(c) for c in call_ids]
    cols: dict[str, Any] = {
        "prediction_id": [uuid.uuid4().hex for _ in range(n)],
        "call_id": pd.array([None if c is None else str(c) for c in ids], dtype="string"),
        "model_name": np.full(n, lm.model_name, dtype=object),
        "model_version": np.full(n, lm.version, dtype=object),
        "threshold": np.full(n, lm.threshold),
        "score": np.asarray(scores, dtype=np.float64),
        "predicted_class": np.asarray(classes, dtype=np.int64),
        "predicted_at": pd.DatetimeIndex([at] * n),
    }
    if log_features:
        for f in lm.feature_names:
            if f not in cols:
                cols[f] = features[f].array if f in features.columns else np.full(n, np.nan)
    for key, values in (extra or {}).items():
        cols[key] = list(values)
    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def score(df: pd.DataFrame, model: str | LoadedModel = "call_quality@PRODUCTION",
          backend: Any = None, *, log: bool = True, log_features: bool = True,
          skip_errors: bool = True) -> pd.DataFrame:
    """Score a feature table with a registered model and log the predictions.

    Args:
        df: one row per call with the model's feature columns (``cq.extract`` output or a
            feature-store read); ``call_id`` is carried through when present.
        model: a registry reference (``"name@ALIAS"``, ``"name/VERSION"``, ``"name"``) or a
            :class:`LoadedModel` (from :func:`load_registered`).
        backend: the backend holding the registry and the prediction log (e.g.
            ``cq.connect("local", path="./cq-store")``). Required with a string ``model`` or
            with ``log=True``.
        log: append the predictions to ``backend.predictions`` (all or nothing).
        log_features: also log the input features (extra columns of the log: drift
            monitoring reads them).
        skip_errors: rows whose ``error`` column is set (failed extraction) are not scored:
            they come back with a missing score and class and are not logged.

    Returns:
        ``df``'s index; columns :data:`PREDICTION_OUTPUT_COLUMNS`: ``prediction_id``,
        ``call_id``, ``model_name``, ``model_version`` (the version the alias resolved to),
        ``threshold``, ``score`` (positive-class probability), ``predicted_class`` (0/1,
        ``Int64``), ``predicted_at`` (UTC).

    Raises:
        ConfigurationError: no backend where one is needed, or ``df`` is not a DataFrame.
        SchemaError: a feature column of the model is missing or ill-typed.
        NotFoundError, IntegrityError: the model cannot be resolved or verified.
        BackendError: logging failed (nothing of the batch is logged).
    """
    call = f"score(model={str(model.ref) if isinstance(model, LoadedModel) else model!r})"
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError(f"{call}: expected a pandas DataFrame, got {type(df).__name__}")
    if backend is None and (log or not isinstance(model, LoadedModel)):
        raise ConfigurationError(f"{call}: pass backend=cq.connect(...) (it holds the registry"
                                 " and the prediction log), or log=False with a LoadedModel")
    lm = model if isinstance(model, LoadedModel) else \
        load_registered(backend, model, n_threads=None)  # a batch may use every core
    ok = np.ones(len(df), dtype=bool)
    if skip_errors and "error" in df.columns:
        ok = df["error"].isna().to_numpy()
    rows = df[ok]
    scores, classes = lm.predict(rows) if len(rows) else (np.empty(0), np.empty(0, np.int64))
    call_ids = rows["call_id"].tolist() if "call_id" in rows.columns else None
    logged = prediction_rows(lm, rows, scores, classes, call_ids=call_ids,
                             log_features=log_features)
    if log and len(logged):
        predictions: PredictionLog = backend.predictions
        predictions.log_predictions(logged)
    n, pos = len(df), np.flatnonzero(ok)
    pid = np.full(n, None, dtype=object)
    pid[pos] = logged["prediction_id"].to_numpy(dtype=object)
    sc = np.full(n, np.nan)
    sc[pos] = logged["score"].to_numpy()
    cls = pd.array([None] * n, dtype="Int64")
    cls[pos] = logged["predicted_class"].to_numpy()
    at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    at.iloc[pos] = logged["predicted_at"].to_numpy()
    out = pd.DataFrame({
        "prediction_id": pd.array(pid, dtype="string"),
        "call_id": (df["call_id"].astype("string").to_numpy() if "call_id" in df.columns
                    else pd.array([None] * n, dtype="string")),
        "model_name": lm.model_name,
        "model_version": lm.version,
        "threshold": lm.threshold,
        "score": sc,
        "predicted_class": cls,
        "predicted_at": at.array,
    }, index=df.index)
    out.attrs["model"] = lm.describe()
    return out


class PredictionWriter:
    """Logs predictions in batches from a background thread (group commit).

    Each :meth:`submit` returns a future that completes when its rows are committed (or
    fails with the backend's error). Under load, the rows of many concurrent requests are
    written in one transaction, so a service answers only after its prediction is stored
    without paying one transaction per request.

    Args:
        predictions: the backend's :class:`~callquality.protocols.PredictionLog`.
        max_batch: most rows per transaction.
    """

    def __init__(self, predictions: PredictionLog, *, max_batch: int = 512) -> None:
        self.predictions = predictions
        self.max_batch = int(max_batch)
        self._queue: queue.Queue[tuple[pd.DataFrame, Future[int]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cq-prediction-writer",
                                        daemon=True)
        self._closed = False
        self.batches = 0
        self.rows = 0
        self._thread.start()

    def submit(self, rows: pd.DataFrame) -> Future[int]:
        """Queue ``rows`` for logging; the future's result is the number of rows logged."""
        fut: Future[int] = Future()
        if self._closed:
            fut.set_exception(BackendError("prediction writer is closed; the prediction was "
                                           "not logged"))
            return fut
        self._queue.put((rows, fut))
        return fut

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pending = [item]
            n = len(item[0])
            stop = False
            while n < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                pending.append(nxt)
                n += len(nxt[0])
            self._write(pending)
            if stop:
                return

    def _write(self, pending: list[tuple[pd.DataFrame, Future[int]]]) -> None:
        frames = [rows for rows, _ in pending]
        try:
            batch = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            self.predictions.log_predictions(batch)
        except Exception as exc:
            if len(pending) > 1:  # one bad request must not fail its neighbours: bisect
                half = len(pending) // 2
                self._write(pending[:half])
                self._write(pending[half:])
                return
            log.error("logging %d prediction(s) failed: %s", len(frames[0]), exc)
            pending[0][1].set_exception(exc)
            return
        self.batches += 1
        self.rows += len(batch)
        for rows, fut in pending:
            fut.set_result(len(rows))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
