"""Batch scoring, model references and watching, the group-commit prediction writer, and the
service logic with a real XGBoost model (no HTTP)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from _cq_store import CALM, STRESSED, StoreInfo, build_store, expected_scores
from callquality.exceptions import (
    BackendError,
    ConfigurationError,
    NotFoundError,
    SchemaError,
)
from callquality.serving import (
    PREDICTION_OUTPUT_COLUMNS,
    Instance,
    ModelWatcher,
    PredictionService,
    PredictionWriter,
    RequestError,
    load_registered,
    parse_model_ref,
    score,
)
from callquality.testing import FakeModel


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    return build_store(tmp_path_factory.mktemp("cq") / "store")


def test_score_returns_class_score_threshold_and_logs(store: StoreInfo) -> None:
    rows = store.features.iloc[:12].copy()
    rows.loc[rows.index[3], "error"] = "decode failed"
    with cq.connect("local", path=store.path) as backend:
        before = len(backend.predictions.read())
        out = score(rows, "call_quality@PRODUCTION", backend=backend)
        log = backend.predictions.read().iloc[before:]
    assert list(out.columns) == list(PREDICTION_OUTPUT_COLUMNS)
    assert out.index.equals(rows.index)
    ok = rows["error"].isna().to_numpy()
    want = expected_scores(store.path, rows[ok])
    np.testing.assert_allclose(out["score"][ok], want, rtol=1e-6)
    threshold = out["threshold"].iloc[0]
    assert out["predicted_class"][ok].tolist() == (want >= threshold).astype(int).tolist()
    assert (out["model_version"] == store.version).all()
    # the failed row is not scored and not logged
    assert np.isnan(out["score"].iloc[3]) and out["predicted_class"].isna().iloc[3]
    assert len(log) == ok.sum()
    assert set(log["prediction_id"]) == set(out["prediction_id"].dropna())
    assert (log["model_version"] == store.version).all()
    assert "stress_indicators" in log.columns  # inputs are logged for drift monitoring


def test_score_needs_a_backend_and_the_model_features(store: StoreInfo) -> None:
    rows = store.features.iloc[:3]
    with pytest.raises(ConfigurationError, match="backend"):
        score(rows, "call_quality@PRODUCTION")
    with cq.connect("local", path=store.path) as backend:
        with pytest.raises(SchemaError, match="jitter"):
            score(rows.drop(columns=["jitter"]), backend=backend)
        with pytest.raises(NotFoundError, match="STAGING"):
            score(rows, "call_quality@STAGING", backend=backend)
        lm = load_registered(backend, "call_quality@PRODUCTION")
    out = score(rows, lm, log=False)  # a loaded model scores without a backend
    assert out["score"].notna().all()


@pytest.mark.parametrize("ref, parsed", [
    ("m@PRODUCTION", ("m", "PRODUCTION", True)),
    ("m/V2", ("m", "V2", False)),
    ("m", ("m", None, False)),
])
def test_parse_model_ref(ref: str, parsed: tuple[Any, ...]) -> None:
    r = parse_model_ref(ref)
    assert (r.name, r.selector, r.is_alias) == parsed
    assert str(r) == ref


@pytest.mark.parametrize("bad", ["", "m@", "@A", "m/V1@A", "m@A@B"])
def test_parse_model_ref_refuses_malformed(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_model_ref(bad)


def test_watcher_swaps_on_alias_move_and_keeps_model_on_error(tmp_path: Path) -> None:
    with cq.connect("local", path=tmp_path / "s") as backend:
        reg = backend.registry
        v1 = reg.log_model(FakeModel({"jitter": 1.0}), model_name="m")
        reg.set_alias("m", v1.version, "PRODUCTION")
        swaps: list[tuple[str, str]] = []
        w = ModelWatcher(backend, "m@PRODUCTION", poll_interval_s=0,
                         on_swap=lambda old, new: swaps.append((old.version, new.version)))
        assert w.current.version == "V1" and not w.check()
        v2 = reg.log_model(FakeModel({"jitter": 2.0}), model_name="m")
        reg.unset_alias("m", "PRODUCTION")
        reg.set_alias("m", v2.version, "PRODUCTION")
        assert w.check() and w.current.version == "V2" and swaps == [("V1", "V2")]
        assert w.current.model == FakeModel({"jitter": 2.0})
        reg.unset_alias("m", "PRODUCTION")
        assert not w.check()
        assert w.current.version == "V2" and "PRODUCTION" in (w.last_error or "")
        assert w.status()["swaps"] == 1


def test_writer_groups_concurrent_rows_and_isolates_a_bad_batch() -> None:
    written: list[int] = []
    gate = threading.Event()

    class Log:
        def log_predictions(self, df: pd.DataFrame) -> int:
            gate.wait(5)
            if (df["score"] < 0).any():
                raise BackendError("bad score")
            written.append(len(df))
            return len(df)

    writer = PredictionWriter(Log())  # type: ignore[arg-type]
    futures = [writer.submit(pd.DataFrame({"score": [0.5]})) for _ in range(30)]
    bad = writer.submit(pd.DataFrame({"score": [-1.0]}))
    gate.set()
    assert [f.result(5) for f in futures] == [1] * 30
    with pytest.raises(BackendError, match="bad score"):
        bad.result(5)
    writer.close()
    assert sum(written) == 30 and len(written) < 30  # group commit: fewer transactions
    assert writer.submit(pd.DataFrame({"score": [0.5]})).exception(1) is not None


def test_service_with_xgboost_accepts_missing_values_and_reads_every_view(
        store: StoreInfo) -> None:
    with cq.connect("local", path=store.path) as backend:
        service = PredictionService(backend, "call_quality@PRODUCTION", poll_interval_s=0)
        try:
            assert service.health()["features_not_in_online_store"] == []
            p = service.prepare([Instance(STRESSED), Instance(CALM)])
            assert p.logged.result(10) == 2
            rows = store.features.set_index("call_id").loc[[STRESSED, CALM]].reset_index()
            np.testing.assert_allclose(p.rows["score"], expected_scores(store.path, rows),
                                       rtol=1e-6)
            features = {f: None for f in service.model.feature_names}
            features["dominant_emotion"] = "angry"
            p = service.prepare([Instance(None, features)])
            assert np.isfinite(p.rows["score"]).all()
            (answer,) = service.response(p)
            assert len(answer["missing_features"]) == len(features) - 1
            with pytest.raises(RequestError) as err:
                service.prepare([Instance(None, {**features, "dominant_emotion": 3})])
            assert err.value.status == 422 and "string label" in str(err.value.detail)
        finally:
            service.close()


def test_cli_serve_needs_a_token_and_passes_its_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import callquality.serving as serving
    from callquality.cli import main

    monkeypatch.delenv("CALLQUALITY_API_TOKEN", raising=False)
    assert main(["serve", "--store", str(tmp_path / "s")]) == 2
    assert "CALLQUALITY_API_TOKEN" in capsys.readouterr().err
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serving, "serve", lambda model, **kw: seen.update(model=model, **kw))
    monkeypatch.setenv("CALLQUALITY_API_TOKEN", "t")
    assert main(["serve", "--store", "S", "--model", "m@STAGING", "--port", "9", "--no-auth",
                 "--poll-interval", "2"]) == 0
    assert seen["model"] == "m@STAGING" and seen["store"] == "S" and seen["port"] == 9
    assert seen["allow_unauthenticated"] and seen["poll_interval_s"] == 2.0
