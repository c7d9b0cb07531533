"""The quickstart's four experiments, tracked, on one leak-free split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callquality.exceptions import ConfigurationError, SchemaError
from callquality.schema import feature_names
from callquality.training import (
    QUICKSTART_EXPERIMENTS,
    CallQualityModel,
    Experiment,
    LocalExperimentTracker,
    TrainingDataset,
    XGBTrainer,
    build_dataset,
    make_synthetic_calls,
    run_experiments,
    split,
)

FAST = XGBTrainer(n_estimators=30, cv_folds=3)


@pytest.fixture(scope="module")
def ds() -> TrainingDataset:
    return build_dataset(*make_synthetic_calls(600, n_agents=30, class_sep=0.6, seed=8),
                         label="resolved")


def test_quickstart_feature_sets() -> None:
    exps = {e.name: e for e in QUICKSTART_EXPERIMENTS}
    assert list(exps) == ["all_features", "acoustic_interaction",
                          "emotion_sentiment_content_interaction", "all_features_smote"]
    every = feature_names()
    assert exps["all_features"].resolve_features(every) == (every, [])
    acoustic_interaction, _ = exps["acoustic_interaction"].resolve_features(every)
    assert acoustic_interaction == feature_names(("acoustic", "interaction"))
    esci, _ = exps["emotion_sentiment_content_interaction"].resolve_features(every)
    assert {"sentiment_label", "sentiment_score", "dominant_emotion", "word_count",
            "agent_talk_ratio"} <= set(esci)
    assert not set(esci) & set(feature_names("acoustic"))
    assert exps["all_features_smote"].resampling == "smote"
    # a dataset without some group columns: the rest is used, the gap recorded
    partial = [*feature_names("acoustic"), "interruption_count"]
    got, missing = exps["acoustic_interaction"].resolve_features(partial)
    assert got == partial and "agent_talk_ratio" in missing
    with pytest.raises(SchemaError, match="none of its features"):
        exps["emotion_sentiment_content_interaction"].resolve_features(feature_names("acoustic"))
    with pytest.raises(ConfigurationError, match="unknown group"):
        Experiment("x", groups=("acoustics",))


def test_run_quickstart_experiments(ds: TrainingDataset, tmp_path: Path) -> None:
    tracker = LocalExperimentTracker(tmp_path / "tracking")
    s = split(ds, test_size=0.25, holdout_size=0.1, seed=0)
    res = run_experiments(ds, data_split=s, trainer=FAST, tracker=tracker,
                          experiment_name="cq-test")
    table = res.table()
    assert table["status"].tolist() == ["FINISHED"] * 4, table["error"].tolist()
    for m in ("accuracy", "precision", "recall", "f1"):
        assert {f"test_{m}_default", f"test_{m}_tuned"} <= set(table.columns)
    assert {"test_roc_auc", "test_pr_auc", "test_brier", "threshold", "cv_f1_tuned"} <= set(
        table.columns)
    assert table.set_index("experiment").loc["all_features", "n_features"] == len(ds.features)
    for r in res:
        assert r.test_default is not None and r.test_tuned is not None
        assert r.test_default.threshold == 0.5 and r.test_tuned.threshold == r.threshold
        assert r.test_tuned.n == len(s.test)  # evaluated once, on the test rows only
        assert r.trainer is not None and len(r.trainer.oof_proba_) == len(s.train)
    smote = res["all_features_smote"].trainer
    assert smote is not None and smote.fit_sizes_[-1] > len(s.train)
    # the signal is found: every experiment beats the majority baseline on ROC AUC and F1
    assert (table["test_roc_auc"] > 0.75).all()
    best = res.best("test_pr_auc")
    assert best.name in {"all_features", "all_features_smote",
                         "emotion_sentiment_content_interaction"}

    runs = tracker.runs("cq-test")
    assert len(runs) == 4 and (runs["status"] == "FINISHED").all()
    assert (runs["params.dataset_snapshot_id"] == ds.snapshot_id).all()
    assert (runs["params.n_holdout"] == str(len(s.holdout))).all()
    row = runs.set_index("tags.feature_set").loc["all_features"]
    assert row["metrics.threshold"] == pytest.approx(res["all_features"].threshold)
    assert row["metrics.test_f1_tuned"] == pytest.approx(table.loc[0, "test_f1_tuned"])
    # the logged model artifact loads and predicts like the in-memory one
    run_name = res["all_features"].run_name
    assert "model/manifest.json" in tracker.list_artifacts(run_name)
    loaded = CallQualityModel.load(tracker.artifact_dir(run_name) / "model")
    test = ds.frame.iloc[s.test]
    np.testing.assert_array_equal(loaded.predict_proba(test), res["all_features"].test_proba)
    lineage = loaded.metadata["lineage"]
    assert lineage["dataset_snapshot_id"] == ds.snapshot_id
    assert lineage["run_name"] == run_name and lineage["split"]["n_test"] == len(s.test)


def test_failures_are_recorded_and_the_batch_goes_on(ds: TrainingDataset) -> None:
    tracker = LocalExperimentTracker()
    exps = [Experiment("bad", features=("no_such_feature",)),
            Experiment("good", groups=("interaction",))]
    res = run_experiments(ds, exps, trainer=FAST, tracker=tracker, log_models=False)
    assert res["bad"].status == "FAILED" and "no_such_feature" in str(res["bad"].error)
    assert res["good"].status == "FINISHED"
    runs = tracker.runs().set_index("run_name")
    assert runs.loc[res["bad"].run_name, "status"] == "FAILED"
    assert "SchemaError" in runs.loc[res["bad"].run_name, "tags.error"]
    with pytest.raises(SchemaError):
        run_experiments(ds, exps, trainer=FAST, log_models=False, raise_on_error=True)


def test_run_experiments_is_deterministic(ds: TrainingDataset) -> None:
    exps = [Experiment("ai", groups=("acoustic", "interaction"))]
    a, b = (run_experiments(ds, exps, trainer=FAST, seed=3, log_models=False)
            for _ in range(2))
    cols = ["threshold", "test_roc_auc", "test_f1_tuned", "cv_pr_auc"]
    assert a.table()[cols].equals(b.table()[cols])
    np.testing.assert_array_equal(a.split.test, b.split.test)
