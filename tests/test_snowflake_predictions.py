"""The Snowflake prediction log (a table with UPPER-case columns, on a Snowpark local-testing
session) and model monitors (``Registry.add_monitor`` with the real config classes; metric
queries with bind variables only)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from unittest.mock import create_autospec

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.ml.monitoring.entities.model_monitor_config import (
    ModelMonitorConfig,
    ModelMonitorSourceConfig,
)
from snowflake.snowpark import Row, Session
from snowflake.snowpark.types import DoubleType, LongType, StringType, TimestampType

import callquality as cq
from callquality.backends.local.predictions import ACTUAL_COLUMNS, PREDICTION_COLUMNS
from callquality.backends.snowflake._names import Ident, ObjectName
from callquality.backends.snowflake.predictions import SnowflakeModelMonitor
from callquality.exceptions import ConfigurationError, SchemaError
from callquality.monitoring.monitor import DRIFT_COLUMNS, METRIC_COLUMNS
from callquality.testing import FakeModel
from test_snowflake_support import FakeModels, local_session, snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _batch(n: int, prefix: str = "p", start: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "prediction_id": [f"{prefix}{i}" for i in range(n)],
        "call_id": [f"c{i}" for i in range(n)], "model_name": "call_quality",
        "model_version": "V1", "threshold": 0.4, "score": np.linspace(0.1, 0.9, n),
        "predicted_class": np.arange(n) % 2,
        "predicted_at": [T0 + timedelta(hours=start + i) for i in range(n)],
        "jitter": np.linspace(0.0, 0.02, n),
        "dominant_emotion": ["happy", "sad", None, "angry", "happy", "sad"][:n],
        "agent_id": [f"agent{i % 2}" for i in range(n)]})


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects, missing as None (dtypes aside)."""
    return df.astype(object).where(df.notna(), None)


def test_the_log_is_a_table_with_upper_case_typed_columns() -> None:
    log = snowflake_backend(predefined_views=False).predictions
    assert log.log_predictions(_batch(6)) == 6
    table = local_session().table(log.table.sql)
    types = {f.name: type(f.datatype) for f in table.schema.fields}
    assert all(name == name.upper() for name in types)
    assert types["PREDICTION_ID"] is StringType and types["SCORE"] is DoubleType
    assert types["PREDICTED_CLASS"] is LongType and types["PREDICTED_AT"] is TimestampType
    assert types["JITTER"] is DoubleType and types["INTERRUPTION_COUNT"] is LongType
    assert {"ACTUAL", "ACTUAL_AT", "EXTRA", "SPEAKING_RATE_WPM"} <= set(types)
    rows = table.filter(table["PREDICTION_ID"] == "p1").collect()
    assert rows[0]["JITTER"] == pytest.approx(0.004) and rows[0]["DOMINANT_EMOTION"] == "sad"
    assert '"agent_id": "agent1"' in rows[0]["EXTRA"]


def test_log_read_and_late_actuals_equal_the_local_backend() -> None:
    snow = snowflake_backend(predefined_views=False).predictions
    local = cq.connect("local", predefined_views=False)
    for log in (snow, local.predictions):
        log.log_predictions(_batch(6))
        log.log_actuals(pd.DataFrame({"prediction_id": ["p2", "p5"], "actual": [1, 0],
                                      "actual_at": [T0 + timedelta(days=2)] * 2}))
        log.log_actuals(pd.DataFrame({"call_id": ["c3"], "actual": [1],
                                      "actual_at": [T0 + timedelta(days=3)]}))
        log.log_actuals(pd.DataFrame({"prediction_id": ["p2"], "actual": [0],
                                      "actual_at": [T0 + timedelta(days=4)]}))  # corrected
    for kwargs in ({}, {"model_name": "CALL_QUALITY", "start": T0 + timedelta(hours=1),
                        "end": T0 + timedelta(hours=4)}, {"model_name": "other"}):
        got = snow.read(**kwargs)
        want = local.predictions.read(**kwargs)
        standard = list(PREDICTION_COLUMNS + ACTUAL_COLUMNS)
        pd.testing.assert_frame_equal(got[standard], want[standard])
        # extras: typed columns here (schema features), JSON values locally
        pd.testing.assert_frame_equal(_plain(got[list(want.columns)]), _plain(want))
    full = snow.read()
    assert list(full["agent_id"]) == [f"agent{i % 2}" for i in range(6)]
    assert full["dominant_emotion"].iloc[2] is pd.NA
    local.close()


def test_bad_batches_are_refused_whole() -> None:
    log = snowflake_backend(predefined_views=False).predictions
    log.log_predictions(_batch(3))
    from callquality.backends.errors import DuplicateKeyError, MissingColumnsError

    with pytest.raises(DuplicateKeyError, match="p1"):
        log.log_predictions(_batch(3).iloc[1:])
    with pytest.raises(MissingColumnsError, match="score"):
        log.log_predictions(_batch(2, "q").drop(columns=["score"]))
    with pytest.raises(SchemaError, match="jitter"):
        log.log_predictions(_batch(2, "r").assign(jitter=["x", "y"]))
    with pytest.raises(cq.exceptions.NotFoundError, match="nope"):
        log.log_actuals(pd.DataFrame({"prediction_id": ["p0", "nope"], "actual": [1, 1]}))
    assert len(log.read()) == 3 and log.read()["actual"].isna().all()


