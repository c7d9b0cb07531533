"""Monitor windows and segments, alert rules, de-duplication, sinks, read_alerts."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

import callquality as cq
from callquality.exceptions import ConfigurationError, MonitoringError
from callquality.monitoring import (
    AlertRule,
    EmailSink,
    LogSink,
    Monitor,
    WebhookSink,
    drift_table,
    evaluate_alerts,
    read_alerts,
)
from callquality.testing import FakeModel

DAY0 = pd.Timestamp("2025-03-01", tz="UTC")


def _log(backend: Any, *, days: int = 3, n: int = 150, bad_day: int | None = 2,
         seed: int = 0) -> pd.DataFrame:
    """``n`` predictions a day: good ones, except on ``bad_day`` (class flipped, shifted
    feature)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        actual = rng.integers(0, 2, n)
        score = np.clip(actual * 0.6 + rng.random(n) * 0.4, 0, 1)
        jitter = rng.normal(0.01, 0.002, n)
        if d == bad_day:
            score = 1 - score
            jitter = jitter + 0.01
        for i in range(n):
            rows.append({"prediction_id": f"p{d}-{i}", "call_id": f"c{d}-{i}",
                         "model_name": "cq", "model_version": "V1", "threshold": 0.5,
                         "score": score[i], "predicted_class": int(score[i] >= 0.5),
                         "predicted_at": DAY0 + pd.Timedelta(days=d, seconds=10 * i),
                         "agent_id": f"a{i % 2}", "jitter": jitter[i], "actual": int(actual[i])})
    df = pd.DataFrame(rows)
    backend.predictions.log_predictions(df.drop(columns=["actual"]))
    backend.predictions.log_actuals(df[["prediction_id", "actual"]].iloc[: len(df) - 5])
    return df


@pytest.fixture()
def backend() -> Any:
    b = cq.connect("local")
    b.registry.log_model(FakeModel({"jitter": 1.0}), model_name="cq")
    yield b
    b.close()


def _baseline(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"jitter": rng.normal(0.01, 0.002, n), "score": rng.random(n)})


def test_metrics_per_window_equal_sklearn(backend: Any) -> None:
    df = _log(backend)
    mon = Monitor(backend, "cq", "V1", baseline=_baseline())
    m = mon.metrics()
    assert list(m.columns) == ["window_start", "window_end", "segment", "count", "n_actual",
                               "accuracy", "precision", "recall", "f1", "roc_auc",
                               "null_predictions", "null_actuals"]
    assert list(m["window_start"]) == [DAY0 + pd.Timedelta(days=d) for d in range(3)]
    assert list(m["count"]) == [150, 150, 150] and list(m["n_actual"]) == [150, 150, 145]
    assert list(m["null_actuals"]) == [0, 0, 5]
    for d in range(3):
        day = df.iloc[d * 150:(d + 1) * 150].iloc[: 145 if d == 2 else 150]
        y, p, s = day["actual"], day["predicted_class"], day["score"]
        row = m.iloc[d]
        assert row["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        assert row["precision"] == pytest.approx(precision_score(y, p, zero_division=0), abs=1e-12)
        assert row["recall"] == pytest.approx(recall_score(y, p), abs=1e-12)
        assert row["f1"] == pytest.approx(f1_score(y, p), abs=1e-12)
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m.iloc[2]["f1"] < 0.3 < 0.9 < m.iloc[0]["f1"]


def test_metrics_segments_empty_windows_and_ranges(backend: Any) -> None:
    _log(backend)
    mon = Monitor(backend, "cq")  # every version
    seg = mon.metrics(segment="agent_id")
    assert set(seg["segment"]) == {"a0", "a1"} and len(seg) == 6
    assert seg.groupby("window_start")["count"].sum().tolist() == [150, 150, 150]
    wide = mon.metrics(start=DAY0 - pd.Timedelta(days=1), end=DAY0 + pd.Timedelta(days=5))
    assert list(wide["count"]) == [0, 150, 150, 150, 0, 0]
    assert math.isnan(wide.iloc[0]["f1"])
    two = mon.metrics(window="2D")
    assert sorted(two["count"]) == [150, 300]  # 2-day windows aligned on the epoch
    with pytest.raises(MonitoringError, match="segment column 'team'"):
        mon.metrics(segment="team")
    with pytest.raises(ConfigurationError, match="window"):
        Monitor(backend, "cq", window="fortnight")


def test_drift_per_window_against_the_baseline(backend: Any) -> None:
    df = _log(backend)
    base = _baseline()
    mon = Monitor(backend, "cq", "V1", baseline=base)
    d = mon.drift()
    assert list(d.columns) == ["window_start", "window_end", "feature", "method", "value",
                               "n_reference", "n_current"]
    assert set(d["feature"]) == {"jitter", "score"}
    jit = d[d.feature == "jitter"].set_index("window_start")["value"]
    day2 = df.iloc[300:450]
    expected = drift_table(base, day2, features=["jitter"]).value.iloc[0]
    assert jit.loc[DAY0 + pd.Timedelta(days=2)] == pytest.approx(expected, abs=1e-12)
    assert jit.iloc[2] > 1.0 > 0.3 > jit.iloc[0]
    # first-N baseline: the first day's predictions against themselves drift ~0
    first = Monitor(backend, "cq", "V1", baseline=150).drift(method="ks")
    assert first[(first.feature == "jitter")]["value"].iloc[0] == pytest.approx(0.0, abs=1e-12)


def test_alert_fires_when_broken_and_not_otherwise(backend: Any) -> None:
    _log(backend)
    mon = Monitor(backend, "cq", "V1", baseline=_baseline())
    seen: list[Any] = []
    rules = [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, min_count=20),
             AlertRule("jitter_drift", metric="drift:jitter", comparator=">", threshold=0.25),
             AlertRule("volume", metric="count", comparator="<", threshold=10)]
    events = evaluate_alerts(mon, rules, sinks=[seen.append])
    assert sorted((e.rule, e.window_start) for e in events) == [
        ("f1_low", DAY0 + pd.Timedelta(days=2)), ("jitter_drift", DAY0 + pd.Timedelta(days=2))]
    assert [e.alert_id for e in seen] == [e.alert_id for e in events]  # exactly the new ones
    assert all(e.delivery == {"append": "ok"} for e in events)
    f1_event = next(e for e in events if e.rule == "f1_low")
    assert f1_event.n == 145 and f1_event.value < 0.6 and f1_event.version == "V1"
    assert "f1 = " in f1_event.message and "cq/V1" in f1_event.message


