"""Named feature-set experiments, tracked, on one shared leak-free split.

:data:`QUICKSTART_EXPERIMENTS` are the four experiments of Snowflake's call-quality quickstart:

=========================================  ===================================================
name                                       features
=========================================  ===================================================
``all_features``                           every feature of the dataset
``acoustic_interaction``                   schema groups acoustic + interaction
``emotion_sentiment_content_interaction``  emotion + content (which holds the sentiment
                                           columns) + interaction
``all_features_smote``                     every feature, SMOTE on the fitting rows of each
                                           fold and of the final fit
=========================================  ===================================================

Unlike the quickstart, the decision threshold is tuned on out-of-fold predictions of the
training rows, then applied once to the test rows; test metrics are reported at 0.5 and at the
tuned threshold. Every experiment of one call uses the same split, so they are comparable.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError, SchemaError
from ..protocols import ExperimentTracker
from ..schema import GROUPS, feature_names
from ._util import atomic_write_json, to_jsonable
from .dataset import TrainingDataset
from .metrics import BinaryMetrics, binary_metrics
from .model import CallQualityModel
from .resampling import resampling_name
from .splits import DataSplit, split
from .tracking import FAILED, FINISHED, LocalExperimentTracker
from .trainer import XGBTrainer

__all__ = [
    "QUICKSTART_EXPERIMENTS",
    "Experiment",
    "ExperimentResult",
    "ExperimentResults",
    "run_experiments",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,100}$")


@dataclass(frozen=True)
class Experiment:
    """A named feature set and how to train on it.

    Args:
        name: identifier (letters, digits, ``_ . -``); used in run names.
        groups: schema groups (``"acoustic"``, ``"interaction"``, ...) whose features present
            in the dataset are used. Features of a group that the dataset lacks are skipped
            and recorded (``missing_features``).
        features: explicit feature columns (any tabular task); all must exist.
        resampling: ``None`` or ``"smote"`` (overrides the trainer's).
        params: XGBoost parameters for this experiment (over the trainer's).
        description: free text.

    With neither ``groups`` nor ``features``, every feature of the dataset is used.
    """

    name: str
    groups: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    resampling: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError(f"Experiment: invalid name {self.name!r}")
        if self.groups is not None and self.features is not None:
            raise ConfigurationError(f"Experiment {self.name!r}: give groups or features, "
                                     "not both")
        if self.groups is not None:
            object.__setattr__(self, "groups", tuple(self.groups))
            unknown = sorted(set(self.groups) - set(GROUPS))
            if unknown:
                raise ConfigurationError(f"Experiment {self.name!r}: unknown group(s) "
                                         f"{unknown}; expected some of {GROUPS}")
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))

    def resolve_features(self, available: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(features, missing)``: the columns to train on, in dataset (schema) order, and
        the group features the dataset lacks.

        Raises:
            SchemaError: an explicit feature is missing, or nothing is left.
        """
        avail = list(available)
        missing: list[str] = []
        if self.features is not None:
            absent = [f for f in self.features if f not in avail]
            if absent:
                raise SchemaError(f"Experiment {self.name!r}: feature column(s) {absent} are "
                                  "not in the dataset")
            chosen = list(self.features)
        elif self.groups is not None:
            wanted = feature_names(self.groups)
            chosen = [f for f in wanted if f in avail]
            missing = [f for f in wanted if f not in avail]
        else:
            chosen = avail
        if not chosen:
            raise SchemaError(f"Experiment {self.name!r}: none of its features "
                              f"(groups {self.groups}) is in the dataset")
        return chosen, missing


#: The four experiments of Snowflake's call-quality quickstart.
QUICKSTART_EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("all_features", description="All features of the dataset."),
    Experiment("acoustic_interaction", groups=("acoustic", "interaction"),
               description="How the call sounds and how the parties take turns."),
    Experiment("emotion_sentiment_content_interaction",
               groups=("emotion", "content", "interaction"),
               description="What is said and felt (the sentiment columns are in 'content')."),
    Experiment("all_features_smote", resampling="smote",
               description="All features; SMOTE applied inside the training folds only."),
)


@dataclass(eq=False)
class ExperimentResult:
    """Outcome of one experiment.

    Attributes:
        experiment: the :class:`Experiment`.
        run_name: the tracker run.
        status: ``"FINISHED"`` or ``"FAILED"``.
        features: the feature columns used.
        missing_features: group features the dataset lacked.
        model: the fitted model (``None`` if failed).
        trainer: the fitted trainer (OOF predictions, folds, search results).
        test_default: test metrics at threshold 0.5.
        test_tuned: test metrics at the tuned threshold.
        cv: out-of-fold metrics of the training rows at the tuned threshold.
        test_proba: test-row probabilities (split order).
        importance: mean |contribution| per feature over the training rows.
        error: ``"Type: message"`` when failed.
    """

    experiment: Experiment
    run_name: str
    status: str = FINISHED
    features: list[str] = field(default_factory=list)
    missing_features: list[str] = field(default_factory=list)
    model: CallQualityModel | None = None
    trainer: XGBTrainer | None = None
    test_default: BinaryMetrics | None = None
    test_tuned: BinaryMetrics | None = None
    cv: BinaryMetrics | None = None
    test_proba: np.ndarray | None = None
    importance: pd.Series | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def threshold(self) -> float | None:
        return None if self.model is None else self.model.threshold

    def row(self) -> dict[str, Any]:
        """One row of :meth:`ExperimentResults.table`."""
        row: dict[str, Any] = {
            "experiment": self.name, "run_name": self.run_name, "status": self.status,
            "n_features": len(self.features),
            "resampling": self.experiment.resampling, "threshold": self.threshold,
        }
        if self.cv is not None:
            row.update({"cv_roc_auc": self.cv.roc_auc, "cv_pr_auc": self.cv.pr_auc,
                        "cv_f1_tuned": self.cv.f1})
        if self.test_default is not None and self.test_tuned is not None:
            for m in ("roc_auc", "pr_auc", "brier"):
                row[f"test_{m}"] = getattr(self.test_tuned, m)
            for m in ("accuracy", "precision", "recall", "f1"):
                row[f"test_{m}_default"] = getattr(self.test_default, m)
                row[f"test_{m}_tuned"] = getattr(self.test_tuned, m)
        if self.trainer is not None and hasattr(self.trainer, "fit_seconds_"):
            row["fit_seconds"] = self.trainer.fit_seconds_
        row["error"] = self.error
        return row


@dataclass(eq=False)
class ExperimentResults:
    """All experiments of one :func:`run_experiments` call."""

    results: list[ExperimentResult]
    dataset: TrainingDataset
    split: DataSplit
    tracker: ExperimentTracker
    experiment_name: str

    def __iter__(self) -> Iterator[ExperimentResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, name: str) -> ExperimentResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"ExperimentResults: no experiment {name!r}; have "
                       f"{[r.name for r in self.results]}")

    def table(self) -> pd.DataFrame:
        """One row per experiment: status, threshold, CV and test metrics (at 0.5 and tuned)."""
        return pd.DataFrame([r.row() for r in self.results])

    def best(self, metric: str = "test_pr_auc") -> ExperimentResult:
        """The finished experiment with the highest ``metric`` (a :meth:`table` column)."""
        table = self.table()
        ok = table[table["status"] == FINISHED]
        if ok.empty or metric not in ok.columns:
            raise KeyError(f"ExperimentResults.best: no finished experiment with {metric!r}")
        return self[str(ok.loc[ok[metric].idxmax(), "experiment"])]


