"""The dashboard's data layer and its Streamlit app logic (streamlit.testing AppTest)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callquality as cq
from _cq_store import CALM, MODEL, STRESSED, StoreInfo, build_store, expected_scores
from callquality.dashboard import APP_PATH, streamlit_command
from callquality.dashboard.data import (
    DashboardConfig,
    call_details,
    feature_table,
    headline,
    list_calls,
    load_monitoring,
    resolve_model,
)
from callquality.exceptions import ConfigurationError
from callquality.serving import score

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    info = build_store(tmp_path_factory.mktemp("dash") / "store")
    with cq.connect("local", path=info.path) as backend:  # a scored, labeled history
        logged = score(info.features.iloc[:60], backend=backend)
        backend.predictions.log_actuals(pd.DataFrame({
            "prediction_id": logged["prediction_id"], "actual": [i % 2 for i in range(60)]}))
    return info


@pytest.fixture
def backend(store: StoreInfo) -> Iterator[Any]:
    with cq.connect("local", path=store.path) as b:
        yield b


def test_list_calls_newest_first_with_the_last_prediction(backend: Any,
                                                          store: StoreInfo) -> None:
    calls = list_calls(backend, model_name=MODEL)
    assert len(calls) == len(store.features)
    assert calls["call_id"].iloc[0] == STRESSED and calls["call_id"].iloc[1] == CALM
    assert calls["processed_at"].is_monotonic_decreasing
    assert (calls["views"] == 4).all()
    scored = calls.dropna(subset=["last_score"])
    assert len(scored) == 60 and (scored["last_version"] == store.version).all()


def test_call_details_prediction_coaching_and_features(backend: Any,
                                                       store: StoreInfo) -> None:
    model = resolve_model(backend, "call_quality@PRODUCTION")
    details = call_details(backend, STRESSED, model)
    row = store.features.set_index("call_id").loc[[STRESSED]].reset_index()
    assert details.found and details.prediction is not None
    assert details.prediction.score == pytest.approx(expected_scores(store.path, row)[0])
    h = headline(details)
    assert h["stress"] == "0.91" and h["sentiment"] == "0.08" and h["interruptions"] == "11"
    assert h["quality"] in ("High quality", "Low quality")
    assert h["confidence"] == f"{details.prediction.confidence:.0%}"
    assert {s.rule for s in details.report.by_priority("high")} == {
        "stress", "negative_customer_sentiment", "escalation_risk"}
    table = feature_table(details)
    assert len(table) == len(cq.FEATURES)  # the test store holds every feature
    assert table.set_index("feature").loc["stress_indicators", "value"] == "0.91"
    missing = call_details(backend, "no-such-call", model)
    assert not missing.found and missing.prediction is None
    assert headline(missing)["quality"] == "n/a"


def test_resolve_model_loads_each_version_once(backend: Any) -> None:
    cache: dict[Any, Any] = {}
    a = resolve_model(backend, "call_quality@PRODUCTION", cache)
    b = resolve_model(backend, "call_quality@PRODUCTION", cache)
    assert a is b and len(cache) == 1


def test_monitoring_view(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    view = load_monitoring(backend, "call_quality@PRODUCTION", window="1D")
    if view.available:  # callquality.monitoring is installed
        assert view.metrics is not None and int(view.metrics["count"].sum()) == 60
        assert view.alerts is not None
    monkeypatch.setitem(sys.modules, "callquality.monitoring", None)
    view = load_monitoring(backend, "call_quality@PRODUCTION")
    assert not view.available and view.reason is not None
    assert view.reason.startswith("monitoring not available")


def test_config_from_args_and_environment() -> None:
    cfg = DashboardConfig.from_args(["--store", "/s", "--refresh", "5", "--backend-option",
                                     "x=1"], environ={})
    assert cfg.store == "/s" and cfg.refresh_s == 5 and cfg.options["x"] == "1"
    cfg = DashboardConfig.from_args([], environ={"CALLQUALITY_STORE": "/e",
                                                 "CALLQUALITY_MODEL": "m@STAGING"})
    assert cfg.store == "/e" and cfg.model == "m@STAGING" and cfg.backend == "local"
    with pytest.raises(ConfigurationError, match="--refresh"):
        DashboardConfig.from_args(["--refresh", "soon"], environ={})
    with pytest.raises(ConfigurationError, match="KEY=VALUE"):
        DashboardConfig.from_args(["--backend-option", "novalue"], environ={})
    with pytest.raises(ConfigurationError, match="--store"):
        DashboardConfig().connect()
    cmd = streamlit_command("/s", port=9999, refresh_s=3)
    assert str(APP_PATH) in cmd and cmd[cmd.index("--server.port") + 1] == "9999"
    assert cmd[cmd.index("--") + 1:] == ["--backend", "local", "--model",
                                         "call_quality@PRODUCTION", "--refresh", "3",
                                         "--store", "/s"]


def _app(store: StoreInfo, monkeypatch: pytest.MonkeyPatch, refresh: str = "0") -> AppTest:
    monkeypatch.setenv("CALLQUALITY_STORE", str(store.path))
    monkeypatch.setenv("CALLQUALITY_REFRESH_S", refresh)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def test_app_shows_the_selected_call(store: StoreInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(store, monkeypatch, refresh="15")  # with auto-refresh (a fragment)
    select = at.selectbox(key="call")
    assert select.value == STRESSED and len(select.options) == len(store.features)
    m = _metrics(at)
    assert m["Stress"] == "0.91" and m["Customer sentiment"] == "0.08"
    assert m["Interruptions"] == "11"
    high = [e.value for e in at.error]
    assert any("High stress in the call" in v for v in high)
    assert any("Escalation risk" in v for v in high)
    assert any("Model:" in md.value and "because:" in md.value for md in at.markdown)

    select.select(CALM).run()
    assert not at.exception
    m = _metrics(at)
    assert m["Stress"] == "0.05" and m["Interruptions"] == "0"
    assert not [e.value for e in at.error if "High stress" in e.value]
    with cq.connect("local", path=store.path) as backend:
        details = call_details(backend, CALM, resolve_model(backend, "call_quality@PRODUCTION"))
    assert m["Predicted quality"] == headline(details)["quality"]
    assert m["Confidence"] == headline(details)["confidence"]


def test_app_monitoring_tab(store: StoreInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(store, monkeypatch)
    try:
        import callquality.monitoring  # noqa: F401
    except ImportError:
        assert any("monitoring not available" in i.value for i in at.info)
    else:
        frames = [d.value for d in at.dataframe]
        perf = [f for f in frames if "window_start" in f.columns and "f1" in f.columns]
        assert perf and int(perf[0]["count"].sum()) == 60
    monkeypatch.setitem(sys.modules, "callquality.monitoring", None)
    at.run()
    assert not at.exception
    assert any("monitoring not available" in i.value for i in at.info)


def test_app_without_a_store_explains_how_to_start(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.delenv("CALLQUALITY_STORE", raising=False)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    assert any("callquality dashboard --store" in e.value for e in at.error)
    monkeypatch.setenv("CALLQUALITY_STORE", str(tmp_path / "empty"))
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("No calls in the store yet" in i.value for i in at.info)
