"""Leak-free splits: holdout, train/test and the k folds used for out-of-fold predictions.

Split algorithm
---------------
* **Ungrouped**: scikit-learn's ``train_test_split`` with ``stratify=y`` (exact class ratio,
  sizes exact).
* **Grouped** (e.g. by ``agent_id``, so that no agent is in both train and test): groups are
  visited in a seeded random order and each whole group goes to the test side when that brings
  the test side's per-class counts closer (L1) to its target ``size * class_count``. The result
  is stratified and sized as closely as whole groups allow, and a group is never split.
* A **holdout** (count or fraction of all rows) is carved out first with the same algorithm and
  is never seen by training, threshold tuning or model selection; the test side is then carved
  from the remainder. Sizes given as fractions are fractions of *all* rows.
* **Folds** for out-of-fold predictions: ``StratifiedKFold`` or, when grouped,
  ``StratifiedGroupKFold`` (both shuffled with the seed).

Everything is a pure function of ``(y, groups, sizes, seed)``: equal inputs give equal splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..exceptions import ConfigurationError, SchemaError, TrainingError
from .dataset import TrainingDataset, binary_labels

__all__ = ["DataSplit", "kfold_indices", "split"]

Size = int | float


@dataclass(frozen=True, eq=False)
class DataSplit:
    """Positional row indices (``iloc``) of the three disjoint parts of a table.

    Attributes:
        train: rows the model (and its threshold) is fitted on.
        test: rows evaluated once, after the threshold is fixed.
        holdout: rows kept out of every experiment (final check, monitoring baseline); may be
            empty.
        seed: the seed that produced the split.
        group: the grouping column, or ``None``.
    """

    train: np.ndarray
    test: np.ndarray
    holdout: np.ndarray
    seed: int
    group: str | None = None

    def frames(self, df: pd.DataFrame | TrainingDataset
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(train, test, holdout)`` row subsets of ``df`` (a table or a dataset's frame)."""
        frame = df.frame if isinstance(df, TrainingDataset) else df
        return frame.iloc[self.train], frame.iloc[self.test], frame.iloc[self.holdout]

    def summary(self, y: Sequence[int] | np.ndarray | None = None) -> dict[str, Any]:
        """Sizes (rows) and, given the labels of the whole table, positive rates per part."""
        out: dict[str, Any] = {"seed": self.seed, "group": self.group}
        yy = None if y is None else np.asarray(y)
        for name in ("train", "test", "holdout"):
            idx = getattr(self, name)
            out[f"n_{name}"] = len(idx)
            if yy is not None:
                out[f"positive_rate_{name}"] = float(yy[idx].mean()) if len(idx) else None
        return out

    def __repr__(self) -> str:
        return (f"DataSplit(n_train={len(self.train)}, n_test={len(self.test)}, "
                f"n_holdout={len(self.holdout)}, group={self.group!r}, seed={self.seed})")


def _n_rows(size: Size | None, n: int, name: str, *, allow_zero: bool) -> int:
    if size is None:
        return 0
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"split: {name} must be an int (rows) or a float (fraction), "
                                 f"got {size!r}")
    if isinstance(size, (float, np.floating)):
        if not 0.0 <= float(size) < 1.0:
            raise ConfigurationError(f"split: {name}={size} must be a fraction in [0, 1)")
        rows = round(float(size) * n)
    else:
        rows = int(size)
        if not 0 <= rows < n:
            raise ConfigurationError(f"split: {name}={size} rows must be in [0, {n})")
    if rows == 0 and not allow_zero:
        raise ConfigurationError(f"split: {name}={size} gives no rows out of {n}")
    return rows


def _group_take(y: np.ndarray, groups: np.ndarray, n_take: int, seed: int) -> np.ndarray:
    """Boolean mask of whole groups whose per-class counts approach ``n_take * class share``."""
    codes, inverse = np.unique(groups, return_inverse=True)
    n_groups = len(codes)
    counts = np.zeros((n_groups, 2), dtype=np.int64)
    np.add.at(counts, (inverse, y.astype(np.int64)), 1)
    target = n_take * np.bincount(y.astype(np.int64), minlength=2) / len(y)
    order = np.random.default_rng(seed).permutation(n_groups)
    have = np.zeros(2)
    taken = np.zeros(n_groups, dtype=bool)
    for g in order:
        new = have + counts[g]
        if np.abs(new - target).sum() < np.abs(have - target).sum():
            taken[g] = True
            have = new
    return taken[inverse]


def _take(y: np.ndarray, groups: np.ndarray | None, n_take: int, seed: int, stratify: bool,
          what: str) -> np.ndarray:
    """Positional indices (sorted) of the rows taken for ``what``."""
    n = len(y)
    if groups is None:
        try:
            _, taken = train_test_split(np.arange(n), test_size=n_take, random_state=seed,
                                        stratify=y if stratify else None)
        except ValueError as exc:
            raise TrainingError(f"split: cannot draw a stratified {what} set of {n_take} rows "
                                f"from {n} ({exc})") from None
        return np.sort(taken)
    if stratify:
        mask = _group_take(y, groups, n_take, seed)
    else:
        mask = _group_take(np.zeros_like(y), groups, n_take, seed)
    return np.flatnonzero(mask)


