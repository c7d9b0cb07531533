"""Explanations from XGBoost's own tree SHAP (``pred_contribs``): no ``shap`` package needed.

Per-prediction contributions are exact TreeSHAP values in **log-odds** (margin) units: for each
row, the contributions of all features plus the ``bias`` column sum to the model's margin
``log(p / (1 - p))``. A categorical feature gets one contribution (native categoricals).
Global importance is the mean absolute contribution of each feature over a set of rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BIAS", "contributions", "global_importance"]

#: Name of the column holding the expected margin (the SHAP base value).
BIAS = "bias"


def contributions(booster: Any, X: pd.DataFrame, *, nthread: int = 1) -> pd.DataFrame:
    """TreeSHAP contributions of a fitted booster for the typed feature table ``X``.

    Returns:
        One row per row of ``X`` (same index); one column per feature, plus :data:`BIAS`.
        Units: log-odds. ``rows.sum(axis=1)`` equals the margin.
    """
    import xgboost as xgb

    dm = xgb.DMatrix(X, enable_categorical=True, nthread=nthread)
    values = np.asarray(booster.predict(dm, pred_contribs=True), dtype=np.float64)
    return pd.DataFrame(values, index=X.index, columns=[*X.columns, BIAS])


def global_importance(contribs: pd.DataFrame) -> pd.Series:
    """Mean absolute contribution (log-odds) per feature, largest first; ``bias`` excluded."""
    feats = contribs.drop(columns=[BIAS], errors="ignore")
    imp = feats.abs().mean(axis=0)
    imp.name = "mean_abs_contribution"
    return imp.sort_values(ascending=False, kind="mergesort")
