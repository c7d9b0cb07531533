"""Dataset builder (join, typing, snapshot id) and leak-free splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callquality.exceptions import ConfigurationError, SchemaError, TrainingError
from callquality.schema import feature_names
from callquality.training import (
    build_dataset,
    encode_features,
    kfold_indices,
    make_synthetic_calls,
    snapshot_id,
    split,
)


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_synthetic_calls(400, n_agents=30, seed=3)


# ------------------------------------------------------------------ build_dataset


def test_build_dataset_joins_and_types(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    feats, outs = tables
    ds = build_dataset(feats, outs, label="resolved")
    assert len(ds) == 400 and ds.key == "call_id" and ds.group == "agent_id"
    assert list(ds.features) == feature_names()  # schema order; bookkeeping columns excluded
    assert list(ds.frame.columns) == ["call_id", "agent_id", *feature_names(), "resolved"]
    assert ds.frame["call_id"].is_monotonic_increasing
    assert ds.frame["resolved"].dtype == np.int8
    assert isinstance(ds.frame["sentiment_label"].dtype, pd.CategoricalDtype)
    assert ds.categories["sentiment_label"] == ("negative", "neutral", "positive")
    assert ds.frame["word_count"].dtype == np.float64
    assert ds.lineage()["dataset_snapshot_id"] == ds.snapshot_id
    np.testing.assert_array_equal(
        ds.y, outs.set_index("call_id").loc[ds.frame["call_id"], "resolved"].to_numpy())


def test_snapshot_id_is_a_content_hash(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    feats, outs = tables
    a = build_dataset(feats, outs, label="resolved")
    shuffled = build_dataset(feats.sample(frac=1, random_state=1),
                             outs.sample(frac=1, random_state=2), label="resolved")
    assert a.snapshot_id == shuffled.snapshot_id  # input order does not matter
    changed = feats.copy()
    changed.loc[5, "jitter"] = 0.123456
    assert build_dataset(changed, outs, label="resolved").snapshot_id != a.snapshot_id
    flipped = outs.copy()
    flipped.loc[7, "resolved"] = 1 - flipped.loc[7, "resolved"]
    assert build_dataset(feats, flipped, label="resolved").snapshot_id != a.snapshot_id
    assert snapshot_id(a.frame) == a.snapshot_id and len(a.snapshot_id) == 16


def test_build_dataset_drops_and_records(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    feats, outs = tables
    feats = feats.copy()
    feats.loc[:4, "error"] = "decode failed"
    outs = outs.iloc[10:].copy()  # 10 calls without outcome
    outs.loc[outs.index[:3], "resolved"] = np.nan
    extra = pd.DataFrame({"call_id": ["call-999999"], "resolved": [1]})
    ds = build_dataset(feats, pd.concat([outs, extra]), label="resolved")
    assert ds.dropped == {"extraction_error": 5, "no_outcome": 5, "no_features": 1,
                          "missing_label": 3}
    assert len(ds) == 400 - 10 - 3


def test_build_dataset_errors(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    feats, outs = tables
    with pytest.raises(SchemaError, match=r"build_dataset: missing feature column\(s\) \['nope'\]"):
        build_dataset(feats, outs, label="resolved", feature_columns=["jitter", "nope"])
    with pytest.raises(SchemaError, match="label column 'satisfied' missing"):
        build_dataset(feats, outs, label="satisfied")
    with pytest.raises(SchemaError, match="not unique in the outcomes"):
        build_dataset(feats, pd.concat([outs, outs.iloc[:2]]), label="resolved")
    with pytest.raises(SchemaError, match="group column 'team' missing"):
        build_dataset(feats, outs, label="resolved", group="team")
    bad = outs.assign(resolved=outs["resolved"].map({0: "no", 1: "yes"}))
    with pytest.raises(SchemaError, match="positive="):
        build_dataset(feats, bad, label="resolved")
    ds = build_dataset(feats, bad, label="resolved", positive="yes")
    assert ds.y.sum() == outs["resolved"].sum()


def test_generic_task_without_key_or_group() -> None:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({
        "page_views": rng.poisson(5, n), "review_stars": rng.integers(1, 6, n).astype(float),
        "device": rng.choice(["ios", "android", "web"], n), "bought": rng.random(n) < 0.4,
    })
    ds = build_dataset(df, label="bought", key=None)
    assert ds.key is None and ds.group is None
    assert ds.features == ("page_views", "review_stars", "device")
    assert ds.categories == {"device": ("android", "ios", "web")}
    assert ds.y.sum() == df["bought"].sum()


def test_encode_features_unseen_category_is_missing() -> None:
    df = pd.DataFrame({"a": [1, 2], "c": ["x", "new"]})
    X, cats = encode_features(df, ["a", "c"], categories={"c": ["x", "y"]})
    assert cats == {"c": ("x", "y")}
    assert X["c"].isna().tolist() == [False, True]
    with pytest.raises(SchemaError, match="non-numeric"):
        encode_features(pd.DataFrame({"a": ["1", "oops"]}), ["a"], categories={})


# ------------------------------------------------------------------ split


def test_ungrouped_split_is_stratified_and_exact(tables: tuple[pd.DataFrame, pd.DataFrame]
                                                 ) -> None:
    ds = build_dataset(*tables, label="resolved", group=None)
    s = split(ds, test_size=0.25, holdout_size=40, seed=1)
    assert (len(s.train), len(s.test), len(s.holdout)) == (260, 100, 40)
    allrows = np.concatenate([s.train, s.test, s.holdout])
    assert sorted(allrows.tolist()) == list(range(400))  # disjoint and complete
    rate = ds.y.mean()
    for part in (s.train, s.test, s.holdout):
        assert abs(ds.y[part].mean() - rate) < 0.02


def test_grouped_split_has_no_agent_overlap(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ds = build_dataset(*tables, label="resolved")
    s = split(ds, test_size=0.2, holdout_size=0.1, seed=0)
    assert s.group == "agent_id"
    agents = {name: set(ds.frame["agent_id"].iloc[idx]) for name, idx in
              (("train", s.train), ("test", s.test), ("holdout", s.holdout))}
    assert not agents["train"] & agents["test"]
    assert not agents["train"] & agents["holdout"]
    assert not agents["test"] & agents["holdout"]
    assert sorted(np.concatenate([s.train, s.test, s.holdout]).tolist()) == list(range(400))
    assert abs(len(s.test) - 80) <= 20 and abs(len(s.holdout) - 40) <= 15
    for part in (s.test, s.holdout):
        assert set(np.unique(ds.y[part])) == {0, 1}


def test_split_is_deterministic_by_seed(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ds = build_dataset(*tables, label="resolved")
    a, b, c = (split(ds, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_split_plain_dataframe_and_errors(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    feats, outs = tables
    df = feats.merge(outs, on="call_id")
    s = split(df, label="resolved", test_size=50, group=None)
    assert len(s.test) == 50
    with pytest.raises(SchemaError, match="label"):
        split(df)
    with pytest.raises(ConfigurationError, match="test_size"):
        split(df, label="resolved", test_size=1.5)
    with pytest.raises(ConfigurationError, match="no training rows"):
        split(df, label="resolved", test_size=0.6, holdout_size=0.4)
    with pytest.raises(TrainingError, match="single class"):
        split(df.assign(resolved=1), label="resolved")


def test_kfold_grouped_and_complete(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ds = build_dataset(*tables, label="resolved")
    folds = kfold_indices(ds.y, n_splits=4, groups=ds.groups, seed=0)
    seen = np.concatenate([v for _, v in folds])
    assert sorted(seen.tolist()) == list(range(len(ds)))
    g = ds.groups
    assert g is not None
    for fit_idx, val_idx in folds:
        assert not set(g[fit_idx]) & set(g[val_idx])
    with pytest.raises(TrainingError, match="folds need at least"):
        kfold_indices([0, 1, 1, 1, 1], n_splits=3)