def _log(tracker: ExperimentTracker, params: Mapping[str, Any], metrics: Mapping[str, float],
         tags: Mapping[str, str]) -> None:
    tracker.log_params(params)
    tracker.log_metrics(metrics)
    set_tags = getattr(tracker, "set_tags", None)
    if callable(set_tags):
        set_tags(tags)


def run_experiments(
    dataset: TrainingDataset,
    experiments: Sequence[Experiment] = QUICKSTART_EXPERIMENTS,
    *,
    data_split: DataSplit | None = None,
    test_size: int | float = 0.2,
    holdout_size: int | float | None = None,
    trainer: XGBTrainer | None = None,
    tracker: ExperimentTracker | None = None,
    experiment_name: str = "call_quality",
    seed: int = 0,
    log_models: bool = True,
    raise_on_error: bool = False,
) -> ExperimentResults:
    """Train and evaluate each experiment on one shared split, tracking every run.

    For each experiment: the trainer fits on the train rows only (out-of-fold threshold
    tuning, resampling inside folds), then the model scores the test rows once. The holdout
    rows are not touched.

    Args:
        dataset: from :func:`build_dataset`.
        experiments: default :data:`QUICKSTART_EXPERIMENTS`.
        data_split: a precomputed :class:`DataSplit`; default ``split(dataset, test_size=...,
            holdout_size=..., seed=seed)`` (grouped by the dataset's group).
        test_size, holdout_size: see :func:`split`.
        trainer: template :class:`XGBTrainer` (hyperparameters, folds, threshold objective,
            search); each experiment uses a clone with its params/resampling; with the
            trainer's default ``group="auto"`` the folds are grouped by the dataset's group. Default ``XGBTrainer(seed=seed)``.
        tracker: where runs are logged; default a new in-memory
            :class:`LocalExperimentTracker`.
        experiment_name: tracker experiment.
        seed: split and trainer seed (when those are defaults).
        log_models: save each model (and metrics, importance) as run artifacts.
        raise_on_error: re-raise the first failure; otherwise the run is marked ``FAILED``,
            the error recorded, and the other experiments go on.

    Returns:
        :class:`ExperimentResults` (``.table()`` compares the experiments).
    """
    if not isinstance(dataset, TrainingDataset):
        raise ConfigurationError("run_experiments: pass a TrainingDataset (see build_dataset)")
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"run_experiments: duplicate experiment names {names}")
    if data_split is None:
        data_split = split(dataset, test_size=test_size, holdout_size=holdout_size, seed=seed)
    tracker = tracker if tracker is not None else LocalExperimentTracker()
    template = trainer if trainer is not None else XGBTrainer(seed=seed)
    tracker.set_experiment(experiment_name)
    train_df, test_df, _ = data_split.frames(dataset)
    y_test = test_df[dataset.label].to_numpy()
    y_train = train_df[dataset.label].to_numpy()
    majority = max(float(y_train.mean()), 1.0 - float(y_train.mean()))
    majority_class = int(y_train.mean() >= 0.5)
    split_info = data_split.summary(dataset.y)
    suffix = uuid.uuid4().hex[:8]
    results: list[ExperimentResult] = []
    for exp in experiments:
        result = ExperimentResult(experiment=exp, run_name=f"{exp.name}-{suffix}")
        results.append(result)
        try:
            with tracker.start_run(result.run_name):
                _run_one(result, dataset, data_split, train_df, test_df, y_test, template,
                         tracker, split_info, majority, majority_class, log_models,
                         experiment_name)
        except Exception as exc:
            result.status = FAILED
            result.error = f"{type(exc).__name__}: {exc}"
            if raise_on_error:
                raise
    return ExperimentResults(results=results, dataset=dataset, split=data_split,
                             tracker=tracker, experiment_name=experiment_name)


