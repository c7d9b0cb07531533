"""Public test helpers: a tiny model and the backend conformance suite.

Every backend (``local`` in memory and in a folder, ``snowflake``, a third party's) must pass
the same suite, written against the protocols only. Use it from a test module in one of two
ways::

    # 1. a factory (the suite calls it with pytest's tmp_path and closes what it returns)
    from callquality.testing import backend_conformance
    TestMyBackend = backend_conformance(lambda tmp_path: connect("mine", root=tmp_path))

    # 2. subclass, with a ``backend`` fixture (parametrise it to cover several backends)
    @pytest.fixture(params=["memory", "folder"])
    def backend(request, tmp_path): ...
    class TestLocal(BackendConformance): pass

The suite needs pytest; :class:`FakeModel` does not.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    SchemaError,
)
from .protocols import Backend, Entity, FeatureStore, FeatureViewSpec, PredictionLog, Registry
from .schema import feature_names

__all__ = ["BackendConformance", "FakeModel", "backend_conformance", "make_feature_rows"]


class FakeModel:
    """A tiny deterministic binary classifier that saves itself without pickle.

    ``score = sigmoid(bias + sum(weights[f] * x[f]))``; ``predict`` compares the score with
    ``threshold``. ``save(dir)`` writes ``model.json`` and, when ``payload_bytes > 0``, a
    ``payload.bin`` of pseudo-random bytes (to exercise large, multi-file artifacts).

    Implements :class:`callquality.protocols.TrainedModel` and ``PersistableModel``.
    """

    def __init__(self, weights: Mapping[str, float], *, bias: float = 0.0,
                 threshold: float = 0.5, payload_bytes: int = 0, seed: int = 0) -> None:
        self.weights = {str(k): float(v) for k, v in weights.items()}
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.payload_bytes = int(payload_bytes)
        self.seed = int(seed)

    @property
    def feature_names(self) -> list[str]:
        return list(self.weights)

    @property
    def feature_dtypes(self) -> dict[str, str]:
        return {f: "float64" for f in self.weights}

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        z = np.full(len(df), self.bias)
        for f, w in self.weights.items():
            z = z + w * pd.to_numeric(df[f]).to_numpy(dtype=float)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def _payload(self) -> bytes:
        return np.random.default_rng(self.seed).bytes(self.payload_bytes)

    def save(self, path: str | os.PathLike[str]) -> Path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"weights": self.weights, "bias": self.bias, "threshold": self.threshold,
               "payload_bytes": self.payload_bytes, "seed": self.seed}
        (folder / "model.json").write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
        if self.payload_bytes:
            (folder / "payload.bin").write_bytes(self._payload())
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FakeModel:
        folder = Path(path)
        doc = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        model = cls(doc["weights"], bias=doc["bias"], threshold=doc["threshold"],
                    payload_bytes=doc["payload_bytes"], seed=doc["seed"])
        if model.payload_bytes and (folder / "payload.bin").read_bytes() != model._payload():
            raise ValueError("FakeModel.load: payload.bin does not match the model")
        return model

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeModel) and (
            self.weights, self.bias, self.threshold, self.payload_bytes, self.seed) == (
            other.weights, other.bias, other.threshold, other.payload_bytes, other.seed)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FakeModel({self.weights}, bias={self.bias}, threshold={self.threshold})"


def make_feature_rows(features: list[str] | tuple[str, ...], call_ids: list[str],
                      times: list[datetime], *, seed: int = 0,
                      key: str = "call_id", timestamp_col: str = "processed_at"
                      ) -> pd.DataFrame:
    """A batch for a view: one row per (call_id, time) pair, values from the schema dtypes
    (floats in [0, 1), small ints, labels)."""
    from .schema import feature_spec

    rng = np.random.default_rng(seed)
    n = len(call_ids)
    df = pd.DataFrame({key: call_ids, timestamp_col: pd.to_datetime(times, utc=True)})
    for f in features:
        dtype = feature_spec(f).dtype
        if dtype == "float64":
            df[f] = rng.random(n)
        elif dtype == "int64":
            df[f] = pd.array(rng.integers(0, 20, n), dtype="Int64")
        else:
            df[f] = pd.array(rng.choice(["neutral", "positive", "negative"], n), dtype="string")
    return df


_T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _t(hours: float) -> datetime:
    return _T0 + timedelta(hours=hours)


class BackendConformance:
    """The behaviour every backend must show, against the protocols only.

    Subclasses (or the test module) provide a function-scoped fixture ``backend`` yielding
    a fresh, empty store. Override :meth:`conformance_model` if the backend cannot store a
    :class:`FakeModel`.
    """

    MODEL = "conformance_model"

    # ------------------------------------------------------------------ helpers

    def conformance_model(self, seed: int = 0) -> Any:
        """A model the registry under test can log and load back."""
        return FakeModel({"jitter": 1.5 + seed, "shimmer": -2.0}, bias=0.1 * seed,
                         threshold=0.4, seed=seed)

    @staticmethod
    def _inputs() -> pd.DataFrame:
        return pd.DataFrame({"jitter": [0.0, 0.5, 1.0], "shimmer": [0.2, 0.1, 0.0]})

    def _assert_same_model(self, a: Any, b: Any) -> None:
        x = self._inputs()
        np.testing.assert_allclose(np.asarray(a.predict_proba(x)),
                                   np.asarray(b.predict_proba(x)))
        assert float(a.threshold) == float(b.threshold)

    # ------------------------------------------------------------------ protocols

    def test_backend_implements_the_protocols(self, backend: Any) -> None:
        assert isinstance(backend, Backend)
        assert isinstance(backend.registry, Registry)
        assert isinstance(backend.feature_store, FeatureStore)
        assert isinstance(backend.predictions, PredictionLog)
        assert isinstance(backend.name, str) and backend.name

    # ------------------------------------------------------------------ registry

    def test_registry_log_and_load_by_every_reference(self, backend: Any) -> None:
        reg = backend.registry
        model = self.conformance_model(0)
        info = reg.log_model(model, model_name=self.MODEL, metrics={"auc": 0.9},
                             params={"max_depth": 3}, comment="first",
                             lineage={"dataset_snapshot_id": "ds1", "run_id": "run1"},
                             tags={"team": "qa"})
        assert info.version == "V1" and info.is_default
        assert info.metrics == {"auc": 0.9} and info.params == {"max_depth": 3}
        assert info.tags == {"team": "qa"} and info.comment == "first"
        assert info.lineage["dataset_snapshot_id"] == "ds1"
        assert info.lineage["run_id"] == "run1"
        sig = info.lineage["signature"]
        assert [s["name"] for s in sig] == ["jitter", "shimmer"]
        reg.set_alias(self.MODEL, "V1", "PRODUCTION")
        for ref in (self.MODEL, f"{self.MODEL}/V1", f"{self.MODEL}/v1",
                    f"{self.MODEL}@PRODUCTION", f"{self.MODEL}@production"):
            self._assert_same_model(reg.load_model(ref), model)
        assert self.MODEL.lower() in [m.lower() for m in reg.models()]

    def test_registry_numbers_versions_and_accepts_names(self, backend: Any) -> None:
        reg = backend.registry
        v1 = reg.log_model(self.conformance_model(0), model_name=self.MODEL)
        v2 = reg.log_model(self.conformance_model(1), model_name=self.MODEL)
        named = reg.log_model(self.conformance_model(2), model_name=self.MODEL,
                              version_name="exp_2024_06")
        v3 = reg.log_model(self.conformance_model(3), model_name=self.MODEL)
        assert [v1.version, v2.version, named.version, v3.version] == \
            ["V1", "V2", "EXP_2024_06", "V3"]
        assert [i.version for i in reg.versions(self.MODEL)] == ["V1", "V2", "EXP_2024_06", "V3"]
        assert reg.get_version(self.MODEL).version == "V1"  # the first version is the default
        with pytest.raises(AlreadyExistsError):
            reg.log_model(self.conformance_model(4), model_name=self.MODEL, version_name="V2")

    @pytest.mark.parametrize("kwargs", [
        {"model_name": "my-model"}, {"model_name": "1model"}, {"model_name": ""},
        {"model_name": "ok", "version_name": "v1.0"},
        {"model_name": "ok", "version_name": "1abc"},
        {"model_name": "ok", "version_name": "FIRST"},
    ])
    def test_registry_rejects_invalid_names(self, backend: Any, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError, match=r"invalid|system alias"):
            backend.registry.log_model(self.conformance_model(0), **kwargs)
        assert backend.registry.models() == []

    def test_registry_unknown_names_raise_not_found(self, backend: Any) -> None:
        reg = backend.registry
        with pytest.raises(NotFoundError, match="unknown model"):
            reg.load_model("nope")
        reg.log_model(self.conformance_model(0), model_name=self.MODEL)
        with pytest.raises(NotFoundError, match="CHAMPION"):
            reg.load_model(f"{self.MODEL}@CHAMPION")
        with pytest.raises(NotFoundError, match="V9"):
            reg.load_model(f"{self.MODEL}/V9")
        with pytest.raises(NotFoundError):
            reg.set_alias(self.MODEL, "V9", "PRODUCTION")
        with pytest.raises(NotFoundError):
            reg.unset_alias(self.MODEL, "PRODUCTION")
        for bad in ("a/b/c", "a@", "@x", "a@b/c", "bad name"):
            with pytest.raises(ConfigurationError):
                reg.load_model(bad)

    def test_registry_aliases_are_unique_and_move_atomically(self, backend: Any) -> None:
        reg = backend.registry
        for seed in range(3):
            reg.log_model(self.conformance_model(seed), model_name=self.MODEL)
        reg.set_alias(self.MODEL, "V1", "PRODUCTION")
        reg.set_alias(self.MODEL, "V2", "CHALLENGER")
        reg.set_alias(self.MODEL, "V3", "PRODUCTION")  # moves
        assert reg.get_version(self.MODEL, "PRODUCTION").version == "V3"
        assert reg.get_version(self.MODEL, "V1").aliases == ()
        assert reg.get_version(self.MODEL, "V3").aliases == ("PRODUCTION",)
        self._assert_same_model(reg.load_model(f"{self.MODEL}@PRODUCTION"),
                                self.conformance_model(2))
        # a version holds at most one alias
        with pytest.raises(ConflictError, match="at most one alias"):
            reg.set_alias(self.MODEL, "V2", "PRODUCTION")
        reg.unset_alias(self.MODEL, "CHALLENGER")
        reg.set_alias(self.MODEL, "V2", "PRODUCTION")
        assert reg.get_version(self.MODEL, "PRODUCTION").version == "V2"
        for reserved in ("DEFAULT", "FIRST", "LAST"):
            with pytest.raises(ConfigurationError):
                reg.set_alias(self.MODEL, "V1", reserved)
        with pytest.raises(ConfigurationError):
            reg.set_alias(self.MODEL, "V1", "not valid")
        assert reg.get_version(self.MODEL, "FIRST").version == "V1"
        assert reg.get_version(self.MODEL, "LAST").version == "V3"

    def test_registry_default_version_and_metrics(self, backend: Any) -> None:
        reg = backend.registry
        reg.log_model(self.conformance_model(0), model_name=self.MODEL)
        reg.log_model(self.conformance_model(1), model_name=self.MODEL)
        reg.set_default_version(self.MODEL, "V2")
        assert reg.get_version(self.MODEL).version == "V2"
        assert reg.get_version(self.MODEL, "V2").is_default
        self._assert_same_model(reg.load_model(self.MODEL), self.conformance_model(1))
        reg.set_metric(self.MODEL, "V1", "f1", 0.5)
        reg.set_metric(self.MODEL, "V1", "f1", 0.75)
        reg.set_metric(self.MODEL, "V1", "confusion", [[1, 2], [3, 4]])
        assert reg.get_version(self.MODEL, "V1").metrics == {"f1": 0.75,
                                                             "confusion": [[1, 2], [3, 4]]}
        with pytest.raises(NotFoundError):
            reg.set_default_version(self.MODEL, "V7")

    def test_registry_delete_refused_for_aliased_version(self, backend: Any) -> None:
        reg = backend.registry
        for seed in range(3):
            reg.log_model(self.conformance_model(seed), model_name=self.MODEL)
        reg.set_alias(self.MODEL, "V2", "PRODUCTION")
        with pytest.raises(ConflictError, match="PRODUCTION"):
            reg.delete_version(self.MODEL, "V2")
        assert reg.get_version(self.MODEL, "V2").version == "V2"
        reg.delete_version(self.MODEL, "V3")
        with pytest.raises(NotFoundError):
            reg.get_version(self.MODEL, "V3")
        reg.delete_version(self.MODEL, "V2", force=True)
        with pytest.raises(NotFoundError):
            reg.load_model(f"{self.MODEL}@PRODUCTION")
        assert [i.version for i in reg.versions(self.MODEL)] == ["V1"]
        v4 = reg.log_model(self.conformance_model(4), model_name=self.MODEL)
        assert v4.version == "V4"  # numbers are not reused

    def test_registry_show_tables(self, backend: Any) -> None:
        reg = backend.registry
        reg.log_model(self.conformance_model(0), model_name=self.MODEL, metrics={"auc": 0.8})
        reg.log_model(self.conformance_model(1), model_name=self.MODEL, comment="second")
        reg.set_alias(self.MODEL, "V2", "CHALLENGER")
        models = reg.show_models()
        assert isinstance(models, pd.DataFrame) and len(models) == 1
        versions = reg.show_versions(self.MODEL)
        assert list(versions["name"]) == ["V1", "V2"]
        assert list(versions["is_default_version"]) == [True, False]
        assert versions["aliases"].iloc[1] == ["CHALLENGER"]
        assert versions["metrics"].iloc[0] == {"auc": 0.8}
        reg.delete_model(self.MODEL, force=True)
        assert reg.models() == []

    # ------------------------------------------------------------------ feature store

    def test_feature_store_has_the_quickstart_views(self, backend: Any) -> None:
        fs = backend.feature_store
        names = set(fs.list_feature_views()["name"])
        assert {"acoustic_features", "emotion_sentiment_features",
                "ner_content_features"} <= names
        acoustic = fs.get_feature_view("acoustic_features", "v1")
        assert acoustic.entity.join_keys == ("call_id",)
        assert set(acoustic.features) <= set(feature_names())
        covered = set()
        for n in ("acoustic_features", "emotion_sentiment_features", "ner_content_features"):
            covered |= set(fs.get_feature_view(n, "v1").features)
        assert set(feature_names(("acoustic", "interaction", "emotion", "content"))) == covered

    def _view(self, backend: Any, name: str = "conf_view", version: str = "v1",
              features: tuple[str, ...] = ("jitter", "shimmer", "interruption_count",
                                           "dominant_emotion")) -> FeatureViewSpec:
        fs = backend.feature_store
        entity = fs.register_entity(Entity("conf_call", ("call_id",), "a call"))
        spec = FeatureViewSpec(name, entity, features, "processed_at", version, "test view")
        fs.register_feature_view(spec)
        return spec

    def test_feature_store_registration_is_idempotent_and_versioned(self, backend: Any) -> None:
        fs = backend.feature_store
        spec = self._view(backend)
        assert fs.register_feature_view(spec) == spec
        assert fs.register_entity(Entity("conf_call", ("call_id",))).join_keys == ("call_id",)
        with pytest.raises(AlreadyExistsError):
            fs.register_feature_view(FeatureViewSpec("conf_view", spec.entity, ("jitter",),
                                                     version="v1"))
        v2 = FeatureViewSpec("conf_view", spec.entity, ("jitter",), version="v2")
        fs.register_feature_view(v2)
        assert fs.get_feature_view("conf_view", "v2").features == ("jitter",)
        assert fs.get_feature_view("conf_view", "v1").features == spec.features
        with pytest.raises(NotFoundError):
            fs.get_feature_view("conf_view", "v9")
        with pytest.raises(SchemaError, match="not_a_feature"):
            fs.register_feature_view(FeatureViewSpec("other", spec.entity, ("not_a_feature",)))
        with pytest.raises(ConfigurationError):
            fs.register_feature_view(FeatureViewSpec("bad name", spec.entity, ("jitter",)))

    def test_feature_store_upsert_and_point_in_time(self, backend: Any) -> None:
        fs = backend.feature_store
        spec = self._view(backend)
        feats = list(spec.features)
        first = make_feature_rows(feats, ["a", "a", "b"], [_t(0), _t(10), _t(5)], seed=1)
        assert fs.ingest("conf_view", first, version="v1") == 3
        fix = make_feature_rows(feats, ["a"], [_t(10)], seed=2)  # same key + time: replaces
        fs.ingest("conf_view/v1", fix)
        spine = pd.DataFrame({"call_id": ["a", "a", "a", "b", "b", "c"],
                              "ts": [_t(-1), _t(0), _t(9), _t(12), _t(4), _t(12)],
                              "label": [1, 0, 1, 0, 1, 1]}, index=list("uvwxyz"))
        out = fs.retrieve_feature_values(spine, ["conf_view/v1"], spine_timestamp_col="ts")
        assert list(out.index) == list("uvwxyz")
        assert list(out["label"]) == [1, 0, 1, 0, 1, 1]
        j = out["jitter"].to_numpy()
        assert math.isnan(j[0])
        assert j[1] == first["jitter"][0] and j[2] == first["jitter"][0]
        assert j[3] == first["jitter"][2]
        assert math.isnan(j[4]) and math.isnan(j[5])
        late = pd.DataFrame({"call_id": ["a"], "ts": [_t(11)]})
        got = fs.retrieve_feature_values(late, ["conf_view"], spine_timestamp_col="ts")
        assert got["jitter"].iloc[0] == fix["jitter"].iloc[0]
        assert got["dominant_emotion"].iloc[0] == fix["dominant_emotion"].iloc[0]
        assert got["interruption_count"].iloc[0] == fix["interruption_count"].iloc[0]
        # TTL: features older than the TTL do not count
        ttl = fs.retrieve_feature_values(pd.DataFrame({"call_id": ["a", "a"],
                                                       "ts": [_t(11), _t(30)]}),
                                         ["conf_view"], spine_timestamp_col="ts", ttl="12 hours")
        assert ttl["jitter"].iloc[0] == fix["jitter"].iloc[0]
        assert math.isnan(ttl["jitter"].iloc[1])

    def test_feature_store_online_latest_row_per_key(self, backend: Any) -> None:
        fs = backend.feature_store
        spec = self._view(backend)
        feats = list(spec.features)
        new = make_feature_rows(feats, ["a", "b"], [_t(10), _t(1)], seed=3)
        old = make_feature_rows(feats, ["a"], [_t(2)], seed=4)  # older: must not win online
        fs.ingest("conf_view", new)
        fs.ingest("conf_view", old)
        got = fs.get_online_features("conf_view", ["b", "zzz", "a"], ["jitter", "shimmer"])
        assert list(got["call_id"]) == ["b", "zzz", "a"]
        assert got["jitter"].iloc[0] == new["jitter"].iloc[1]
        assert math.isnan(got["jitter"].iloc[1])
        assert got["jitter"].iloc[2] == new["jitter"].iloc[0]
        assert list(got.columns[-2:]) == ["jitter", "shimmer"]
        with pytest.raises(SchemaError, match="pitch"):
            fs.get_online_features("conf_view", ["a"], ["avg_pitch_hz"])
        fresh = fs.freshness("conf_view")
        assert len(fresh) == 1 and fresh["last_event_at"].iloc[0] == pd.Timestamp(_t(10))
        assert fresh["lag"].iloc[0] > pd.Timedelta(0)

    def test_feature_store_bad_input_gets_specific_errors(self, backend: Any) -> None:
        from .backends.errors import (
            DuplicateKeyError,
            MissingColumnsError,
            MissingTimestampError,
        )

        fs = backend.feature_store
        spec = self._view(backend)
        feats = list(spec.features)
        batch = make_feature_rows(feats, ["a", "b"], [_t(0), _t(1)])
        with pytest.raises(MissingColumnsError, match="jitter"):
            fs.ingest("conf_view", batch.drop(columns=["jitter"]))
        dup = make_feature_rows(feats, ["a", "a"], [_t(0), _t(0)])
        with pytest.raises(DuplicateKeyError):
            fs.ingest("conf_view", dup)
        no_ts = batch.copy()
        no_ts.loc[1, "processed_at"] = pd.NaT
        with pytest.raises(MissingTimestampError):
            fs.ingest("conf_view", no_ts)
        with pytest.raises(NotFoundError, match="no_such_view"):
            fs.ingest("no_such_view", batch)
        fs.ingest("conf_view", batch)
        spine = pd.DataFrame({"call_id": ["a", "b"], "ts": [_t(1), None]})
        with pytest.raises(MissingTimestampError, match="ts"):
            fs.retrieve_feature_values(spine, ["conf_view"], spine_timestamp_col="ts")
        with pytest.raises(MissingColumnsError, match="call_id"):
            fs.retrieve_feature_values(pd.DataFrame({"id": ["a"], "ts": [_t(1)]}),
                                       ["conf_view"], spine_timestamp_col="ts")
        with pytest.raises(MissingColumnsError, match="when"):
            fs.retrieve_feature_values(pd.DataFrame({"call_id": ["a"]}), ["conf_view"],
                                       spine_timestamp_col="when")
        assert fs.freshness("conf_view")["rows"].iloc[0] == 2  # nothing half-written

    # ------------------------------------------------------------------ prediction log

    @staticmethod
    def _predictions(n: int, start: float = 0.0, prefix: str = "p") -> pd.DataFrame:
        return pd.DataFrame({
            "prediction_id": [f"{prefix}{i}" for i in range(n)],
            "call_id": [f"c{i}" for i in range(n)],
            "model_name": "conf_model", "model_version": "V1", "threshold": 0.4,
            "score": np.linspace(0.0, 1.0, n), "predicted_class": (np.arange(n) % 2),
            "predicted_at": [_t(start + i) for i in range(n)],
        })

    def test_prediction_log_window_and_late_actuals(self, backend: Any) -> None:
        log = backend.predictions
        assert log.log_predictions(self._predictions(6)) == 6
        window = log.read(model_name="conf_model", start=_t(2), end=_t(4))
        assert list(window["prediction_id"]) == ["p2", "p3"]
        assert window["actual"].isna().all()
        assert log.log_actuals(pd.DataFrame({"prediction_id": ["p2", "p5"],
                                             "actual": [1, 0]})) == 2
        log.log_actuals(pd.DataFrame({"call_id": ["c3"], "actual": [1]}))
        full = log.read(model_name="conf_model").set_index("prediction_id")
        assert full.loc["p2", "actual"] == 1 and full.loc["p3", "actual"] == 1
        assert full.loc["p5", "actual"] == 0 and pd.isna(full.loc["p0", "actual"])
        assert full.loc["p1", "threshold"] == 0.4
        assert log.read(model_name="other_model").empty

    def test_prediction_log_refuses_bad_batches_whole(self, backend: Any) -> None:
        from .backends.errors import DuplicateKeyError, MissingColumnsError

        log = backend.predictions
        log.log_predictions(self._predictions(3))
        with pytest.raises(DuplicateKeyError, match="p1"):
            log.log_predictions(self._predictions(3, prefix="p").iloc[1:])
        batch = self._predictions(2, prefix="q")
        batch.loc[1, "prediction_id"] = "q0"
        with pytest.raises(DuplicateKeyError):
            log.log_predictions(batch)
        with pytest.raises(MissingColumnsError, match="score"):
            log.log_predictions(self._predictions(2, prefix="r").drop(columns=["score"]))
        with pytest.raises(NotFoundError, match="nope"):
            log.log_actuals(pd.DataFrame({"prediction_id": ["p0", "nope"], "actual": [1, 1]}))
        assert len(log.read()) == 3
        assert log.read()["actual"].isna().all()


def backend_conformance(factory: Callable[[Path], Any], *,
                        name: str = "TestBackendConformance") -> type:
    """A pytest test class running :class:`BackendConformance` on stores from ``factory``.

    Args:
        factory: called with a fresh temporary folder (pytest's ``tmp_path``); returns a
            new, empty backend. Its ``close()`` is called after each test when present.
        name: the class name (pytest collects classes whose name starts with ``Test``).
    """

    @pytest.fixture
    def backend(self: Any, tmp_path: Path) -> Iterator[Any]:
        store = factory(tmp_path)
        try:
            yield store
        finally:
            close = getattr(store, "close", None)
            if callable(close):
                close()

    return type(name, (BackendConformance,), {"backend": backend})
