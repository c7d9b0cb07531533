"""The ``snowflake`` backend: callquality's protocols on snowflake-ml-python and Snowpark.

``cq.connect("snowflake", session=session, database=..., schema=..., warehouse=...)``
returns a :class:`SnowflakeBackend`:

==================  ========================================================================
component           Snowflake
==================  ========================================================================
``registry``        ``snowflake.ml.registry.Registry`` (XGBoost models run natively, SHAP
                    explanations, task ``TABULAR_BINARY_CLASSIFICATION``, aliases)
``feature_store``   ``snowflake.ml.feature_store.FeatureStore`` (entity, versioned views with
                    ``OnlineConfig`` and a target lag, point-in-time and online reads)
``experiments``     ``snowflake.ml.experiment.ExperimentTracking`` (one per session)
``predictions``     a table with UPPER-case columns + model monitors (``Registry.add_monitor``)
``stage(...)``      recordings on a stage (``LIST``/``GET``) and ``write_features`` (the
                    quickstart's ``CALL_ACOUSTIC_FEATURES``)
==================  ========================================================================

Needs ``pip install 'callquality[snowflake]'``. See ``docs/snowflake.md``.
"""

from __future__ import annotations

from .backend import SnowflakeBackend
from .experiments import SnowflakeExperimentTracker
from .feature_store import SnowflakeFeatureStore
from .predictions import SnowflakeModelMonitor, SnowflakePredictionLog
from .registry import SnowflakeRegistry
from .stage import StageAudioSource

__all__ = [
    "SnowflakeBackend",
    "SnowflakeExperimentTracker",
    "SnowflakeFeatureStore",
    "SnowflakeModelMonitor",
    "SnowflakePredictionLog",
    "SnowflakeRegistry",
    "StageAudioSource",
]
