"""The Snowflake backend: the four stores on snowflake-ml-python and Snowpark."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...exceptions import ConfigurationError
from ..local.registry import DEFAULT_TRUSTED_MODULES
from ._errors import boundary
from ._names import Ident, ObjectName, parse_ident, parse_object_name, parse_stage, session_ident
from .experiments import SnowflakeExperimentTracker
from .feature_store import SnowflakeFeatureStore
from .predictions import SnowflakePredictionLog
from .registry import SnowflakeRegistry
from .stage import (
    AUDIO_SUFFIXES,
    FEATURES_TABLE,
    StageAudioSource,
    features_table,
    read_features,
    write_features,
)

__all__ = ["SnowflakeBackend"]

_ENV_KEYS = {"account": "SNOWFLAKE_ACCOUNT", "user": "SNOWFLAKE_USER",
             "password": "SNOWFLAKE_PASSWORD", "role": "SNOWFLAKE_ROLE",
             "warehouse": "SNOWFLAKE_WAREHOUSE", "database": "SNOWFLAKE_DATABASE",
             "schema": "SNOWFLAKE_SCHEMA", "authenticator": "SNOWFLAKE_AUTHENTICATOR",
             "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE", "host": "SNOWFLAKE_HOST"}


class SnowflakeBackend:
    """The Snowflake backend (implements :class:`callquality.protocols.Backend`).

    ``cq.connect("snowflake", session=session, database="CQ", schema="ML",
    warehouse="CQ_WH")``: the registry on ``snowflake.ml.registry.Registry``, the feature
    store on ``snowflake.ml.feature_store.FeatureStore``, experiments on
    ``ExperimentTracking`` and the prediction log as a table, all in one database and schema
    (the feature store may have its own schema, as in the quickstart's ``CALL_QUALITY_FS``).

    Args:
        session: a ``snowflake.snowpark.Session`` (the backend does not close it).
        database, schema: where everything lives (default: the session's current ones).
            Unquoted names are resolved upper-case; ``'"Mixed"'`` keeps its case.
        warehouse: the warehouse of the feature store's refreshes and of model monitors
            (default: the session's).
        feature_store_schema: the feature store's schema (default: ``schema``); created if
            missing.
        predefined_views: register the quickstart's ``call`` entity and its three views (once
            per feature-store schema).
        trusted_modules: module prefixes whose model classes the registry may import.
        prediction_table: the prediction log table (``NAME`` or ``SCHEMA.NAME``).
        online_target_lag: online ``target_lag`` of views that set none (quickstart:
            ``"30 seconds"``).
        refresh_freq: refresh frequency of the views' dynamic tables (quickstart:
            ``"1 minute"``).
        refresh_on_ingest: refresh a view's dynamic and online tables after each ingestion,
            so that reads see the batch at once.
        capture_source_info: let experiment tracking record entry points and git info.
        registry, feature_store, experiment_tracking: snowflake-ml objects to use instead of
            creating them (tests and advanced setups).

    Attributes:
        name: ``"snowflake"``.
        session, database, schema, warehouse: as resolved.
    """

    name = "snowflake"

    def __init__(self, session: Any = None, *, database: str | None = None,
                 schema: str | None = None, warehouse: str | None = None,
                 feature_store_schema: str | None = None, predefined_views: bool = True,
                 trusted_modules: Sequence[str] = DEFAULT_TRUSTED_MODULES,
                 prediction_table: str = "CQ_PREDICTION_LOG",
                 online_target_lag: str = "30 seconds", refresh_freq: str = "1 minute",
                 refresh_on_ingest: bool = True, capture_source_info: bool = False,
                 registry: Any = None, feature_store: Any = None,
                 experiment_tracking: Any = None) -> None:
        call = "connect('snowflake')"
        if session is None:
            raise ConfigurationError(f"{call}: pass session= (a snowflake.snowpark.Session), "
                                     "or use SnowflakeBackend.from_env()")
        from snowflake.snowpark import Session

        if not isinstance(session, Session):
            raise ConfigurationError(f"{call}: session must be a snowflake.snowpark.Session, "
                                     f"got {type(session).__name__}")
        self.session = session
        with boundary(call):
            db = parse_ident(database, "database", call) if database is not None else \
                session_ident(session.get_current_database(), "database", call)
            sch = parse_ident(schema, "schema", call) if schema is not None else \
                session_ident(session.get_current_schema(), "schema", call)
            wh = parse_ident(warehouse, "warehouse", call) if warehouse is not None else \
                session_ident(session.get_current_warehouse(), "warehouse", call)
        if db is None or sch is None:
            raise ConfigurationError(f"{call}: no database/schema: pass database= and schema= "
                                     "or USE them in the session")
        self.database: Ident = db
        self.schema: Ident = sch
        self.warehouse: Ident | None = wh
        self.feature_store_schema = sch if feature_store_schema is None else \
            parse_ident(feature_store_schema, "feature_store_schema", call)
        for what, value in (("online_target_lag", online_target_lag),
                            ("refresh_freq", refresh_freq)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{call}: {what} must be a duration such as "
                                         "'1 minute'")
        self.trusted_modules = tuple(trusted_modules)
        self._predefined_views = predefined_views
        self._options = {"online_target_lag": online_target_lag, "refresh_freq": refresh_freq,
                         "refresh_on_ingest": refresh_on_ingest}
        self._capture_source_info = capture_source_info
        self._prediction_table = parse_object_name(prediction_table, "prediction_table", call,
                                                   database=db, schema=sch)
        self._sf_registry = registry
        self._sf_feature_store = feature_store
        self._sf_tracking = experiment_tracking
        self._registry: SnowflakeRegistry | None = None
        self._feature_store: SnowflakeFeatureStore | None = None
        self._experiments: SnowflakeExperimentTracker | None = None
        self._predictions: SnowflakePredictionLog | None = None
        self._owns_session = False
        self._closed = False

    @classmethod
    def from_env(cls, **options: Any) -> SnowflakeBackend:
        """Open a session from ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_USER``, ``SNOWFLAKE_PASSWORD``
        (or ``SNOWFLAKE_PRIVATE_KEY_FILE`` / ``SNOWFLAKE_AUTHENTICATOR``), ``SNOWFLAKE_ROLE``,
        ``SNOWFLAKE_WAREHOUSE``, ``SNOWFLAKE_DATABASE``, ``SNOWFLAKE_SCHEMA``; the backend
        closes that session in :meth:`close`."""
        params = {k: os.environ[v] for k, v in _ENV_KEYS.items() if os.environ.get(v)}
        if "account" not in params:
            raise ConfigurationError("SnowflakeBackend.from_env: SNOWFLAKE_ACCOUNT is not set")
        from snowflake.snowpark import Session

        with boundary("SnowflakeBackend.from_env"):
            session = Session.builder.configs(params).create()
        backend = cls(session, **options)
        backend._owns_session = True
        return backend

    def __repr__(self) -> str:
        return f"SnowflakeBackend({self.database}.{self.schema})"

    def __enter__(self) -> SnowflakeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError(f"{self!r} is closed")

    def _require_warehouse(self, what: str) -> Ident:
        if self.warehouse is None:
            raise ConfigurationError(f"connect('snowflake'): {what} needs a warehouse; pass "
                                     "warehouse= or USE WAREHOUSE in the session")
        return self.warehouse

    # ------------------------------------------------------------------ components

    @property
    def registry(self) -> SnowflakeRegistry:
        """The model registry (``snowflake.ml.registry.Registry``), created on first use."""
        self._check_open()
        if self._registry is None:
            reg = self._sf_registry
            if reg is None:
                from snowflake.ml.registry import Registry

                with boundary("connect('snowflake').registry"):
                    reg = Registry(self.session, database_name=self.database.api,
                                   schema_name=self.schema.api)
                self._sf_registry = reg
            self._registry = SnowflakeRegistry(
                reg, self.session, trusted_modules=self.trusted_modules,
                sequences_table=ObjectName(self.database, self.schema,
                                           Ident("CQ_MODEL_SEQUENCES")))
        return self._registry

    @property
    def feature_store(self) -> SnowflakeFeatureStore:
        """The feature store (``snowflake.ml.feature_store.FeatureStore``), created (with the
        quickstart's views, when ``predefined_views``) on first use."""
        self._check_open()
        if self._feature_store is None:
            fs = self._sf_feature_store
            if fs is None:
                from snowflake.ml.feature_store import CreationMode, FeatureStore

                wh = self._require_warehouse("the feature store")
                with boundary("connect('snowflake').feature_store"):
                    fs = FeatureStore(self.session, self.database.api,
                                      self.feature_store_schema.api, wh.api,
                                      creation_mode=CreationMode.CREATE_IF_NOT_EXIST)
                self._sf_feature_store = fs
            store = SnowflakeFeatureStore(fs, self.session, database=self.database,
                                          schema=self.feature_store_schema,
                                          online_target_lag=str(
                                              self._options["online_target_lag"]),
                                          refresh_freq=str(self._options["refresh_freq"]),
                                          refresh_on_ingest=bool(
                                              self._options["refresh_on_ingest"]))
            if self._predefined_views:
                store.install_quickstart_views()
            self._feature_store = store
        return self._feature_store

    @property
    def experiments(self) -> SnowflakeExperimentTracker:
        """The experiment tracker (one ``ExperimentTracking`` per session)."""
        self._check_open()
        if self._experiments is None:
            self._experiments = SnowflakeExperimentTracker(
                self.session, database=self.database, schema=self.schema,
                tracking=self._sf_tracking, capture_source_info=self._capture_source_info)
        return self._experiments

    @property
    def predictions(self) -> SnowflakePredictionLog:
        """The prediction log table (and model monitors over it)."""
        self._check_open()
        if self._predictions is None:
            self._predictions = SnowflakePredictionLog(
                self.session, self._prediction_table, registry=self._sf_registry_or_create(),
                warehouse=self.warehouse)
        return self._predictions

    def _sf_registry_or_create(self) -> Any:
        return self.registry.snowflake_registry

    # ------------------------------------------------------------------ stage and tables

    def stage(self, location: str, *, suffixes: Sequence[str] = AUDIO_SUFFIXES
              ) -> StageAudioSource:
        """The recordings under ``location`` (``"@audio_files/calls"``,
        ``"@DB.SCHEMA.STAGE/path"``)."""
        self._check_open()
        loc = parse_stage(location, f"stage({location!r})", database=self.database,
                          schema=self.schema)
        return StageAudioSource(self.session, loc, suffixes=suffixes)

    def write_features(self, df: pd.DataFrame, table: str = FEATURES_TABLE, *,
                       mode: str = "append", column_case: str = "upper") -> int:
        """Write ``cq.extract`` output to ``table`` (default the quickstart's
        ``CALL_ACOUSTIC_FEATURES``) with the schema's names upper-cased; see
        :func:`.stage.write_features`."""
        self._check_open()
        call = f"write_features({table!r})"
        target = features_table(table, database=self.database, schema=self.schema, call=call)
        return write_features(self.session, df, target, mode=mode, column_case=column_case)

    def read_features(self, table: str = FEATURES_TABLE) -> pd.DataFrame:
        """A features table with the schema's column names and dtypes."""
        self._check_open()
        call = f"read_features({table!r})"
        target = features_table(table, database=self.database, schema=self.schema, call=call)
        return read_features(self.session, target)

    def labeling_client(self, model: str = "claude-sonnet-4-5", **options: Any) -> Any:
        """A :class:`~callquality.labeling.clients.SnowflakeAICompleteClient` on this session
        (``AI_COMPLETE`` with the outcome JSON schema as ``response_format``)."""
        from ...labeling.clients import SnowflakeAICompleteClient

        return SnowflakeAICompleteClient(self.session, model, **options)

    def close(self) -> None:
        """Release the feature store's resources (and the session, when :meth:`from_env`
        opened it); idempotent."""
        if self._closed:
            return
        self._closed = True
        fs = self._sf_feature_store
        close = getattr(fs, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # pragma: no cover - closing must not fail
                pass
        if self._owns_session:
            try:
                self.session.close()
            except Exception:  # pragma: no cover
                pass