def _check_parts(y: np.ndarray, parts: dict[str, np.ndarray], grouped: bool) -> None:
    for name, idx in parts.items():
        classes = np.unique(y[idx])
        if len(idx) == 0 or len(classes) < 2:
            hint = (" (whole groups are moved: use fewer rows per group, a larger size, or "
                    "another seed)" if grouped else "")
            raise TrainingError(
                f"split: the {name} part has {len(idx)} rows and classes {classes.tolist()}; "
                f"it needs both classes{hint}")


def split(
    data: TrainingDataset | pd.DataFrame,
    *,
    label: str | None = None,
    test_size: Size = 0.2,
    holdout_size: Size | None = None,
    group: str | Literal["auto"] | None = "auto",
    stratify: bool = True,
    seed: int = 0,
) -> DataSplit:
    """Split a table into train, test and (optionally) holdout rows.

    Args:
        data: a :class:`TrainingDataset` or a table holding ``label`` (0/1 or bool).
        label: the label column; defaults to the dataset's.
        test_size: rows (int) or fraction of *all* rows (float) for the test part.
        holdout_size: rows or fraction of all rows kept out of every experiment; ``None`` or
            ``0`` for none.
        group: column whose values never straddle parts (e.g. ``"agent_id"``). ``"auto"``
            takes the dataset's group (or ``"agent_id"`` for a plain table that has one);
            ``None`` splits row by row.
        stratify: keep the class ratio in every part.
        seed: random seed; the split is a pure function of the data and the seed.

    Raises:
        SchemaError: ``label`` or ``group`` missing.
        ConfigurationError: sizes out of range.
        TrainingError: a part would lack a class.
    """
    if isinstance(data, TrainingDataset):
        frame = data.frame
        label = label or data.label
        if group == "auto":
            group = data.group
    else:
        frame = data
        if label is None:
            raise SchemaError("split: pass label=<column> for a plain DataFrame")
        if group == "auto":
            group = "agent_id" if "agent_id" in frame.columns else None
    if label not in frame.columns:
        raise SchemaError(f"split: label column {label!r} missing")
    if group is not None and group not in frame.columns:
        raise SchemaError(f"split: group column {group!r} missing")
    y = binary_labels(frame[label], caller="split")
    groups = None if group is None else frame[group].to_numpy()
    n = len(y)
    if len(np.unique(y)) < 2:
        raise TrainingError(f"split: label {label!r} has a single class in {n} rows")

    n_hold = _n_rows(holdout_size, n, "holdout_size", allow_zero=True)
    n_test = _n_rows(test_size, n, "test_size", allow_zero=False)
    if n_hold + n_test >= n:
        raise ConfigurationError(f"split: holdout ({n_hold}) + test ({n_test}) rows leave no "
                                 f"training rows out of {n}")
    seeds = np.random.SeedSequence(seed).generate_state(2)
    all_idx = np.arange(n)
    holdout = np.array([], dtype=np.int64)
    rest = all_idx
    if n_hold:
        holdout = _take(y, groups, n_hold, int(seeds[0]), stratify, "holdout")
        rest = np.setdiff1d(all_idx, holdout)
    sub_groups = None if groups is None else groups[rest]
    test = rest[_take(y[rest], sub_groups, n_test, int(seeds[1]), stratify, "test")]
    train = np.setdiff1d(rest, test)
    parts = {"train": train, "test": test}
    if n_hold:
        parts["holdout"] = holdout
    _check_parts(y, parts, grouped=groups is not None)
    return DataSplit(train=train.astype(np.int64), test=np.sort(test).astype(np.int64),
                     holdout=holdout.astype(np.int64), seed=seed, group=group)


def kfold_indices(
    y: Sequence[int] | np.ndarray,
    *,
    n_splits: int = 5,
    groups: Sequence[Any] | np.ndarray | None = None,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (and, with ``groups``, grouped) k-fold ``(fit_rows, validation_rows)`` pairs.

    Every row is in exactly one validation fold; with ``groups`` a group never appears in both
    rows of a pair. Positional indices.

    Raises:
        TrainingError: fewer members of a class (or fewer groups) than ``n_splits``.
    """
    yy = np.asarray(y).astype(np.int64)
    if n_splits < 2:
        raise ConfigurationError(f"kfold_indices: n_splits={n_splits} must be >= 2")
    counts = np.bincount(yy, minlength=2)
    if counts.min() < n_splits:
        raise TrainingError(f"kfold_indices: {n_splits} folds need at least {n_splits} rows of "
                            f"each class; class counts are {counts.tolist()}")
    X = np.zeros((len(yy), 1))
    if groups is None:
        cv: Any = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        folds = cv.split(X, yy)
    else:
        gg = np.asarray(groups)
        if len(np.unique(gg)) < n_splits:
            raise TrainingError(f"kfold_indices: {n_splits} folds need at least {n_splits} "
                                f"groups; there are {len(np.unique(gg))}")
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        folds = cv.split(X, yy, gg)
    out = [(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)) for a, b in folds]
    for fit_idx, val_idx in out:
        if len(np.unique(yy[fit_idx])) < 2:
            raise TrainingError("kfold_indices: a fitting fold lacks a class; use fewer folds")
        if len(val_idx) == 0:
            raise TrainingError("kfold_indices: an empty validation fold; use fewer folds")
    return out
