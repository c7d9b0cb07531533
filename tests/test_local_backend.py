"""cq.connect and the local backend as a whole: the backend registry, persistence, integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import callquality as cq
from callquality.backends import available_backends, register_backend
from callquality.backends.local import LocalBackend
from callquality.exceptions import BackendError, ConfigurationError, MissingExtraError
from callquality.testing import FakeModel, make_feature_rows


def test_connect_picks_backends_by_name() -> None:
    assert {"local", "snowflake"} <= set(available_backends())
    with cq.connect("LOCAL") as s:
        assert isinstance(s, LocalBackend) and s.path is None
    with pytest.raises(ConfigurationError, match=r"unknown backend 'nosuch'.*local"):
        cq.connect("nosuch")
    with pytest.raises((ConfigurationError, MissingExtraError), match="snowflake"):
        cq.connect("snowflake")
    with pytest.raises(ConfigurationError, match="already registered"):
        register_backend("local", LocalBackend)
    register_backend("mine", lambda **kw: ("mine", kw), overwrite=True)
    assert cq.connect("mine", x=1) == ("mine", {"x": 1})
    with pytest.raises(TypeError):
        cq.connect("local", bogus=1)


def test_folder_store_persists_everything_and_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "cq-store"
    with cq.connect("local", path=path) as s:
        s.registry.log_model(FakeModel({"jitter": 1.0}), model_name="cq")
        s.feature_store.ingest("acoustic_features", make_feature_rows(
            cq.feature_names(("acoustic", "interaction")), ["c1"],
            [pd.Timestamp("2024-01-01", tz="UTC")]))
        s.predictions.log_predictions(pd.DataFrame({
            "model_name": ["cq"], "model_version": ["V1"], "score": [0.7],
            "predicted_class": [1]}))
        with s.experiments.start_run("r1"):
            s.experiments.log_metrics({"auc": 0.8})
    assert (path / "callquality.db").is_file()
    with cq.connect("local", path=path) as s:
        assert s.registry.models() == ["cq"]
        assert s.feature_store.get_online_features("acoustic_features", ["c1"])["jitter"] \
            .notna().all()
        assert len(s.predictions.read()) == 1
        assert "r1" in set(s.experiments.runs()["run_name"])
        report = s.check_integrity()
        assert report.ok and report.problems == [] and report.orphans == []
        mode = sqlite3.connect(path / "callquality.db").execute("PRAGMA journal_mode").fetchone()
        assert mode[0] == "wal"


def test_orphans_are_reported_and_repaired(tmp_path: Path) -> None:
    with cq.connect("local", path=tmp_path / "s") as s:
        (tmp_path / "s" / "artifacts" / "deadbeef").mkdir()
        (tmp_path / "s" / ".tmp" / "leftover").mkdir()
        report = s.check_integrity()
        assert report.ok and sorted(report.orphans) == [".tmp/leftover", "artifacts/deadbeef"]
        assert s.check_integrity(repair=True).removed == []  # younger than the grace period
        assert sorted(s.check_integrity(repair=True, grace_s=0).removed) == \
            [".tmp/leftover", "artifacts/deadbeef"]
        assert s.check_integrity().orphans == []


def test_bad_paths_closed_stores_and_newer_schemas(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigurationError, match="not a folder"):
        cq.connect("local", path=file)
    with pytest.raises(ConfigurationError):
        cq.connect("local", path=3)
    s = cq.connect("local", path=tmp_path / "s")
    s.close()
    s.close()
    with pytest.raises(BackendError, match="closed"):
        s.registry.models()
    with sqlite3.connect(tmp_path / "s" / "callquality.db") as con:
        con.execute("UPDATE cq_meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(BackendError, match="schema version 99"):
        cq.connect("local", path=tmp_path / "s")


def test_predefined_views_are_installed_once(tmp_path: Path) -> None:
    with cq.connect("local", path=tmp_path / "s") as s:
        s.feature_store.delete_feature_view("ner_content_features", "v1")
    with cq.connect("local", path=tmp_path / "s") as s:  # a user's deletion is respected
        assert "ner_content_features" not in set(s.feature_store.list_feature_views()["name"])
    with cq.connect("local", predefined_views=False) as s:
        assert s.feature_store.list_feature_views().empty


@pytest.mark.parametrize("where", ["memory", "folder"])
def test_threads_share_one_store(tmp_path: Path, where: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    feats = cq.feature_names(("acoustic", "interaction"))
    with cq.connect("local", path=None if where == "memory" else tmp_path / "s") as s:
        fs = s.feature_store

        def write(i: int) -> int:
            ids = [f"t{i}-{j}" for j in range(20)]
            fs.ingest("acoustic_features", make_feature_rows(
                feats, ids, [pd.Timestamp("2024-01-01", tz="UTC")] * 20, seed=i))
            s.registry.log_model(FakeModel({"jitter": float(i)}), model_name="threads")
            return len(fs.get_online_features("acoustic_features", ids).dropna())

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(write, range(8))) == [20] * 8
        assert len(fs.read_feature_view("acoustic_features")) == 160
        assert sorted(int(i.version[1:]) for i in s.registry.versions("threads")) == \
            list(range(1, 9))
