"""The ``local`` backend: an embedded store in memory or in a folder shared by processes.

``cq.connect("local")`` / ``cq.connect("local", path="./cq-store")`` return a
:class:`LocalBackend`; see ``docs/local-backend.md`` for the design (SQLite in WAL mode for
the catalog, online store and prediction log; immutable Parquet segments for offline
features; checksummed model artifacts).
"""

from __future__ import annotations

from .backend import IntegrityReport, LocalBackend
from .feature_store import CALL_ENTITY, LocalFeatureStore, quickstart_feature_views
from .predictions import LocalPredictionLog
from .registry import LocalRegistry

__all__ = [
    "CALL_ENTITY",
    "IntegrityReport",
    "LocalBackend",
    "LocalFeatureStore",
    "LocalPredictionLog",
    "LocalRegistry",
    "quickstart_feature_views",
]
