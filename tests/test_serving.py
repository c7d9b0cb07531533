"""The prediction service over real HTTP (uvicorn on a free 127.0.0.1 port): auth, request
validation, body limit, online-store lookups, logging of every prediction, hot swap."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.backends.local import quickstart_feature_views
from callquality.exceptions import BackendError
from callquality.testing import FakeModel, make_feature_rows

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from callquality.serving import BackgroundServer, create_app  # noqa: E402

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FEATS = ["agent_talk_ratio", "interruption_count", "sentiment_score"]
V1 = FakeModel({"agent_talk_ratio": 1.0, "interruption_count": -0.5, "sentiment_score": 2.0},
               bias=-1.0, threshold=0.5)
V2 = FakeModel({"agent_talk_ratio": 1.0, "interruption_count": -0.5, "sentiment_score": 2.0},
               bias=3.0, threshold=0.4)
CALLS = [f"c{i:03d}" for i in range(20)]


def _fill_store(backend: Any) -> pd.DataFrame:
    """The quickstart views filled for CALLS; returns the merged feature rows."""
    at = [datetime(2025, 1, 1, tzinfo=timezone.utc)] * len(CALLS)
    merged = pd.DataFrame({"call_id": CALLS})
    for i, view in enumerate(quickstart_feature_views()):
        rows = make_feature_rows(view.features, CALLS, at, seed=i)
        backend.feature_store.ingest(view.name, rows)
        merged = merged.merge(rows.drop(columns=["processed_at"]), on="call_id")
    info = backend.registry.log_model(V1, model_name="cq")
    backend.registry.set_alias("cq", info.version, "PRODUCTION")
    return merged


def _expected(model: FakeModel, features: dict[str, Any] | pd.DataFrame) -> float:
    df = pd.DataFrame([features]) if isinstance(features, dict) else features
    return float(model.predict_proba(df)[0])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    backend = cq.connect("local", path=tmp_path_factory.mktemp("store"))
    merged = _fill_store(backend)
    app = create_app(backend, "cq@PRODUCTION", token=TOKEN, max_body_bytes=4096,
                     max_batch=5, poll_interval_s=60)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url,
                                                       timeout=30) as client:
        yield {"client": client, "backend": backend, "merged": merged, "url": server.url}
    backend.close()


def _n_logged(backend: Any) -> int:
    return len(backend.predictions.read(model_name="cq"))


def test_health_is_open_and_everything_else_needs_the_token(served: dict[str, Any]) -> None:
    c = served["client"]
    health = c.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["version"] == "V1"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = c.get("/version", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/predict", json={"call_id": CALLS[0]}, headers=headers
                      ).status_code == 401
    v = c.get("/version", headers=AUTH).json()
    assert v["callquality"] == cq.__version__
    assert v["model"]["version"] == "V1" and v["model"]["alias"] == "PRODUCTION"
    assert [f["name"] for f in v["model"]["signature"]] == FEATS


def test_predict_from_features_is_answered_and_logged(served: dict[str, Any]) -> None:
    c, backend = served["client"], served["backend"]
    features = {"agent_talk_ratio": 0.4, "interruption_count": 3, "sentiment_score": 0.9}
    r = c.post("/predict", json={"features": features}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    want = _expected(V1, features)
    assert body["score"] == pytest.approx(want)
    assert body["predicted_class"] == int(want >= V1.threshold)
    assert body["threshold"] == V1.threshold and body["model_version"] == "V1"
    assert body["feature_source"] == "request" and body["missing_features"] == []
    log = backend.predictions.read(model_name="cq").set_index("prediction_id")
    row = log.loc[body["prediction_id"]]
    assert row["score"] == pytest.approx(want) and row["model_version"] == "V1"
    assert row["interruption_count"] == 3  # the inputs are logged for drift monitoring


def test_predict_by_call_id_reads_the_online_store(served: dict[str, Any]) -> None:
    c, merged = served["client"], served["merged"]
    stored = merged.set_index("call_id").loc[CALLS[3], FEATS].to_dict()
    r = c.post("/predict", json={"call_id": CALLS[3]}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["score"] == pytest.approx(_expected(V1, stored))
    assert r.json()["feature_source"] == "online_store" and r.json()["call_id"] == CALLS[3]
    # the request's features override the store's
    r = c.post("/predict", json={"call_id": CALLS[3], "features": {"sentiment_score": 0.0}},
               headers=AUTH)
    assert r.json()["score"] == pytest.approx(_expected(V1, {**stored, "sentiment_score": 0.0}))
    assert r.json()["feature_source"] == "request+online_store"
    before = _n_logged(served["backend"])
    r = c.post("/predict", json={"call_id": "no-such-call"}, headers=AUTH)
    assert r.status_code == 404 and "no-such-call" in r.json()["detail"]
    assert _n_logged(served["backend"]) == before


@pytest.mark.parametrize("body, where", [
    ({"features": {"agent_talk_ratio": 0.5, "interruption_count": 1}}, "missing feature"),
    ({"features": {"agent_talk_ratio": 0.5, "interruption_count": 1, "sentiment_score": 0.5,
                   "jitterr": 0.1}}, "unknown feature"),
    ({"features": {"agent_talk_ratio": "high", "interruption_count": 1,
                   "sentiment_score": 0.5}}, "expected a number"),
    ({"features": {"agent_talk_ratio": True, "interruption_count": 1,
                   "sentiment_score": 0.5}}, ""),
    ({"call_id": "c001", "model": "other"}, "extra"),
    ({}, "call_id, features, or both"),
    ({"call_id": ""}, "at least 1 character"),
])
def test_invalid_requests_are_refused_with_422_and_not_logged(
        served: dict[str, Any], body: dict[str, Any], where: str) -> None:
    c = served["client"]
    before = _n_logged(served["backend"])
    r = c.post("/predict", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert where in json.dumps(r.json())
    assert _n_logged(served["backend"]) == before


def test_non_finite_numbers_and_bad_json_are_refused(served: dict[str, Any]) -> None:
    c = served["client"]
    nan_body = b'{"features": {"agent_talk_ratio": NaN, "interruption_count": 1, ' \
        b'"sentiment_score": 0.5}}'
    r = c.post("/predict", content=nan_body,
               headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and "finite" in r.text
    r = c.post("/predict", content=b"{not json", headers={**AUTH,
                                                          "content-type": "application/json"})
    assert r.status_code == 422
    # null means missing: valid, but this model (unlike XGBoost) cannot score without it
    before = _n_logged(served["backend"])
    r = c.post("/predict", json={"features": {"agent_talk_ratio": None, "interruption_count": 1,
                                              "sentiment_score": 0.5}}, headers=AUTH)
    assert r.status_code == 422 and "missing: ['agent_talk_ratio']" in r.text
    assert _n_logged(served["backend"]) == before


def test_request_body_limit(served: dict[str, Any]) -> None:
    c = served["client"]
    big = {"call_id": "c001", "features": {f"f{i}": 0.0 for i in range(400)}}
    r = c.post("/predict", json=big, headers=AUTH)
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"call_id": "c001", "features": {'
        for i in range(600):
            yield f'"f{i}": 0.0, '.encode()
        yield b'"g": 0}}'

    r = c.post("/predict", content=chunks(), headers={**AUTH,
                                                      "content-type": "application/json"})
    assert r.status_code == 413
    assert c.get("/health").status_code == 200  # the server is fine


def test_batch_predictions(served: dict[str, Any]) -> None:
    c, merged = served["client"], served["merged"]
    ids = CALLS[5:8]
    r = c.post("/predict/batch", json={"instances": [{"call_id": i} for i in ids]},
               headers=AUTH)
    assert r.status_code == 200, r.text
    got = [p["score"] for p in r.json()["predictions"]]
    want = V1.predict_proba(merged.set_index("call_id").loc[ids, FEATS].reset_index())
    np.testing.assert_allclose(got, want)
    assert len({p["prediction_id"] for p in r.json()["predictions"]}) == 3
    r = c.post("/predict/batch", json={"instances": [{"call_id": i} for i in CALLS[:6]]},
               headers=AUTH)
    assert r.status_code == 422 and "at most 5" in r.text
    r = c.post("/predict/batch", json={"instances": [{"call_id": CALLS[0]},
                                                     {"features": {"x": 1}}]}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:3] == ["body", "instances", 1]


def test_hot_swap_follows_the_alias_without_dropping_requests(tmp_path: Path) -> None:
    backend = cq.connect("local", path=tmp_path / "store")
    merged = _fill_store(backend)
    app = create_app(backend, "cq@PRODUCTION", token=TOKEN, poll_interval_s=0.1)
    results: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            i = 0
            while not stop.is_set():
                r = client.post("/predict", json={"call_id": CALLS[i % len(CALLS)]},
                                headers=AUTH)
                results.append((r.status_code, r.json()))
                i += 1

    with BackgroundServer(app) as server:
        threads = [threading.Thread(target=hammer, args=(server.url,)) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        v2 = backend.registry.log_model(V2, model_name="cq")
        backend.registry.unset_alias("cq", "PRODUCTION")
        backend.registry.set_alias("cq", v2.version, "PRODUCTION")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                b.get("model_version") == "V2" for _, b in results[-20:]):
            time.sleep(0.05)
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
        health = httpx.get(f"{server.url}/health").json()
    assert health["version"] == "V2" and health["swaps"] == 1
    assert results and all(code == 200 for code, _ in results), \
        [r for r in results if r[0] != 200][:3]
    versions = [b["model_version"] for _, b in results]
    assert "V1" in versions and "V2" in versions
    stored = merged.set_index("call_id")
    for _, b in results:  # each answer is consistent with the version it names
        model = V1 if b["model_version"] == "V1" else V2
        want = _expected(model, stored.loc[b["call_id"], FEATS].to_dict())
        assert b["score"] == pytest.approx(want)
    log = backend.predictions.read(model_name="cq")
    assert len(log) == len(results)  # every prediction was logged
    by_id = log.set_index("prediction_id")["model_version"]
    assert all(by_id[b["prediction_id"]] == b["model_version"] for _, b in results)
    backend.close()


def test_failed_reload_keeps_serving_and_reports_degraded(tmp_path: Path) -> None:
    backend = cq.connect("local", path=tmp_path / "store")
    _fill_store(backend)
    app = create_app(backend, "cq@PRODUCTION", token=None, poll_interval_s=0.05)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as c:
        backend.registry.unset_alias("cq", "PRODUCTION")
        deadline = time.monotonic() + 10
        while c.get("/health").json()["status"] != "degraded" and time.monotonic() < deadline:
            time.sleep(0.05)
        health = c.get("/health").json()
        assert health["status"] == "degraded" and "PRODUCTION" in health["last_error"]
        r = c.post("/predict", json={"call_id": CALLS[0]})  # token=None: auth disabled
        assert r.status_code == 200 and r.json()["model_version"] == "V1"
    backend.close()


class _FailingLog:
    """A prediction log whose writes fail (a full disk, a lost connection)."""

    def log_predictions(self, df: pd.DataFrame) -> int:
        raise BackendError("log_predictions: disk full")


class _Backend:
    def __init__(self, inner: Any) -> None:
        self.registry = inner.registry
        self.feature_store = inner.feature_store
        self.predictions = _FailingLog()


def test_a_prediction_that_cannot_be_logged_is_not_returned(tmp_path: Path) -> None:
    inner = cq.connect("local", path=tmp_path / "store")
    _fill_store(inner)
    app = create_app(_Backend(inner), "cq@PRODUCTION", token=TOKEN, poll_interval_s=60)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as c:
        r = c.post("/predict", json={"call_id": CALLS[0]}, headers=AUTH)
    assert r.status_code == 503
    assert "could not be logged" in r.json()["detail"] and "disk full" in r.json()["detail"]
    inner.close()


def test_create_app_refuses_bad_settings(tmp_path: Path) -> None:
    from callquality.exceptions import ConfigurationError, NotFoundError

    with cq.connect("local", path=tmp_path / "store") as backend:
        _fill_store(backend)
        with pytest.raises(ConfigurationError, match="token is empty"):
            create_app(backend, "cq@PRODUCTION", token=" ")
        with pytest.raises(ConfigurationError, match="max_body_bytes"):
            create_app(backend, "cq@PRODUCTION", token=TOKEN, max_body_bytes=0)
        with pytest.raises(NotFoundError, match="STAGING"):
            create_app(backend, "cq@STAGING", token=TOKEN)
