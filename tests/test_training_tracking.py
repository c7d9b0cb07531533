"""LocalExperimentTracker: runs, FAILED on exception, persistence, artifacts, comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from callquality.exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
)
from callquality.protocols import ExperimentTracker, RunInfo
from callquality.training import LocalExperimentTracker


@pytest.fixture(params=["memory", "folder"])
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> LocalExperimentTracker:
    return LocalExperimentTracker(None if request.param == "memory" else tmp_path / "store")


def test_protocol(tracker: LocalExperimentTracker) -> None:
    assert isinstance(tracker, ExperimentTracker)


def test_run_lifecycle_and_comparison(tracker: LocalExperimentTracker) -> None:
    tracker.set_experiment("cq")
    with tracker.start_run("a") as run:
        assert isinstance(run, RunInfo) and run.status == "RUNNING"
        assert tracker.active_run is not None
        tracker.log_params({"max_depth": 4, "features": ["x", "y"]})
        tracker.log_metrics({"f1": 0.5, "auc": 0.7})
        tracker.log_metric("f1", 0.8, step=2)
        tracker.log_metric("f1", 0.1, step=1)  # an older step does not replace the latest
        tracker.set_tags({"feature_set": "all"})
    with tracker.start_run("b"):
        tracker.log_params({"max_depth": 6})
        tracker.log_metrics({"f1": 0.6})
    info = tracker.get_run("a")
    assert info.status == "FINISHED" and info.ended_at is not None
    assert info.ended_at >= info.started_at
    assert info.params == {"max_depth": "4", "features": '["x", "y"]'}
    assert info.metrics == {"f1": 0.8, "auc": 0.7}
    assert len(tracker.metric_history("a")) == 4
    table = tracker.runs("cq")
    assert list(table["run_name"]) == ["a", "b"]
    assert list(table.columns[:6]) == ["experiment", "run_name", "status", "started_at",
                                       "ended_at", "duration_s"]
    assert {"params.max_depth", "metrics.f1", "metrics.auc", "tags.feature_set"} <= set(
        table.columns)
    assert table["metrics.f1"].tolist() == [0.8, 0.6]
    assert pd.isna(table.loc[1, "metrics.auc"])
    assert (table["status"] == "FINISHED").all()


def test_failed_run_is_marked_and_reraised(tracker: LocalExperimentTracker) -> None:
    with pytest.raises(ZeroDivisionError), tracker.start_run("boom"):
        tracker.log_metrics({"partial": 1.0})
        _ = 1 / 0
    info = tracker.get_run("boom")
    assert info.status == "FAILED" and info.ended_at is not None
    assert info.tags["error"].startswith("ZeroDivisionError")
    assert info.metrics == {"partial": 1.0}
    assert tracker.active_run is None
    with tracker.start_run("after"):  # the tracker is usable again
        pass
    assert tracker.runs()["status"].tolist() == ["FAILED", "FINISHED"]


def test_misuse_is_refused(tracker: LocalExperimentTracker) -> None:
    with pytest.raises(ConfigurationError, match="no active run"):
        tracker.log_metrics({"x": 1.0})
    with tracker.start_run("r"):
        with pytest.raises(ConfigurationError, match="do not nest"), tracker.start_run("s"):
            pass
        tracker.log_params({"a": 1})
        with pytest.raises(ConflictError, match="other values"):
            tracker.log_params({"a": 2})
    with pytest.raises(AlreadyExistsError, match="already has a run 'r'"), \
            tracker.start_run("r"):
        pass
    with pytest.raises(ConfigurationError, match="invalid run name"), \
            tracker.start_run("../escape"):
        pass
    with pytest.raises(NotFoundError, match="no run 'zzz'"):
        tracker.get_run("zzz")


def test_artifacts(tracker: LocalExperimentTracker, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "model").mkdir(parents=True)
    (src / "model" / "manifest.json").write_text("{}")
    (src / "model" / "model.ubj").write_bytes(b"{\x00")
    (src / "notes.txt").write_text("hello")
    with tracker.start_run("art"):
        tracker.log_artifact(src / "model")
        tracker.log_artifact(str(src / "notes.txt"), artifact_path="docs")
        with pytest.raises(NotFoundError):
            tracker.log_artifact(src / "missing")
    assert tracker.list_artifacts("art") == ["docs/notes.txt", "model/manifest.json",
                                             "model/model.ubj"]
    out = tracker.download_artifacts("art", tmp_path / "out", artifact_path="model")
    assert (out / "model" / "model.ubj").read_bytes() == b"{\x00"
    assert not (out / "docs").exists()


def test_folder_is_shared_and_written_atomically(tmp_path: Path) -> None:
    root = tmp_path / "store"
    writer = LocalExperimentTracker(root)
    writer.set_experiment("cq")
    with writer.start_run("one"):
        writer.log_metrics({"auc": 0.9})
        reader = LocalExperimentTracker(root)  # another process, e.g. the dashboard
        assert reader.runs("cq")["status"].tolist() == ["RUNNING"]
    assert reader.runs("cq")["status"].tolist() == ["FINISHED"]
    assert reader.get_run("one", experiment="cq").metrics == {"auc": 0.9}
    assert reader.experiments() == ["cq"]
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert (root / "experiments" / "cq" / "runs" / "one" / "run.json").is_file()
    reader.delete_run("one", experiment="cq")
    assert writer.runs("cq").empty
