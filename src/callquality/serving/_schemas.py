"""Request and response bodies of the prediction service (pydantic models)."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

__all__ = ["BatchRequest", "BatchResponse", "PredictRequest", "Prediction"]

#: A feature value: a number, a label, or null (missing). Booleans are refused.
FeatureValue = Union[StrictInt, StrictFloat, StrictStr, None]  # noqa: UP007 (pydantic needs it at runtime on 3.10)


class PredictRequest(BaseModel):
    """A call id (features from the online store), features, or both (the request's
    features override the store's)."""

    model_config = ConfigDict(extra="forbid")
    call_id: str | None = Field(default=None, min_length=1, max_length=256)
    features: dict[str, FeatureValue] | None = None


class BatchRequest(BaseModel):
    """Several instances, predicted with the same model version."""

    model_config = ConfigDict(extra="forbid")
    instances: list[PredictRequest] = Field(min_length=1)


class Prediction(BaseModel):
    """One answer; the same row is in the prediction log under ``prediction_id``."""

    prediction_id: str
    call_id: str | None
    model_name: str
    model_version: str
    score: float
    predicted_class: int
    threshold: float
    label: str
    predicted_at: str
    feature_source: Literal["request", "online_store", "request+online_store"]
    missing_features: list[str]


class BatchResponse(BaseModel):
    predictions: list[Prediction]
