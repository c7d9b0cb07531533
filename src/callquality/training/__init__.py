"""Training: datasets, leak-free splits, tracked experiments, thresholds, metrics, explanations.

Works for any tabular binary task; the feature columns and the label are parameters::

    from callquality import training as cqt

    ds = cqt.build_dataset(features, outcomes, label="resolved")     # joins on call_id
    parts = cqt.split(ds, test_size=0.2, holdout_size=0.1, seed=0)    # grouped by agent_id
    results = cqt.run_experiments(ds, cqt.QUICKSTART_EXPERIMENTS, data_split=parts,
                                  tracker=cqt.LocalExperimentTracker("./cq-store/tracking"))
    results.table()                       # test metrics at 0.5 and at the tuned threshold
    model = results.best("test_pr_auc").model
    model.predict(new_calls); model.explain(new_calls); model.save("./models/cq-v1")

Or train directly: ``cqt.XGBTrainer(resampling="smote").fit(train_df, label=..., features=...)``.
"""

from __future__ import annotations

from .dataset import TrainingDataset, build_dataset, encode_features, snapshot_id
from .experiments import (
    QUICKSTART_EXPERIMENTS,
    Experiment,
    ExperimentResult,
    ExperimentResults,
    run_experiments,
)
from .explain import contributions, global_importance
from .metrics import (
    BinaryMetrics,
    ThresholdResult,
    average_precision,
    binary_metrics,
    brier_score,
    roc_auc,
    tune_threshold,
)
from .model import CallQualityModel
from .resampling import resample
from .splits import DataSplit, kfold_indices, split
from .synthetic import make_synthetic_calls
from .tracking import LocalExperimentTracker
from .trainer import DEFAULT_PARAMS, DEFAULT_SEARCH_SPACE, XGBTrainer

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_SEARCH_SPACE",
    "QUICKSTART_EXPERIMENTS",
    "BinaryMetrics",
    "CallQualityModel",
    "DataSplit",
    "Experiment",
    "ExperimentResult",
    "ExperimentResults",
    "LocalExperimentTracker",
    "ThresholdResult",
    "TrainingDataset",
    "XGBTrainer",
    "average_precision",
    "binary_metrics",
    "brier_score",
    "build_dataset",
    "contributions",
    "encode_features",
    "global_importance",
    "kfold_indices",
    "make_synthetic_calls",
    "resample",
    "roc_auc",
    "run_experiments",
    "snapshot_id",
    "split",
    "tune_threshold",
]
