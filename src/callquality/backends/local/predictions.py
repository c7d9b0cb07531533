"""The local prediction log (implements :class:`callquality.protocols.PredictionLog`).

Predictions are logged as they are made; actuals (the true outcome) arrive later and are
joined by ``prediction_id`` (or attached by ``call_id``). This is the source table a model
monitor reads (Snowflake: ``ModelMonitorSourceConfig`` with id, timestamp, prediction score,
prediction class and actual class columns).

* ``log_predictions`` is all-or-nothing: a batch with a repeated or already-logged
  ``prediction_id`` is refused whole (:class:`~callquality.backends.errors.DuplicateKeyError`).
  Columns other than the standard ones (features, segments) are kept and returned by ``read``.
* ``log_actuals`` replaces an earlier actual of the same prediction (a corrected label);
  actuals for unknown predictions are refused (:class:`~callquality.exceptions.NotFoundError`).
* ``read`` returns the predictions with ``start <= predicted_at < end``, oldest first, with
  ``actual`` / ``actual_at`` (missing until they arrive). Times are UTC; naive inputs are UTC.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ...exceptions import NotFoundError
from .._predictions import check_actuals, check_predictions, jsonable, to_ns
from ..errors import DuplicateKeyError
from ._db import Database
from ._util import now_ns

__all__ = ["ACTUAL_COLUMNS", "PREDICTION_COLUMNS", "LocalPredictionLog"]

#: Columns of the log, in ``read`` order (extra columns follow).
PREDICTION_COLUMNS = ("prediction_id", "call_id", "model_name", "model_version", "threshold",
                      "score", "predicted_class", "predicted_at")
ACTUAL_COLUMNS = ("actual", "actual_at")
_CHUNK = 500


class LocalPredictionLog:
    """Predictions and late-arriving actuals in the local store.

    Not constructed directly: use ``cq.connect("local", ...).predictions``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def __repr__(self) -> str:
        return "LocalPredictionLog()"

    def log_predictions(self, df: pd.DataFrame) -> int:
        """Append predictions; returns the number of rows logged.

        Columns: ``model_name``, ``model_version``, ``score``, ``predicted_class`` (required);
        ``prediction_id`` (a random id when absent), ``call_id``, ``threshold``,
        ``predicted_at`` (now when absent); any other column is kept as an extra.

        Raises:
            MissingColumnsError: a required column is absent.
            DuplicateKeyError: a ``prediction_id`` repeats or is already logged.
            SchemaError: wrong types, missing or non-finite scores.
        """
        call = "log_predictions"
        batch = check_predictions(df, call)
        n = batch.n
        if n == 0:
            return 0
        id_list, score, klass = batch.ids, batch.score, batch.predicted_class
        thr, at = batch.threshold, batch.predicted_at
        call_ids = df["call_id"].astype("string").to_numpy(dtype=object, na_value=None) \
            if "call_id" in df.columns else [None] * n
        extras = [c for c in df.columns if c not in PREDICTION_COLUMNS]
        if extras:
            records = df[extras].to_dict("records")
            extra_json: list[str | None] = [
                json.dumps({k: jsonable(v) for k, v in r.items()}, allow_nan=False)
                for r in records]
        else:
            extra_json = [None] * n
        logged = now_ns()
        rows = [(id_list[i], call_ids[i], str(df["model_name"].iloc[i]),
                 str(df["model_version"].iloc[i]),
                 None if math.isnan(thr[i]) else float(thr[i]), float(score[i]), int(klass[i]),
                 int(at[i]), logged, extra_json[i]) for i in range(n)]
        with self._db.write(call) as con:
            existing: list[str] = []
            for i in range(0, n, _CHUNK):
                chunk = id_list[i:i + _CHUNK]
                existing += [r[0] for r in con.execute(
                    "SELECT prediction_id FROM predictions WHERE prediction_id IN "
                    f"({','.join('?' * len(chunk))})", chunk)]
            if existing:
                raise DuplicateKeyError(f"{call}: prediction_id(s) {sorted(existing)[:5]} are "
                                        "already logged; nothing of this batch was written")
            con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            rows)
        return n

    def log_actuals(self, df: pd.DataFrame) -> int:
        """Attach true outcomes to logged predictions; returns the number of predictions that
        received an actual.

        Columns: ``actual`` (an integer class) and ``prediction_id`` or ``call_id`` (all the
        call's predictions get the actual); ``actual_at`` (now when absent).

        Raises:
            MissingColumnsError: no id column or no ``actual``.
            NotFoundError: an id matches no logged prediction (nothing is written).
        """
        call = "log_actuals"
        batch = check_actuals(df, call)
        if not batch.ids:
            return 0
        id_col, ids, actual, at = batch.id_col, batch.ids, batch.actual, batch.actual_at
        logged = now_ns()
        with self._db.write(call) as con:
            targets: list[tuple[str, int, int]] = []
            unknown: list[str] = []
            for key, a, t in zip(ids, actual.tolist(), at.tolist(), strict=True):
                found = [r[0] for r in con.execute(
                    f"SELECT prediction_id FROM predictions WHERE {id_col}=?", (key,))]
                if not found:
                    unknown.append(key)
                targets += [(pid, a, t) for pid in found]
            if unknown:
                raise NotFoundError(f"{call}: no prediction with {id_col} {unknown[:5]}"
                                    f"{' ...' if len(unknown) > 5 else ''}; nothing was written")
            con.executemany("INSERT INTO actuals VALUES (?, ?, ?, ?) ON CONFLICT(prediction_id)"
                            " DO UPDATE SET actual=excluded.actual, actual_at=excluded.actual_at,"
                            " logged_at=excluded.logged_at",
                            [(pid, a, t, logged) for pid, a, t in targets])
        return len({t[0] for t in targets})

    def read(self, *, model_name: str | None = None, start: datetime | None = None,
             end: datetime | None = None, model_version: str | None = None) -> pd.DataFrame:
        """Predictions with ``start <= predicted_at < end`` (either bound optional), joined
        with their actuals, oldest first. Model name and version match case-insensitively."""
        call = "read"
        lo, hi = to_ns(start, "start", call), to_ns(end, "end", call)
        where: list[str] = []
        params: list[Any] = []
        if model_name is not None:
            where.append("p.model_name = ?")
            params.append(model_name)
        if model_version is not None:
            where.append("p.model_version = ?")
            params.append(model_version)
        if lo is not None:
            where.append("p.predicted_at >= ?")
            params.append(lo)
        if hi is not None:
            where.append("p.predicted_at < ?")
            params.append(hi)
        sql = ("SELECT p.prediction_id, p.call_id, p.model_name, p.model_version, p.threshold, "
               "p.score, p.predicted_class, p.predicted_at, a.actual, a.actual_at, p.extra "
               "FROM predictions p LEFT JOIN actuals a USING (prediction_id)")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY p.predicted_at, p.prediction_id"
        rows = self._db.query(sql, params, what=call)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 11
        frame = pd.DataFrame({
            "prediction_id": pd.array(cols[0], dtype="string"),
            "call_id": pd.array(cols[1], dtype="string"),
            "model_name": pd.array(cols[2], dtype="string"),
            "model_version": pd.array(cols[3], dtype="string"),
            "threshold": np.array([np.nan if x is None else x for x in cols[4]], dtype=float),
            "score": np.array(cols[5], dtype=float),
            "predicted_class": np.array(cols[6], dtype=np.int64),
            "predicted_at": pd.to_datetime(np.array(cols[7], dtype=np.int64), unit="ns",
                                           utc=True),
            "actual": pd.array(cols[8], dtype="Int64"),
            "actual_at": pd.to_datetime([np.iinfo(np.int64).min if x is None else x
                                         for x in cols[9]], unit="ns", utc=True),
        })
        if any(x is not None for x in cols[10]):
            extra = pd.DataFrame.from_records([json.loads(x) if x else {} for x in cols[10]],
                                              index=frame.index)
            extra = extra[[c for c in extra.columns if c not in frame.columns]]
            frame = pd.concat([frame, extra], axis=1)
        return frame
