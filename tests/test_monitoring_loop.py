"""The retraining loop: idempotence, resumption, champion/challenger selection, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality import training as cqt
from callquality.cli import main as cli_main
from callquality.exceptions import ConfigurationError, ConflictError, MonitoringError
from callquality.monitoring import AlertRule, Monitor, read_alerts
from callquality.monitoring import retraining as rt
from callquality.monitoring.retraining import (
    STEPS,
    Candidate,
    RetrainingPolicy,
    loop_state,
    process_period,
    select_champion,
    set_baseline,
)
from callquality.testing import FakeModel

MODEL = "cq"


def _concept(n: int, which: str, seed: int, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features x1, x2 ~ N(0, 1); label = x1 > 0 (concept "A") or x2 > 0 (concept "B")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    feats = pd.DataFrame({"call_id": [f"{prefix}{i:04d}" for i in range(n)],
                          "agent_id": [f"a{i % 5}" for i in range(n)],
                          "processed_at": pd.Timestamp("2025-01-01", tz="UTC"),
                          "x1": x[:, 0], "x2": x[:, 1]})
    y = (x[:, 0] > 0) if which == "A" else (x[:, 1] > 0)
    return feats, pd.DataFrame({"call_id": feats["call_id"], "label": y.astype(np.int64)})


class StubTrainer:
    """Returns a fixed FakeModel and records the table it was given."""

    def __init__(self, model: FakeModel) -> None:
        self.model = model
        self.seen: list[pd.DataFrame] = []

    def fit(self, df: pd.DataFrame, *, label: str, features: list[str]) -> FakeModel:
        self.seen.append(df.copy())
        return self.model


@pytest.fixture()
def backend() -> Any:
    """V1 (base) is right on concept A; V2 (PRODUCTION) on concept B."""
    b = cq.connect("local")
    v1 = b.registry.log_model(FakeModel({"x1": 8.0, "x2": 0.0}), model_name=MODEL)
    v2 = b.registry.log_model(FakeModel({"x1": 0.0, "x2": 8.0}), model_name=MODEL)
    b.registry.set_alias(MODEL, v2.version, "PRODUCTION")
    feats, out = _concept(200, "B", 0, "ref")
    set_baseline(b, MODEL, v1.version, feats.merge(out, on="call_id"), label="label")
    set_baseline(b, MODEL, v2.version, feats.merge(out, on="call_id"), label="label")
    yield b
    b.close()


def _run(b: Any, period: str, feats: pd.DataFrame, out: pd.DataFrame, **kw: Any
         ) -> rt.PeriodReport:
    kw.setdefault("trainer", StubTrainer(FakeModel({"x1": 3.0, "x2": 3.0})))
    kw.setdefault("policy", RetrainingPolicy(min_labeled=20))
    return process_period(b, period, features=feats, outcomes=out, model_name=MODEL,
                          label="label", **kw)


def _counts(b: Any) -> tuple[int, int, int, int]:
    log = b.predictions.read(model_name=MODEL)
    return (len(log), int(log["actual"].notna().sum()), len(b.registry.versions(MODEL)),
            len(read_alerts(b)))


def test_select_champion_known_answers() -> None:
    def c(role: str, f1: float, v: str = "") -> Candidate:
        return Candidate(role, v or role.upper(), {"f1": f1})

    assert select_champion([c("champion", .5), c("challenger", .7), c("base", .6)]).role == \
        "challenger"
    assert select_champion([c("champion", .5), c("challenger", .55), c("base", .8)]).role == \
        "base"
    # ties keep the champion; a tie between challenger and base goes to the challenger
    assert select_champion([c("champion", .7), c("challenger", .7)]).role == "champion"
    assert select_champion([c("champion", .5), c("challenger", .7), c("base", .7)]).role == \
        "challenger"
    # the margin
    assert select_champion([c("champion", .70), c("challenger", .72)],
                           min_improvement=0.05).role == "champion"
    assert select_champion([c("champion", .70), c("challenger", .76)],
                           min_improvement=0.05).role == "challenger"
    # missing metrics never win
    assert select_champion([c("champion", .4), c("challenger", float("nan"))]).role == \
        "champion"
    assert select_champion([c("champion", float("nan")), c("challenger", .1)]).role == \
        "challenger"
    with pytest.raises(ConfigurationError):
        select_champion([])


def test_select_champion_floors() -> None:
    """Ranked by ROC AUC, a candidate whose F1 is below the floor is passed over."""
    def c(role: str, auc: float, f1: float) -> Candidate:
        return Candidate(role, role.upper(), {"roc_auc": auc, "f1": f1})

    cands = [c("champion", .90, .80), c("challenger", .99, .00), c("base", .95, .70)]
    assert select_champion(cands, metric="roc_auc").role == "challenger"
    assert select_champion(cands, metric="roc_auc", floors={"f1": .6}).role == "base"
    assert select_champion(cands, metric="roc_auc", floors={"f1": .75}).role == "champion"
    # a missing floor metric makes a candidate ineligible too
    assert select_champion([c("champion", .5, .5), Candidate("challenger", "X", {"roc_auc": 1})],
                           metric="roc_auc", floors={"f1": .1}).role == "champion"


def test_promotion_needs_usable_decisions(backend: Any) -> None:
    """A challenger that ranks the calls perfectly (ROC AUC 1) but whose threshold predicts
    no positive at all (F1 0) does not replace a champion that still works."""
    feats, out = _concept(160, "B", 12, "p12-")
    out["label"] = ((feats["x2"] > 0) & (feats["x1"] > -1)).astype(np.int64)  # F1 ~0.9 for V2
    never = FakeModel({"x1": 1.0, "x2": 8.0}, threshold=1.0)  # right order, never positive
    pol = RetrainingPolicy(min_labeled=20, drift_threshold=0.0, selection_metric="roc_auc",
                           f1_threshold=0.6)
    r = _run(backend, "2025-02-12", feats, out, trainer=StubTrainer(never), policy=pol)
    cands = {c["role"]: c["metrics"] for c in r.results["promote"]["candidates"]}
    assert r.retrained and cands["challenger"]["f1"] == 0.0
    assert cands["challenger"]["roc_auc"] > cands["champion"]["roc_auc"]
    assert cands["champion"]["f1"] >= 0.6
    assert not r.promoted and r.champion_after == "V2"
    assert "F1 >= 0.6" in r.summary()


def test_accumulate_trains_on_earlier_periods_too(backend: Any) -> None:
    """With ``accumulate``, the challenger's pool holds the reference, every period labeled
    before this one (all of its calls) and this period's training part; without, the
    earlier periods are left out."""
    trainer = StubTrainer(FakeModel({"x1": 3.0, "x2": 3.0}))
    f1, o1 = _concept(80, "B", 20, "q1-")
    _run(backend, "2025-02-20", f1, o1, trainer=trainer,          # stable: no training
         policy=RetrainingPolicy(min_labeled=20, drift_threshold=10.0))
    assert trainer.seen == []
    f2, o2 = _concept(100, "A", 21, "q2-")
    pol = RetrainingPolicy(min_labeled=20, accumulate=True)
    r = _run(backend, "2025-02-21", f2, o2, trainer=trainer, policy=pol)
    pool = trainer.seen[-1]
    split = rt.monitoring_store(backend, "t").read_table(MODEL, "2025-02-21", "split")
    n_train = int((split.part == "train").sum())
    assert len(pool) == 200 + 80 + n_train
    assert set(f1["call_id"]) <= set(pool["call_id"])
    assert not set(split.loc[split.part == "eval", "call_id"]) & set(pool["call_id"])
    assert r.results["train"]["earlier_periods"] == ["2025-02-20"]
    lineage = backend.registry.get_version(MODEL, r.challenger).lineage
    assert lineage["earlier_periods"] == ["2025-02-20"]
    assert "80 of 2025-02-20" in r.summary()
    # accumulate off (the default): the calls of 2025-02-21 held out for its comparison are
    # in no reference, so they do not reach the next pool
    held2 = set(split.loc[split.part == "eval", "call_id"])
    f3, o3 = _concept(100, "A", 22, "q3-")
    r3 = _run(backend, "2025-02-22", f3, o3, trainer=trainer,
              policy=RetrainingPolicy(min_labeled=20, drift_threshold=0.0))
    assert r3.retrained and not held2 & set(trainer.seen[-1]["call_id"])
    assert r3.results["train"]["earlier_periods"] == []


def test_accumulate_reads_only_the_newest_periods_that_fill_the_cap(backend: Any) -> None:
    trainer = StubTrainer(FakeModel({"x1": 3.0, "x2": 3.0}))
    calm = RetrainingPolicy(min_labeled=20, drift_threshold=10.0)
    for k, period in enumerate(("2025-02-23", "2025-02-24")):
        f, o = _concept(60, "B", 30 + k, f"c{k}-")
        _run(backend, period, f, o, trainer=trainer, policy=calm)
    f, o = _concept(100, "A", 32, "c2-")
    capped = RetrainingPolicy(min_labeled=20, accumulate=True, max_training_rows=50)
    r = _run(backend, "2025-02-25", f, o, trainer=trainer, policy=capped)
    assert r.results["train"]["earlier_periods"] == ["2025-02-24"]
    assert len(trainer.seen[-1]) == 50
    with pytest.raises(ConfigurationError, match="promote_min_f1"):
        RetrainingPolicy(promote_min_f1=1.5)


def test_stable_period_keeps_the_champion(backend: Any) -> None:
    feats, out = _concept(120, "B", 1, "p1-")
    trainer = StubTrainer(FakeModel({"x1": 1.0}))
    r = _run(backend, "2025-02-01", feats, out, trainer=trainer)
    assert r.champion_before == r.champion_after == "V2"
    assert not r.retrained and not r.promoted and trainer.seen == []
    assert r.results["evaluate"]["champion_metrics"]["f1"] > 0.9
    assert abs(r.results["evaluate"]["max_drift"]) < 0.25
    log = backend.predictions.read(model_name=MODEL)
    assert len(log) == 120 and log["actual"].notna().all()
    assert set(log["model_version"]) == {"V2"} and "x1" in log.columns  # features logged
    assert str(log["predicted_at"].iloc[0]) == "2025-02-01 23:59:59+00:00"


def test_concept_shift_rolls_back_to_the_base_model(backend: Any) -> None:
    """PRODUCTION (V2) is right on concept B; the period is concept A, where the base model
    (V1) is perfect and the challenger mediocre: the base must win."""
    feats, out = _concept(160, "A", 2, "p2-")
    trainer = StubTrainer(FakeModel({"x1": 3.0, "x2": 3.0}))
    r = _run(backend, "2025-02-02", feats, out, trainer=trainer)
    assert r.retrained and r.promoted and r.champion_after == "V1"
    roles = {c["role"]: c["metrics"]["f1"] for c in r.results["promote"]["candidates"]}
    assert roles["base"] == pytest.approx(1.0) and roles["challenger"] < 1.0
    assert roles["champion"] < 0.7
    assert backend.registry.get_version(MODEL, "PRODUCTION").version == "V1"
    # the challenger trained on the reference pool plus the recent *training* part only
    pool = trainer.seen[0]
    split = rt.monitoring_store(backend, "t").read_table(MODEL, "2025-02-02", "split")
    held_out = set(split.loc[split.part == "eval", "call_id"])
    assert held_out and not held_out & set(pool["call_id"])
    assert len(pool) == 200 + (split.part == "train").sum()


def test_concept_shift_promotes_a_better_challenger(backend: Any) -> None:
    feats, out = _concept(160, "A", 3, "p3-")
    trainer = StubTrainer(FakeModel({"x1": 8.0, "x2": 0.5}))
    r = _run(backend, "2025-02-03", feats, out, trainer=trainer,
             base_alias="NO_SUCH_ALIAS")  # base = first version (V1)
    # challenger and base are both near-perfect: the higher F1 wins, ties go to the challenger
    cands = {c["role"]: c["metrics"]["f1"] for c in r.results["promote"]["candidates"]}
    best = max(cands, key=lambda k: (cands[k], k == "challenger"))
    assert r.results["promote"]["winner_role"] == best
    assert r.challenger == "P_2025_02_03"


def test_rerunning_a_period_duplicates_nothing(backend: Any) -> None:
    feats, out = _concept(160, "A", 4, "p4-")
    rules = [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.8, min_count=10)]
    sent: list[Any] = []
    first = _run(backend, "2025-02-04", feats, out, alert_rules=rules, sinks=[sent.append])
    assert first.retrained and len(first.alerts) == 1 and len(sent) == 1
    before = _counts(backend)
    again = _run(backend, "2025-02-04", feats, out, alert_rules=rules, sinks=[sent.append])
    assert not again.ran_anything
    assert set(again.steps.values()) == {"skipped (done before)"}
    assert again.champion_after == first.champion_after
    assert again.summary() == first.summary()
    assert _counts(backend) == before and len(sent) == 1
    states = loop_state(backend, MODEL, "2025-02-04")
    assert list(states["step"]) == list(STEPS) and (states["attempts"] == 1).all()
    # the same period with other calls is refused
    other_f, other_o = _concept(50, "A", 5, "zz-")
    with pytest.raises(MonitoringError, match="processed with other calls"):
        _run(backend, "2025-02-04", other_f, other_o)


@pytest.mark.parametrize("step", ["extract", "serve", "actuals", "alerts", "train", "promote",
                                  "score"])
def test_a_failed_step_resumes_without_duplicates(backend: Any, monkeypatch: pytest.MonkeyPatch,
                                                  step: str) -> None:
    """The failure strikes after the step's side effects, before it is marked done."""
    feats, out = _concept(160, "A", 6, "p6-")
    rules = [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.8)]
    reference = cq.connect("local")
    for info in backend.registry.versions(MODEL):
        reference.registry.log_model(backend.registry.load_model(f"{MODEL}/{info.version}"),
                                     model_name=MODEL)
    reference.registry.set_alias(MODEL, "V2", "PRODUCTION")
    for v in ("V1", "V2"):
        set_baseline(reference, MODEL, v,
                     rt.monitoring_store(backend, "t").load_baseline(MODEL, v), label="label")
    clean = _run(reference, "2025-02-06", feats, out, alert_rules=rules)

    def boom(point: str) -> None:
        if point == f"{step}:end":
            raise RuntimeError(f"injected failure in {step}")

    monkeypatch.setattr(rt, "fault", boom)
    with pytest.raises(MonitoringError, match=f"step '{step}' failed: RuntimeError"):
        _run(backend, "2025-02-06", feats, out, alert_rules=rules)
    state = loop_state(backend, MODEL, "2025-02-06").set_index("step")
    assert state.loc[step, "status"] == "failed" and "injected" in state.loc[step, "error"]
    assert all(state.loc[s, "status"] == "done" for s in STEPS[:STEPS.index(step)])
    monkeypatch.setattr(rt, "fault", lambda point: None)
    resumed = _run(backend, "2025-02-06", feats, out, alert_rules=rules)
    assert all(resumed.steps[s] == "skipped (done before)" for s in STEPS[:STEPS.index(step)])
    assert resumed.steps[step] == "ran"
    state = loop_state(backend, MODEL, "2025-02-06").set_index("step")
    assert (state["status"] == "done").all() and state.loc[step, "attempts"] == 2
    # the same end state as a run that never failed
    assert _counts(backend) == _counts(reference)
    assert resumed.champion_after == clean.champion_after
    reference.close()


