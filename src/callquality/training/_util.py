"""Small helpers shared by the training modules: atomic writes, checksums, JSON conversion."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_copy_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "canonical_json",
    "sha256_bytes",
    "sha256_file",
    "to_jsonable",
]


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, paths, datetimes and tuples turned into JSON types.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no NaN) used for hashing and for files."""
    return json.dumps(to_jsonable(obj), sort_keys=True, indent=2, allow_nan=False)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in ``chunk_size``-byte chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync'ed,
    then ``os.replace``. Readers see the old file or the new one, never a partial one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as canonical JSON (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, (canonical_json(obj) + "\n").encode("utf-8"))


def atomic_copy_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy the file ``src`` to ``dst`` atomically (streamed into a temporary file in the
    target folder, fsync'ed, then ``os.replace``)."""
    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
