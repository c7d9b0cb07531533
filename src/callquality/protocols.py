"""The contracts every component and backend implements.

Services depend on these protocols, never on a concrete backend. Each maps one to one onto a
snowflake-ml-python 2.6 concept, so the ``local`` and ``snowflake`` backends are
interchangeable:

===================  ==================================================================
protocol             Snowflake concept
===================  ==================================================================
Registry             ``snowflake.ml.registry.Registry`` (model, version, metrics, alias,
                     default version)
FeatureStore         ``snowflake.ml.feature_store.FeatureStore`` (entity, versioned feature
                     view, offline read with a point-in-time spine, online read)
ExperimentTracker    ``snowflake.ml.experiment.ExperimentTracking`` (experiment, run,
                     params, metrics, artifacts, status)
PredictionMonitor    model monitor (``Registry.add_monitor``: source table, baseline,
                     id/timestamp/prediction/actual columns, aggregation window)
===================  ==================================================================

All tables are pandas DataFrames whose feature columns are named by
:data:`callquality.schema.FEATURES`. Protocols are ``runtime_checkable`` so that
``isinstance(obj, Registry)`` checks the method names (not their signatures).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pandas as pd

    from .calls import Call

__all__ = [
    "AcousticExtractor",
    "Backend",
    "Entity",
    "ExperimentTracker",
    "FeatureStore",
    "FeatureViewSpec",
    "Labeler",
    "ModelVersionInfo",
    "PersistableModel",
    "PredictionLog",
    "PredictionMonitor",
    "Registry",
    "RunInfo",
    "TrainedModel",
    "Trainer",
]


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class Entity:
    """A business object features describe (``snowflake.ml.feature_store.Entity``)."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class FeatureViewSpec:
    """A named, versioned set of features keyed by an entity (``FeatureView``).

    Attributes:
        name: view name, e.g. ``"acoustic_features"``.
        entity: the entity whose join keys key the rows.
        features: feature column names (schema names).
        timestamp_col: event-time column used for point-in-time retrieval.
        version: version string (``^[A-Za-z0-9][A-Za-z0-9_.-]*$``).
        description: free text.
        online: whether an online (latest row per key) copy is materialised.
        target_lag: freshness goal of the online copy, e.g. ``"1 minute"``.
    """

    name: str
    entity: Entity
    features: tuple[str, ...]
    timestamp_col: str = "processed_at"
    version: str = "v1"
    description: str = ""
    online: bool = True
    target_lag: str | None = None


@dataclass(frozen=True)
class ModelVersionInfo:
    """What a registry knows about one model version."""

    model_name: str
    version: str
    created_at: datetime
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    comment: str = ""
    lineage: Mapping[str, Any] = field(default_factory=dict)  # dataset snapshot, run id, signature
    is_default: bool = False
    artifact_sha256: str = ""  # sha256 over the artifact's file manifest (names, sizes, sha256)
    model_type: str = ""  # "module:Class" whose load(directory) classmethod loads the artifact


@dataclass(frozen=True)
class RunInfo:
    """One experiment run (``snowflake.ml.experiment`` run)."""

    experiment: str
    run_name: str
    status: str  # RUNNING | FINISHED | FAILED
    started_at: datetime
    ended_at: datetime | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    artifacts: tuple[str, ...] = ()  # relative POSIX paths of the run's artifact files


# --------------------------------------------------------------------------- components


@runtime_checkable
class AcousticExtractor(Protocol):
    """Turns calls into the acoustic and interaction feature table (one row per call)."""

    def extract(self, calls: Iterable[Call]) -> pd.DataFrame:
        """Columns: ``call_id``, ``agent_id``, ``processed_at``, the features of the chosen
        groups in schema order, and ``error`` (``None`` when the call succeeded). A failing call
        yields a row with its ``error`` set; it never stops the batch."""
        ...


@runtime_checkable
class Labeler(Protocol):
    """Assigns outcomes (resolved, satisfaction) to calls; never defaults a label silently."""

    name: str
    version: str

    def label(self, features_or_calls: pd.DataFrame | Sequence[Call]) -> pd.DataFrame:
        """One row per labeled call with the outcome schema's columns; calls whose label could
        not be validated are quarantined (reported), not defaulted."""
        ...


@runtime_checkable
class TrainedModel(Protocol):
    """A fitted binary classifier with its decision threshold and feature signature."""

    feature_names: Sequence[str]
    threshold: float

    def predict_proba(self, df: pd.DataFrame) -> Any:
        """Positive-class probabilities, shape ``(n_rows,)``."""
        ...

    def predict(self, df: pd.DataFrame) -> Any:
        """Classes 0/1 at :attr:`threshold`."""
        ...


@runtime_checkable
class PersistableModel(Protocol):
    """A model the registry can store: it saves itself into a folder and its class loads it
    back with the classmethod ``load(directory)``; no pickle."""

    def save(self, path: Any) -> Any:
        ...


@runtime_checkable
class Trainer(Protocol):
    """Fits a :class:`TrainedModel` on a training table (features + label column)."""

    def fit(self, df: pd.DataFrame, *, label: str, features: Sequence[str]) -> TrainedModel:
        ...


# --------------------------------------------------------------------------- storage


