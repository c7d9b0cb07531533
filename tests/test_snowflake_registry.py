"""The Snowflake registry: what it passes to snowflake-ml's ``Registry.log_model`` (checked by
``create_autospec`` of the real classes), that Snowflake's own model runtime runs the logged
classifier exactly like the model, aliases, loading and running by alias."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

import xgboost as xgb
from snowflake.ml.model.type_hints import Task
from snowflake.snowpark.exceptions import SnowparkSQLException

from callquality.backends.snowflake._runner import SavedModelRunner
from callquality.backends.snowflake.registry import RECORD_KEY
from callquality.exceptions import (
    BackendError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
)
from callquality.testing import FakeModel
from callquality.training import CallQualityModel
from callquality.training.dataset import encode_features
from callquality.training.model import model_schema_hash
from test_snowflake_support import FakeModels, snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")

NUMERIC = ["jitter", "shimmer", "interruption_count"]


def _data(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"jitter": rng.random(n), "shimmer": rng.random(n),
                       "interruption_count": rng.integers(0, 9, n).astype(float),
                       "dominant_emotion": rng.choice(["angry", "happy", "neutral"], n)})
    df["resolved"] = ((df["jitter"] + (df["dominant_emotion"] == "happy")) > 0.9).astype(int)
    return df


def _model(categorical: bool = False, seed: int = 0) -> CallQualityModel:
    df = _data(seed=seed)
    names = NUMERIC + (["dominant_emotion"] if categorical else [])
    cats = {"dominant_emotion": ("angry", "happy", "neutral")} if categorical else {}
    X, _ = encode_features(df, names, categories=cats)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1,
                         "seed": seed},
                        xgb.DMatrix(X, label=df["resolved"], enable_categorical=True),
                        num_boost_round=8)
    return CallQualityModel(booster, feature_names=names,
                            feature_dtypes={n: ("category" if n in cats else "float64")
                                            for n in names},
                            categories=cats, threshold=0.42, label="resolved",
                            schema_hash=model_schema_hash(names))


@pytest.fixture
def models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def reg(models: FakeModels) -> Any:
    return snowflake_backend(models, predefined_views=False).registry


def test_log_model_passes_an_xgboost_classifier_sample_without_label_and_the_task(
        models: FakeModels, reg: Any) -> None:
    model = _model()
    sample = _data(10)  # holds the label and a non-feature column
    info = reg.log_model(model, model_name="call_quality", metrics={"test_f1": 0.8},
                         params={"max_depth": 2}, comment="first", sample_input=sample)
    call = models.log_calls[0]
    assert isinstance(call["model"], xgb.XGBClassifier)
    assert call["model_name"] == "call_quality" and call["version_name"] == "V1"
    assert call["task"] == Task.TABULAR_BINARY_CLASSIFICATION
    assert call["options"]["enable_explainability"] is True
    assert list(call["sample_input_data"].columns) == NUMERIC  # no label, nothing else
    assert len(call["sample_input_data"]) == 10
    record = call["metrics"][RECORD_KEY]
    assert call["metrics"]["test_f1"] == 0.8
    assert record["manifest"]["threshold"] == pytest.approx(0.42)
    assert record["manifest"]["feature_names"] == NUMERIC
    assert record["manifest"]["schema_hash"] == model.schema_hash
    assert record["loader"] == "callquality.training.model:CallQualityModel"
    assert {f["path"] for f in record["files"]} == {"manifest.json", "model.ubj"}
    assert list(call["user_files"]) == ["callquality"]
    # what callquality reports hides its own record
    assert info.version == "V1" and info.is_default and info.comment == "first"
    assert info.metrics == {"test_f1": 0.8} and info.params == {"max_depth": 2}
    assert info.model_type == "callquality.training.model:CallQualityModel"
    assert [s["name"] for s in info.lineage["signature"]] == NUMERIC


def test_categorical_models_are_logged_without_snowflake_explanations(
        models: FakeModels, reg: Any) -> None:
    with pytest.warns(UserWarning, match="dominant_emotion"):
        reg.log_model(_model(categorical=True), model_name="cq_cat")
    call = models.log_calls[0]
    assert call["options"]["enable_explainability"] is False
    assert call["model"].get_params()["enable_categorical"] is True
    assert str(call["sample_input_data"]["dominant_emotion"].dtype) == "category"
    with pytest.raises(ConfigurationError, match="categorical"):
        reg.log_model(_model(categorical=True), model_name="cq_cat", explainability=True)
    assert len(models.log_calls) == 1


def test_snowflakes_model_runtime_runs_the_logged_classifier_like_the_model(
        models: FakeModels, reg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Package the exact object and sample passed to ``log_model`` with snowflake-ml's own
    packager and XGBoost handler, load it back as the warehouse does, and compare with
    CallQualityModel. (Handler discovery is pinned to the XGBoost handler: discovering it
    imports transformers and torch, 20 s here, and is snowflake-ml's business.)"""
    from snowflake.ml._internal.platform_capabilities import PlatformCapabilities
    from snowflake.ml.model._packager import model_handler, model_packager
    from snowflake.ml.model._packager.model_handlers.xgboost import XGBModelHandler

    def find_handler(model: Any) -> Any:
        assert XGBModelHandler.can_handle(model)
        return XGBModelHandler

    monkeypatch.setattr(model_handler, "find_handler", find_handler)
    data = _data(40, seed=3)
    for categorical in (False, True):
        model = _model(categorical=categorical, seed=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.log_model(model, model_name=f"cq_{int(categorical)}")
        call = models.log_calls[-1]
        # (no account: the packager must not ask Snowflake for its platform capabilities)
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), \
                PlatformCapabilities.mock_features():
            warnings.simplefilter("ignore")
            packager = model_packager.ModelPackager(tmp)
            packager.save(name="m", model=call["model"],
                          sample_input_data=call["sample_input_data"], task=call["task"],
                          options=dict(call["options"]))
            assert packager.meta is not None
            assert packager.meta.task == Task.TABULAR_BINARY_CLASSIFICATION
            assert ("explain" in packager.meta.signatures) is not categorical
            inputs = [f.name for f in packager.meta.signatures["predict_proba"].inputs]
            assert inputs == model.feature_names  # the sample held no label
            loaded = model_packager.ModelPackager(tmp)
            loaded.load(as_custom_model=True)
            runtime = loaded.model
            out = runtime.predict_proba(data[model.feature_names].copy())
            np.testing.assert_allclose(out["output_feature_1"].to_numpy(),
                                       model.predict_proba(data), rtol=1e-6)
            assert callable(getattr(runtime, "explain", None)) is not categorical


