"""Snowpark table helpers of the Snowflake backend: typed uploads, typed reads, the
point-in-time join.

Everything here uses Snowpark DataFrame operations only (no SQL text), so it runs unchanged on
a real session and on Snowpark's local-testing session, where the tests exercise it.

Types: callquality's dtypes map to ``FLOAT`` (``float64``), ``NUMBER(38,0)`` (``int64``),
``VARCHAR`` (``string``) and ``TIMESTAMP_NTZ`` holding UTC (``timestamp``; model monitors need
NTZ timestamps). Values are uploaded as typed rows (``Session.create_dataframe`` with an
explicit schema: Snowpark binds or escapes them; nothing is formatted into SQL by us).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from snowflake.snowpark import DataFrame as SnowparkDataFrame
from snowflake.snowpark import Session, Window
from snowflake.snowpark import functions as F
from snowflake.snowpark.types import (
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampTimeZone,
    TimestampType,
)

from ._names import ObjectName

__all__ = [
    "ROW",
    "TIMESTAMP",
    "ensure_table",
    "key_strings",
    "ns_to_datetimes",
    "point_in_time",
    "python_values",
    "read_frame",
    "sf_type",
    "struct",
    "to_snowpark",
    "typed",
    "utc_series",
]

#: The kind of a timestamp column (callquality dtypes are float64, int64, string).
TIMESTAMP = "timestamp"
#: Row-number column used to keep the spine's order through a join.
ROW = "__CQ_ROW"
_TS, _LO = "__CQ_TS", "__CQ_LO"
_RANK = "__CQ_RN"


def sf_type(kind: str) -> DataType:
    """The Snowpark type of a callquality dtype (``float64``, ``int64``, ``string``,
    ``timestamp``)."""
    if kind == "float64":
        return DoubleType()
    if kind == "int64":
        return LongType()
    if kind == "string":
        return StringType()
    if kind == TIMESTAMP:
        return TimestampType(TimestampTimeZone.NTZ)
    raise ValueError(f"unknown column kind {kind!r}")


def struct(columns: Sequence[tuple[str, str]]) -> StructType:
    """A Snowpark schema from ``(COLUMN, kind)`` pairs."""
    return StructType([StructField(name, sf_type(kind), nullable=True)
                       for name, kind in columns])


def key_strings(values: Any) -> list[str | None]:
    """Join-key values as text (``None`` where missing), as the local backend compares them."""
    s = pd.Series(values, copy=False)
    return list(s.astype("string").to_numpy(dtype=object, na_value=None))


def ns_to_datetimes(ns: np.ndarray) -> list[datetime | None]:
    """Naive UTC datetimes (microseconds) from int64 nanoseconds (``INT64_MIN``: ``None``)."""
    out: list[datetime | None] = []
    nat = np.iinfo(np.int64).min
    for v in np.asarray(ns, dtype=np.int64).tolist():
        out.append(None if v == nat else pd.Timestamp(v, unit="ns").floor("us").to_pydatetime())
    return out


def python_values(values: Any, kind: str) -> list[Any]:
    """Plain Python values of a column for an upload (missing values as ``None``)."""
    if kind == TIMESTAMP:
        arr = np.asarray(values)
        if arr.dtype.kind == "i":
            return ns_to_datetimes(arr)
        ts = pd.to_datetime(pd.Series(values, copy=False), utc=True)
        return [None if pd.isna(t) else t.tz_convert("UTC").tz_localize(None).to_pydatetime()
                for t in ts]
    s = pd.Series(values, copy=False)
    if kind == "float64":
        f = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
        return [None if not np.isfinite(x) else float(x) for x in f.tolist()]
    if kind == "int64":
        i = pd.to_numeric(s, errors="coerce").astype("Int64")
        return [None if x is pd.NA else int(x) for x in i.tolist()]
    return list(s.astype("string").to_numpy(dtype=object, na_value=None))


def to_snowpark(session: Session, columns: Sequence[tuple[str, str]],
                data: Mapping[str, Any], n_rows: int) -> SnowparkDataFrame:
    """A Snowpark DataFrame with the given typed columns.

    Args:
        session: the Snowpark session.
        columns: ``(COLUMN, kind)`` pairs, in order.
        data: column -> values (array-like of ``n_rows``); a missing column is all NULL.
        n_rows: the number of rows.
    """
    cols = [python_values(data[name], kind) if name in data else [None] * n_rows
            for name, kind in columns]
    rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return session.create_dataframe(rows, schema=struct(columns))


def ensure_table(session: Session, name: ObjectName, columns: Sequence[tuple[str, str]]
                 ) -> None:
    """Create the table ``name`` with ``columns`` if it does not exist (a no-op otherwise)."""
    empty = session.create_dataframe([], schema=struct(columns))
    empty.write.save_as_table(name.sql, mode="ignore")


def utc_series(values: Any) -> pd.Series:
    """Timestamps as a tz-aware UTC Series (naive values are UTC, as ``TIMESTAMP_NTZ``)."""
    s = pd.Series(values, copy=False)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    ts = pd.to_datetime(s, utc=False)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.dt.tz_convert("UTC")
    return ts.dt.tz_localize("UTC")


def typed(values: Any, kind: str) -> Any:
    """A pandas column of callquality's dtype from values read back from Snowflake."""
    s = pd.Series(values, copy=False)
    if kind == "float64":
        return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
    if kind == "int64":
        return pd.array(pd.to_numeric(s, errors="coerce"), dtype="Int64")
    if kind == TIMESTAMP:
        return utc_series(s).array
    return pd.array(s.astype(object).where(s.notna(), None), dtype="string")


