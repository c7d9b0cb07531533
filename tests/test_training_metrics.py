"""Metrics equal scikit-learn's on the same predictions; threshold tuning is exact."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from callquality.exceptions import ConfigurationError, TrainingError
from callquality.training import (
    average_precision,
    binary_metrics,
    brier_score,
    roc_auc,
    tune_threshold,
)


def _sweep(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 of ``p >= t`` for every distinct score t (plain numpy)."""
    cuts = np.unique(p)
    pred = p[None, :] >= cuts[:, None]
    tp = (pred & (y == 1)).sum(1)
    fp = (pred & (y == 0)).sum(1)
    fn = (y == 1).sum() - tp
    prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    return prec, tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


def _data(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    if ties:
        p = np.round(p, 1)  # many tied scores
    return y, p


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.73])
def test_binary_metrics_equal_sklearn(seed: int, ties: bool, threshold: float) -> None:
    y, p = _data(seed, ties=ties)
    m = binary_metrics(y, p, threshold)
    pred = (p >= threshold).astype(int)
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m.precision == pytest.approx(skm.precision_score(y, pred, zero_division=0), abs=1e-12)
    assert m.recall == pytest.approx(skm.recall_score(y, pred, zero_division=0), abs=1e-12)
    assert m.f1 == pytest.approx(skm.f1_score(y, pred, zero_division=0), abs=1e-12)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m.pr_auc == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert m.brier == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    np.testing.assert_array_equal(m.confusion_matrix, skm.confusion_matrix(y, pred))
    assert (m.n, m.n_positive) == (len(y), int(y.sum()))


def test_functions_equal_sklearn() -> None:
    y, p = _data(5, ties=True)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert brier_score(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)


def test_nothing_predicted_positive_and_single_class() -> None:
    y, p = _data(3)
    m = binary_metrics(y, p * 0.5, threshold=0.9)
    assert (m.tp, m.fp, m.precision, m.recall, m.f1) == (0, 0, 0.0, 0.0, 0.0)
    assert np.isnan(roc_auc(np.zeros(5, int), np.linspace(0, 1, 5)))
    assert np.isnan(average_precision(np.zeros(5, int), np.linspace(0, 1, 5)))


def test_bad_inputs() -> None:
    with pytest.raises(ConfigurationError, match="equal length"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ConfigurationError, match="only 0 and 1"):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ConfigurationError, match="non-finite"):
        binary_metrics([0, 1], [0.5, np.nan])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_tune_threshold_maximises_f1(seed: int, ties: bool) -> None:
    y, p = _data(seed, ties=ties)
    res = tune_threshold(y, p)
    # brute force over every candidate cut
    best = _sweep(y, p)[2].max()
    assert res.f1 == pytest.approx(best, abs=1e-12)
    assert binary_metrics(y, p, res.threshold).f1 == pytest.approx(best, abs=1e-12)
    assert skm.f1_score(y, (p >= res.threshold).astype(int)) == pytest.approx(best, abs=1e-12)
    # the threshold lies strictly between two scores (or at the lowest one)
    assert res.threshold not in set(p.tolist()) or res.threshold == p.min()
    assert res.met and res.n == len(y)


def test_tune_threshold_recall_at_precision() -> None:
    y, p = _data(7)
    res = tune_threshold(y, p, objective="recall_at_precision", min_precision=0.7)
    m = binary_metrics(y, p, res.threshold)
    assert m.precision >= 0.7 and res.met
    prec, rec, _ = _sweep(y, p)
    assert m.recall == pytest.approx(rec[prec >= 0.7].max())


def test_tune_threshold_infeasible_precision_warns_and_falls_back() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    with pytest.warns(UserWarning, match="precision"):
        res = tune_threshold(y, p, objective="recall_at_precision", min_precision=0.99)
    assert not res.met
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert res.threshold == tune_threshold(y, p).threshold


def test_tune_threshold_errors() -> None:
    with pytest.raises(TrainingError, match="single class"):
        tune_threshold([1, 1, 1], [0.2, 0.4, 0.9])
    with pytest.raises(ConfigurationError, match="min_precision"):
        tune_threshold([0, 1], [0.2, 0.9], objective="recall_at_precision")
    with pytest.raises(ConfigurationError, match="objective"):
        tune_threshold([0, 1], [0.2, 0.9], objective="accuracy")  # type: ignore[arg-type]