def test_other_models_are_logged_as_a_custom_model_that_loads_them(
        models: FakeModels, reg: Any) -> None:
    fake = FakeModel({"jitter": 1.5, "shimmer": -2.0}, bias=0.2, threshold=0.4)
    reg.log_model(fake, model_name="fake_model")
    call = models.log_calls[0]
    runner = call["model"]
    assert isinstance(runner, SavedModelRunner)
    assert call["options"]["enable_explainability"] is False
    assert list(call["sample_input_data"].columns) == ["jitter", "shimmer"]
    X = pd.DataFrame({"JITTER": [0.0, 1.0], "SHIMMER": [0.3, 0.1]})  # as a table gives them
    np.testing.assert_allclose(runner.predict_proba(X)["SCORE"],
                               fake.predict_proba(X.rename(columns=str.lower)))
    assert list(runner.predict(X)["PREDICTED_CLASS"]) == list(
        fake.predict(X.rename(columns=str.lower)))


def test_load_and_run_by_alias(models: FakeModels, reg: Any) -> None:
    first, second = _model(seed=1), _model(seed=2)
    reg.log_model(first, model_name="call_quality")
    reg.log_model(second, model_name="call_quality")
    reg.set_alias("call_quality", "V2", "PRODUCTION")
    data = _data(15, seed=5)
    loaded = reg.load_model("call_quality@PRODUCTION")
    np.testing.assert_allclose(loaded.predict_proba(data), second.predict_proba(data))
    assert loaded.threshold == pytest.approx(second.threshold)
    upper = data[NUMERIC].rename(columns=str.upper)  # a Snowflake table's column names
    scored = reg.predict("call_quality@production", upper)
    np.testing.assert_allclose(scored["score"], second.predict_proba(data), rtol=1e-6)
    assert list(scored["predicted_class"]) == list(second.predict(data))
    assert list(scored.index) == list(data.index)
    mv_run = [c for c in models.events if c[0] == "log_model"]
    assert len(mv_run) == 2
    with pytest.raises(NotFoundError, match="STAGING"):
        reg.load_model("call_quality@STAGING")


def test_load_refuses_an_artifact_that_changed_after_logging(models: FakeModels,
                                                             reg: Any) -> None:
    reg.log_model(_model(), model_name="call_quality")
    files = models.models["CALL_QUALITY"]["versions"]["V1"]["files"]
    key = next(k for k in files if k.endswith("model.ubj"))
    files[key] = files[key][:-1] + bytes([files[key][-1] ^ 1])
    with pytest.raises(IntegrityError, match="sha256"):
        reg.load_model("call_quality/V1")
    files[key.replace("model.ubj", "extra.bin")] = b"x"
    with pytest.raises(IntegrityError, match=r"extra\.bin"):
        reg.verify("call_quality")