def _run_one(result: ExperimentResult, dataset: TrainingDataset, data_split: DataSplit,
             train_df: pd.DataFrame, test_df: pd.DataFrame, y_test: np.ndarray,
             template: XGBTrainer, tracker: ExperimentTracker, split_info: Mapping[str, Any],
             majority: float, majority_class: int, log_models: bool,
             experiment_name: str) -> None:
    exp = result.experiment
    feats, missing = exp.resolve_features(dataset.features)
    result.features, result.missing_features = feats, missing
    tr = template.clone(
        params={**(template.params or {}), **exp.params},
        resampling=exp.resampling if exp.resampling is not None else template.resampling,
        group=dataset.group if template.group == "auto" else template.group,
    )
    result.trainer = tr
    params = {
        "feature_set": exp.name, "features": feats, "n_features": len(feats),
        "missing_features": missing, "resampling": resampling_name(tr.resampling),
        "class_weight": tr.class_weight, "cv_folds": tr.cv_folds,
        "threshold_objective": tr.threshold_objective, "min_precision": tr.min_precision,
        "search": tr.search, "seed": tr.seed, "group": tr.group,
        "dataset_snapshot_id": dataset.snapshot_id, "label": dataset.label,
        "n_train": len(data_split.train), "n_test": len(data_split.test),
        "n_holdout": len(data_split.holdout),
    }
    tracker.log_params(params)
    model = tr.fit(train_df, label=dataset.label, features=feats)
    proba = model.predict_proba(test_df)
    result.model = model
    result.test_proba = proba
    result.cv = tr.cv_metrics_
    result.test_default = binary_metrics(y_test, proba, 0.5)
    result.test_tuned = binary_metrics(y_test, proba, model.threshold)
    result.importance = model.global_importance(train_df)
    model.metadata["lineage"] = {
        **dataset.lineage(), "features": feats, "split": dict(split_info),
        "experiment": experiment_name, "run_name": result.run_name, "feature_set": exp.name,
    }
    d, t = result.test_default, result.test_tuned
    metrics: dict[str, float] = {
        "threshold": model.threshold,
        "test_roc_auc": t.roc_auc, "test_pr_auc": t.pr_auc, "test_brier": t.brier,
        "test_majority_accuracy": float(np.mean(y_test == majority_class)),
        "train_majority_rate": majority,
        "cv_roc_auc": tr.cv_metrics_.roc_auc, "cv_pr_auc": tr.cv_metrics_.pr_auc,
        "cv_f1_tuned": tr.cv_metrics_.f1, "cv_precision_tuned": tr.cv_metrics_.precision,
        "cv_recall_tuned": tr.cv_metrics_.recall, "fit_seconds": tr.fit_seconds_,
    }
    for m in ("accuracy", "precision", "recall", "f1", "tn", "fp", "fn", "tp"):
        metrics[f"test_{m}_default"] = float(getattr(d, m))
        metrics[f"test_{m}_tuned"] = float(getattr(t, m))
    tags = {"feature_set": exp.name, "dataset_snapshot_id": dataset.snapshot_id,
            "label": dataset.label, "schema_hash": str(model.schema_hash),
            "signature_hash": model.signature_hash}
    _log(tracker, {"best_params": tr.best_params_, "n_estimators": tr.n_estimators_},
         metrics, tags)
    if log_models:
        with tempfile.TemporaryDirectory(prefix="cq-run-") as tmp:
            folder = Path(tmp)
            model.save(folder / "model")
            atomic_write_json(folder / "test_metrics.json", {
                "default": {**d.as_dict(), "confusion_matrix": d.confusion_matrix},
                "tuned": {**t.as_dict(), "confusion_matrix": t.confusion_matrix},
                "cv_tuned": tr.cv_metrics_.as_dict(),
            })
            (folder / "importance.json").write_text(
                json.dumps(to_jsonable(result.importance.to_dict()), indent=2),
                encoding="utf-8")
            for name in ("model", "test_metrics.json", "importance.json"):
                tracker.log_artifact(str(folder / name))