def test_a_live_lease_blocks_a_second_run(backend: Any) -> None:
    feats, out = _concept(60, "B", 7, "p7-")
    store = rt.monitoring_store(backend, "t")
    store.acquire_lease(MODEL, "2025-02-07", "another-host:1", ttl_s=600)
    with pytest.raises(ConflictError, match="being processed by another-host:1"):
        _run(backend, "2025-02-07", feats, out)
    store.acquire_lease(MODEL, "2025-02-07", "another-host:1", ttl_s=-1)  # expired
    assert _run(backend, "2025-02-07", feats, out).champion_after == "V2"


def test_missing_production_is_a_clear_error() -> None:
    with cq.connect("local") as b:
        b.registry.log_model(FakeModel({"x1": 1.0}), model_name=MODEL)
        feats, out = _concept(30, "A", 8, "p8-")
        with pytest.raises(MonitoringError, match="no PRODUCTION version"):
            _run(b, "2025-02-08", feats, out)


def test_xgboost_challenger_wins_after_concept_drift() -> None:
    """End to end with the real trainer on synthetic calls: a new concept drops F1, the
    alert fires, the challenger beats the champion on the held-out recent calls."""
    groups = ("acoustic", "interaction")
    f, o = cqt.make_synthetic_calls(700, groups=groups, seed=0)
    g, p = cqt.make_synthetic_calls(300, groups=groups, seed=11)
    f = f.sample(frac=1, random_state=0).reset_index(drop=True)
    g["call_id"] = "new-" + g["call_id"]
    p["call_id"] = "new-" + p["call_id"]
    trainer = cqt.XGBTrainer(n_estimators=40, cv_folds=3)
    with cq.connect("local") as b:
        init = f.iloc[:400].merge(o, on="call_id")
        feats = cq.feature_names(groups)
        info = b.registry.log_model(trainer.fit(init, label="resolved", features=feats),
                                    model_name=MODEL)
        b.registry.set_alias(MODEL, info.version, "PRODUCTION")
        set_baseline(b, MODEL, info.version, init, label="resolved")
        rules = [AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, min_count=50),
                 AlertRule("drift", metric="drift:max", comparator=">", threshold=0.25)]
        kw: dict[str, Any] = {"model_name": MODEL, "label": "resolved", "trainer": trainer,
                              "alert_rules": rules}
        calm = process_period(b, "2025-03-01", features=f.iloc[400:], outcomes=o, **kw)
        assert not calm.retrained and calm.alerts == []
        drifted = process_period(b, "2025-03-02", features=g, outcomes=p, **kw)
        assert drifted.retrained and drifted.promoted
        assert drifted.champion_after == "P_2025_03_02"
        assert {a.split(":")[0] for a in drifted.alerts} == {"[warning] f1_low",
                                                              "[warning] drift"}
        cands = {c["role"]: c["metrics"] for c in drifted.results["promote"]["candidates"]}
        assert cands["challenger"]["f1"] > cands["champion"]["f1"] + 0.1
        # the new champion's monitor only counts calls it was not trained on
        m = Monitor(b, MODEL, "PRODUCTION").metrics()
        n_train = drifted.results["train"]["n_recent"]
        assert int(m["n_actual"].sum()) == 300 - n_train
        # its reference for the next period is its own training pool
        assert rt.monitoring_store(b, "t").load_baseline(MODEL, "P_2025_03_02") is not None


