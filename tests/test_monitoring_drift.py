"""Drift measures against scipy and hand computations (to 1e-9)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from callquality.exceptions import ConfigurationError, MonitoringError
from callquality.monitoring import drift, drift_result, drift_table
from callquality.monitoring.drift import binned_shares, quantile_edges

TOL = 1e-9


def _samples(seed: int, n_ref: int, n_cur: int, shift: float, scale: float
             ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(10.0, 2.0, n_ref), rng.normal(10.0 + shift, 2.0 * scale, n_cur)


def _textbook_psi(ref: np.ndarray, cur: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI written out the long way: decile edges of the reference, open outer bins."""
    inner = np.unique(np.quantile(ref, [k / bins for k in range(1, bins)]))
    edges = [-math.inf, *inner.tolist(), math.inf]
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        p = sum(1 for x in ref if lo <= x < hi) / len(ref)
        q = sum(1 for x in cur if lo <= x < hi) / len(cur)
        p, q = (p or eps), (q or eps)
        total += (q - p) * math.log(q / p)
    return total


@pytest.mark.parametrize("seed,n_ref,n_cur,shift,scale", [
    (0, 500, 400, 0.0, 1.0), (1, 300, 700, 0.8, 1.0), (2, 1000, 50, -1.5, 2.0),
    (3, 64, 64, 3.0, 0.5)])
def test_ks_and_wasserstein_equal_scipy(seed: int, n_ref: int, n_cur: int, shift: float,
                                        scale: float) -> None:
    ref, cur = _samples(seed, n_ref, n_cur, shift, scale)
    assert drift(ref, cur, method="ks") == pytest.approx(ks_2samp(ref, cur).statistic, abs=TOL)
    assert drift(ref, cur, method="wasserstein") == pytest.approx(
        wasserstein_distance(ref, cur), abs=TOL)
    assert drift(ref, cur, method="difference_of_means") == pytest.approx(
        cur.mean() - ref.mean(), abs=TOL)


def test_ks_and_wasserstein_with_ties_equal_scipy() -> None:
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 6, 400).astype(float)
    cur = rng.integers(1, 8, 300).astype(float)
    assert drift(ref, cur, method="ks") == pytest.approx(ks_2samp(ref, cur).statistic, abs=TOL)
    assert drift(ref, cur, method="wasserstein") == pytest.approx(
        wasserstein_distance(ref, cur), abs=TOL)


@pytest.mark.parametrize("seed,shift,scale", [(0, 0.0, 1.0), (1, 0.5, 1.3), (2, 4.0, 0.2)])
def test_psi_and_jensen_shannon_match_textbook_and_scipy(seed: int, shift: float,
                                                          scale: float) -> None:
    ref, cur = _samples(seed, 800, 600, shift, scale)
    assert drift(ref, cur, method="psi") == pytest.approx(_textbook_psi(ref, cur), abs=TOL)
    edges = quantile_edges(ref, 10)
    p = np.where(binned_shares(ref, edges) == 0, 1e-4, binned_shares(ref, edges))
    q = np.where(binned_shares(cur, edges) == 0, 1e-4, binned_shares(cur, edges))
    assert drift(ref, cur, method="jensen_shannon") == pytest.approx(jensenshannon(p, q),
                                                                     abs=TOL)


def test_psi_by_hand() -> None:
    # reference 1..10: inner edges at the quartiles 3.25, 5.5, 7.75 (bins=4)
    ref = np.arange(1.0, 11.0)
    cur = np.array([1.0, 1.0, 2.0, 9.0, 9.0, 9.0, 9.0, 10.0])
    # reference shares: [1,2,3] [4,5] [6,7] [8,9,10] -> .3 .2 .2 .3
    # current shares:   [1,1,2] []    []    [9,9,9,9,10] -> .375 0 0 .625 -> 0 becomes eps
    eps = 1e-4
    p = np.array([0.3, 0.2, 0.2, 0.3])
    q = np.array([0.375, eps, eps, 0.625])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert drift(ref, cur, method="psi", bins=4) == pytest.approx(expected, abs=TOL)
    assert quantile_edges(ref, 4).tolist() == [3.25, 5.5, 7.75]
    # an edge value belongs to the bin above it
    assert binned_shares(np.array([3.25]), quantile_edges(ref, 4)).tolist() == [0, 1, 0, 0]


