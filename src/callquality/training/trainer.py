"""XGBoost trainer with leak-free out-of-fold threshold tuning.

``XGBTrainer(...).fit(train_df, label=..., features=[...])`` does, using only ``train_df``:

1. k stratified (grouped, when ``group`` is set) folds of the training rows;
2. for each fold: over-sample the fitting rows (optional SMOTE), weight the classes
   (``scale_pos_weight = n_negative / n_positive`` of the rows actually fitted on), fit,
   and predict the held-out fold -> out-of-fold (OOF) probabilities for every training row;
3. optionally, a small random search: step 2 for each candidate, keeping the candidate with
   the best OOF score (the default parameters are always candidate 0);
4. tune the decision threshold on the OOF probabilities (:func:`tune_threshold`);
5. refit on all training rows (same resampling and weighting) and return a
   :class:`CallQualityModel` carrying the threshold.

The test rows are never passed in, so neither the threshold nor resampling can see them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, SchemaError, TrainingError
from .dataset import CATEGORY, FLOAT, binary_labels, encode_features
from .metrics import BinaryMetrics, ThresholdResult, average_precision, binary_metrics, roc_auc
from .metrics import tune_threshold as _tune_threshold
from .model import CallQualityModel, model_schema_hash
from .resampling import Sampler, resample, resampling_name
from .splits import kfold_indices

__all__ = ["DEFAULT_PARAMS", "DEFAULT_SEARCH_SPACE", "XGBTrainer"]

#: XGBoost parameters used unless overridden (``num_boost_round`` is ``n_estimators``).
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 4,
    "learning_rate": 0.1,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 4,
}

#: The space sampled by the optional random search (``search=n_candidates``).
DEFAULT_SEARCH_SPACE: dict[str, list[Any]] = {
    "max_depth": [2, 3, 4, 6],
    "learning_rate": [0.03, 0.1, 0.3],
    "min_child_weight": [1.0, 5.0],
    "subsample": [0.7, 0.9, 1.0],
    "colsample_bytree": [0.6, 0.9, 1.0],
    "n_estimators": [100, 200, 400],
}

_RESERVED = {"nthread", "n_jobs", "seed", "random_state"}


class XGBTrainer:
    """Fits an XGBoost binary classifier and tunes its decision threshold out of fold.

    Implements :class:`callquality.protocols.Trainer`. The constructor only stores its
    arguments (scikit-learn style); :meth:`fit` returns the model and sets the learned
    attributes below.

    Args:
        params: XGBoost parameters overriding :data:`DEFAULT_PARAMS` (may include
            ``n_estimators``). An explicit ``scale_pos_weight`` disables automatic weighting.
        n_estimators: boosting rounds.
        class_weight: ``"balanced"`` sets ``scale_pos_weight = n_neg / n_pos`` of the rows fitted
            on (after resampling, so about 1 with SMOTE); ``None`` leaves classes unweighted.
        resampling: ``None``, ``"smote"`` or an imbalanced-learn style sampler, applied to the
            fitting rows of each fold and of the final fit only (never before a split).
        cv_folds: folds for out-of-fold predictions (threshold tuning, search).
        threshold_objective: ``"f1"`` or ``"recall_at_precision"`` (see :func:`tune_threshold`).
        min_precision: precision floor for ``"recall_at_precision"``.
        group: column of the training table whose values must not straddle folds
            (e.g. ``"agent_id"``); ``"auto"`` uses ``"agent_id"`` when the table has it;
            ``None`` for plain stratified folds.
        search: number of random-search candidates besides the defaults (0: no search).
        search_space: lists of values to sample (default :data:`DEFAULT_SEARCH_SPACE`).
        search_metric: OOF score maximised by the search: ``"pr_auc"``, ``"roc_auc"`` or
            ``"neg_log_loss"``.
        seed: random seed (folds, subsampling, SMOTE, search).
        n_jobs: threads for XGBoost.

    Attributes:
        model_: the fitted :class:`CallQualityModel`.
        oof_proba_: out-of-fold probability of each training row (input order).
        folds_: the ``(fit_rows, validation_rows)`` positional index pairs.
        threshold_: the :class:`ThresholdResult`.
        cv_metrics_: :class:`BinaryMetrics` of the OOF probabilities at the tuned threshold.
        best_params_: the XGBoost parameters of the final model.
        n_estimators_: the boosting rounds of the final model.
        search_results_: one row per search candidate with its OOF score, or ``None``.
        fit_sizes_: rows fitted on (after resampling) in each fold, then in the final fit.
        fit_seconds_: wall time of :meth:`fit`.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        n_estimators: int = 200,
        class_weight: Literal["balanced"] | None = "balanced",
        resampling: str | Sampler | None = None,
        cv_folds: int = 5,
        threshold_objective: Literal["f1", "recall_at_precision"] = "f1",
        min_precision: float | None = None,
        group: str | None = "auto",
        search: int = 0,
        search_space: Mapping[str, Sequence[Any]] | None = None,
        search_metric: Literal["pr_auc", "roc_auc", "neg_log_loss"] = "pr_auc",
        seed: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.params = params
        self.n_estimators = n_estimators
        self.class_weight = class_weight
        self.resampling = resampling
        self.cv_folds = cv_folds
        self.threshold_objective = threshold_objective
        self.min_precision = min_precision
        self.group = group
        self.search = search
        self.search_space = search_space
        self.search_metric = search_metric
        self.seed = seed
        self.n_jobs = n_jobs

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn style)."""
        return {k: getattr(self, k) for k in (
            "params", "n_estimators", "class_weight", "resampling", "cv_folds",
            "threshold_objective", "min_precision", "group", "search", "search_space",
            "search_metric", "seed", "n_jobs")}

    def clone(self, **overrides: Any) -> XGBTrainer:
        """A new unfitted trainer with the same arguments, some replaced."""
        return XGBTrainer(**{**self.get_params(), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"XGBTrainer({args})"

    # ------------------------------------------------------------------ internals

    def _validate(self) -> None:
        if self.class_weight not in ("balanced", None):
            raise ConfigurationError(f"XGBTrainer: class_weight={self.class_weight!r}; use "
                                     "'balanced' or None")
        if self.search_metric not in ("pr_auc", "roc_auc", "neg_log_loss"):
            raise ConfigurationError(f"XGBTrainer: unknown search_metric {self.search_metric!r}")
        if int(self.n_estimators) < 1:
            raise ConfigurationError(f"XGBTrainer: n_estimators={self.n_estimators} must be >= 1")
        if int(self.search) < 0:
            raise ConfigurationError(f"XGBTrainer: search={self.search} must be >= 0")
        reserved = _RESERVED & set(self.params or {})
        if reserved:
            raise ConfigurationError(f"XGBTrainer: set {sorted(reserved)} through the seed and "
                                     "n_jobs arguments, not params")

    def _base_params(self) -> tuple[dict[str, Any], int]:
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        rounds = int(params.pop("n_estimators", params.pop("num_boost_round", self.n_estimators)))
        params["nthread"] = int(self.n_jobs)
        params["seed"] = int(self.seed)
        return params, rounds

    def _fit_booster(self, X: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any],
                     rounds: int, seed: int) -> tuple[Any, int, float]:
        import xgboost as xgb

        Xf, yf = resample(X, y, self.resampling, seed=seed)
        p = dict(params)
        n_pos = int(yf.sum())
        spw = float(p.get("scale_pos_weight", 1.0))
        if "scale_pos_weight" not in (self.params or {}) and self.class_weight == "balanced":
            spw = (len(yf) - n_pos) / n_pos
            p["scale_pos_weight"] = spw
        dm = xgb.DMatrix(Xf, label=yf, enable_categorical=True, nthread=self.n_jobs)
        booster = xgb.train(p, dm, num_boost_round=rounds)
        return booster, len(yf), spw

    def _oof(self, X: pd.DataFrame, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
             params: Mapping[str, Any], rounds: int) -> tuple[np.ndarray, list[int]]:
        import xgboost as xgb

        oof = np.full(len(y), np.nan)
        sizes = []
        for i, (fit_idx, val_idx) in enumerate(folds):
            booster, n_fit, _ = self._fit_booster(X.iloc[fit_idx], y[fit_idx], params, rounds,
                                                  self.seed + 1 + i)
            sizes.append(n_fit)
            dm = xgb.DMatrix(X.iloc[val_idx], enable_categorical=True, nthread=self.n_jobs)
            oof[val_idx] = booster.predict(dm)
        return oof, sizes

    def _score(self, y: np.ndarray, p: np.ndarray) -> float:
        if self.search_metric == "pr_auc":
            return average_precision(y, p)
        if self.search_metric == "roc_auc":
            return roc_auc(y, p)
        q = np.clip(p, 1e-15, 1 - 1e-15)
        return float(np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    # ------------------------------------------------------------------ API

    def fit(self, df: pd.DataFrame, *, label: str, features: Sequence[str]) -> CallQualityModel:
        """Fit on the training table ``df`` and return the model (also kept as ``model_``).

        Args:
            df: training rows only: ``features``, ``label`` and, if set, the ``group`` column.
                Categorical columns are typed by :func:`encode_features`; their categories
                are the values present in ``df`` (a value absent from training is missing at
                prediction time).
            label: 0/1 or boolean label column.
            features: feature columns, in model order.

        Raises:
            SchemaError: a named column is missing or the label is not binary.
            TrainingError: a single class, or too few rows of a class for ``cv_folds``.
        """
        start = time.perf_counter()
        self._validate()
        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"XGBTrainer.fit: expected a DataFrame, got {type(df).__name__}")
        if label not in df.columns:
            raise SchemaError(f"XGBTrainer.fit: label column {label!r} missing")
        features = list(features)
        if not features:
            raise SchemaError("XGBTrainer.fit: no feature columns given")
        if label in features:
            raise SchemaError(f"XGBTrainer.fit: label {label!r} is also listed as a feature")
        y = binary_labels(df[label], caller="XGBTrainer.fit").astype(np.int64)
        counts = np.bincount(y, minlength=2)
        if counts.min() == 0:
            raise TrainingError(
                f"XGBTrainer.fit: label {label!r} has a single class "
                f"({int(np.argmax(counts))}) in {len(y)} training rows; need both classes")
        # categories are those present in the training rows only (a category seen only in
        # test rows is missing to the model), so no test row shapes the encoding
        X, categories = encode_features(df, features, caller="XGBTrainer.fit")
        X = X.reset_index(drop=True)
        group = self.group
        if group == "auto":
            group = "agent_id" if "agent_id" in df.columns else None
        groups = None
        if group is not None:
            if group not in df.columns:
                raise SchemaError(f"XGBTrainer.fit: group column {group!r} missing")
            if df[group].isna().any():
                raise SchemaError(f"XGBTrainer.fit: group column {group!r} has missing values")
            groups = df[group].to_numpy()

        folds = kfold_indices(y, n_splits=self.cv_folds, groups=groups, seed=self.seed)
        base, rounds = self._base_params()
        candidates: list[tuple[dict[str, Any], int]] = [(base, rounds)]
        if self.search:
            from sklearn.model_selection import ParameterSampler

            space = {k: list(v) for k, v in (self.search_space or DEFAULT_SEARCH_SPACE).items()}
            for cand in ParameterSampler(space, n_iter=int(self.search), random_state=self.seed):
                p = {**base, **cand}
                r = int(p.pop("n_estimators", rounds))
                candidates.append((p, r))
        rows = []
        best: tuple[float, int, np.ndarray, list[int]] | None = None
        for i, (p, r) in enumerate(candidates):
            oof, sizes = self._oof(X, y, folds, p, r)
            score = self._score(y, oof)
            rows.append({"candidate": i, "score": score, "n_estimators": r,
                         **{k: p[k] for k in sorted(p) if k not in ("nthread", "seed")}})
            if best is None or score > best[0]:
                best = (score, i, oof, sizes)
        assert best is not None
        _, best_i, oof, sizes = best
        params, rounds = candidates[best_i]

        threshold = _tune_threshold(y, oof, objective=self.threshold_objective,
                                    min_precision=self.min_precision)
        booster, n_final, spw = self._fit_booster(X, y, params, rounds, self.seed)
        dtypes = {f: (CATEGORY if f in categories else FLOAT) for f in features}
        cv_metrics = binary_metrics(y, oof, threshold.threshold)
        metadata = {
            "trainer": "XGBTrainer",
            "params": {k: v for k, v in params.items() if k != "nthread"},
            "n_estimators": rounds,
            "class_weight": self.class_weight,
            "scale_pos_weight": spw,
            "resampling": resampling_name(self.resampling),
            "cv_folds": self.cv_folds,
            "group": group,
            "threshold_tuning": threshold.__dict__,
            "cv_metrics": cv_metrics.as_dict(),
            "n_train": len(y),
            "n_positive_train": int(y.sum()),
            "search_candidates": len(candidates) - 1,
        }
        self.model_ = CallQualityModel(
            booster, feature_names=features, feature_dtypes=dtypes, categories=categories,
            threshold=threshold.threshold, label=label,
            schema_hash=model_schema_hash(features), metadata=metadata, n_jobs=self.n_jobs,
        )
        self.oof_proba_ = oof
        self.folds_ = folds
        self.threshold_: ThresholdResult = threshold
        self.cv_metrics_: BinaryMetrics = cv_metrics
        self.best_params_ = params
        self.n_estimators_ = rounds
        self.search_results_ = pd.DataFrame(rows) if self.search else None
        self.fit_sizes_ = [*sizes, n_final]
        self.fit_seconds_ = time.perf_counter() - start
        return self.model_
