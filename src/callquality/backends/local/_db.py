"""SQLite access for the local backend: WAL mode, busy timeout, short write transactions.

One database file (``<path>/callquality.db``) holds the catalog of every component: models,
versions, aliases, entities, feature views, feature segments, the online tables and the
prediction log. In WAL mode any number of processes read while one writes; writers queue on
the database lock for up to ``busy_timeout_s``. Every write is one ``BEGIN IMMEDIATE ...
COMMIT`` transaction, so a writer killed at any point leaves the previous committed state.

In memory (no path) there is a single connection shared by the threads of the process,
guarded by a lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...exceptions import BackendError, ConflictError, IntegrityError

__all__ = ["SCHEMA_VERSION", "Database"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cq_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    model_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    comment        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    default_version TEXT,
    next_number    INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS model_versions (
    model_id        INTEGER NOT NULL REFERENCES models(model_id),
    version         TEXT NOT NULL COLLATE NOCASE,
    created_at      INTEGER NOT NULL,
    comment         TEXT NOT NULL DEFAULT '',
    metrics         TEXT NOT NULL DEFAULT '{}',
    params          TEXT NOT NULL DEFAULT '{}',
    tags            TEXT NOT NULL DEFAULT '{}',
    lineage         TEXT NOT NULL DEFAULT '{}',
    loader          TEXT NOT NULL,
    artifact_dir    TEXT NOT NULL UNIQUE,
    files           TEXT NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);
CREATE TABLE IF NOT EXISTS model_aliases (
    model_id INTEGER NOT NULL REFERENCES models(model_id),
    alias    TEXT NOT NULL COLLATE NOCASE,
    version  TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (model_id, alias),
    UNIQUE (model_id, version)
);
CREATE TABLE IF NOT EXISTS entities (
    name        TEXT PRIMARY KEY COLLATE NOCASE,
    join_keys   TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS feature_views (
    view_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL COLLATE NOCASE,
    version     TEXT NOT NULL,
    entity      TEXT NOT NULL COLLATE NOCASE,
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    next_seq    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS feature_segments (
    segment_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    view_id     INTEGER NOT NULL REFERENCES feature_views(view_id),
    seq         INTEGER NOT NULL,
    location    TEXT NOT NULL UNIQUE,
    n_rows      INTEGER NOT NULL,
    nbytes      INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    min_ts      INTEGER,
    max_ts      INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS feature_segments_view ON feature_segments(view_id, seq);
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id   TEXT PRIMARY KEY,
    call_id         TEXT,
    model_name      TEXT NOT NULL COLLATE NOCASE,
    model_version   TEXT NOT NULL COLLATE NOCASE,
    threshold       REAL,
    score           REAL NOT NULL,
    predicted_class INTEGER NOT NULL,
    predicted_at    INTEGER NOT NULL,
    logged_at       INTEGER NOT NULL,
    extra           TEXT
);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions(predicted_at);
CREATE INDEX IF NOT EXISTS predictions_model_time ON predictions(model_name, predicted_at);
CREATE INDEX IF NOT EXISTS predictions_call ON predictions(call_id);
CREATE TABLE IF NOT EXISTS actuals (
    prediction_id TEXT PRIMARY KEY,
    actual        INTEGER NOT NULL,
    actual_at     INTEGER NOT NULL,
    logged_at     INTEGER NOT NULL
);
"""


def translate(exc: sqlite3.Error, what: str) -> BackendError:
    """A :class:`BackendError` for ``exc`` raised during ``what`` (chain it with ``from``)."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return ConflictError(f"{what}: the store is locked by another writer for longer than "
                             f"the busy timeout ({text})")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database"
                                                   in text or "corrupt" in text):
        return IntegrityError(f"{what}: the store's database is damaged ({text})")
    return BackendError(f"{what}: {type(exc).__name__}: {text}")


class Database:
    """Connections to the store's SQLite database.

    Args:
        path: database file, or ``None`` for a private in-memory database.
        busy_timeout_s: how long a writer waits for another process's write lock.
    """

    def __init__(self, path: Path | None, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.busy_timeout_s = float(busy_timeout_s)
        self._local = threading.local()
        self._lock = threading.RLock()
        self._shared: sqlite3.Connection | None = None
        self._all: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        try:
            self._init_schema()
        except BaseException:
            self.close()
            raise

    def _init_schema(self) -> None:
        if self.path is None:
            self._shared = self._open()
        with self.write("open the store") as con:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            row = con.execute("SELECT value FROM cq_meta WHERE key='schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO cq_meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise BackendError(f"the store at {self.path} has schema version {row[0]}; this "
                                   f"version of callquality reads up to {SCHEMA_VERSION} "
                                   "(upgrade callquality)")

    # ------------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        try:
            con = sqlite3.connect(target, timeout=self.busy_timeout_s, isolation_level=None,
                                  check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            if self.path is not None:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise BackendError(f"cannot put {self.path} in WAL mode (got {mode!r}); "
                                       "is it on a network file system?")
                # NORMAL: a commit survives a process crash; the last ones may be lost on a
                # power failure, never the database's consistency.
                con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise translate(exc, f"open {target}") from exc
        with self._lock:
            self._all.append(con)
        return con

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (reopened after a fork)."""
        if self._closed:
            raise BackendError("the store is closed")
        if self._shared is not None:
            return self._shared
        if os.getpid() != self._pid:  # forked: never reuse the parent's connections
            self._local = threading.local()
            self._all = []
            self._pid = os.getpid()
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._open()
            self._local.con = con
        return con

    @contextmanager
    def read(self, what: str) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs (a deferred read transaction)."""
        with self._transaction("BEGIN", what) as con:
            yield con

    @contextmanager
    def write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` (takes the write lock at once, so two
        writers never deadlock on a lock upgrade), ``COMMIT`` on success, ``ROLLBACK`` on any
        exception."""
        with self._transaction("BEGIN IMMEDIATE", what) as con:
            yield con

    @contextmanager
    def _transaction(self, begin: str, what: str) -> Iterator[sqlite3.Connection]:
        """``begin``; yield; ``COMMIT``, or ``ROLLBACK`` on any exception. sqlite3 errors
        are translated into callquality's, naming ``what`` was being done."""
        con = self.connection()
        with self.guard():
            try:
                con.execute(begin)
            except sqlite3.Error as exc:
                raise translate(exc, what) from exc
            try:
                yield con
            except sqlite3.Error as exc:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise translate(exc, what) from exc
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            else:
                try:
                    con.execute("COMMIT")
                except sqlite3.Error as exc:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise translate(exc, what) from exc

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Serialise use of the shared in-memory connection (a no-op for a folder store,
        where every thread has its own connection)."""
        if self._shared is None:
            yield
        else:
            with self._lock:
                yield

    def query(self, sql: str, params: tuple | list = (), *, what: str) -> list[tuple]:
        """Run one SELECT in autocommit mode and return all rows."""
        con = self.connection()
        with self.guard():
            try:
                return con.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, what) from exc

    def close(self) -> None:
        """Close every connection this object opened (idempotent)."""
        with self._lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.Error:  # pragma: no cover
                    pass
            self._all = []
            self._shared = None
            self._local = threading.local()
            self._closed = True