def test_cli_run_period_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    feats, out = _concept(80, "B", 9, "c-")
    feats.to_parquet(tmp_path / "f.parquet")
    out.to_parquet(tmp_path / "o.parquet")
    args = ["run-period", "--store", str(store), "--period", "2025-04-01", "--features",
            str(tmp_path / "f.parquet"), "--outcomes", str(tmp_path / "o.parquet"),
            "--model-name", MODEL, "--label", "label", "--quiet"]
    assert cli_main(args) == 1  # no model registered yet: a step fails
    assert "no PRODUCTION version" in capsys.readouterr().err
    with cq.connect("local", path=store) as b:
        v = b.registry.log_model(FakeModel({"x2": 8.0}), model_name=MODEL)
        b.registry.set_alias(MODEL, v.version, "PRODUCTION")
    assert cli_main(args) == 0  # resumes at the failed step
    assert cli_main([*args[:-1], "--json"]) == 0  # nothing left to do
    doc = json.loads(capsys.readouterr().out)
    assert doc["champion_after"] == "V1" and set(doc["steps"].values()) == {
        "skipped (done before)"}
    # the policy options reach the loop
    other = [a if a != "2025-04-01" else "2025-04-03" for a in args[:-1]]
    assert cli_main([*other, "--json", "--accumulate", "--selection-metric", "roc_auc"]) == 0
    policy = json.loads(capsys.readouterr().out)["results"]["evaluate"]["policy"]
    assert policy["accumulate"] is True and policy["selection_metric"] == "roc_auc"
    assert cli_main(["run-period", "--store", str(store), "--period", "x"]) == 2
    assert cli_main([*args[:-1], "--alert", "bad"]) == 2
    with cq.connect("local", path=store) as b:
        b.monitoring_store.acquire_lease(MODEL, "2025-04-02", "elsewhere:1", 600)
    assert cli_main([a if a != "2025-04-01" else "2025-04-02" for a in args]) == 75


