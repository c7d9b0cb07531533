"""Serving: batch scoring, the HTTP prediction service, and hot-swapped registry models.

Batch::

    import callquality as cq
    from callquality.serving import score
    backend = cq.connect("local", path="./cq-store")
    preds = score(features, model="call_quality@PRODUCTION", backend=backend)  # also logged

Service (``pip install 'callquality[serve]'``)::

    CALLQUALITY_API_TOKEN=... callquality serve --model call_quality@PRODUCTION --store ./cq-store

or in Python ``create_app(backend, "call_quality@PRODUCTION", token=...)`` for any ASGI server.
See ``docs/serving.md``.
"""

from __future__ import annotations

from typing import Any

from ._batch import PREDICTION_OUTPUT_COLUMNS, PredictionWriter, score
from ._features import OnlineFeatures, online_views
from ._model import (
    FeatureField,
    LoadedModel,
    ModelRef,
    ModelWatcher,
    load_registered,
    model_signature,
    parse_model_ref,
)
from ._service import Instance, PredictionService, RequestError
from .server import TOKEN_ENV, BackgroundServer, serve

__all__ = [
    "PREDICTION_OUTPUT_COLUMNS",
    "TOKEN_ENV",
    "BackgroundServer",
    "FeatureField",
    "Instance",
    "LoadedModel",
    "ModelRef",
    "ModelWatcher",
    "OnlineFeatures",
    "PredictionService",
    "PredictionWriter",
    "RequestError",
    "create_app",
    "load_registered",
    "model_signature",
    "online_views",
    "parse_model_ref",
    "score",
    "serve",
]


def __getattr__(name: str) -> Any:  # FastAPI is imported only when the app is wanted
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'callquality.serving' has no attribute {name!r}")