def test_add_monitor_uses_the_registry_monitor_api() -> None:
    models = FakeModels()
    backend = snowflake_backend(models, predefined_views=False)
    backend.registry.log_model(FakeModel({"jitter": 1.0}, threshold=0.4),
                               model_name="call_quality")
    backend.registry.set_alias("call_quality", "V1", "PRODUCTION")
    log = backend.predictions
    log.log_predictions(_batch(4))
    log.log_predictions(_batch(2, "x").assign(model_version="V9"))
    baseline = _batch(4, "b").assign(actual=[0, 1, 1, None])
    monitor = log.add_monitor("cq_monitor", model_name="call_quality", version="PRODUCTION",
                              baseline=baseline, refresh_interval="2 hours",
                              aggregation_window="1 day", segment_columns=["dominant_emotion"])
    name = f"CQ.{backend.schema.name}.CQ_MONITOR"
    source, config = models.monitors[name]["source"], models.monitors[name]["config"]
    assert isinstance(source, ModelMonitorSourceConfig)
    assert isinstance(config, ModelMonitorConfig)
    assert source.source == f"CQ.{backend.schema.name}.CQ_MONITOR_SOURCE"
    assert source.baseline == f"CQ.{backend.schema.name}.CQ_MONITOR_BASELINE"
    assert (source.timestamp_column, source.id_columns) == ("PREDICTED_AT", ["PREDICTION_ID"])
    assert source.prediction_score_columns == ["SCORE"]
    assert source.prediction_class_columns == ["PREDICTED_CLASS"]
    assert source.actual_class_columns == ["ACTUAL"]
    assert source.segment_columns == ["DOMINANT_EMOTION"]
    assert config.model_version.version_name == "V1"
    assert config.model_function_name == "predict_proba"
    assert config.background_compute_warehouse_name == "CQ_WH"
    assert (config.refresh_interval, config.aggregation_window) == ("2 hours", "1 day")
    session = local_session()
    view = session.table(f'"CQ"."{backend.schema.name}"."CQ_MONITOR_SOURCE"')
    assert view.count() == 4  # the version's rows only
    base = session.table(f'"CQ"."{backend.schema.name}"."CQ_MONITOR_BASELINE"').to_pandas()
    assert sorted(base["ACTUAL"].dropna().astype(int)) == [0, 1, 1]
    assert monitor.features == ("jitter",)
    with pytest.raises(ConfigurationError, match="refresh_interval"):
        log.add_monitor("m2", model_name="call_quality", version="V1", baseline="B",
                        refresh_interval="1 hour'; DROP TABLE X; --")


def _session_returning(rows: list[Row]) -> Any:
    session = create_autospec(Session, instance=True)
    session.sql.return_value.collect.return_value = rows
    return session


def test_monitor_metrics_are_read_with_bind_variables() -> None:
    day = datetime(2024, 5, 1)
    rows = [Row(EVENT_TIMESTAMP=day, METRIC_NAME=m, METRIC_VALUE=v, COUNT_USED=c)
            for m, v, c in (("CLASSIFICATION_ACCURACY", 0.75, 8), ("PRECISION", 0.5, 8),
                            ("RECALL", 1.0, 8), ("F1_SCORE", 0.66, 8), ("ROC_AUC", 0.8, 8),
                            ("COUNT", 10, None), ("COUNT_NULL", 0, None))]
    session = _session_returning(rows)
    name = ObjectName(Ident("CQ"), Ident("ML"), Ident("CQ_MONITOR"))
    monitor = SnowflakeModelMonitor(session, name, features=["jitter"])
    out = monitor.metrics(start=T0, end=T0 + timedelta(days=7), window="1D")
    sql = session.sql.call_args.args[0]
    params = session.sql.call_args.kwargs["params"]
    assert "MODEL_MONITOR_PERFORMANCE_METRIC(?, ?, ?, ?, ?)" in sql and "CQ_MONITOR" not in sql
    assert params[:5] == ['"CQ"."ML"."CQ_MONITOR"', "CLASSIFICATION_ACCURACY", "1 DAY",
                          datetime(2024, 5, 1), datetime(2024, 5, 8)]
    assert list(out.columns) == list(METRIC_COLUMNS)
    row = out.iloc[0]
    assert (row["count"], row["n_actual"], row["null_actuals"]) == (10, 8, 2)
    assert row["accuracy"] == 0.75 and row["roc_auc"] == 0.8
    assert row["window_end"] - row["window_start"] == pd.Timedelta(days=1)
    with pytest.raises(ConfigurationError, match="window"):
        monitor.metrics(window="1h")


def test_monitor_drift_per_feature_and_score() -> None:
    day = datetime(2024, 5, 1)
    rows = [Row(EVENT_TIMESTAMP=day, COLUMN_NAME=c, METRIC_VALUE=v, BASELINE_COL_COUNT_USED=50,
                COL_COUNT_USED=9) for c, v in (("JITTER", 0.2), ("SCORE", 0.05))]
    session = _session_returning(rows)
    monitor = SnowflakeModelMonitor(session, ObjectName(Ident("CQ"), Ident("ML"), Ident("M")),
                                    features=["jitter"])
    out = monitor.drift(window="7D", method="wasserstein")
    params = session.sql.call_args.kwargs["params"]
    assert params[:4] == ['"CQ"."ML"."M"', "WASSERSTEIN", "JITTER", "7 DAY"]
    assert params[6:10] == ['"CQ"."ML"."M"', "WASSERSTEIN", "SCORE", "7 DAY"]
    assert list(out.columns) == list(DRIFT_COLUMNS)
    assert list(out["feature"]) == ["jitter", "score"]
    assert list(out["n_reference"]) == [50, 50]
    with pytest.raises(ConfigurationError, match="ks"):
        monitor.drift(method="ks")