def test_baselines_round_trip_with_categoricals_and_their_label(backend: Any) -> None:
    df = pd.DataFrame({"call_id": ["a", "b"], "x1": [0.5, -1.0],
                       "dominant_emotion": pd.Categorical(["angry", "calm"]),
                       "label": [1, 0]})
    set_baseline(backend, MODEL, "V1", df, label="label")
    back = rt.monitoring_store(backend, "t").load_baseline(MODEL, "v1")
    assert back is not None and back.attrs["label"] == "label"
    assert list(back["dominant_emotion"].astype(str)) == ["angry", "calm"]
    pd.testing.assert_series_equal(back["x1"], df["x1"])
    # a monitor never treats the stored label as a feature
    assert "label" not in Monitor(backend, MODEL, "V1").drift_features()
    with pytest.raises(Exception, match="label column 'y'"):
        set_baseline(backend, MODEL, "V1", df, label="y")


def test_without_a_baseline_drift_is_skipped_and_the_challenger_trains_on_recent_calls() -> None:
    with cq.connect("local") as b:
        v = b.registry.log_model(FakeModel({"x2": 8.0}), model_name=MODEL)
        b.registry.set_alias(MODEL, v.version, "PRODUCTION")
        feats, out = _concept(80, "A", 10, "nb-")
        trainer = StubTrainer(FakeModel({"x1": 8.0}))
        r = _run(b, "2025-02-10", feats, out, trainer=trainer)
        assert r.results["evaluate"]["max_drift"] is None
        assert any("no reference stored for V1" in x for x in r.reasons)
        assert r.retrained and r.promoted and r.champion_after == "P_2025_02_10"
        split = rt.monitoring_store(b, "t").read_table(MODEL, "2025-02-10", "split")
        assert sorted(trainer.seen[0]["call_id"]) == sorted(
            split.loc[split.part == "train", "call_id"])
        assert "promoted: challenger has the best f1" in r.summary()
