"""Experiment tracking on ``snowflake.ml.experiment.ExperimentTracking``: the process-wide
singleton is handled (one instance per session, explicit ``set_experiment``), runs end
FINISHED/FAILED, and the run table is read with quoted identifiers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from unittest.mock import create_autospec

import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.ml.experiment import ExperimentTracking
from snowflake.snowpark import DataFrame, Row, Session

from callquality.backends.snowflake._names import Ident
from callquality.backends.snowflake.experiments import (
    SnowflakeExperimentTracker,
    shared_tracking,
)
from callquality.exceptions import AlreadyExistsError, ConfigurationError, ConflictError
from test_snowflake_support import fake_tracking

DB, SCHEMA = Ident("CQ"), Ident("ML")


def _session() -> Any:
    return create_autospec(Session, instance=True)


def test_one_tracking_instance_per_session_and_the_singleton_slot_is_left_alone() -> None:
    sentinel = object()
    saved = ExperimentTracking._instance
    ExperimentTracking._instance = sentinel  # type: ignore[assignment]
    try:
        s1, s2 = _session(), _session()
        a = shared_tracking(s1, database=DB, schema=SCHEMA)
        b = shared_tracking(s2, database=DB, schema=Ident("OTHER"))
        assert a is shared_tracking(s1, database=DB, schema=SCHEMA)
        assert a.tracking is not b.tracking
        assert isinstance(a.tracking, ExperimentTracking)
        assert a.tracking._session is s1 and b.tracking._session is s2
        assert str(b.tracking._schema_name) == "OTHER"
        assert ExperimentTracking._instance is sentinel
        assert s1.method_calls == []  # nothing ran against Snowflake yet
    finally:
        ExperimentTracking._instance = saved


def test_runs_set_their_experiment_explicitly_and_end_with_a_status() -> None:
    et = fake_tracking()
    tracker = SnowflakeExperimentTracker(_session(), database=DB, schema=SCHEMA, tracking=et)
    tracker.set_experiment("call_quality")
    et.set_experiment.assert_called_with("call_quality", database_name="CQ", schema_name="ML")
    with tracker.start_run("all_features") as run:
        assert run.status == "RUNNING" and run.experiment == "call_quality"
        tracker.log_params({"max_depth": 4, "features": ["jitter", "shimmer"]})
        tracker.log_metrics({"test_f1": 0.8}, step=2)
    et.log_params.assert_called_once_with({"max_depth": "4",
                                           "features": '["jitter", "shimmer"]'})
    et.log_metrics.assert_called_once_with({"test_f1": 0.8}, step=2)
    assert et.state["runs"][("call_quality", "ALL_FEATURES")]["status"] == "FINISHED"
    with pytest.raises(ValueError, match="boom"), tracker.start_run("all-features-2"):
        raise ValueError("boom")
    et.start_run.assert_called_with('"all-features-2"')  # not an identifier: quoted
    assert et.state["runs"][("call_quality", "all-features-2")]["status"] == "FAILED"
    with pytest.raises(AlreadyExistsError, match="all_features"), \
            tracker.start_run("all_features"):
        pass


def test_logging_needs_a_run_and_runs_do_not_nest() -> None:
    et = fake_tracking()
    tracker = SnowflakeExperimentTracker(_session(), database=DB, schema=SCHEMA, tracking=et)
    with pytest.raises(ConfigurationError, match="no active run"):
        tracker.log_metrics({"f1": 0.5})
    with tracker.start_run("r1"):
        with pytest.raises(ConfigurationError, match="do not nest"), tracker.start_run("r2"):
            pass
        with pytest.raises(ConfigurationError, match="finite"):
            tracker.log_metrics({"f1": float("nan")})
        with pytest.raises(ConfigurationError, match="active"):
            tracker.set_experiment("other")
    et.log_metrics.assert_not_called()


def test_two_trackers_share_a_session_without_stealing_a_run() -> None:
    session = _session()
    et = fake_tracking()
    first = SnowflakeExperimentTracker(session, database=DB, schema=SCHEMA, tracking=et)
    second = SnowflakeExperimentTracker(session, database=DB, schema=SCHEMA, tracking=et)
    second._shared = first._state()  # as shared_tracking gives them for one session
    first.set_experiment("exp_a")
    second.set_experiment("exp_b")
    with first.start_run("r1"):  # first switches the shared context back
        assert et.set_experiment.call_args.args[0] == "exp_a"
        with pytest.raises(ConflictError, match="in progress"), second.start_run("r2"):
            pass
    with second.start_run("r2"):
        assert et.set_experiment.call_args.args[0] == "exp_b"


def test_hostile_run_names_never_reach_snowflake() -> None:
    et = fake_tracking()
    tracker = SnowflakeExperimentTracker(_session(), database=DB, schema=SCHEMA, tracking=et)
    for bad in ("x' OR '1'='1", 'a"b', "run;DROP", "", "-x", "a" * 200, "..\\x"):
        with pytest.raises(ConfigurationError), tracker.start_run(bad):
            pass
    with pytest.raises(ConfigurationError):
        tracker.set_experiment("exp'; DROP SCHEMA ML; --")
    et.start_run.assert_not_called()


def test_runs_table_from_show_commands() -> None:
    session = _session()
    answers = {
        "SHOW RUN PARAMETERS": [Row(run_name="R1", name="max_depth", value="4")],
        "SHOW RUN METRICS": [Row(run_name="R1", name="f1", value="0.7", step=0),
                             Row(run_name="R1", name="f1", value="0.8", step=3)],
        "SHOW RUNS": [Row(name="R1", created_on=datetime(2024, 1, 1, 10),
                          metadata=json.dumps({"status": "FINISHED"})),
                      Row(name="R2", created_on=datetime(2024, 1, 1, 11),
                          metadata=json.dumps({"status": "FAILED"}))],
    }

    def sql(query: str, params: Any = None) -> Any:
        result = create_autospec(DataFrame, instance=True)
        key = next(k for k in answers if query.startswith(k + " "))
        result.collect.return_value = answers[key]
        return result

    session.sql.side_effect = sql
    tracker = SnowflakeExperimentTracker(session, database=DB, schema=SCHEMA,
                                         tracking=fake_tracking())
    table = tracker.runs("call-quality")
    queries = [c.args[0] for c in session.sql.call_args_list]
    assert 'SHOW RUNS IN EXPERIMENT "CQ"."ML"."call-quality"' in queries
    assert list(table["run_name"]) == ["R1", "R2"]
    assert list(table["status"]) == ["FINISHED", "FAILED"]
    assert table.loc[0, "params.max_depth"] == "4" and table.loc[0, "metrics.f1"] == 0.8
    assert str(table.loc[0, "started_at"].tz) == "UTC"