def test_identical_samples_have_zero_drift() -> None:
    ref, _ = _samples(0, 500, 1, 0, 1)
    for method in ("psi", "ks", "wasserstein", "jensen_shannon", "difference_of_means"):
        assert drift(ref, ref.copy(), method=method) == pytest.approx(0.0, abs=TOL)


def test_categorical_psi_and_jensen_shannon_by_hand() -> None:
    ref = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 2)
    cur = pd.Series(["a"] * 2 + ["b"] * 2 + ["d"] * 4)
    # categories a b c d; ref .5 .3 .2 0(eps); cur .25 .25 0(eps) .5
    eps = 1e-4
    p = np.array([0.5, 0.3, 0.2, eps])
    q = np.array([0.25, 0.25, eps, 0.5])
    assert drift(ref, cur, method="psi") == pytest.approx(float(np.sum((q - p) * np.log(q / p))),
                                                          abs=TOL)
    assert drift(ref, cur, method="jensen_shannon") == pytest.approx(jensenshannon(p, q),
                                                                     abs=TOL)
    assert drift(ref.astype("category"), cur.astype("string"), method="psi") == \
        pytest.approx(drift(ref, cur, method="psi"), abs=TOL)
    with pytest.raises(MonitoringError, match="categorical"):
        drift(ref, cur, method="ks")


def test_nans_are_dropped_and_counted() -> None:
    ref = np.array([1.0, 2.0, np.nan, 3.0, 4.0])
    cur = np.array([np.nan, np.nan, 2.0, 5.0])
    r = drift_result(ref, cur, method="ks")
    assert (r.n_reference, r.nan_reference, r.n_current, r.nan_current) == (4, 1, 2, 2)
    assert r.value == pytest.approx(ks_2samp(ref[~np.isnan(ref)], cur[~np.isnan(cur)]).statistic,
                                    abs=TOL)
    cat = drift_result(pd.Series(["x", None, "y"]), pd.Series([None, "y", pd.NA, "y"]))
    assert (cat.nan_reference, cat.nan_current, cat.kind) == (1, 2, "categorical")


def test_eps_zero_gives_infinite_psi_for_an_empty_bin() -> None:
    ref = np.arange(100.0)
    cur = np.full(10, 5.0)
    assert math.isinf(drift(ref, cur, method="psi", eps=0.0))
    assert math.isfinite(drift(ref, cur, method="psi"))


def test_bad_arguments_name_the_call_and_cause() -> None:
    with pytest.raises(ConfigurationError, match="unknown method 'chi2'"):
        drift([1.0, 2.0], [1.0], method="chi2")
    with pytest.raises(ConfigurationError, match="bins"):
        drift([1.0, 2.0], [1.0], bins=1)
    with pytest.raises(MonitoringError, match="current sample has no values"):
        drift([1.0, 2.0], [np.nan])
    with pytest.raises(ConfigurationError, match="1-d"):
        drift(np.ones((2, 2)), [1.0])


def test_drift_table_columns_kinds_and_missing_sides() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"call_id": [f"c{i}" for i in range(200)], "jitter": rng.normal(0, 1, 200),
                        "dominant_emotion": rng.choice(["angry", "calm"], 200),
                        "empty": np.nan, "score": rng.random(200)})
    cur = pd.DataFrame({"call_id": [f"d{i}" for i in range(100)], "jitter": rng.normal(1, 1, 100),
                        "dominant_emotion": rng.choice(["angry", "calm"], 100, p=[.9, .1]),
                        "empty": np.nan, "score": rng.random(100)})
    t = drift_table(ref, cur)
    assert list(t.columns) == ["feature", "method", "value", "n_reference", "n_current",
                               "nan_reference", "nan_current"]
    assert list(t["feature"]) == ["jitter", "dominant_emotion", "empty", "score"]
    row = t.set_index("feature")
    assert row.loc["jitter", "value"] == pytest.approx(drift(ref.jitter, cur.jitter), abs=TOL)
    assert row.loc["dominant_emotion", "value"] > 0.3
    assert math.isnan(row.loc["empty", "value"]) and row.loc["empty", "nan_current"] == 100
    ks = drift_table(ref, cur, method="ks", n_jobs=2).set_index("feature")
    assert math.isnan(ks.loc["dominant_emotion", "value"])  # categorical: not for KS
    assert ks.loc["jitter", "value"] == pytest.approx(ks_2samp(ref.jitter, cur.jitter).statistic,
                                                      abs=TOL)
    with pytest.raises(MonitoringError, match="'nope' from the reference"):
        drift_table(ref, cur, features=["nope"])
