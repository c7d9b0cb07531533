"""Local prediction log: windows, late actuals, extras, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.backends.errors import DuplicateKeyError, MissingColumnsError
from callquality.exceptions import NotFoundError, SchemaError

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


@pytest.fixture
def log():
    with cq.connect("local", predefined_views=False) as s:
        yield s.predictions


def batch(n: int, prefix: str = "p", model: str = "cq", version: str = "V1") -> pd.DataFrame:
    return pd.DataFrame({"prediction_id": [f"{prefix}{i}" for i in range(n)],
                         "call_id": [f"call{i % 3}" for i in range(n)],
                         "model_name": model, "model_version": version, "threshold": 0.5,
                         "score": np.linspace(0.1, 0.9, n), "predicted_class": [i % 2 for i in range(n)],
                         "predicted_at": [T0 + timedelta(minutes=i) for i in range(n)]})


def test_windows_models_and_versions(log) -> None:
    log.log_predictions(batch(6))
    log.log_predictions(batch(4, prefix="q", version="V2"))
    log.log_predictions(batch(2, prefix="r", model="other"))
    assert len(log.read()) == 12
    assert len(log.read(model_name="CQ")) == 10  # names match case-insensitively
    assert list(log.read(model_name="cq", model_version="v2")["prediction_id"]) == \
        ["q0", "q1", "q2", "q3"]
    naive = datetime(2024, 5, 1, 0, 2)  # naive = UTC; start inclusive, end exclusive
    window = log.read(model_name="cq", start=naive, end=T0 + timedelta(minutes=4))
    assert sorted(window["prediction_id"]) == ["p2", "p3", "q2", "q3"]
    assert window["predicted_at"].dt.tz is not None
    assert log.read(start=T0 + timedelta(days=1)).empty
    assert list(log.read().columns[:10]) == ["prediction_id", "call_id", "model_name",
                                              "model_version", "threshold", "score",
                                              "predicted_class", "predicted_at", "actual",
                                              "actual_at"]


def test_actuals_by_call_id_and_corrections(log) -> None:
    log.log_predictions(batch(6))
    assert log.log_actuals(pd.DataFrame({"call_id": ["call0"], "actual": [1]})) == 2
    log.log_actuals(pd.DataFrame({"prediction_id": ["p0"], "actual": [0],
                                  "actual_at": [T0 + timedelta(days=2)]}))
    got = log.read().set_index("prediction_id")
    assert got.loc["p0", "actual"] == 0 and got.loc["p3", "actual"] == 1
    assert got.loc["p0", "actual_at"] == pd.Timestamp(T0 + timedelta(days=2))
    assert got["actual"].isna().sum() == 4
    with pytest.raises(NotFoundError, match="call9"):
        log.log_actuals(pd.DataFrame({"call_id": ["call9"], "actual": [1]}))
    with pytest.raises(SchemaError, match="integers"):
        log.log_actuals(pd.DataFrame({"prediction_id": ["p1"], "actual": [0.5]}))
    with pytest.raises(MissingColumnsError, match="actual"):
        log.log_actuals(pd.DataFrame({"prediction_id": ["p1"]}))


def test_extras_ids_and_defaults(log) -> None:
    df = batch(2).drop(columns=["prediction_id", "predicted_at", "threshold"])
    df["jitter"] = [0.1, np.nan]
    df["segment"] = ["a", "b"]
    assert log.log_predictions(df) == 2
    got = log.read().sort_values("segment")  # same predicted_at: order by random id
    assert got["prediction_id"].str.len().tolist() == [32, 32]
    assert got["jitter"].tolist()[0] == 0.1 and pd.isna(got["jitter"].iloc[1])
    assert got["segment"].tolist() == ["a", "b"]
    assert got["threshold"].isna().all()
    assert (pd.Timestamp.now(tz="UTC") - got["predicted_at"]).max() < pd.Timedelta("1 min")


def test_bad_batches(log) -> None:
    with pytest.raises(SchemaError, match="score"):
        log.log_predictions(batch(2).assign(score=[0.1, np.nan]))
    with pytest.raises(SchemaError, match="predicted_class"):
        log.log_predictions(batch(2).assign(predicted_class=[0, 0.5]))
    with pytest.raises(MissingColumnsError, match="model_version"):
        log.log_predictions(batch(2).drop(columns=["model_version"]))
    with pytest.raises(SchemaError, match="predicted_at"):
        log.log_predictions(batch(2).assign(predicted_at=[T0, None]))
    log.log_predictions(batch(2))
    with pytest.raises(DuplicateKeyError, match="already logged"):
        log.log_predictions(pd.concat([batch(3, prefix="z"), batch(1)]))
    assert len(log.read()) == 2
    assert log.log_predictions(batch(0)) == 0
