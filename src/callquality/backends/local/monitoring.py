"""Monitoring state of the local backend: alert events, retraining-loop steps, baselines.

Tables (created on first use in the store's SQLite database, beside the catalog)::

    alert_events      one row per fired alert; ``dedup_key`` (rule, model, version, window,
                      segment) is UNIQUE, so re-evaluating a window fires nothing new
    loop_steps        one row per (loop, period, step): status ``done`` / ``failed``, the
                      step's JSON result, attempts, error, times
    loop_tables       tables a step hands to later steps (Parquet bytes, sha256), per
                      (loop, period, name)
    loop_leases       which process is running a (loop, period) now (owner, expiry)
    monitor_baselines reference table of a model version (Parquet bytes): what drift is
                      measured against, and the training pool of the next challenger

Every write is one ``BEGIN IMMEDIATE ... COMMIT`` transaction of :class:`._db.Database`: a step
is marked done in the same transaction that stores its tables, so a run killed at any point
leaves either the step done with all its outputs, or not done at all.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ...exceptions import ConflictError, IntegrityError, NotFoundError
from ._db import Database
from ._util import dumps, now_ns

__all__ = ["ALERT_COLUMNS_DB", "LocalMonitoringStore", "process_owner"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id     TEXT PRIMARY KEY,
    dedup_key    TEXT NOT NULL UNIQUE,
    rule         TEXT NOT NULL,
    metric       TEXT NOT NULL,
    comparator   TEXT NOT NULL,
    threshold    REAL NOT NULL,
    value        REAL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    model_name   TEXT NOT NULL COLLATE NOCASE,
    version      TEXT,
    segment      TEXT,
    feature      TEXT,
    severity     TEXT NOT NULL DEFAULT 'warning',
    fired_at     INTEGER NOT NULL,
    message      TEXT NOT NULL,
    delivery     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alert_events_model_window ON alert_events(model_name, window_start);
CREATE TABLE IF NOT EXISTS loop_steps (
    loop        TEXT NOT NULL,
    period      TEXT NOT NULL,
    step        TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 1,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (loop, period, step)
);
CREATE TABLE IF NOT EXISTS loop_tables (
    loop       TEXT NOT NULL,
    period     TEXT NOT NULL,
    name       TEXT NOT NULL,
    data       BLOB NOT NULL,
    n_rows     INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (loop, period, name)
);
CREATE TABLE IF NOT EXISTS loop_leases (
    loop        TEXT NOT NULL,
    period      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (loop, period)
);
CREATE TABLE IF NOT EXISTS monitor_baselines (
    model_name TEXT NOT NULL COLLATE NOCASE,
    version    TEXT NOT NULL COLLATE NOCASE,
    data       BLOB NOT NULL,
    n_rows     INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    meta       TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (model_name, version)
);
"""

#: Columns of ``alert_events`` in :meth:`LocalMonitoringStore.read_alerts` order.
ALERT_COLUMNS_DB: tuple[str, ...] = (
    "alert_id", "rule", "metric", "window_start", "window_end", "value", "threshold",
    "comparator", "model_name", "version", "fired_at", "message", "segment", "feature",
    "severity", "delivery")


def process_owner() -> str:
    """``"<host>:<pid>"`` of this process (the owner recorded with a lease)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust the expiry only
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by another user
        return True
    return True


def table_to_bytes(df: pd.DataFrame) -> bytes:
    """Parquet bytes of ``df`` (index dropped)."""
    buf = io.BytesIO()
    df.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()


def table_from_bytes(data: bytes, sha256: str, what: str) -> pd.DataFrame:
    """The table stored as Parquet ``data``; its checksum is verified first."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError(f"{what}: stored table fails its sha256 check (damaged store)")
    return pd.read_parquet(io.BytesIO(data))


