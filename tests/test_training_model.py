"""CallQualityModel: explanations, save/load round trip, integrity and signature checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from callquality.exceptions import AlreadyExistsError, IntegrityError, SchemaError
from callquality.training import (
    CallQualityModel,
    XGBTrainer,
    build_dataset,
    make_synthetic_calls,
    split,
)
from callquality.training._util import atomic_write_json
from callquality.training.model import MANIFEST, _manifest_digest


@pytest.fixture(scope="module")
def fitted() -> tuple[CallQualityModel, pd.DataFrame]:
    feats, outs = make_synthetic_calls(500, n_agents=25, class_sep=0.6, missing_rate=0.05,
                                       seed=21)
    ds = build_dataset(feats, outs, label="resolved")
    train, test, _ = split(ds, test_size=0.3, seed=0).frames(ds)
    model = XGBTrainer(n_estimators=30, cv_folds=3).fit(train, label="resolved",
                                                        features=ds.features)
    return model, test


def test_contributions_sum_to_margin(fitted: tuple[CallQualityModel, pd.DataFrame]) -> None:
    model, test = fitted
    contrib = model.explain(test)
    assert list(contrib.columns) == [*model.feature_names, "bias"]
    assert contrib.index.equals(test.index)
    np.testing.assert_allclose(contrib.sum(axis=1), model.predict_margin(test), atol=1e-4)
    p = model.predict_proba(test)
    np.testing.assert_allclose(1 / (1 + np.exp(-contrib.sum(axis=1))), p, atol=1e-5)
    imp = model.global_importance(test)
    assert list(imp.index) == list(imp.sort_values(ascending=False).index)
    assert "bias" not in imp.index and len(imp) == len(model.feature_names)
    np.testing.assert_allclose(imp.to_numpy(),
                               contrib.drop(columns="bias").abs().mean()[imp.index].to_numpy())


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_save_load_round_trip(fitted: tuple[CallQualityModel, pd.DataFrame], tmp_path: Path,
                              fmt: str) -> None:
    model, test = fitted
    folder = model.save(tmp_path / "m", format=fmt)  # type: ignore[arg-type]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"model.{fmt}", MANIFEST])
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["threshold"] == model.threshold
    assert manifest["schema_hash"] == model.schema_hash is not None
    assert [f["name"] for f in manifest["features"]] == model.feature_names
    assert {f["dtype"] for f in manifest["features"]} == {"float64", "category"}
    loaded = CallQualityModel.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    assert loaded.threshold == model.threshold and loaded.signature == model.signature
    assert loaded.metadata["threshold_tuning"]["threshold"] == model.threshold
    if fmt == "ubj":
        assert (folder / "model.ubj").read_bytes()[:1] == b"{"  # UBJSON object, not pickle
    with pytest.raises(AlreadyExistsError, match="already holds a model"):
        model.save(folder)
    model.save(folder, overwrite=True, format="ubj")
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.ubj"]


def test_tampered_artifact_is_rejected(fitted: tuple[CallQualityModel, pd.DataFrame],
                                       tmp_path: Path) -> None:
    model, _ = fitted
    folder = model.save(tmp_path / "m")
    raw = bytearray((folder / "model.ubj").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / "model.ubj").write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        CallQualityModel.load(folder)


def test_tampered_manifest_is_rejected(fitted: tuple[CallQualityModel, pd.DataFrame],
                                       tmp_path: Path) -> None:
    model, _ = fitted
    folder = model.save(tmp_path / "m")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["threshold"] = 0.01
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="manifest checksum mismatch"):
        CallQualityModel.load(folder)
    (folder / MANIFEST).unlink()
    with pytest.raises(IntegrityError, match="not found"):
        CallQualityModel.load(folder)


def test_signature_and_schema_checks(fitted: tuple[CallQualityModel, pd.DataFrame],
                                     tmp_path: Path) -> None:
    model, _ = fitted
    folder = model.save(tmp_path / "m")

    def rewrite(change: dict[str, Any]) -> None:
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest.update(change)
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        atomic_write_json(folder / MANIFEST, manifest)

    original = json.loads((folder / MANIFEST).read_text())
    rewrite({"schema_hash": "0" * 16})
    with pytest.raises(SchemaError, match="feature schema changed"):
        CallQualityModel.load(folder)
    assert CallQualityModel.load(folder, check_schema=False).threshold == model.threshold
    feats = [dict(f) for f in original["features"]]
    feats[0], feats[1] = feats[1], feats[0]
    rewrite({"schema_hash": original["schema_hash"], "features": feats})
    with pytest.raises(SchemaError, match="manifest declares"):
        CallQualityModel.load(folder)


def test_prediction_input_handling(fitted: tuple[CallQualityModel, pd.DataFrame]) -> None:
    model, test = fitted
    shuffled = test[list(reversed(test.columns))].assign(extra=1)
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(test))
    odd = test.copy()
    odd["dominant_emotion"] = "never-seen"  # unseen category -> missing, not an error
    assert np.isfinite(model.predict_proba(odd)).all()
    with pytest.raises(SchemaError, match="non-numeric"):
        model.predict_proba(test.assign(jitter="high"))
    with pytest.raises(SchemaError, match="expected a pandas DataFrame"):
        model.predict_proba(test.to_numpy())