def test_moving_production_unsets_the_old_version_first(models: FakeModels, reg: Any) -> None:
    for seed in range(3):
        reg.log_model(FakeModel({"jitter": 1.0 + seed}), model_name="m")
    reg.set_alias("m", "V1", "PRODUCTION")
    reg.set_alias("m", "V3", "PRODUCTION")
    alias_events = [e for e in models.events if "alias" in e[0]]
    assert alias_events == [("set_alias", "M", "V1", "PRODUCTION"),
                            ("unset_alias", "M", "V1", "PRODUCTION"),
                            ("set_alias", "M", "V3", "PRODUCTION")]
    assert reg.get_version("m", "V1").aliases == ()
    with pytest.raises(ConflictError, match="at most one alias"):
        reg.set_alias("m", "V3", "CHALLENGER")
    with pytest.raises(ConflictError, match="version name"):
        reg.set_alias("m", "V2", "V1")


def test_a_failed_move_gives_the_alias_back(models: FakeModels, reg: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in range(2):
        reg.log_model(FakeModel({"jitter": 1.0 + seed}), model_name="m")
    reg.set_alias("m", "V1", "PRODUCTION")
    make = models._mv

    def failing(name: str, version: str) -> Any:
        mv = make(name, version)
        if version == "V2":
            mv.set_alias.side_effect = SnowparkSQLException("warehouse suspended",
                                                            sql_error_code=606)
        return mv

    monkeypatch.setattr(models, "_mv", failing)
    with pytest.raises(BackendError, match="warehouse suspended"):
        reg.set_alias("m", "V2", "PRODUCTION")
    assert reg.get_version("m", "PRODUCTION").version == "V1"


def test_default_version_and_deletion(models: FakeModels, reg: Any) -> None:
    for seed in range(3):
        reg.log_model(FakeModel({"jitter": 1.0 + seed}), model_name="m")
    reg.set_default_version("m", "V3")
    assert ("set_default", "M", "V3") in models.events
    with pytest.raises(ConflictError, match="default"):
        reg.delete_version("m", "V3")
    reg.delete_version("m", "V3", force=True)  # the newest other version becomes default
    assert reg.get_version("m").version == "V2"
    reg.delete_version("m", "V2", force=True)
    reg.delete_version("m", "V1")  # the last one: the model goes
    assert reg.models() == []
    info = reg.log_model(FakeModel({"jitter": 1.0}), model_name="m")
    assert info.version == "V1"  # a deleted model's numbering starts again


def test_snowflake_errors_are_translated(models: FakeModels, reg: Any) -> None:
    with pytest.raises(NotFoundError, match="no model"):
        reg.get_version("nothing_here")
    models.registry.show_models.side_effect = SnowparkSQLException(
        "Insufficient privileges to operate on schema 'ML'", sql_error_code=3001)
    with pytest.raises(BackendError, match="permission denied"):
        reg.models()
    models.registry.show_models.side_effect = None
    models.registry.log_model.side_effect = RuntimeError("(2200) stage upload failed")
    with pytest.raises(BackendError, match="stage upload failed") as err:
        reg.log_model(FakeModel({"jitter": 1.0}), model_name="m")
    assert isinstance(err.value.__cause__, RuntimeError)


def test_tags_comments_and_metrics_update_the_version(models: FakeModels, reg: Any) -> None:
    reg.log_model(FakeModel({"jitter": 1.0}), model_name="m", tags={"team": "qa"})
    reg.set_tag("m", "V1", "stage", "canary")
    reg.set_comment("m", "V1", "reviewed")
    reg.set_metric("m", "V1", "auc", np.float64(0.7))
    reg.delete_metric("m", "V1", "auc")
    info = reg.get_version("m", "V1")
    assert info.tags == {"team": "qa", "stage": "canary"} and info.comment == "reviewed"
    assert info.metrics == {}
    with pytest.raises(ConfigurationError, match="reserved"):
        reg.set_metric("m", "V1", RECORD_KEY, 1)
    with pytest.raises(NotFoundError):
        reg.delete_metric("m", "V1", RECORD_KEY)
    stored = models.models["M"]["versions"]["V1"]["metrics"]
    assert json.dumps(stored[RECORD_KEY]["tags"], sort_keys=True) == \
        '{"stage": "canary", "team": "qa"}'


def test_models_outside_trusted_modules_are_refused_before_snowflake(
        models: FakeModels, reg: Any, tmp_path: Path) -> None:
    class Local:
        feature_names = ("jitter",)

        def save(self, path: Any) -> None:
            Path(path, "m.json").write_text("{}")

        @classmethod
        def load(cls, path: Any) -> Local:
            return cls()

    with pytest.raises(ConfigurationError):
        reg.log_model(Local(), model_name="m")
    assert models.log_calls == []