class LocalMonitoringStore:
    """Alert events, retraining-loop state and baselines in the local store's database.

    Not constructed directly: ``cq.connect("local", ...).monitoring_store``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        with db.write("open the monitoring store") as con:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)

    def __repr__(self) -> str:
        return "LocalMonitoringStore()"

    # ------------------------------------------------------------------ alerts

    def insert_alerts(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store alert events whose ``dedup_key`` is new; returns the ``alert_id`` of those
        inserted (an event whose key is already stored is skipped). One transaction."""
        new: list[str] = []
        cols = ("alert_id", "dedup_key", "rule", "metric", "comparator", "threshold", "value",
                "window_start", "window_end", "model_name", "version", "segment", "feature",
                "severity", "fired_at", "message")
        with self._db.write("store alert events") as con:
            for ev in events:
                cur = con.execute(
                    f"INSERT OR IGNORE INTO alert_events ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", [ev[c] for c in cols])
                if cur.rowcount == 1:
                    new.append(str(ev["alert_id"]))
        return new

    def set_delivery(self, alert_id: str, delivery: Mapping[str, str]) -> None:
        """Record the outcome of sending an alert to each sink (``{sink: "ok" | error}``)."""
        with self._db.write(f"record delivery of alert {alert_id}") as con:
            con.execute("UPDATE alert_events SET delivery=? WHERE alert_id=?",
                        (dumps(dict(delivery)), alert_id))

    def read_alerts(self, *, model_name: str | None = None, start_ns: int | None = None,
                    end_ns: int | None = None) -> list[tuple[Any, ...]]:
        """Rows (:data:`ALERT_COLUMNS_DB`) with ``start <= window_start < end``, oldest
        window first."""
        where: list[str] = []
        params: list[Any] = []
        if model_name is not None:
            where.append("model_name = ?")
            params.append(model_name)
        if start_ns is not None:
            where.append("window_start >= ?")
            params.append(start_ns)
        if end_ns is not None:
            where.append("window_start < ?")
            params.append(end_ns)
        sql = f"SELECT {', '.join(ALERT_COLUMNS_DB)} FROM alert_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY window_start, fired_at, alert_id"
        return self._db.query(sql, params, what="read_alerts")

    # ------------------------------------------------------------------ loop state

    def steps(self, loop: str, period: str | None = None) -> pd.DataFrame:
        """Recorded steps (loop, period, step, status, result, error, attempts, started_at,
        finished_at); ``result`` parsed from JSON."""
        sql = ("SELECT loop, period, step, status, result, error, attempts, started_at, "
               "finished_at FROM loop_steps WHERE loop = ?")
        params: list[Any] = [loop]
        if period is not None:
            sql += " AND period = ?"
            params.append(period)
        rows = self._db.query(sql + " ORDER BY period, started_at", params, what="loop steps")
        df = pd.DataFrame(rows, columns=["loop", "period", "step", "status", "result", "error",
                                         "attempts", "started_at", "finished_at"])
        df["result"] = [json.loads(x) for x in df["result"]]
        for c in ("started_at", "finished_at"):
            df[c] = pd.to_datetime(df[c].astype("int64"), unit="ns", utc=True)
        return df

    def step_state(self, loop: str, period: str) -> dict[str, tuple[str, dict[str, Any], int]]:
        """``{step: (status, result, attempts)}`` of one period."""
        rows = self._db.query("SELECT step, status, result, attempts FROM loop_steps WHERE "
                              "loop = ? AND period = ?", (loop, period), what="loop state")
        return {r[0]: (r[1], json.loads(r[2]), int(r[3])) for r in rows}

    def finish_step(self, loop: str, period: str, step: str, result: Mapping[str, Any], *,
                    started_ns: int, tables: Mapping[str, pd.DataFrame] | None = None) -> None:
        """Mark ``step`` done with its JSON ``result`` and store its ``tables``, atomically."""
        blobs = [(name, table_to_bytes(df), len(df)) for name, df in (tables or {}).items()]
        now = now_ns()
        with self._db.write(f"finish step {step!r} of period {period!r}") as con:
            for name, data, n in blobs:
                con.execute("INSERT INTO loop_tables VALUES (?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT(loop, period, name) DO UPDATE SET data=excluded.data, "
                            "n_rows=excluded.n_rows, sha256=excluded.sha256, "
                            "created_at=excluded.created_at",
                            (loop, period, name, sqlite3.Binary(data), n,
                             hashlib.sha256(data).hexdigest(), now))
            self._upsert_step(con, loop, period, step, "done", dumps(dict(result)), None,
                              started_ns, now)

    def fail_step(self, loop: str, period: str, step: str, error: str, *,
                  started_ns: int) -> None:
        """Record that ``step`` failed with ``error`` (a rerun retries it)."""
        with self._db.write(f"record failure of step {step!r} of period {period!r}") as con:
            self._upsert_step(con, loop, period, step, "failed", "{}", error, started_ns,
                              now_ns())

    @staticmethod
    def _upsert_step(con: sqlite3.Connection, loop: str, period: str, step: str, status: str,
                     result: str, error: str | None, started: int, finished: int) -> None:
        con.execute("INSERT INTO loop_steps VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "
                    "ON CONFLICT(loop, period, step) DO UPDATE SET status=excluded.status, "
                    "result=excluded.result, error=excluded.error, "
                    "attempts=loop_steps.attempts + 1, started_at=excluded.started_at, "
                    "finished_at=excluded.finished_at",
                    (loop, period, step, status, result, error, started, finished))

    def read_table(self, loop: str, period: str, name: str) -> pd.DataFrame:
        """A table stored by :meth:`finish_step`.

        Raises:
            NotFoundError: no such table.
            IntegrityError: its checksum fails.
        """
        rows = self._db.query("SELECT data, sha256 FROM loop_tables WHERE loop = ? AND "
                              "period = ? AND name = ?", (loop, period, name),
                              what="read loop table")
        if not rows:
            raise NotFoundError(f"loop {loop!r}, period {period!r}: no stored table {name!r}")
        return table_from_bytes(bytes(rows[0][0]), rows[0][1],
                                f"loop {loop!r}, period {period!r}, table {name!r}")

    def has_table(self, loop: str, period: str, name: str) -> bool:
        """Whether :meth:`read_table` would find the table."""
        return bool(self._db.query("SELECT 1 FROM loop_tables WHERE loop = ? AND period = ? "
                                   "AND name = ?", (loop, period, name), what="loop table"))

    def acquire_lease(self, loop: str, period: str, owner: str, ttl_s: float) -> None:
        """Take the (loop, period) lease for ``owner`` for ``ttl_s`` seconds.

        A lease held by another owner is taken over only when it has expired or its process
        (same host) is gone.

        Raises:
            ConflictError: another live owner holds it.
        """
        now = now_ns()
        with self._db.write(f"lease period {period!r}") as con:
            row = con.execute("SELECT owner, expires_at FROM loop_leases WHERE loop = ? AND "
                              "period = ?", (loop, period)).fetchone()
            if row is not None and row[0] != owner and row[1] > now and _pid_alive(row[0]):
                raise ConflictError(f"loop {loop!r}: period {period!r} is being processed by "
                                    f"{row[0]} (lease until "
                                    f"{pd.Timestamp(row[1], unit='ns', tz='UTC')})")
            con.execute("INSERT INTO loop_leases VALUES (?, ?, ?, ?, ?) ON CONFLICT(loop, "
                        "period) DO UPDATE SET owner=excluded.owner, "
                        "acquired_at=excluded.acquired_at, expires_at=excluded.expires_at",
                        (loop, period, owner, now, now + int(ttl_s * 1e9)))

    def release_lease(self, loop: str, period: str, owner: str) -> None:
        """Give the lease back (only if ``owner`` holds it)."""
        with self._db.write(f"release lease of period {period!r}") as con:
            con.execute("DELETE FROM loop_leases WHERE loop = ? AND period = ? AND owner = ?",
                        (loop, period, owner))

    # ------------------------------------------------------------------ baselines

    def save_baseline(self, model_name: str, version: str, df: pd.DataFrame,
                      meta: Mapping[str, Any] | None = None) -> None:
        """Store (or replace) the reference table of ``model_name/version``."""
        data = table_to_bytes(df)
        with self._db.write(f"save baseline of {model_name}/{version}") as con:
            con.execute("INSERT INTO monitor_baselines VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(model_name, version) DO UPDATE SET data=excluded.data, "
                        "n_rows=excluded.n_rows, sha256=excluded.sha256, meta=excluded.meta, "
                        "created_at=excluded.created_at",
                        (model_name, version, sqlite3.Binary(data), len(df),
                         hashlib.sha256(data).hexdigest(), dumps(dict(meta or {})), now_ns()))

    def load_baseline(self, model_name: str, version: str) -> pd.DataFrame | None:
        """The reference table of ``model_name/version`` (its ``attrs`` hold the metadata
        saved with it, e.g. ``label``), or ``None``."""
        rows = self._db.query("SELECT data, sha256, meta FROM monitor_baselines WHERE "
                              "model_name = ? AND version = ?", (model_name, version),
                              what="load baseline")
        if not rows:
            return None
        df = table_from_bytes(bytes(rows[0][0]), rows[0][1],
                              f"baseline of {model_name}/{version}")
        df.attrs.update(json.loads(rows[0][2]))
        return df
