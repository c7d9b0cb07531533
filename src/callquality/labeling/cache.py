"""The label cache: validated answers keyed by (model, prompt hash), so reruns cost nothing.

Only valid answers are cached; quarantined calls are asked again on the next run. An entry is
re-validated when it is read, so a damaged cache can only cause a new request, never a wrong
label.

* :class:`MemoryCache` — a dict; lives as long as the labeler (the default).
* :class:`SQLiteCache` — a SQLite file (WAL mode, shared by threads and processes) with an
  in-memory front; no connection stays open between calls. ``open_cache("labels/")`` puts ``label-cache.sqlite`` in that folder;
  a path ending in ``.sqlite``, ``.sqlite3`` or ``.db`` names the file itself.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..exceptions import ConfigurationError

__all__ = ["CacheEntry", "LabelCache", "MemoryCache", "SQLiteCache", "open_cache"]

CACHE_FILENAME = "label-cache.sqlite"


@dataclass(frozen=True)
class CacheEntry:
    """A validated answer: the judgement's fields, the raw text it came from, when it was
    labeled (ISO 8601, UTC) and the tokens it cost."""

    judgement: dict[str, Any]
    raw_response: str
    labeled_at: str
    labeler_version: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class LabelCache(Protocol):
    def get(self, model: str, prompt_hash: str) -> CacheEntry | None:
        ...

    def put(self, model: str, prompt_hash: str, entry: CacheEntry) -> None:
        ...


class MemoryCache:
    """Thread-safe in-memory cache."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], CacheEntry] = {}
        self._lock = threading.Lock()

    def get(self, model: str, prompt_hash: str) -> CacheEntry | None:
        with self._lock:
            return self._data.get((model, prompt_hash))

    def put(self, model: str, prompt_hash: str, entry: CacheEntry) -> None:
        with self._lock:
            self._data[(model, prompt_hash)] = entry

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class SQLiteCache:
    """Cache in a SQLite file (created if missing), with an in-memory front.

    Each read or write opens its own short connection, so the cache holds no open handle
    between calls and any number of threads and processes can share the file.

    Args:
        path: the database file.
        busy_timeout_s: how long a write waits for another process's write.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._front: dict[tuple[str, str], CacheEntry] = {}
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS label_cache ("
                " model TEXT NOT NULL, prompt_hash TEXT NOT NULL, entry TEXT NOT NULL,"
                " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
                " PRIMARY KEY (model, prompt_hash))")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s,
                               isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    def get(self, model: str, prompt_hash: str) -> CacheEntry | None:
        key = (model, prompt_hash)
        with self._lock:
            if key in self._front:
                return self._front[key]
        with self._connect() as conn:
            row = conn.execute(
                "SELECT entry FROM label_cache WHERE model = ? AND prompt_hash = ?",
                key).fetchone()
        if row is None:
            return None
        try:
            entry = CacheEntry(**json.loads(row[0]))
        except (ValueError, TypeError):
            return None  # damaged row: treated as a miss (and overwritten by the next put)
        with self._lock:
            self._front[key] = entry
        return entry

    def put(self, model: str, prompt_hash: str, entry: CacheEntry) -> None:
        text = json.dumps(asdict(entry), sort_keys=True)
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO label_cache (model, prompt_hash, entry) VALUES (?, ?, ?)",
                (model, prompt_hash, text))
        with self._lock:
            self._front[(model, prompt_hash)] = entry

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT count(*) FROM label_cache").fetchone()[0])


def open_cache(cache: LabelCache | str | Path | bool | None) -> LabelCache | None:
    """``None``/``True``: a new :class:`MemoryCache`; ``False``: no cache; a path: a
    :class:`SQLiteCache` (a folder gets ``label-cache.sqlite``); a cache object: itself."""
    if cache is None or cache is True:
        return MemoryCache()
    if cache is False:
        return None
    if isinstance(cache, (str, Path)):
        p = Path(cache)
        if p.suffix.lower() not in (".sqlite", ".sqlite3", ".db"):
            p = p / CACHE_FILENAME
        return SQLiteCache(p)
    if isinstance(cache, LabelCache):
        return cache
    raise ConfigurationError(f"cache must be None, a bool, a path or a LabelCache, got "
                             f"{type(cache).__name__}")
