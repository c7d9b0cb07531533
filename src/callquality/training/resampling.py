"""Over-sampling of the minority class, applied only to the rows a model is fitted on.

:func:`resample` is called by :class:`~callquality.training.XGBTrainer` on each fitting fold
and on the final training set, *after* every split, so synthetic rows are made only from
training rows and are never evaluated on.

Built-in ``"smote"``: imbalanced-learn's ``SMOTE`` (``SMOTENC`` when the table has categorical
columns, so categories are voted, not interpolated) with ``k_neighbors = min(5, n_minority - 1)``
and ``sampling_strategy="auto"`` (minority up to the majority count). SMOTE needs complete
rows, so missing values are filled with the column median (numeric) or mode (categorical)
*for the neighbour search only*: the original rows are returned unchanged (missing values
included, which XGBoost handles natively) followed by the synthetic rows.

Any object with an imbalanced-learn style ``fit_resample(X, y)`` can be passed instead; its
output is used as returned.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, TrainingError

__all__ = ["Sampler", "resample", "resampling_name"]


@runtime_checkable
class Sampler(Protocol):
    """imbalanced-learn's sampler interface."""

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        ...


def resampling_name(method: str | Sampler | None) -> str | None:
    """A printable name of a resampling method (for params and manifests)."""
    if method is None or isinstance(method, str):
        return method
    return type(method).__name__


def _smote(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    from imblearn.over_sampling import SMOTE, SMOTENC

    counts = np.bincount(y.astype(np.int64), minlength=2)
    n_min = int(counts.min())
    if n_min < 2:
        raise TrainingError(f"resample: SMOTE needs at least 2 minority rows, got class counts "
                            f"{counts.tolist()}")
    if counts[0] == counts[1]:
        return X, y
    cat_cols = [i for i, c in enumerate(X.columns) if isinstance(X[c].dtype, pd.CategoricalDtype)]
    num_cols = [i for i in range(X.shape[1]) if i not in cat_cols]
    if not num_cols:
        raise TrainingError("resample: SMOTE needs at least one numeric feature (all features "
                            "are categorical)")
    arr = np.empty(X.shape, dtype=np.float64)
    for i, c in enumerate(X.columns):
        col = X[c]
        if i in cat_cols:
            codes = col.cat.codes.to_numpy().astype(np.float64)
            valid = codes >= 0
            fill = np.bincount(codes[valid].astype(np.int64)).argmax() if valid.any() else 0
            codes[~valid] = fill
            arr[:, i] = codes
        else:
            values = col.to_numpy(dtype=np.float64)
            nan = np.isnan(values)
            if nan.any():
                values = values.copy()
                values[nan] = float(np.nanmedian(values)) if (~nan).any() else 0.0
            arr[:, i] = values
    k = min(5, n_min - 1)
    sampler: Any
    if cat_cols:
        sampler = SMOTENC(categorical_features=cat_cols, k_neighbors=k, random_state=seed)
    else:
        sampler = SMOTE(k_neighbors=k, random_state=seed)
    xr, yr = sampler.fit_resample(arr, y)
    n = len(X)
    xr = np.asarray(xr, dtype=np.float64)
    if not np.allclose(xr[:n], arr, equal_nan=True):  # imblearn returns originals first
        raise TrainingError("resample: the sampler reordered the original rows")
    synth = xr[n:]
    parts: dict[str, Any] = {}
    for i, c in enumerate(X.columns):
        if i in cat_cols:
            parts[c] = pd.Categorical.from_codes(np.rint(synth[:, i]).astype(np.int64),
                                                 dtype=X[c].dtype)
        else:
            parts[c] = synth[:, i]
    synthetic = pd.DataFrame(parts, columns=X.columns)
    out = pd.concat([X.reset_index(drop=True), synthetic], ignore_index=True)
    return out, np.r_[y, np.asarray(yr)[n:]].astype(y.dtype)


def resample(X: pd.DataFrame, y: np.ndarray, method: str | Sampler | None, *, seed: int = 0
             ) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows to fit on after over-sampling; ``(X, y)`` unchanged when ``method`` is ``None``.

    Args:
        X: fitting rows (typed as by :func:`~callquality.training.encode_features`).
        y: their 0/1 labels.
        method: ``None``, ``"smote"`` or an object with ``fit_resample(X, y)``.
        seed: random seed of the sampler.

    Returns:
        ``(X_resampled, y_resampled)``; with ``"smote"`` the original rows come first, in order,
        followed by the synthetic minority rows; the index is a fresh ``RangeIndex``.
    """
    if method is None:
        return X, y
    if isinstance(method, str):
        if method.lower() != "smote":
            raise ConfigurationError(f"resample: unknown method {method!r}; use 'smote', None or "
                                     "an object with fit_resample(X, y)")
        return _smote(X, y, seed)
    if not isinstance(method, Sampler):
        raise ConfigurationError(f"resample: {type(method).__name__} has no fit_resample(X, y)")
    xr, yr = method.fit_resample(X, y)
    if not isinstance(xr, pd.DataFrame):
        xr = pd.DataFrame(np.asarray(xr), columns=X.columns).astype(X.dtypes.to_dict())
    return xr.reset_index(drop=True), np.asarray(yr).astype(y.dtype)
