"""Helpers of the local backend: names, times, JSON, checksums, atomic folders."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...exceptions import ConfigurationError
from ..errors import InvalidNameError, MissingTimestampError

__all__ = [
    "FV_VERSION_RE",
    "IDENTIFIER_RE",
    "check_identifier",
    "dumps",
    "fault",
    "from_ns",
    "fsync_dir",
    "now_ns",
    "parse_duration",
    "sha256_file",
    "timestamps_to_ns",
    "to_jsonable",
]

#: Unquoted SQL identifier, as Snowflake accepts for models, versions and aliases.
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
#: Feature-view version (Snowflake: letters, digits, ``_ . -``, case kept, <= 128 chars).
FV_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def fault(point: str) -> None:
    """Crash-test hook called at the critical points of every write (``"after_artifact"``,
    ``"before_commit"``, ``"after_segment"``); a no-op that the reliability tests replace in
    a child process to kill it exactly there."""


def check_identifier(value: Any, kind: str, call: str) -> str:
    """``value`` if it is a valid identifier, else :class:`InvalidNameError` naming ``call``."""
    if not isinstance(value, str) or not IDENTIFIER_RE.match(value):
        raise InvalidNameError(
            f"{call}: invalid {kind} {value!r}: use a SQL identifier (a letter or '_', then up "
            "to 254 letters, digits, '_' or '$'; e.g. 'call_quality', 'V2', 'PRODUCTION')")
    return value


def now_ns() -> int:
    """Current UTC time in integer nanoseconds since the epoch."""
    return int(datetime.now(timezone.utc).timestamp() * 1_000_000) * 1000


def from_ns(value: int | None) -> datetime | None:
    """A timezone-aware UTC datetime (microsecond precision) from nanoseconds."""
    if value is None:
        return None
    return datetime.fromtimestamp(value // 1000 / 1_000_000, tz=timezone.utc)


def timestamps_to_ns(values: Any, *, column: str, call: str) -> np.ndarray:
    """UTC nanoseconds (int64) of a column of timestamps; naive values are taken as UTC.

    Raises:
        SchemaError: the values are not timestamps.
        MissingTimestampError: some values are missing (the message names the rows).
    """
    from ...exceptions import SchemaError

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    try:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            ts = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            ts = series.dt.tz_localize("UTC")
        elif pd.api.types.is_numeric_dtype(series.dtype) and len(series) and \
                series.notna().any():
            raise SchemaError(f"{call}: column {column!r} holds numbers ({series.dtype}); "
                              "expected timestamps (datetime64 or datetime objects)")
        else:
            ts = pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{call}: column {column!r} does not hold timestamps ({exc})") from exc
    missing = ts.isna().to_numpy()
    if missing.any():
        rows = list(series.index[missing][:5])
        raise MissingTimestampError(
            f"{call}: column {column!r} has {int(missing.sum())} missing timestamp(s) (rows "
            f"{rows}{' ...' if missing.sum() > 5 else ''}); every row needs one")
    try:
        return np.asarray(pd.DatetimeIndex(ts).as_unit("ns").asi8, dtype="int64").copy()
    except (ValueError, OverflowError) as exc:
        raise SchemaError(f"{call}: column {column!r} holds timestamps outside 1677-2262 "
                          f"({exc})") from exc


def ns_to_series(values: np.ndarray, index: Any = None) -> pd.Series:
    """A tz-aware UTC datetime Series from int64 nanoseconds (``INT64_MIN`` = NaT)."""
    arr = np.asarray(values, dtype="int64").view("datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(arr).tz_localize("UTC"), index=index)


def parse_duration(value: Any, *, what: str, call: str) -> int:
    """Nanoseconds of a positive duration: ``"7 days"``, ``"1 hour"``, ``"30min"``, a
    ``timedelta`` or ``pandas.Timedelta``."""
    try:
        if isinstance(value, (timedelta, pd.Timedelta)):
            td = pd.Timedelta(value)
        elif isinstance(value, str):
            td = pd.Timedelta(value.strip())
        else:
            raise ValueError(f"unsupported type {type(value).__name__}")
    except ValueError as exc:
        raise ConfigurationError(f"{call}: {what}={value!r} is not a duration such as "
                                 f"'7 days', '1 hour' or a timedelta ({exc})") from exc
    if td is pd.NaT or td <= pd.Timedelta(0):
        raise ConfigurationError(f"{call}: {what}={value!r} must be a positive duration")
    return int(td.value)


def to_jsonable(obj: Any, *, what: str, call: str) -> Any:
    """``obj`` as JSON types: numpy scalars/arrays, tuples, datetimes converted; non-finite
    floats become ``None``. Anything else raises :class:`ConfigurationError`."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ConfigurationError(f"{call}: {what} keys must be strings, got {k!r}")
            out[k] = to_jsonable(v, what=what, call=call)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, what=what, call=call) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v, what=what, call=call) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item(), what=what, call=call)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise ConfigurationError(f"{call}: {what} must be JSON-serialisable; {obj!r} of type "
                             f"{type(obj).__name__} is not")


def dumps(obj: Any) -> str:
    """Compact deterministic JSON text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> tuple[str, int]:
    """Hex sha256 and size in bytes of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def fsync_dir(path: Path) -> None:
    """fsync a folder so that a rename inside it survives a power failure (POSIX only)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_name() -> str:
    """A fresh random name for a temporary or final folder/file."""
    return uuid.uuid4().hex


def remove_path(path: Path) -> None:
    """Remove a file or folder if it exists (errors ignored: it is garbage either way)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
