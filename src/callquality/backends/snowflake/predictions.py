"""The Snowflake prediction log and model monitors.

:class:`SnowflakePredictionLog` implements :class:`callquality.protocols.PredictionLog` on one
table (default ``CQ_PREDICTION_LOG``) with UPPER-case columns::

    PREDICTION_ID, CALL_ID, MODEL_NAME, MODEL_VERSION   VARCHAR
    THRESHOLD, SCORE                                    FLOAT
    PREDICTED_CLASS, ACTUAL                             NUMBER(38,0)
    PREDICTED_AT, ACTUAL_AT, LOGGED_AT                  TIMESTAMP_NTZ (UTC)
    <every schema feature, upper-case>                  FLOAT / NUMBER / VARCHAR
    EXTRA                                               VARCHAR (JSON of other columns)

One table holds predictions and their late actuals (``log_actuals`` is a ``MERGE``), so it is
directly the *source* a Snowflake model monitor needs: id, timestamp, prediction score and
class, actual class, and the model's feature columns (for drift).

:meth:`SnowflakePredictionLog.add_monitor` creates a monitor with
``Registry.add_monitor(name, ModelMonitorSourceConfig(...), ModelMonitorConfig(...))`` over a
per-version view of the log, with a baseline table, refresh interval and aggregation window;
:class:`SnowflakeModelMonitor` reads its metrics (``MODEL_MONITOR_PERFORMANCE_METRIC``,
``MODEL_MONITOR_DRIFT_METRIC``, ``MODEL_MONITOR_STAT_METRIC``) with bind variables only and
implements :class:`callquality.protocols.PredictionMonitor`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from snowflake.snowpark import DataFrame as SnowparkDataFrame
from snowflake.snowpark import Session
from snowflake.snowpark import functions as F

from ...exceptions import ConfigurationError, NotFoundError, SchemaError
from ...schema import FEATURES
from .._predictions import check_actuals, check_predictions, int_column, jsonable, to_ns
from ..errors import DuplicateKeyError
from ..local._util import check_identifier, now_ns
from ._errors import boundary
from ._names import Ident, ObjectName, parse_ident, parse_object_name
from ._tables import TIMESTAMP, ensure_table, read_frame, to_snowpark, utc_series

__all__ = ["LOG_COLUMNS", "SnowflakeModelMonitor", "SnowflakePredictionLog"]

_BASE = (("PREDICTION_ID", "string"), ("CALL_ID", "string"), ("MODEL_NAME", "string"),
         ("MODEL_VERSION", "string"), ("THRESHOLD", "float64"), ("SCORE", "float64"),
         ("PREDICTED_CLASS", "int64"), ("PREDICTED_AT", TIMESTAMP), ("ACTUAL", "int64"),
         ("ACTUAL_AT", TIMESTAMP), ("LOGGED_AT", TIMESTAMP))
#: Every column of the log table, in order.
LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    *_BASE, *((s.name.upper(), s.dtype) for s in FEATURES), ("EXTRA", "string"))
_STANDARD = ("prediction_id", "call_id", "model_name", "model_version", "threshold", "score",
             "predicted_class", "predicted_at")
_FEATURE_DTYPES = {s.name: s.dtype for s in FEATURES}
_READ = (("PREDICTION_ID", "string", "prediction_id"), ("CALL_ID", "string", "call_id"),
         ("MODEL_NAME", "string", "model_name"), ("MODEL_VERSION", "string", "model_version"),
         ("THRESHOLD", "float64", "threshold"), ("SCORE", "float64", "score"),
         ("PREDICTED_CLASS", "int64", "predicted_class"),
         ("PREDICTED_AT", TIMESTAMP, "predicted_at"), ("ACTUAL", "int64", "actual"),
         ("ACTUAL_AT", TIMESTAMP, "actual_at"))
_GRANULARITY = re.compile(r"^\s*(\d*)\s*(D|DAY|DAYS|W|WEEK|WEEKS|M|MS|MONTH|MONTHS|Q|QS|QUARTER|"
                          r"QUARTERS|Y|YS|YEAR|YEARS)\s*$", re.IGNORECASE)
_UNITS = {"D": "DAY", "W": "WEEK", "M": "MONTH", "Q": "QUARTER", "Y": "YEAR"}
_INTERVAL = re.compile(r"^\s*\d{1,6}\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*$",
                       re.IGNORECASE)
#: callquality drift method -> Snowflake drift metric.
DRIFT_METRICS = {"psi": "POPULATION_STABILITY_INDEX", "jensen_shannon": "JENSEN_SHANNON",
                 "wasserstein": "WASSERSTEIN", "difference_of_means": "DIFFERENCE_OF_MEANS"}
#: callquality metric column -> Snowflake performance metric.
PERFORMANCE = {"accuracy": "CLASSIFICATION_ACCURACY", "precision": "PRECISION",
               "recall": "RECALL", "f1": "F1_SCORE", "roc_auc": "ROC_AUC"}


def granularity(window: str, call: str) -> str:
    """Snowflake's granularity (``'1 DAY'``, ``'2 WEEK'``, ...) of a window such as ``"1D"``,
    ``"7D"``, ``"W"``, ``"MS"`` or ``"1 day"``; model monitors aggregate by days at least."""
    m = _GRANULARITY.match(window) if isinstance(window, str) else None
    if m is None:
        raise ConfigurationError(f"{call}: window={window!r} cannot be a Snowflake monitor "
                                 "granularity; use days, weeks, months, quarters or years "
                                 "('1D', '7D', 'W', 'MS', '1 day')")
    n = int(m.group(1) or 1)
    return f"{n} {_UNITS[m.group(2)[0].upper()]}"


class SnowflakePredictionLog:
    """Predictions and late actuals in one Snowflake table.

    Not constructed directly: use ``cq.connect("snowflake", ...).predictions``.

    Args:
        session: the Snowpark session.
        table: the log table.
        registry: the ``snowflake.ml.registry.Registry`` (for monitors).
        warehouse: the warehouse monitors refresh with.
    """

    def __init__(self, session: Session, table: ObjectName, *, registry: Any = None,
                 warehouse: Ident | None = None) -> None:
        self._session = session
        self.table = table
        self._registry = registry
        self.warehouse = warehouse
        self._ready = False

    def __repr__(self) -> str:
        return f"SnowflakePredictionLog({self.table})"

    def _ensure(self, call: str) -> None:
        if not self._ready:
            with boundary(call):
                ensure_table(self._session, self.table, LOG_COLUMNS)
            self._ready = True

    def _upload(self, df: pd.DataFrame, call: str, *, with_actuals: bool = False
                ) -> tuple[Any, list[str]]:
        """The validated batch as a Snowpark DataFrame with the log's columns, and its ids
        (``with_actuals``: ``actual``/``actual_at`` columns fill ``ACTUAL``/``ACTUAL_AT``)."""
        checked = check_predictions(df, call)
        n, id_list, score, klass = checked.n, checked.ids, checked.score, \
            checked.predicted_class
        thr, at = checked.threshold, checked.predicted_at
        data: dict[str, Any] = {
            "PREDICTION_ID": id_list, "MODEL_NAME": df["model_name"].astype(str).to_numpy(),
            "MODEL_VERSION": df["model_version"].astype(str).to_numpy(), "THRESHOLD": thr,
            "SCORE": score, "PREDICTED_CLASS": klass, "PREDICTED_AT": at,
            "LOGGED_AT": np.full(n, now_ns(), dtype=np.int64)}
        if "call_id" in df.columns:
            data["CALL_ID"] = df["call_id"].to_numpy()
        standard = _STANDARD + (("actual", "actual_at") if with_actuals else ())
        if with_actuals and "actual" in df.columns:
            known = df["actual"].notna()
            data["ACTUAL"] = pd.array(pd.Series(pd.NA, index=df.index), dtype="Int64")
            data["ACTUAL"][known.to_numpy()] = int_column(df["actual"][known], "actual", call)
            if "actual_at" in df.columns:
                data["ACTUAL_AT"] = df["actual_at"].to_numpy()
        extras = [c for c in df.columns if c not in standard]
        json_extras = [c for c in extras if c not in _FEATURE_DTYPES]
        for f in extras:
            if f in _FEATURE_DTYPES:
                kind = _FEATURE_DTYPES[f]
                if kind != "string":
                    try:
                        pd.to_numeric(df[f], errors="raise")
                    except (ValueError, TypeError) as exc:
                        raise SchemaError(f"{call}: feature column {f!r} ({kind}) holds "
                                          f"non-numeric values ({exc})") from exc
                data[f.upper()] = df[f].to_numpy()
        if json_extras:
            data["EXTRA"] = [json.dumps({str(k): jsonable(v) for k, v in r.items()},
                                        allow_nan=False)
                             for r in df[json_extras].to_dict("records")]
        with boundary(call):
            batch = to_snowpark(self._session, LOG_COLUMNS, data, n)
        return batch, id_list

    def log_predictions(self, df: pd.DataFrame) -> int:
        """Append predictions; returns the number of rows logged.

        Columns: ``model_name``, ``model_version``, ``score``, ``predicted_class`` (required);
        ``prediction_id`` (a random id when absent), ``call_id``, ``threshold``,
        ``predicted_at`` (now when absent); schema features become their upper-case
        columns; any other column is kept in ``EXTRA`` (JSON) and returned by ``read``.

        Raises:
            MissingColumnsError, DuplicateKeyError, SchemaError: as the local log (nothing of
                the batch is written).
        """
        call = "log_predictions"
        if isinstance(df, pd.DataFrame) and len(df) == 0:
            check_predictions(df, call)  # an empty batch still needs the required columns
            return 0
        batch, ids = self._upload(df, call)
        self._ensure(call)
        with boundary(call):
            log = self._session.table(self.table.sql)
            taken = log.join(batch.select(F.col("PREDICTION_ID").alias("__CQ_ID")),
                             log["PREDICTION_ID"] == F.col("__CQ_ID")) \
                .select(log["PREDICTION_ID"]).limit(5).collect()
            if taken:
                raise DuplicateKeyError(f"{call}: prediction_id(s) {sorted(str(r[0]) for r in taken)}"
                                        " are already logged; nothing of this batch was written")
            batch.write.save_as_table(self.table.sql, mode="append")
        return len(ids)

    def log_actuals(self, df: pd.DataFrame) -> int:
        """Attach true outcomes to logged predictions (a ``MERGE``); returns the number of
        predictions that received an actual.

        Columns: ``actual`` (an integer class) and ``prediction_id`` or ``call_id`` (all the
        call's predictions get the actual); ``actual_at`` (now when absent). A later actual
        replaces an earlier one.

        Raises:
            MissingColumnsError: no id column or no ``actual``.
            NotFoundError: an id matches no logged prediction (nothing is written).
        """
        call = "log_actuals"
        checked = check_actuals(df, call)
        if not checked.ids:
            return 0
        id_col, ids, actual, at = checked.id_col, checked.ids, checked.actual, checked.actual_at
        frame = pd.DataFrame({"k": [str(x) for x in ids], "a": actual, "t": at}) \
            .drop_duplicates("k", keep="last")
        key = id_col.upper()
        cols = (("__CQ_KEY", "string"), ("__CQ_ACTUAL", "int64"), ("__CQ_AT", TIMESTAMP))
        self._ensure(call)
        with boundary(call):
            batch = to_snowpark(self._session, cols, {"__CQ_KEY": frame["k"].tolist(),
                                                      "__CQ_ACTUAL": frame["a"].to_numpy(),
                                                      "__CQ_AT": frame["t"].to_numpy()},
                                len(frame))
            log = self._session.table(self.table.sql)
            matched = log.join(batch, log[key] == batch["__CQ_KEY"]) \
                .select(batch["__CQ_KEY"], log["PREDICTION_ID"]).collect()
            found = {str(r[0]) for r in matched}
            unknown = [k for k in frame["k"] if k not in found]
            if unknown:
                raise NotFoundError(f"{call}: no prediction with {id_col} {unknown[:5]}"
                                    f"{' ...' if len(unknown) > 5 else ''}; nothing was written")
            log.merge(batch, log[key] == batch["__CQ_KEY"], [F.when_matched().update(
                {"ACTUAL": batch["__CQ_ACTUAL"], "ACTUAL_AT": batch["__CQ_AT"]})])
        return len({str(r[1]) for r in matched})

    def read(self, *, model_name: str | None = None, start: datetime | None = None,
             end: datetime | None = None, model_version: str | None = None) -> pd.DataFrame:
        """Predictions with ``start <= predicted_at < end`` (either bound optional) with their
        actuals, oldest first; model name and version match case-insensitively. Feature
        columns that hold values and ``EXTRA`` fields follow the standard columns."""
        call = "read"
        lo, hi = to_ns(start, "start", call), to_ns(end, "end", call)
        self._ensure(call)
        with boundary(call):
            table: SnowparkDataFrame = self._session.table(self.table.sql)
            if model_name is not None:
                table = table.filter(F.upper(F.col("MODEL_NAME")) == F.lit(str(model_name).upper()))
            if model_version is not None:
                table = table.filter(F.upper(F.col("MODEL_VERSION")) ==
                                     F.lit(str(model_version).upper()))
            if lo is not None:
                table = table.filter(F.col("PREDICTED_AT") >= F.lit(
                    pd.Timestamp(lo, unit="ns").to_pydatetime()))
            if hi is not None:
                table = table.filter(F.col("PREDICTED_AT") < F.lit(
                    pd.Timestamp(hi, unit="ns").to_pydatetime()))
            table = table.sort(F.col("PREDICTED_AT"), F.col("PREDICTION_ID"))
            features = [(s.name.upper(), s.dtype, s.name) for s in FEATURES]
            frame = read_frame(table, [*_READ, *features, ("EXTRA", "string", "__extra")])
        frame["predicted_class"] = frame["predicted_class"].astype("int64")  # never NULL
        present = [name for _, _, name in features if frame[name].notna().any()]
        extra_text = frame.pop("__extra")
        frame = frame[[c for _, _, c in _READ] + present]
        if extra_text.notna().any():
            extra = pd.DataFrame.from_records(
                [json.loads(x) if isinstance(x, str) and x else {} for x in extra_text],
                index=frame.index)
            extra = extra[[c for c in extra.columns if c not in frame.columns]]
            frame = pd.concat([frame, extra], axis=1)
        return frame

    # ------------------------------------------------------------------ monitors

    def write_baseline(self, name: str, df: pd.DataFrame) -> ObjectName:
        """Write ``df`` (scored rows with ``actual`` and the features, e.g. the test set) as a
        baseline table with the log's columns (replacing it); returns its name."""
        call = f"write_baseline({name!r})"
        target = parse_object_name(name, "baseline table", call,
                                   database=self.table.database, schema=self.table.schema)
        batch, _ = self._upload(df, call, with_actuals=True)
        with boundary(call):
            batch.write.save_as_table(target.sql, mode="overwrite")
        return target

    def add_monitor(self, name: str, *, model_name: str, version: str, baseline: Any,
                    warehouse: str | None = None, refresh_interval: str = "1 hour",
                    aggregation_window: str = "1 day", segment_columns: Sequence[str] = (),
                    function_name: str = "predict_proba") -> SnowflakeModelMonitor:
        """Create a Snowflake model monitor of one model version over this log.

        The monitor's source is a view of the log restricted to the version
        (``<name>_SOURCE``); its columns: id ``PREDICTION_ID``, timestamp ``PREDICTED_AT``,
        prediction score ``SCORE``, prediction class ``PREDICTED_CLASS``, actual class
        ``ACTUAL``, and the model's features (for drift).

        Args:
            name: monitor name (an identifier; same schema as the model).
            model_name, version: the registered model version (a version name or alias).
            baseline: a baseline table name, or a DataFrame written with
                :meth:`write_baseline` as ``<name>_BASELINE``.
            warehouse: the warehouse that refreshes the monitor (default: the backend's).
            refresh_interval: e.g. ``"1 hour"`` (at least 60 seconds).
            aggregation_window: e.g. ``"1 day"`` (days).
            segment_columns: log columns to segment metrics by (e.g. ``"agent_id"`` kept in
                ``EXTRA`` cannot be one; schema feature columns can).
            function_name: the model method monitored (``predict_proba``).
        """
        call = f"add_monitor({name!r})"
        if self._registry is None:
            raise ConfigurationError(f"{call}: this prediction log has no registry")
        mon = parse_object_name(name, "monitor name", call, database=self.table.database,
                                schema=self.table.schema)
        check_identifier(model_name, "model name", call)
        for what, value in (("refresh_interval", refresh_interval),
                            ("aggregation_window", aggregation_window)):
            if not isinstance(value, str) or not _INTERVAL.match(value):
                raise ConfigurationError(f"{call}: {what}={value!r}; use '<n> minutes', "
                                         "'<n> hours' or '<n> days'")
        if not isinstance(function_name, str) or not re.match(r"^[a-z_][a-z0-9_]*$",
                                                               function_name):
            raise ConfigurationError(f"{call}: invalid function_name {function_name!r}")
        segments = []
        for c in segment_columns:
            check_identifier(c, "segment column", call)
            if c.upper() not in {n for n, _ in LOG_COLUMNS}:
                raise SchemaError(f"{call}: segment column {c!r} is not a column of the log")
            segments.append(c.upper())
        wh = self.warehouse if warehouse is None else parse_ident(warehouse, "warehouse", call)
        if wh is None:
            raise ConfigurationError(f"{call}: no warehouse; pass warehouse= or connect with "
                                     "one")
        if not isinstance(baseline, pd.DataFrame):
            base = parse_object_name(baseline, "baseline table", call,
                                     database=self.table.database, schema=self.table.schema)
        with boundary(call):
            model = self._registry.get_model(model_name)
            mv = model.version(version)
        if isinstance(baseline, pd.DataFrame):
            base = self.write_baseline(f"{mon.name.name}_BASELINE", baseline)
        source = ObjectName(mon.database, mon.schema, Ident(f"{mon.name.name}_SOURCE"))
        from snowflake.ml.monitoring.entities.model_monitor_config import (
            ModelMonitorConfig,
            ModelMonitorSourceConfig,
        )

        self._ensure(call)
        with boundary(call):
            log = self._session.table(self.table.sql)
            version_name = str(getattr(mv, "version_name", version))
            log.filter((F.upper(F.col("MODEL_NAME")) == F.lit(model_name.upper())) &
                       (F.upper(F.col("MODEL_VERSION")) == F.lit(version_name.upper()))) \
                .create_or_replace_view(source.sql)
            source_config = ModelMonitorSourceConfig(
                source=source.api, timestamp_column="PREDICTED_AT",
                id_columns=["PREDICTION_ID"], prediction_score_columns=["SCORE"],
                prediction_class_columns=["PREDICTED_CLASS"], actual_class_columns=["ACTUAL"],
                baseline=base.api, segment_columns=segments or None)
            monitor_config = ModelMonitorConfig(
                model_version=mv, model_function_name=function_name,
                background_compute_warehouse_name=wh.api, refresh_interval=refresh_interval,
                aggregation_window=aggregation_window)
            self._registry.add_monitor(mon.api, source_config=source_config,
                                       model_monitor_config=monitor_config)
        return SnowflakeModelMonitor(self._session, mon, features=_model_features(mv))

    def get_monitor(self, name: str) -> SnowflakeModelMonitor:
        """An existing monitor, for its metrics."""
        call = f"get_monitor({name!r})"
        mon = parse_object_name(name, "monitor name", call, database=self.table.database,
                                schema=self.table.schema)
        return SnowflakeModelMonitor(self._session, mon)

    def delete_monitor(self, name: str) -> None:
        """Drop a monitor (``Registry.delete_monitor``)."""
        call = f"delete_monitor({name!r})"
        mon = parse_object_name(name, "monitor name", call, database=self.table.database,
                                schema=self.table.schema)
        if self._registry is None:
            raise ConfigurationError(f"{call}: this prediction log has no registry")
        with boundary(call):
            self._registry.delete_monitor(mon.api)


def _step(gran: str) -> pd.DateOffset:
    """The length of one window of a Snowflake granularity (``'2 WEEK'``)."""
    n, unit = gran.split()
    if unit == "DAY":
        return pd.DateOffset(days=int(n))
    if unit == "WEEK":
        return pd.DateOffset(weeks=int(n))
    if unit == "MONTH":
        return pd.DateOffset(months=int(n))
    if unit == "QUARTER":
        return pd.DateOffset(months=3 * int(n))
    return pd.DateOffset(years=int(n))


def _model_features(mv: Any) -> tuple[str, ...] | None:
    """The version's feature names from callquality's record, if readable."""
    try:
        from .registry import RECORD_KEY

        record = mv.show_metrics().get(RECORD_KEY) or {}
        names = (record.get("manifest") or {}).get("feature_names") or []
        return tuple(str(n) for n in names) or None
    except Exception:
        return None


class SnowflakeModelMonitor:
    """Metrics of a Snowflake model monitor (implements
    :class:`callquality.protocols.PredictionMonitor`).

    Args:
        session: the Snowpark session.
        name: the monitor.
        features: the feature columns whose drift :meth:`drift` reports (default: none but
            the score; pass the model's features).
    """

    def __init__(self, session: Session, name: ObjectName,
                 features: Sequence[str] | None = None) -> None:
        self._session = session
        self.name = name
        self.features = tuple(features or ())

    def __repr__(self) -> str:
        return f"SnowflakeModelMonitor({self.name})"

    @staticmethod
    def _bounds(start: Any, end: Any, call: str) -> tuple[datetime | None, datetime | None]:
        out = []
        for what, v in (("start", start), ("end", end)):
            ns = to_ns(v, what, call)
            out.append(None if ns is None else
                       pd.Timestamp(ns, unit="ns").to_pydatetime())
        return out[0], out[1]

    def _query(self, sql: str, params: list[Any], call: str) -> pd.DataFrame:
        with boundary(call):
            rows = self._session.sql(sql, params=params).collect()
        return pd.DataFrame([{str(k).upper(): v for k, v in r.as_dict().items()} for r in rows])

    def metrics(self, *, start: datetime | None = None, end: datetime | None = None,
                window: str = "1D", segment: str | None = None) -> pd.DataFrame:
        """Accuracy, precision, recall, F1 and ROC AUC per window
        (``MODEL_MONITOR_PERFORMANCE_METRIC``), with the prediction count
        (``MODEL_MONITOR_STAT_METRIC``); columns as the local monitor's
        (``window_start, window_end, segment, count, ...``)."""
        call = f"{self}.metrics"
        if segment is not None:
            raise ConfigurationError(f"{call}: segment= is read with Snowflake's segment "
                                     "arguments; query MODEL_MONITOR_PERFORMANCE_METRIC with "
                                     "extra_args for one segment value at a time")
        gran = granularity(window, call)
        lo, hi = self._bounds(start, end, call)
        parts, params = [], []
        for metric in PERFORMANCE.values():
            parts.append("SELECT EVENT_TIMESTAMP, METRIC_NAME, METRIC_VALUE, COUNT_USED FROM "
                         "TABLE(MODEL_MONITOR_PERFORMANCE_METRIC(?, ?, ?, ?, ?))")
            params += [self.name.sql, metric, gran, lo, hi]
        for stat in ("COUNT", "COUNT_NULL"):
            parts.append("SELECT EVENT_TIMESTAMP, METRIC_NAME, METRIC_VALUE, NULL AS COUNT_USED "
                         "FROM TABLE(MODEL_MONITOR_STAT_METRIC(?, ?, 'SCORE', ?, ?, ?))")
            params += [self.name.sql, stat, gran, lo, hi]
        raw = self._query(" UNION ALL ".join(parts), params, call)
        from ...monitoring.monitor import METRIC_COLUMNS

        if raw.empty:
            return pd.DataFrame(columns=list(METRIC_COLUMNS))
        raw["EVENT_TIMESTAMP"] = utc_series(raw["EVENT_TIMESTAMP"])
        raw["METRIC_NAME"] = raw["METRIC_NAME"].astype(str).str.upper()
        value = raw.pivot_table(index="EVENT_TIMESTAMP", columns="METRIC_NAME",
                                values="METRIC_VALUE", aggfunc="last")
        used = raw.dropna(subset=["COUNT_USED"]).pivot_table(
            index="EVENT_TIMESTAMP", columns="METRIC_NAME", values="COUNT_USED",
            aggfunc="last").reindex(value.index)

        def col(frame: pd.DataFrame, name: str) -> np.ndarray:
            if name not in frame.columns:
                return np.full(len(frame), np.nan)
            return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

        count = np.nan_to_num(col(value, "COUNT")).astype(np.int64)
        n_actual = np.nan_to_num(col(used, "CLASSIFICATION_ACCURACY")).astype(np.int64)
        out = pd.DataFrame({"window_start": value.index})
        out["window_end"] = out["window_start"] + _step(gran)
        out["segment"] = None
        out["count"] = count
        out["n_actual"] = n_actual
        for name, metric in PERFORMANCE.items():
            out[name] = col(value, metric)
        out["null_predictions"] = np.nan_to_num(col(value, "COUNT_NULL")).astype(np.int64)
        out["null_actuals"] = np.maximum(count - n_actual, 0)
        return out[list(METRIC_COLUMNS)].reset_index(drop=True)

    def drift(self, *, start: datetime | None = None, end: datetime | None = None,
              window: str = "1D", method: str = "psi") -> pd.DataFrame:
        """Drift of each feature and of ``SCORE`` against the baseline, per window
        (``MODEL_MONITOR_DRIFT_METRIC``); columns as the local monitor's."""
        call = f"{self}.drift"
        if method not in DRIFT_METRICS:
            raise ConfigurationError(f"{call}: method={method!r}; Snowflake monitors compute "
                                     f"{sorted(DRIFT_METRICS)} (use callquality.monitoring for "
                                     "'ks')")
        gran = granularity(window, call)
        lo, hi = self._bounds(start, end, call)
        columns = [*(f.upper() for f in self.features), "SCORE"]
        for c in columns:
            check_identifier(c, "monitored column", call)
        parts, params = [], []
        for c in columns:
            parts.append("SELECT EVENT_TIMESTAMP, COLUMN_NAME, METRIC_VALUE, "
                         "BASELINE_COL_COUNT_USED, COL_COUNT_USED FROM TABLE("
                         "MODEL_MONITOR_DRIFT_METRIC(?, ?, ?, ?, ?, ?))")
            params += [self.name.sql, DRIFT_METRICS[method], c, gran, lo, hi]
        raw = self._query(" UNION ALL ".join(parts), params, call)
        from ...monitoring.monitor import DRIFT_COLUMNS

        if raw.empty:
            return pd.DataFrame(columns=list(DRIFT_COLUMNS))
        start_ts = utc_series(raw["EVENT_TIMESTAMP"])
        out = pd.DataFrame({
            "window_start": start_ts,
            "window_end": start_ts + _step(gran),
            "feature": [str(c).lower() if str(c).upper() == str(c) else str(c)
                        for c in raw["COLUMN_NAME"]],
            "method": method,
            "value": pd.to_numeric(raw["METRIC_VALUE"], errors="coerce"),
            "n_reference": pd.to_numeric(raw.get("BASELINE_COL_COUNT_USED"), errors="coerce"),
            "n_current": pd.to_numeric(raw.get("COL_COUNT_USED"), errors="coerce")})
        return out[list(DRIFT_COLUMNS)].sort_values(["window_start", "feature"],
                                                    ignore_index=True)