def test_min_count_keeps_thin_windows_quiet(backend: Any) -> None:
    _log(backend)
    mon = Monitor(backend, "cq", "V1", baseline=_baseline())
    rule = AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, min_count=146)
    assert evaluate_alerts(mon, [rule]) == []  # the bad day has 145 actuals


def test_reevaluating_a_window_fires_nothing_new(backend: Any) -> None:
    _log(backend)
    mon = Monitor(backend, "cq", "V1", baseline=_baseline())
    rules = [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6),
             AlertRule("any_drift", metric="drift:max", comparator=">", threshold=0.25)]
    sent: list[Any] = []
    first = evaluate_alerts(mon, rules, sinks=[sent.append])
    assert len(first) == 2
    again = evaluate_alerts(Monitor(backend, "cq", "V1", baseline=_baseline()), rules,
                            sinks=[sent.append])
    assert again == [] and len(sent) == 2
    stored = read_alerts(backend)
    assert len(stored) == 2
    assert stored.loc[stored.rule == "any_drift", "metric"].iloc[0] == "drift:max"
    # a new window that breaks the rule fires once
    later = pd.DataFrame({"prediction_id": [f"q{i}" for i in range(30)], "model_name": "cq",
                          "model_version": "V1", "score": 0.9, "predicted_class": 1,
                          "predicted_at": DAY0 + pd.Timedelta(days=7), "jitter": 0.05})
    backend.predictions.log_predictions(later)
    backend.predictions.log_actuals(pd.DataFrame({"prediction_id": later.prediction_id,
                                                  "actual": 0}))
    new = evaluate_alerts(mon, rules)
    assert {e.window_start for e in new} == {DAY0 + pd.Timedelta(days=7)} and len(new) == 2


def test_read_alerts_columns_filters_and_persistence(tmp_path: Path) -> None:
    with cq.connect("local", path=tmp_path / "store") as b:
        b.registry.log_model(FakeModel({"jitter": 1.0}), model_name="cq")
        _log(b)
        evaluate_alerts(Monitor(b, "cq", "V1", baseline=_baseline()),
                        [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6)])
    with cq.connect("local", path=tmp_path / "store") as b:
        df = read_alerts(b, model_name="CQ")
        assert list(df.columns[:12]) == ["alert_id", "rule", "metric", "window_start",
                                         "window_end", "value", "threshold", "comparator",
                                         "model_name", "version", "fired_at", "message"]
        assert len(df) == 1 and str(df.window_start.dt.tz) == "UTC"
        assert read_alerts(b, start=DAY0 + pd.Timedelta(days=3)).empty
        assert len(read_alerts(b, start=DAY0, end=DAY0 + pd.Timedelta(days=3))) == 1
        assert read_alerts(b, model_name="other").empty
        # the same window evaluated by another process fires nothing new
        assert evaluate_alerts(Monitor(b, "cq", "V1", baseline=_baseline()),
                               [AlertRule("f1_low", metric="f1", comparator="<",
                                          threshold=0.6)]) == []


