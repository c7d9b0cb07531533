"""The prediction service's logic, independent of the web framework.

:class:`PredictionService` validates requests against the served model's signature, takes a
call's features from the request or the online store, predicts with the model serving now,
and hands the rows to a :class:`PredictionWriter` (every prediction is logged before it is
answered). The HTTP layer (:mod:`callquality.serving.app`) only translates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import CallQualityError
from ._batch import PredictionWriter, prediction_rows
from ._features import OnlineFeatures
from ._model import FeatureField, LoadedModel, ModelWatcher

__all__ = ["Instance", "PredictionService", "RequestError"]


class RequestError(CallQualityError):
    """A request the service refuses: ``status`` is the HTTP status, ``detail`` what to show
    (a list of ``{"loc", "msg", "type"}`` like FastAPI's own validation errors, or text)."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {detail}")


@dataclass(frozen=True)
class Instance:
    """One thing to predict: a call id (features from the online store), features, or both
    (the request's features override the store's)."""

    call_id: str | None = None
    features: Mapping[str, Any] | None = None


@dataclass
class _Serving:
    model: LoadedModel
    online: OnlineFeatures


@dataclass
class Prepared:
    """Validated inputs of one request, predicted, waiting for their log entry."""

    model: LoadedModel
    rows: pd.DataFrame
    sources: list[str]
    missing: list[list[str]]
    logged: Future[int] = field(default_factory=Future)


def _err(loc: Sequence[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def check_value(spec: FeatureField, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec`` (``None`` if it does; ``None`` values always fit:
    they mean missing)."""
    if value is None:
        return None
    if spec.is_categorical:
        if not isinstance(value, str):
            return f"expected a string label (or null), got {type(value).__name__}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number (or null), got {type(value).__name__}"
    if not math.isfinite(float(value)):
        return "expected a finite number (use null for a missing value)"
    return None


class PredictionService:
    """Validates, predicts and logs; shared by the HTTP endpoints.

    Args:
        backend: a :class:`~callquality.protocols.Backend` (registry, feature store,
            prediction log).
        model: the model reference to serve, e.g. ``"call_quality@PRODUCTION"``.
        poll_interval_s: how often to check whether the reference moved (and refresh the
            list of online feature views).
        log_features: log the input features with each prediction (for drift monitoring).
        max_log_batch: most predictions per log transaction.

    Raises:
        NotFoundError, IntegrityError, ConfigurationError: the model cannot be loaded.
    """

    def __init__(self, backend: Any, model: str = "call_quality@PRODUCTION", *,
                 poll_interval_s: float = 5.0, log_features: bool = True,
                 max_log_batch: int = 512) -> None:
        self.backend = backend
        self.log_features = log_features
        self._lock = threading.Lock()
        self.watcher = ModelWatcher(backend, model, poll_interval_s=poll_interval_s,
                                    on_swap=self._swapped, on_check=self._refresh_views)
        lm = self.watcher.current
        self._serving = _Serving(lm, OnlineFeatures(backend.feature_store, lm.feature_names))
        self.writer = PredictionWriter(backend.predictions, max_batch=max_log_batch)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PredictionService:
        """Start following the model reference."""
        self.watcher.start()
        return self

    def close(self) -> None:
        """Stop polling and write the predictions still queued (idempotent)."""
        self.watcher.stop()
        self.writer.close()

    def _swapped(self, old: LoadedModel, new: LoadedModel) -> None:
        online = OnlineFeatures(self.backend.feature_store, new.feature_names)
        with self._lock:
            self._serving = _Serving(new, online)  # one assignment: requests see old or new

    def _refresh_views(self) -> None:
        self._serving.online.refresh()

    @property
    def model(self) -> LoadedModel:
        """The model serving now."""
        return self._serving.model

    def check_model(self) -> bool:
        """Check the reference now (besides the background polling); ``True`` if swapped."""
        return self.watcher.check()

    def health(self) -> dict[str, Any]:
        """Status for ``/health``: ``ok``, or ``degraded`` when the last reload failed (the
        previous model keeps serving)."""
        st = self.watcher.status()
        serving = self._serving
        return {"status": "degraded" if st["last_error"] else "ok",
                "model": serving.model.model_name, "version": serving.model.version,
                "ref": st["ref"], "swaps": st["swaps"], "last_check_at": st["last_check_at"],
                "last_error": st["last_error"],
                "features_not_in_online_store": list(serving.online.unavailable)}

    # ------------------------------------------------------------------ predicting

    def prepare(self, instances: Sequence[Instance], *, loc_prefix: Sequence[Any] = ("body",)
                ) -> Prepared:
        """Validate ``instances``, complete them from the online store, predict, and queue
        the predictions for logging (await :attr:`Prepared.logged` before answering).

        Raises:
            RequestError: 422 (names, types, missing features), 404 (unknown call id).
            BackendError: the feature store or the model failed.
        """
        serving = self._serving  # read once: a swap during this request does not affect it
        lm, online = serving.model, serving.online
        sig = {f.name: f for f in lm.signature}
        errors: list[dict[str, Any]] = []
        many = len(instances) > 1 or tuple(loc_prefix) != ("body",)
        lookups: list[int] = []
        for i, inst in enumerate(instances):
            loc = [*loc_prefix, i] if many else list(loc_prefix)
            if inst.call_id is None and inst.features is None:
                errors.append(_err(loc, "give a call_id, features, or both", "missing"))
                continue
            for name, value in (inst.features or {}).items():
                spec = sig.get(name)
                if spec is None:
                    errors.append(_err([*loc, "features", name],
                                       f"unknown feature for {lm.model_name}/{lm.version}",
                                       "unknown_feature"))
                    continue
                why = check_value(spec, value)
                if why:
                    errors.append(_err([*loc, "features", name], why, "type_error"))
            if inst.call_id is None:
                absent = [f for f in sig if f not in (inst.features or {})]
                if absent:
                    errors.append(_err([*loc, "features"],
                                       f"missing feature(s) {absent} (send null for a "
                                       "missing value, or a call_id to read the rest from "
                                       "the online store)", "missing_feature"))
            elif set(sig) - set(inst.features or {}):
                lookups.append(i)
        if errors:
            raise RequestError(422, errors)
        values: list[dict[str, Any]] = [{} for _ in instances]
        sources = ["request"] * len(instances)
        if lookups:
            ids = [str(instances[i].call_id) for i in lookups]
            frame, found = online.fetch(ids)
            unknown = [cid for cid, ok in zip(ids, found, strict=True) if not ok]
            if unknown:
                raise RequestError(404, f"call_id(s) {unknown[:10]} not found in the online "
                                        f"feature store (views: {sorted(online.plan)})")
            records = frame.to_dict("records")
            for i, rec in zip(lookups, records, strict=True):
                values[i] = {f: rec[f] for f in sig}
                sources[i] = "online_store" if not instances[i].features else \
                    "request+online_store"
        for i, inst in enumerate(instances):
            values[i].update(inst.features or {})
        missing = [[f for f in sig if _is_missing(v.get(f))] for v in values]
        X = _model_frame(lm.signature, values)
        scores, classes = lm.predict(X)
        bad = np.flatnonzero(~np.isfinite(scores))
        if len(bad):
            raise RequestError(422, [_err([*loc_prefix, int(i)] if many else list(loc_prefix),
                                          f"{lm.model_name}/{lm.version} gives no score for "
                                          f"these inputs (missing: {missing[int(i)]}); this "
                                          "model needs every feature", "unscorable")
                                     for i in bad])
        call_ids = [inst.call_id for inst in instances]
        # the log's extra columns are the model's inputs only: monitoring measures the drift
        # of every extra column
        rows = prediction_rows(lm, X, scores, classes, call_ids=call_ids,
                               log_features=self.log_features)
        prepared = Prepared(lm, rows, sources, missing)
        prepared.logged = self.writer.submit(rows)
        return prepared

    @staticmethod
    def response(prepared: Prepared) -> list[dict[str, Any]]:
        """The JSON-ready answer of each instance."""
        lm, rows = prepared.model, prepared.rows
        out = []
        for j, rec in enumerate(rows[["prediction_id", "call_id", "score", "predicted_class",
                                      "predicted_at"]].itertuples(index=False)):
            out.append({"prediction_id": rec[0],
                        "call_id": None if rec[1] is pd.NA else rec[1],
                        "model_name": lm.model_name, "model_version": lm.version,
                        "score": float(rec[2]), "predicted_class": int(rec[3]),
                        "threshold": lm.threshold, "label": lm.label,
                        "predicted_at": rec[4].isoformat(),
                        "feature_source": prepared.sources[j],
                        "missing_features": prepared.missing[j]})
        return out


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _model_frame(signature: Sequence[FeatureField], values: Sequence[Mapping[str, Any]]
                 ) -> pd.DataFrame:
    """The model's input table: numeric features as float64 (missing = NaN), categorical
    ones as strings (missing = None)."""
    cols: dict[str, Any] = {}
    for spec in signature:
        raw = [v.get(spec.name) for v in values]
        if spec.is_categorical:
            cols[spec.name] = pd.array([None if _is_missing(x) else str(x) for x in raw],
                                       dtype="string")
        else:
            cols[spec.name] = np.array([np.nan if x is None or _is_missing(x) else float(x)
                                        for x in raw], dtype=np.float64)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(values)))