def _is_local_testing(df: SnowparkDataFrame) -> bool:
    """Whether ``df`` belongs to a Snowpark local-testing session."""
    conn = getattr(getattr(df, "_session", None), "_conn", None)
    return type(conn).__name__ == "MockServerConnection"


def _collect_frame(df: SnowparkDataFrame) -> pd.DataFrame:
    """``df`` as pandas. A real session uses ``to_pandas()`` (Arrow); the local-testing
    emulator's ``to_pandas()`` misaligns integer columns after a filter (Snowpark 1.56), so
    there the rows are collected instead (same values, row by row)."""
    if not _is_local_testing(df):
        return df.to_pandas()
    names = [str(c) for c in df.columns]
    rows = df.collect()
    return pd.DataFrame([list(r) for r in rows], columns=names) if rows else \
        pd.DataFrame({n: pd.Series([], dtype=object) for n in names})


def read_frame(df: SnowparkDataFrame, columns: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """``df`` collected into pandas with callquality's column names and dtypes.

    Args:
        df: a Snowpark DataFrame holding at least the listed columns.
        columns: ``(COLUMN, kind, output_name)`` triples, in output order.
    """
    raw = _collect_frame(df)
    upper = {str(c).strip('"').upper(): c for c in raw.columns}
    out: dict[str, Any] = {}
    for name, kind, out_name in columns:
        src = upper.get(name.upper())
        values = raw[src] if src is not None else pd.Series([None] * len(raw))
        out[out_name] = typed(values.reset_index(drop=True), kind)
    return pd.DataFrame(out, index=pd.RangeIndex(len(raw)))


def point_in_time(session: Session, source: SnowparkDataFrame, *, key_columns: Sequence[str],
                  timestamp_column: str, feature_columns: Sequence[tuple[str, str]],
                  spine_keys: Sequence[Sequence[str | None]], spine_ns: np.ndarray,
                  ttl_ns: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """For each spine row, the latest ``source`` row with the same keys and a timestamp at or
    before the spine's (and, with ``ttl_ns``, no older than ``ttl_ns`` before it).

    This is Snowflake's ``ASOF JOIN ... MATCH_CONDITION (spine.ts >= feature.ts)``, written as a
    left join on ``keys AND feature.ts <= spine.ts`` plus ``ROW_NUMBER() OVER (PARTITION BY
    spine row ORDER BY feature.ts DESC) = 1``: the same rows, and correct on Snowpark's
    local-testing session (whose ASOF emulation ignores the match condition). Unlike
    ``FeatureStore.retrieve_feature_values`` the spine is not de-duplicated: one output row per
    spine row.

    Args:
        session: the Snowpark session.
        source: the feature rows (unique per keys + timestamp).
        key_columns: join-key columns of ``source`` (VARCHAR).
        timestamp_column: the event-time column of ``source`` (TIMESTAMP_NTZ, UTC).
        feature_columns: ``(COLUMN, kind)`` of the features to return.
        spine_keys: one sequence of key strings per join key, each of the spine's length.
        spine_ns: the spine's timestamps (int64 UTC nanoseconds).
        ttl_ns: maximum feature age, or ``None``.

    Returns:
        ``(features, matched_at)``: the features (upper-case column names, callquality
        dtypes) and the matched rows' timestamps (``NaT`` where nothing matched), both indexed
        ``0 .. n-1`` in spine order.
    """
    n = len(spine_ns)
    key_alias = [f"__CQ_K{i}" for i in range(len(key_columns))]
    lo = None if ttl_ns is None else np.where(spine_ns == np.iinfo(np.int64).min, spine_ns,
                                              spine_ns - ttl_ns)
    spine_cols: list[tuple[str, str]] = [(ROW, "int64"), *((k, "string") for k in key_alias),
                                         (_TS, TIMESTAMP), (_LO, TIMESTAMP)]
    data: dict[str, Any] = {ROW: np.arange(n), _TS: spine_ns}
    for alias, keys in zip(key_alias, spine_keys, strict=True):
        data[alias] = list(keys)
    if lo is not None:
        data[_LO] = lo
    spine = to_snowpark(session, spine_cols, data, n)
    cond = spine[_TS] >= source[timestamp_column]
    for alias, key in zip(key_alias, key_columns, strict=True):
        cond = cond & (spine[alias] == source[key])
    if lo is not None:
        cond = cond & (source[timestamp_column] >= spine[_LO])
    joined = spine.join(source, cond, how="left")
    order = Window.partition_by(joined[ROW]).order_by(joined[timestamp_column].desc_nulls_last())
    best = joined.with_column(_RANK, F.row_number().over(order)).filter(F.col(_RANK) == 1)
    best = best.select(ROW, F.col(timestamp_column).alias(_TS),
                       *(F.col(c) for c, _ in feature_columns))
    frame = read_frame(best, [(ROW, "int64", ROW), (_TS, TIMESTAMP, _TS),
                              *((c, kind, c) for c, kind in feature_columns)])
    frame = frame.set_index(frame[ROW].astype("int64")).sort_index()
    frame = frame.reindex(pd.RangeIndex(n))
    matched = pd.Series(pd.to_datetime(frame[_TS], utc=True).to_numpy(), index=frame.index)
    features = frame[[c for c, _ in feature_columns]].copy()
    for c, kind in feature_columns:  # reindex may have changed extension dtypes
        features[c] = typed(features[c], kind)
    return features, matched
