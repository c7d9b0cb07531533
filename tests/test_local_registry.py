"""Local model registry: artifacts are checksummed and verified, only trusted classes load,
bad names and references get specific errors."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.backends.errors import InvalidNameError
from callquality.exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
)
from callquality.testing import FakeModel


class OutsideModel(FakeModel):
    """A model class outside callquality (this test module): untrusted by default."""


def _model(seed: int = 0, payload: int = 0) -> FakeModel:
    return FakeModel({"jitter": 1.0 + seed, "shimmer": -0.5}, threshold=0.3, seed=seed,
                     payload_bytes=payload)


@pytest.fixture
def folder_store(tmp_path: Path):
    with cq.connect("local", path=tmp_path / "store") as s:
        yield s


def _artifact_dir(store, ref: str) -> Path:
    name, _, version = ref.partition("/")
    row = sqlite3.connect(store.path / "callquality.db").execute(
        "SELECT artifact_dir FROM model_versions v JOIN models m USING (model_id) "
        "WHERE m.name=? AND v.version=?", (name, version)).fetchone()
    return store.path / row[0] / "model"


# --------------------------------------------------------------------------- integrity

def test_a_corrupted_artifact_is_refused_on_load(folder_store) -> None:
    reg = folder_store.registry
    reg.log_model(_model(0, payload=4096), model_name="cq")
    reg.verify("cq/V1")
    assert reg.load_model("cq") == _model(0, payload=4096)
    payload = _artifact_dir(folder_store, "cq/V1") / "payload.bin"
    data = bytearray(payload.read_bytes())
    data[100] ^= 0xFF
    payload.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"payload\.bin of cq/V1 does not match the sha256"):
        reg.load_model("cq/V1")
    with pytest.raises(IntegrityError):
        reg.verify("cq@DEFAULT")
    report = folder_store.check_integrity()
    assert not report.ok and "payload.bin" in report.problems[0]


def test_swapped_artifacts_are_refused(folder_store) -> None:
    reg = folder_store.registry
    reg.log_model(_model(1), model_name="cq")
    reg.log_model(_model(2), model_name="cq")
    a, b = _artifact_dir(folder_store, "cq/V1"), _artifact_dir(folder_store, "cq/V2")
    tmp = a.parent / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    for ref in ("cq/V1", "cq/V2"):
        with pytest.raises(IntegrityError, match=r"model\.json"):
            reg.load_model(ref)


@pytest.mark.parametrize("damage", ["extra", "missing", "gone"])
def test_added_removed_or_missing_files_are_refused(folder_store, damage: str) -> None:
    reg = folder_store.registry
    reg.log_model(_model(0, payload=64), model_name="cq")
    folder = _artifact_dir(folder_store, "cq/V1")
    if damage == "extra":
        (folder / "evil.py").write_text("import os")
    elif damage == "missing":
        (folder / "payload.bin").unlink()
    else:
        shutil.rmtree(folder.parent)
    with pytest.raises(IntegrityError, match="cq/V1"):
        reg.load_model("cq")


def test_in_memory_artifacts_are_verified_too() -> None:
    with cq.connect("local") as s:
        s.registry.log_model(_model(0), model_name="cq")
        location = s.registry._artifact("cq", None, False, "test")[2]
        s._blobs.corrupt_artifact_for_tests(location, "model.json", b"{}")
        with pytest.raises(IntegrityError, match=r"model\.json"):
            s.registry.load_model("cq")


def test_a_tampered_loader_is_never_imported(folder_store) -> None:
    folder_store.registry.log_model(_model(0), model_name="cq")
    with sqlite3.connect(folder_store.path / "callquality.db") as con:
        con.execute("UPDATE model_versions SET loader='os:system'")
    with pytest.raises(ConfigurationError, match="not in a trusted module"):
        folder_store.registry.load_model("cq")


# --------------------------------------------------------------------------- what can be stored

def test_only_trusted_model_classes_are_stored(tmp_path: Path) -> None:
    outside = OutsideModel({"jitter": 1.0})
    with cq.connect("local") as s:
        with pytest.raises(ConfigurationError, match="trusted_modules"):
            s.registry.log_model(outside, model_name="cq")
        assert s.registry.models() == []
    module = OutsideModel.__module__.split(".")[0] + "."
    with cq.connect("local", trusted_modules=("callquality.", module)) as s:
        s.registry.log_model(outside, model_name="cq")
        loaded = s.registry.load_model("cq")
        assert type(loaded) is OutsideModel
        assert s.registry.get_version("cq").model_type.endswith(":OutsideModel")


def test_objects_that_cannot_save_or_load_are_refused() -> None:
    class Local(FakeModel):
        pass

    with cq.connect("local") as s:
        with pytest.raises(ConfigurationError, match="save"):
            s.registry.log_model(object(), model_name="cq")
        with pytest.raises(ConfigurationError, match="inside a function"):
            s.registry.log_model(Local({"jitter": 1.0}), model_name="cq")


def test_a_failing_save_leaves_nothing_behind(folder_store, monkeypatch) -> None:
    model = _model(0)

    def broken_save(path):
        Path(path, "half.json").write_text("{")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        folder_store.registry.log_model(model, model_name="cq")
    assert folder_store.registry.models() == []
    report = folder_store.check_integrity()
    assert report.ok and report.orphans == []


def test_metadata_must_be_json(folder_store) -> None:
    reg = folder_store.registry
    with pytest.raises(ConfigurationError, match="metrics"):
        reg.log_model(_model(0), model_name="cq", metrics={"bad": object()})
    info = reg.log_model(_model(0), model_name="cq",
                         metrics={"auc": np.float32(0.5), "nan": float("nan"),
                                  "curve": np.array([0.1, 0.2])},
                         lineage={"dataset_snapshot_id": "abc", "features": ["jitter"]})
    assert info.metrics == {"auc": 0.5, "nan": None, "curve": [0.1, 0.2]}
    assert info.lineage["features"] == ["jitter"]  # given lineage wins over the derived one
    assert info.lineage["signature"] == [{"name": "jitter", "dtype": "float64"},
                                         {"name": "shimmer", "dtype": "float64"}]
    assert len(info.artifact_sha256) == 64


# --------------------------------------------------------------------------- names and rules

def test_names_are_case_insensitive_identifiers(folder_store) -> None:
    reg = folder_store.registry
    reg.log_model(_model(0), model_name="CallQuality", version_name="v_2024")
    assert reg.models() == ["CallQuality"]
    assert reg.get_version("callquality", "V_2024").version == "V_2024"
    reg.set_alias("CALLQUALITY", "v_2024", "production")
    assert reg.get_version("callquality", "Production").aliases == ("PRODUCTION",)
    assert reg.load_model("callquality@PRODUCTION") == _model(0)
    with pytest.raises(InvalidNameError, match="log_model"):
        reg.log_model(_model(0), model_name="call quality")
    with pytest.raises(InvalidNameError, match="alias"):
        reg.set_alias("CallQuality", "V_2024", "PROD-1")
    with pytest.raises(AlreadyExistsError, match="PRODUCTION"):
        reg.log_model(_model(1), model_name="CallQuality", version_name="PRODUCTION")
    reg.log_model(_model(1), model_name="CallQuality", version_name="V2")
    with pytest.raises(ConflictError, match="version name"):
        reg.set_alias("CallQuality", "V_2024", "V2")


def test_explicit_names_do_not_collide_with_numbering(folder_store) -> None:
    reg = folder_store.registry
    reg.log_model(_model(0), model_name="cq", version_name="V2")
    assert reg.log_model(_model(1), model_name="cq").version == "V1"
    assert reg.log_model(_model(2), model_name="cq").version == "V3"


def test_default_version_rules_on_delete(folder_store) -> None:
    reg = folder_store.registry
    for seed in range(3):
        reg.log_model(_model(seed), model_name="cq")
    with pytest.raises(ConflictError, match="default"):
        reg.delete_version("cq", "V1")
    reg.delete_version("cq", "V1", force=True)
    assert reg.get_version("cq").version == "V3"
    reg.delete_version("cq", "V2")
    reg.delete_version("cq", "V3", force=True)
    assert reg.models() == []
    with pytest.raises(NotFoundError):
        reg.delete_version("cq", "V3")
    assert folder_store.check_integrity().orphans == []


def test_metric_tag_comment_updates(folder_store) -> None:
    reg = folder_store.registry
    reg.log_model(_model(0), model_name="cq", metrics={"auc": 0.7})
    reg.set_alias("cq", "V1", "CHALLENGER")
    reg.set_metric("cq", "CHALLENGER", "auc", 0.8)
    reg.set_tag("cq", "V1", "owner", "qa")
    reg.set_comment("cq", "V1", "retrained")
    reg.delete_metric("cq", "V1", "auc")
    info = reg.get_version("cq", "V1")
    assert info.metrics == {} and info.tags == {"owner": "qa"} and info.comment == "retrained"
    with pytest.raises(NotFoundError, match="auc"):
        reg.delete_metric("cq", "V1", "auc")
    with pytest.raises(ConflictError, match="CHALLENGER"):
        reg.delete_model("cq")
    shown = reg.show_models()
    assert shown.loc[0, "aliases"] == {"CHALLENGER": "V1"}
    assert shown.loc[0, "default_version_name"] == "V1"


def test_persisted_registry_reopens(tmp_path: Path) -> None:
    with cq.connect("local", path=tmp_path / "s") as s:
        s.registry.log_model(_model(0, payload=1000), model_name="cq")
        s.registry.set_alias("cq", "V1", "PRODUCTION")
    with cq.connect("local", path=str(tmp_path / "s")) as s:
        assert s.registry.load_model("cq@PRODUCTION") == _model(0, payload=1000)
        assert os.listdir(tmp_path / "s" / ".tmp") == []


# --------------------------------------------------------------------------- the trainer's model

def test_the_trainers_model_round_trips(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    training = pytest.importorskip("callquality.training")
    rng = np.random.default_rng(0)
    names = ["jitter", "shimmer", "avg_pitch_hz"]
    X = pd.DataFrame(rng.random((200, 3)), columns=names)
    y = (X["jitter"] + 0.3 * rng.random(200) > 0.6).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                        xgb.DMatrix(X, label=y), num_boost_round=5)
    model = training.CallQualityModel(booster, feature_names=names,
                                      feature_dtypes={n: "float64" for n in names},
                                      threshold=0.42,
                                      schema_hash=training.model.model_schema_hash(names))
    with cq.connect("local", path=tmp_path / "s") as s:
        info = s.registry.log_model(model, model_name="call_quality", metrics={"auc": 0.9},
                                    lineage={"dataset_snapshot_id": "snap1", "run_id": "r1"})
        assert info.model_type == "callquality.training.model:CallQualityModel"
        assert [f["name"] for f in info.lineage["signature"]] == names
        s.registry.set_alias("call_quality", info.version, "PRODUCTION")
        loaded = s.registry.load_model("call_quality@PRODUCTION")
        assert type(loaded).__name__ == "CallQualityModel"
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
        assert loaded.threshold == 0.42
        manifest = _artifact_dir(s, f"call_quality/{info.version}") / "manifest.json"
        doc = json.loads(manifest.read_text())
        doc["threshold"] = 0.01
        manifest.write_text(json.dumps(doc))
        with pytest.raises(IntegrityError, match=r"manifest\.json"):
            s.registry.load_model("call_quality")