@runtime_checkable
class Registry(Protocol):
    """Model registry: models, numbered or named versions, metrics, aliases, lineage."""

    def log_model(self, model: TrainedModel, *, model_name: str, version_name: str | None = None,
                  metrics: Mapping[str, Any] | None = None,
                  params: Mapping[str, Any] | None = None, comment: str = "",
                  lineage: Mapping[str, Any] | None = None,
                  tags: Mapping[str, str] | None = None) -> ModelVersionInfo:
        """Store a new version (checksummed artifact, no pickle) and return its info.

        ``model`` saves itself with ``model.save(directory)`` and its class loads it back with
        the classmethod ``load(directory)`` (see :class:`PersistableModel`). Names are SQL
        identifiers; ``version_name=None`` numbers versions ``V1, V2, ...``."""
        ...

    def get_version(self, model_name: str, version_or_alias: str | None = None
                    ) -> ModelVersionInfo:
        """A version by name or alias; the default version when ``None``."""
        ...

    def versions(self, model_name: str) -> list[ModelVersionInfo]:
        ...

    def models(self) -> list[str]:
        ...

    def show_models(self) -> pd.DataFrame:
        """One row per model (name, created_on, default_version_name, versions, aliases)."""
        ...

    def show_versions(self, model_name: str) -> pd.DataFrame:
        """One row per version (name, created_on, aliases, is_default_version, comment,
        metrics, params, tags, lineage, model_type, artifact_sha256)."""
        ...

    def load_model(self, ref: str) -> TrainedModel:
        """Load ``"name@ALIAS"``, ``"name/version"`` or ``"name"`` (default version); the
        artifact's checksum is verified first."""
        ...

    def set_alias(self, model_name: str, version: str, alias: str) -> None:
        """Point ``alias`` (unique per model) at ``version``, atomically moving it if needed."""
        ...

    def unset_alias(self, model_name: str, alias: str) -> None:
        ...

    def set_default_version(self, model_name: str, version: str) -> None:
        ...

    def set_metric(self, model_name: str, version: str, name: str, value: Any) -> None:
        ...

    def delete_version(self, model_name: str, version: str, *, force: bool = False) -> None:
        """Refused for an aliased version unless ``force``."""
        ...

    def delete_model(self, model_name: str, *, force: bool = False) -> None:
        """Delete a model and all its versions; refused while it has aliases unless ``force``."""
        ...


@runtime_checkable
class FeatureStore(Protocol):
    """Entities and versioned feature views; offline (point-in-time) and online reads."""

    def register_entity(self, entity: Entity) -> Entity:
        ...

    def register_feature_view(self, view: FeatureViewSpec, *, overwrite: bool = False
                              ) -> FeatureViewSpec:
        ...

    def get_feature_view(self, name: str, version: str) -> FeatureViewSpec:
        ...

    def ingest(self, view: str, df: pd.DataFrame, *, version: str | None = None) -> int:
        """Upsert rows (by join keys + timestamp); returns the number of rows written.
        ``version=None`` (or ``view="name/version"``) picks the view's newest version."""
        ...

    def retrieve_feature_values(self, spine: pd.DataFrame, views: Sequence[str], *,
                                spine_timestamp_col: str | None = None,
                                ttl: str | None = None) -> pd.DataFrame:
        """For each spine row the latest feature row at or before its timestamp (ASOF join)."""
        ...

    def get_online_features(self, view: str, keys: Sequence[Any],
                            feature_names: Sequence[str] | None = None) -> pd.DataFrame:
        """Latest row per key from the online store (low latency)."""
        ...

    def list_feature_views(self) -> pd.DataFrame:
        """One row per registered view version."""
        ...

    def freshness(self, view: str | None = None) -> pd.DataFrame:
        """Per view version: last event time, last ingestion time, lag (now - last event) and
        whether it is within the view's ``target_lag``."""
        ...


@runtime_checkable
class ExperimentTracker(Protocol):
    """Experiments and runs with params, metrics, tags, artifacts and status."""

    def set_experiment(self, name: str) -> None:
        ...

    def start_run(self, run_name: str | None = None) -> AbstractContextManager[RunInfo]:
        """A context manager: FINISHED on normal exit, FAILED when an exception escapes."""
        ...

    def log_params(self, params: Mapping[str, Any]) -> None:
        ...

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        ...

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        ...

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Comparison table: one row per run, params and metrics as columns."""
        ...


@runtime_checkable
class PredictionLog(Protocol):
    """Predictions as they are made, and the actuals that arrive later."""

    def log_predictions(self, df: pd.DataFrame) -> int:
        """Rows with prediction_id, call_id, model_name, model_version, threshold, score,
        predicted_class, predicted_at."""
        ...

    def log_actuals(self, df: pd.DataFrame) -> int:
        """Rows with prediction_id (or call_id) and actual; joined to predictions by id."""
        ...

    def read(self, *, model_name: str | None = None, start: datetime | None = None,
             end: datetime | None = None) -> pd.DataFrame:
        """Predictions with ``start <= predicted_at < end`` joined with their actuals
        (``actual``, ``actual_at``; missing until they arrive), oldest first."""
        ...


@runtime_checkable
class PredictionMonitor(Protocol):
    """Drift and performance of one model version against a baseline, per time window."""

    def metrics(self, *, start: datetime | None = None, end: datetime | None = None,
                window: str = "1D", segment: str | None = None) -> pd.DataFrame:
        """Performance (accuracy, precision, recall, F1, ROC AUC, counts, nulls) per window."""
        ...

    def drift(self, *, start: datetime | None = None, end: datetime | None = None,
              window: str = "1D", method: str = "psi") -> pd.DataFrame:
        """Drift of each feature and of the score against the baseline, per window."""
        ...


@runtime_checkable
class Backend(Protocol):
    """What :func:`callquality.connect` returns: one object per store."""

    name: str
    registry: Registry
    feature_store: FeatureStore
    experiments: ExperimentTracker
    predictions: PredictionLog

    def close(self) -> None:
        """Release connections; the object is unusable afterwards (idempotent)."""
        ...