def test_sinks_webhook_email_log_and_failures(backend: Any,
                                              caplog: pytest.LogCaptureFixture) -> None:
    _log(backend)
    posted: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200)

    hook = WebhookSink("https://hooks.example/alerts", client=httpx.Client(
        transport=httpx.MockTransport(handler)))
    sent: list[Any] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            self.host = host

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def starttls(self) -> None:
            pass

        def login(self, user: str, password: str) -> None:
            pass

        def send_message(self, msg: Any) -> None:
            sent.append(msg)

    mail = EmailSink("smtp.example", sender="cq@example", recipients=["ops@example"],
                     username="u", password="p", smtp_factory=FakeSMTP)

    def broken(event: Any) -> None:
        raise RuntimeError("pager down")

    rule = AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, severity="critical")
    with caplog.at_level(logging.WARNING, logger="callquality.alerts"):
        events = evaluate_alerts(Monitor(backend, "cq", "V1"), [rule],
                                 sinks=[broken, hook, mail, LogSink()])
    assert len(events) == 1
    e = events[0]
    assert len(posted) == 1 and posted[0]["alert_id"] == e.alert_id
    assert posted[0]["rule"] == "f1_low" and posted[0]["window_start"].startswith("2025-03-03")
    assert "f1_low" in sent[0]["Subject"] and sent[0]["To"] == "ops@example"
    assert e.delivery["webhook"] == "ok" and e.delivery["email"] == "ok"
    assert e.delivery["log"] == "ok" and e.delivery["broken"].startswith("error: RuntimeError")
    assert any("f1_low" in r.getMessage() for r in caplog.records)
    stored = read_alerts(backend)
    assert stored["delivery"].iloc[0]["broken"].startswith("error")


def test_webhook_error_status_raises_monitoring_error() -> None:
    hook = WebhookSink("https://hooks.example/x", retries=1, client=httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(503))))
    from callquality.monitoring import AlertEvent

    ev = AlertEvent("id1", "r", "f1", "<", 0.5, 0.1, DAY0, DAY0, "cq", "V1", DAY0, "msg")
    with pytest.raises(MonitoringError, match="not delivered after 2 attempt"):
        hook(ev)


def test_rule_validation() -> None:
    with pytest.raises(ConfigurationError, match="comparator"):
        AlertRule("r", metric="f1", comparator="=<", threshold=1)
    with pytest.raises(ConfigurationError, match="metric"):
        AlertRule("r", metric="lift", comparator="<", threshold=1)
    with pytest.raises(ConfigurationError, match="threshold"):
        AlertRule("r", metric="f1", comparator="<", threshold=float("nan"))
    with pytest.raises(ConfigurationError, match="duplicate rule names"):
        evaluate_alerts(Monitor.__new__(Monitor), [AlertRule("r", "f1", "<", 1)] * 2)


def test_window_metrics_with_tied_scores_equal_sklearn() -> None:
    from callquality.monitoring import window_metrics

    rng = np.random.default_rng(3)
    score = rng.integers(0, 4, 300) / 4.0  # heavy ties
    actual = (rng.random(300) < score * 0.8 + 0.1).astype(int)
    frame = pd.DataFrame({"score": score, "predicted_class": (score >= 0.5).astype(int),
                          "actual": pd.array(actual, dtype="Int64")})
    frame.loc[:9, "actual"] = pd.NA
    m = window_metrics(frame)
    y, s = actual[10:], score[10:]
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["n_actual"] == 290 and m["null_actuals"] == 10
    single = window_metrics(frame.assign(actual=pd.array([1] * 300, dtype="Int64")))
    assert math.isnan(single["roc_auc"]) and single["recall"] == pytest.approx(
        float(np.mean(score >= 0.5)))


def test_categorical_features_drift_from_logged_extras(backend: Any) -> None:
    rng = np.random.default_rng(4)
    n = 200
    preds = pd.DataFrame({"prediction_id": [f"e{i}" for i in range(n)], "model_name": "cq",
                          "model_version": "V1", "score": rng.random(n), "predicted_class": 0,
                          "predicted_at": DAY0,
                          "dominant_emotion": rng.choice(["angry", "calm"], n, p=[.8, .2]),
                          "jitter": rng.normal(0.01, 0.002, n)})
    backend.predictions.log_predictions(preds)
    base = _baseline().assign(
        dominant_emotion=pd.Categorical(rng.choice(["angry", "calm"], 300, p=[.2, .8])))
    d = Monitor(backend, "cq", "V1", baseline=base).drift().set_index("feature")
    expected = drift_table(base, preds, features=["dominant_emotion"]).value.iloc[0]
    assert d.loc["dominant_emotion", "value"] == pytest.approx(expected, abs=1e-12)
    assert d.loc["dominant_emotion", "value"] > 1.0


def test_plots_write_pngs(backend: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from callquality.monitoring.plots import plot_drift, plot_metrics

    _log(backend)
    mon = Monitor(backend, "cq", "V1", baseline=_baseline())
    a = plot_metrics(mon.metrics(), tmp_path / "r" / "metrics.png", thresholds={"f1": 0.6})
    b = plot_drift(mon.drift(), tmp_path / "r" / "drift.png", threshold=0.25)
    for p in (a, b):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(x.name for x in (tmp_path / "r").iterdir()) == ["drift.png", "metrics.png"]
