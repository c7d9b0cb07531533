"""XGBTrainer: protocol, errors, leak-freedom (threshold and SMOTE never see test rows),
shuffled-label sanity, determinism, search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality.training.trainer as trainer_mod
from callquality.exceptions import SchemaError, TrainingError
from callquality.protocols import TrainedModel, Trainer
from callquality.schema import feature_names
from callquality.training import (
    CallQualityModel,
    Experiment,
    TrainingDataset,
    XGBTrainer,
    build_dataset,
    make_synthetic_calls,
    resample,
    run_experiments,
    split,
)
from callquality.training.synthetic import SIGNAL_FEATURES

FAST: dict[str, Any] = {"n_estimators": 40, "cv_folds": 3}


@pytest.fixture(scope="module")
def ds() -> TrainingDataset:
    return build_dataset(*make_synthetic_calls(700, n_agents=35, class_sep=0.6, seed=11),
                         label="resolved")


@pytest.fixture(scope="module")
def parts(ds: TrainingDataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = split(ds, test_size=0.25, seed=0)
    train, test, _ = s.frames(ds)
    return train, test


def test_protocols(ds: TrainingDataset, parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trainer = XGBTrainer(**FAST)
    assert isinstance(trainer, Trainer)
    model = trainer.fit(parts[0], label="resolved", features=ds.features)
    assert isinstance(model, TrainedModel) and isinstance(model, CallQualityModel)
    p = model.predict_proba(parts[1])
    assert p.shape == (len(parts[1]),) and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_array_equal(model.predict(parts[1]), (p >= model.threshold).astype(int))
    np.testing.assert_array_equal(model.predict(parts[1], threshold=0.5), (p >= 0.5))
    assert model.threshold == trainer.threshold_.threshold
    for c, cats in model.categories.items():  # vocabulary from the training rows only
        assert set(cats) == set(parts[0][c].dropna().astype(str))
    assert model.metadata["group"] == "agent_id"  # group="auto" found the agent column
    assert trainer.oof_proba_.shape == (len(parts[0]),) and np.isfinite(trainer.oof_proba_).all()
    assert model.metadata["scale_pos_weight"] == pytest.approx(
        (1 - parts[0]["resolved"].mean()) / parts[0]["resolved"].mean())


def test_clear_errors(ds: TrainingDataset, parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train = parts[0]
    with pytest.raises(TrainingError, match=r"XGBTrainer.fit: label 'resolved' has a single "
                                            r"class \(1\)"):
        XGBTrainer(**FAST).fit(train.assign(resolved=1), label="resolved", features=ds.features)
    with pytest.raises(SchemaError, match=r"XGBTrainer.fit: missing feature column\(s\) \['x'\]"):
        XGBTrainer(**FAST).fit(train, label="resolved", features=["jitter", "x"])
    with pytest.raises(SchemaError, match="label column 'y' missing"):
        XGBTrainer(**FAST).fit(train, label="y", features=["jitter"])
    with pytest.raises(SchemaError, match="group column"):
        XGBTrainer(group="team", **FAST).fit(train, label="resolved", features=["jitter"])
    model = XGBTrainer(**FAST).fit(train, label="resolved", features=["jitter", "word_count"])
    with pytest.raises(SchemaError, match=r"CallQualityModel: missing feature column\(s\)"):
        model.predict(train.drop(columns=["jitter"]))


def test_threshold_never_sees_test_rows(ds: TrainingDataset, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    """Instrumented tuning sees exactly the training labels; flipping every test label changes
    test metrics but not the threshold, the OOF predictions or the model."""
    s = split(ds, test_size=0.25, seed=0)
    seen: list[np.ndarray] = []
    real = trainer_mod._tune_threshold

    def spy(y: np.ndarray, proba: np.ndarray, **kw: Any) -> Any:
        seen.append(np.asarray(y).copy())
        return real(y, proba, **kw)

    monkeypatch.setattr(trainer_mod, "_tune_threshold", spy)
    exp = [Experiment("all", features=ds.features)]
    a = run_experiments(ds, exp, data_split=s, trainer=XGBTrainer(**FAST), log_models=False)
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], ds.y[s.train])

    frame = ds.frame.copy()
    frame.loc[s.test, "resolved"] = 1 - frame.loc[s.test, "resolved"]
    flipped = TrainingDataset(frame=frame, features=ds.features, label=ds.label, key=ds.key,
                              group=ds.group, snapshot_id="flipped")
    b = run_experiments(flipped, exp, data_split=s, trainer=XGBTrainer(**FAST),
                        log_models=False)
    ra, rb = a["all"], b["all"]
    assert ra.threshold == rb.threshold
    assert ra.trainer is not None and rb.trainer is not None
    np.testing.assert_array_equal(ra.trainer.oof_proba_, rb.trainer.oof_proba_)
    np.testing.assert_array_equal(ra.test_proba, rb.test_proba)
    assert ra.test_tuned is not None and rb.test_tuned is not None
    assert ra.test_tuned.f1 != rb.test_tuned.f1


class SpySampler:
    """Records what it is given, then applies the built-in SMOTE."""

    def __init__(self) -> None:
        self.inputs: list[pd.DataFrame] = []

    def fit_resample(self, X: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        self.inputs.append(X.copy())
        return resample(X, np.asarray(y), "smote", seed=0)


def test_smote_only_inside_training_folds(ds: TrainingDataset,
                                          parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = parts
    spy = SpySampler()
    trainer = XGBTrainer(resampling=spy, group="agent_id", **FAST)
    trainer.fit(train, label="resolved", features=ds.features)
    assert len(spy.inputs) == FAST["cv_folds"] + 1  # one per fold, then the final fit
    key = "speaking_rate_wpm"  # continuous: identifies a row
    train_keys, test_keys = set(train[key]), set(test[key])
    for i, X in enumerate(spy.inputs):
        assert set(X[key]) <= train_keys
        assert not set(X[key]) & test_keys
        if i < FAST["cv_folds"]:  # a fitting fold never holds its own validation rows
            _, val_idx = trainer.folds_[i]
            assert not set(X[key]) & set(train[key].iloc[val_idx])
            assert len(X) == len(train) - len(val_idx)
    assert len(spy.inputs[-1]) == len(train)
    # resampling grew every fitting set to balanced classes
    minority = min(train["resolved"].sum(), (1 - train["resolved"]).sum())
    assert trainer.fit_sizes_[-1] == len(train) + (len(train) - 2 * minority)


def test_resample_keeps_originals_first() -> None:
    feats, outs = make_synthetic_calls(200, missing_rate=0.1, seed=2)
    d = build_dataset(feats, outs, label="resolved")
    X, y = d.X, d.y
    Xr, yr = resample(X, y, "smote", seed=0)
    pd.testing.assert_frame_equal(Xr.iloc[: len(X)], X.reset_index(drop=True))
    assert (yr[len(X):] == 1).all() and yr.mean() == 0.5
    synth = Xr.iloc[len(X):]
    assert not synth.isna().any().any()
    for c in ("sentiment_label", "dominant_emotion"):
        assert list(synth[c].cat.categories) == list(X[c].cat.categories)


def test_shuffled_labels_give_chance_auc() -> None:
    feats, outs = make_synthetic_calls(1000, n_agents=40, class_sep=1.0, seed=5)
    outs = outs.assign(resolved=np.random.default_rng(0).permutation(outs["resolved"]))
    d = build_dataset(feats, outs, label="resolved")
    res = run_experiments(d, [Experiment("all")], trainer=XGBTrainer(**FAST), log_models=False)
    r = res["all"]
    assert r.test_tuned is not None
    assert 0.4 <= r.test_tuned.roc_auc <= 0.6


def test_signal_beats_majority_baseline(ds: TrainingDataset,
                                        parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = parts
    model = XGBTrainer(**FAST).fit(train, label="resolved", features=ds.features)
    y = test["resolved"].to_numpy()
    acc = float(np.mean(model.predict(test) == y))
    assert acc > max(y.mean(), 1 - y.mean()) + 0.05
    top = list(model.global_importance(train).index[:4])
    assert set(top) <= set(SIGNAL_FEATURES)  # the planted signal is found


def test_deterministic_by_seed(ds: TrainingDataset,
                               parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = parts
    a, b, c = (XGBTrainer(seed=s, **FAST) for s in (1, 1, 2))
    pa, pb, pc = (t.fit(train, label="resolved", features=ds.features).predict_proba(test)
                  for t in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.oof_proba_, b.oof_proba_)
    assert a.threshold_ == b.threshold_
    assert not np.array_equal(pa, pc)


def test_small_search_and_overrides(parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train = parts[0]
    feats = feature_names(("interaction", "emotion"))
    t = XGBTrainer({"max_depth": 2, "n_estimators": 15}, search=2, cv_folds=3,
                   search_space={"max_depth": [2, 3], "n_estimators": [10, 20]})
    model = t.fit(train, label="resolved", features=feats)
    assert t.search_results_ is not None and len(t.search_results_) == 3
    best = t.search_results_.loc[t.search_results_["score"].idxmax()]
    assert model.metadata["n_estimators"] == best["n_estimators"] == t.n_estimators_
    assert t.search_results_.loc[0, "max_depth"] == 2  # candidate 0 = the given params
    assert isinstance(model.metadata["params"]["max_depth"], int)


def test_recall_at_precision_objective(ds: TrainingDataset,
                                       parts: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    t = XGBTrainer(threshold_objective="recall_at_precision", min_precision=0.8, **FAST)
    t.fit(parts[0], label="resolved", features=ds.features)
    assert t.threshold_.met and t.cv_metrics_.precision >= 0.8


def test_generic_task_non_schema_features() -> None:
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({
        "loan_amount": rng.lognormal(12, 0.5, n), "income": rng.lognormal(11, 0.4, n),
        "channel": rng.choice(["branch", "web", "phone"], n),
    })
    logit = (np.log(df["income"]) - 11) * 3 + (df["channel"] == "web") * 1.5 - 0.5
    df["responded"] = rng.random(n) < 1 / (1 + np.exp(-logit))
    d = build_dataset(df, label="responded", key=None)
    s = split(d, test_size=0.25)
    train, test, _ = s.frames(d)
    model = XGBTrainer(**FAST).fit(train, label="responded", features=d.features)
    assert model.schema_hash is None
    assert model.feature_dtypes == {"loan_amount": "float64", "income": "float64",
                                    "channel": "category"}
    assert model.categories["channel"] == ("branch", "phone", "web")
    assert model.predict_proba(test).shape == (len(test),)
