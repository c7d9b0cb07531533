"""Binary classification metrics and decision-threshold tuning.

All functions take ``y_true`` as 0/1 labels (1 = positive class) and ``proba`` as the positive
class probability. Definitions follow scikit-learn exactly (the tests check equality):

* precision = TP / (TP + FP), 0 when nothing is predicted positive; recall = TP / (TP + FN);
  F1 = 2 TP / (2 TP + FP + FN), 0 when undefined.
* ROC AUC: the Mann-Whitney probability that a random positive scores above a random negative
  (ties count one half); ``NaN`` when ``y_true`` has a single class.
* PR AUC: average precision, ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds in
  decreasing order (step-wise, no interpolation), as ``sklearn.metrics.average_precision_score``.
* Brier score: mean squared difference of ``proba`` and ``y_true`` (lower is better).
* A row is predicted positive when ``proba >= threshold``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.stats import rankdata

from ..exceptions import ConfigurationError, TrainingError

__all__ = [
    "BinaryMetrics",
    "ThresholdResult",
    "average_precision",
    "binary_metrics",
    "brier_score",
    "roc_auc",
    "tune_threshold",
]

ArrayLike = Sequence[float] | np.ndarray


def _check(y_true: ArrayLike, proba: ArrayLike, caller: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise ConfigurationError(f"{caller}: y_true and proba must be 1-d of equal length, got "
                                 f"shapes {y.shape} and {p.shape}")
    if len(y) == 0:
        raise ConfigurationError(f"{caller}: no rows")
    if not np.isin(y, (0, 1)).all():
        raise ConfigurationError(f"{caller}: y_true must hold only 0 and 1")
    if not np.isfinite(p).all():
        raise ConfigurationError(f"{caller}: proba has non-finite values")
    return y.astype(np.int64), p


def roc_auc(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); ``NaN`` for a single class."""
    y, p = _check(y_true, proba, "roc_auc")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)  # average ranks for ties
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _pr_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores in decreasing order and cumulative (TP, FP) when predicting
    ``p >= score``."""
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # last index of each distinct score
    tps = np.cumsum(ys)[last].astype(np.float64)
    fps = (last + 1) - tps
    return ps[last], tps, fps


def average_precision(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Average precision (PR AUC, step-wise); ``NaN`` when there is no positive."""
    y, p = _check(y_true, proba, "average_precision")
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    _, tps, fps = _pr_counts(y, p)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier_score(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Mean squared error of the probabilities (0 perfect, 0.25 for a constant 0.5)."""
    y, p = _check(y_true, proba, "brier_score")
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics of probabilities ``proba`` against ``y_true`` at one decision threshold.

    ``tn, fp, fn, tp`` are row counts; :attr:`confusion_matrix` is scikit-learn's layout
    ``[[tn, fp], [fn, tp]]``. ROC AUC, PR AUC and Brier do not depend on the threshold.
    """

    threshold: float
    n: int
    n_positive: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    pr_auc: float
    brier: float
    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def confusion_matrix(self) -> np.ndarray:
        """``[[tn, fp], [fn, tp]]`` (rows: true class 0/1, columns: predicted class 0/1)."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]], dtype=np.int64)

    def as_dict(self, prefix: str = "", suffix: str = "") -> dict[str, float]:
        """Flat ``{prefix + name + suffix: value}`` (for experiment tracking)."""
        return {f"{prefix}{k}{suffix}": float(v) for k, v in asdict(self).items()}


def binary_metrics(y_true: ArrayLike, proba: ArrayLike, threshold: float = 0.5
                   ) -> BinaryMetrics:
    """Accuracy, precision, recall, F1 at ``threshold``; ROC AUC, PR AUC, Brier; confusion."""
    y, p = _check(y_true, proba, "binary_metrics")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigurationError(f"binary_metrics: threshold={threshold} not in [0, 1]")
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    n = len(y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return BinaryMetrics(
        threshold=float(threshold), n=n, n_positive=int(y.sum()),
        accuracy=(tp + tn) / n, precision=precision, recall=recall, f1=f1,
        roc_auc=roc_auc(y, p), pr_auc=average_precision(y, p), brier=brier_score(y, p),
        tn=tn, fp=fp, fn=fn, tp=tp,
    )


@dataclass(frozen=True)
class ThresholdResult:
    """A tuned decision threshold and what it achieves on the data it was tuned on.

    Attributes:
        threshold: predict positive when ``proba >= threshold``. It lies halfway between two
            consecutive distinct scores of the tuning data, so the partition it makes of that
            data does not depend on ``>=`` versus ``>``.
        objective: ``"f1"`` or ``"recall_at_precision"``.
        precision, recall, f1: on the tuning data at ``threshold``.
        min_precision: the precision floor (``recall_at_precision`` only).
        met: whether the objective's constraint was met (always true for ``"f1"``); when not,
            the F1-optimal threshold is returned instead.
        n: rows tuned on.
    """

    threshold: float
    objective: str
    precision: float
    recall: float
    f1: float
    min_precision: float | None
    met: bool
    n: int


def tune_threshold(
    y_true: ArrayLike,
    proba: ArrayLike,
    *,
    objective: Literal["f1", "recall_at_precision"] = "f1",
    min_precision: float | None = None,
) -> ThresholdResult:
    """Choose the decision threshold on (out-of-fold) training predictions.

    Pass out-of-fold predictions of the *training* rows; never the test rows. Every distinct
    score is a candidate cut.

    Args:
        y_true: 0/1 labels.
        proba: positive-class probabilities for the same rows.
        objective: ``"f1"`` maximises F1; ``"recall_at_precision"`` maximises recall subject to
            precision >= ``min_precision`` (ties: higher precision, then higher threshold).
        min_precision: required with ``"recall_at_precision"``, in (0, 1].

    Raises:
        TrainingError: a single class in ``y_true``.
        ConfigurationError: unknown objective or bad ``min_precision``.

    Warns:
        UserWarning: ``min_precision`` is reached by no threshold (F1 is maximised instead).
    """
    y, p = _check(y_true, proba, "tune_threshold")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise TrainingError(f"tune_threshold: labels have a single class in {len(y)} rows")
    if objective not in ("f1", "recall_at_precision"):
        raise ConfigurationError(f"tune_threshold: unknown objective {objective!r}; "
                                 "use 'f1' or 'recall_at_precision'")
    if objective == "recall_at_precision" and (
            min_precision is None or not 0.0 < min_precision <= 1.0):
        raise ConfigurationError("tune_threshold: objective='recall_at_precision' needs "
                                 f"min_precision in (0, 1], got {min_precision!r}")
    scores, tps, fps = _pr_counts(y, p)
    fns = n_pos - tps
    precision = tps / (tps + fps)
    recall = tps / n_pos
    f1 = 2 * tps / (2 * tps + fps + fns)
    met = True
    if objective == "f1":
        k = int(np.argmax(f1))  # first maximum = highest threshold
    else:
        assert min_precision is not None
        ok = precision >= min_precision - 1e-12
        if ok.any():
            cand = np.flatnonzero(ok)
            # max recall, then max precision, then the highest threshold (smallest index)
            k = int(cand[np.lexsort((cand, -precision[cand], -recall[cand]))[0]])
        else:
            met = False
            warnings.warn(
                f"tune_threshold: no threshold reaches precision >= {min_precision} "
                f"(best {precision.max():.3f}); using the F1-optimal threshold",
                UserWarning, stacklevel=2)
            k = int(np.argmax(f1))
    threshold = float(scores[k])
    if k + 1 < len(scores):
        below = float(scores[k + 1])
        mid = below + (threshold - below) / 2.0
        if below < mid <= threshold:  # adjacent floats: keep the score itself
            threshold = mid
    return ThresholdResult(
        threshold=threshold, objective=objective, precision=float(precision[k]),
        recall=float(recall[k]), f1=float(f1[k]), min_precision=min_precision, met=met,
        n=len(y),
    )
