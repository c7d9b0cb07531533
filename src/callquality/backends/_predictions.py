"""Validation of prediction-log batches, shared by every backend's ``PredictionLog``.

Both backends accept the same tables and refuse the same mistakes with the same errors, so the
checks live here and each backend only stores what they return.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, SchemaError
from .errors import DuplicateKeyError, MissingColumnsError
from .local._util import now_ns, timestamps_to_ns

__all__ = ["REQUIRED", "ActualsBatch", "PredictionBatch", "check_actuals", "check_predictions",
           "int_column", "jsonable", "to_ns"]

#: Columns every prediction batch must have.
REQUIRED = ("model_name", "model_version", "score", "predicted_class")


def to_ns(value: Any, what: str, call: str) -> int | None:
    """A timestamp argument (naive = UTC) as integer nanoseconds, ``None`` kept."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{call}: {what}={value!r} is not a timestamp") from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def int_column(series: pd.Series, name: str, call: str) -> np.ndarray:
    """``series`` as ``int64``; :class:`SchemaError` naming the first non-integer row."""
    try:
        num = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{call}: column {name!r} must hold integers ({exc})") from exc
    arr = np.asarray(num, dtype=float)
    bad = ~np.isfinite(arr) | (np.round(arr) != arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{call}: column {name!r} must hold integers; row "
                          f"{series.index[i]!r} has {series.iloc[i]!r}")
    return arr.astype(np.int64)


def jsonable(value: Any) -> Any:
    """A cell as a JSON value: numpy scalars unwrapped, NaN/NA -> ``None``, times as ISO text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return pd.Timestamp(value).isoformat()
    if value is pd.NA or value is None:
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _frame(df: Any, call: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError(f"{call}: expected a pandas DataFrame, got {type(df).__name__}")
    return df


def _float_column(df: pd.DataFrame, name: str, call: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[name], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{call}: column {name!r} must be numeric ({exc})") from exc


@dataclass(frozen=True)
class PredictionBatch:
    """A validated prediction batch (arrays of length ``n``)."""

    n: int
    ids: list[str]
    score: np.ndarray
    predicted_class: np.ndarray
    threshold: np.ndarray          # NaN where unknown
    predicted_at: np.ndarray       # int64 ns UTC


def check_predictions(df: Any, call: str = "log_predictions") -> PredictionBatch:
    """Validate a prediction batch (see ``PredictionLog.log_predictions``).

    Raises:
        ConfigurationError: not a DataFrame.
        MissingColumnsError: a column of :data:`REQUIRED` is absent.
        DuplicateKeyError: the batch repeats a ``prediction_id``.
        SchemaError: missing ids or model names, non-numeric or non-finite scores, non-integer
            classes, bad thresholds or timestamps.
    """
    df = _frame(df, call)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise MissingColumnsError(f"{call}: the batch lacks column(s) {missing} (required: "
                                  f"{list(REQUIRED)})", missing)
    n = len(df)
    if "prediction_id" in df.columns:
        ids = df["prediction_id"].astype("string")
        if ids.isna().any():
            raise SchemaError(f"{call}: prediction_id is missing in "
                              f"{int(ids.isna().sum())} row(s)")
        id_list = [str(x) for x in ids]
    else:
        id_list = [uuid.uuid4().hex for _ in range(n)]
    dup = pd.Series(id_list, dtype=object).duplicated()
    if dup.any():
        repeated = sorted(set(pd.Series(id_list)[dup]))[:5]
        raise DuplicateKeyError(f"{call}: the batch repeats prediction_id(s) {repeated}")
    for col in ("model_name", "model_version"):
        if df[col].isna().any():
            raise SchemaError(f"{call}: column {col!r} is missing in "
                              f"{int(df[col].isna().sum())} row(s)")
    score = _float_column(df, "score", call)
    if not np.isfinite(score).all():
        raise SchemaError(f"{call}: column 'score' has missing or non-finite values")
    klass = int_column(df["predicted_class"], "predicted_class", call)
    thr = _float_column(df, "threshold", call) if "threshold" in df.columns \
        else np.full(n, np.nan)
    at = timestamps_to_ns(df["predicted_at"], column="predicted_at", call=call) \
        if "predicted_at" in df.columns else np.full(n, now_ns(), dtype=np.int64)
    return PredictionBatch(n, id_list, score, klass, thr, at)


@dataclass(frozen=True)
class ActualsBatch:
    """A validated batch of actuals: ``id_col`` is ``prediction_id`` or ``call_id``."""

    id_col: str
    ids: list[str]
    actual: np.ndarray             # int64
    actual_at: np.ndarray          # int64 ns UTC


def check_actuals(df: Any, call: str = "log_actuals") -> ActualsBatch:
    """Validate a batch of actuals (see ``PredictionLog.log_actuals``); may be empty.

    Raises:
        ConfigurationError: not a DataFrame.
        MissingColumnsError: no id column or no ``actual``.
        SchemaError: missing ids, non-integer actuals, bad timestamps.
    """
    df = _frame(df, call)
    id_col = "prediction_id" if "prediction_id" in df.columns else \
        "call_id" if "call_id" in df.columns else None
    missing = ([] if id_col else ["prediction_id"]) + \
        ([] if "actual" in df.columns else ["actual"])
    if missing or id_col is None:
        raise MissingColumnsError(f"{call}: the batch lacks column(s) {missing} (it needs "
                                  "'actual' and 'prediction_id' or 'call_id')", missing)
    ids = df[id_col].astype("string")
    if ids.isna().any():
        raise SchemaError(f"{call}: {id_col} is missing in {int(ids.isna().sum())} row(s)")
    actual = int_column(df["actual"], "actual", call)
    at = timestamps_to_ns(df["actual_at"], column="actual_at", call=call) \
        if "actual_at" in df.columns else np.full(len(df), now_ns(), dtype=np.int64)
    return ActualsBatch(id_col, [str(x) for x in ids], actual, at)
