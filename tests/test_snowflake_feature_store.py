"""The Snowflake feature store: registration through snowflake-ml (autospecced), ingestion and
point-in-time retrieval on a Snowpark local-testing session, proven equal to the local
backend's answers on the same data, and online reads through ``read_feature_view``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.ml.feature_store import Entity as SFEntity
from snowflake.ml.feature_store import FeatureView, OnlineConfig, StoreType

import callquality as cq
from callquality.exceptions import AlreadyExistsError, ConflictError, NotFoundError
from callquality.protocols import Entity, FeatureViewSpec
from callquality.testing import make_feature_rows
from test_snowflake_support import FakeFeatureStore, local_session, snowflake_backend

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
FEATURES = ("jitter", "shimmer", "interruption_count", "dominant_emotion")


def _t(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def fake() -> FakeFeatureStore:
    return FakeFeatureStore()


@pytest.fixture
def store(fake: FakeFeatureStore) -> Any:
    return snowflake_backend(fs=fake, predefined_views=False).feature_store


def _register(fs: Any, name: str = "voice", version: str = "v1",
              features: tuple[str, ...] = FEATURES, target_lag: str | None = "2 minutes"
              ) -> FeatureViewSpec:
    entity = fs.register_entity(Entity("call", ("call_id",), "one call"))
    spec = FeatureViewSpec(name, entity, features, "processed_at", version, "voice features",
                           True, target_lag)
    return fs.register_feature_view(spec)


def test_registration_goes_through_snowflake_ml(fake: FakeFeatureStore, store: Any) -> None:
    spec = _register(store)
    entity = fake.entities["CALL"]
    assert isinstance(entity, SFEntity)
    assert [k.resolved() for k in entity.join_keys] == ["CALL_ID"] and entity.desc == "one call"
    fv = fake.views[("VOICE", "v1")]
    assert isinstance(fv, FeatureView)
    assert fv.online_config == OnlineConfig(enable=True, target_lag="2 minutes")
    assert fv.refresh_freq == "1 minute"
    assert fv.timestamp_col.resolved() == "PROCESSED_AT"
    assert [f.resolved() for f in fv.feature_names] == [f.upper() for f in FEATURES]
    assert fv.desc == "voice features"
    # idempotent; another definition of the same version is refused; versions coexist
    assert store.register_feature_view(spec) == spec
    with pytest.raises(AlreadyExistsError):
        store.register_feature_view(FeatureViewSpec("voice", spec.entity, ("jitter",)))
    v2 = store.register_feature_view(FeatureViewSpec("voice", spec.entity, ("jitter",),
                                                     version="V2.0-rc"))
    assert store.get_feature_view("voice").version == "V2.0-rc"
    assert store.get_feature_view("voice", "v1") == spec and v2.features == ("jitter",)
    listed = store.list_feature_views()
    assert list(listed["version"]) == ["v1", "V2.0-rc"]
    with pytest.raises(ConflictError, match="join keys"):
        store.register_feature_view(FeatureViewSpec(
            "other", Entity("call", ("id",)), ("jitter",)))
    with pytest.raises(NotFoundError, match="register_entity"):
        store.register_feature_view(FeatureViewSpec(
            "other", Entity("agent", ("agent_id",)), ("jitter",)))


def test_the_quickstart_views_are_online_with_a_target_lag(fake: FakeFeatureStore) -> None:
    store = snowflake_backend(fs=fake, online_target_lag="30 seconds").feature_store
    assert set(store.list_feature_views()["name"]) == {
        "acoustic_features", "emotion_sentiment_features", "ner_content_features"}
    for (_name, version), fv in fake.views.items():
        assert version == "v1"
        assert fv.online_config == OnlineConfig(enable=True, target_lag="30 seconds")
        assert fv.refresh_freq == "1 minute"
    store.install_quickstart_views()  # once per schema
    assert len(fake.views) == 3


def _random_batches(seed: int, composite: bool) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    batches = []
    for i in range(3):
        n = 7
        calls = list(rng.choice(["a", "b", "c", "d"], n))
        agents = list(rng.choice(["x", "y"], n)) if composite else ["-"] * n
        hours = list(rng.integers(0, 12, n).astype(float))
        rows = list(dict.fromkeys(zip(calls, agents, hours, strict=True)))  # unique per batch
        batch = make_feature_rows(FEATURES, [r[0] for r in rows], [_t(r[2]) for r in rows],
                                  seed=seed * 10 + i)
        if composite:
            batch.insert(1, "agent_id", [r[1] for r in rows])
        # missing values must survive the round trip
        batch.loc[batch.index[0], "jitter"] = np.nan
        batch.loc[batch.index[1], "interruption_count"] = pd.NA
        batch.loc[batch.index[2], "dominant_emotion"] = pd.NA
        batches.append(batch)
    return batches


@pytest.mark.parametrize("composite", [False, True], ids=["call_id", "call_id+agent_id"])
def test_point_in_time_equals_the_local_backend(store: Any, composite: bool) -> None:
    local = cq.connect("local", predefined_views=False)
    local_fs = local.feature_store
    keys = ("call_id", "agent_id") if composite else ("call_id",)
    for fs in (store, local_fs):
        entity = fs.register_entity(Entity("call_agent" if composite else "call", keys))
        fs.register_feature_view(FeatureViewSpec("voice", entity, FEATURES))
        for batch in _random_batches(7, composite):  # later batches upsert (keys, time)
            fs.ingest("voice", batch)
    rng = np.random.default_rng(107)
    n = 16
    spine = pd.DataFrame({"call_id": list(rng.choice(["a", "b", "c", "d", "zz"], n)),
                          "ts": [_t(float(h)) for h in rng.integers(-1, 14, n)],
                          "label": rng.integers(0, 2, n)},
                         index=pd.Index([f"r{i}" for i in range(n)]))
    if composite:
        spine["agent_id"] = list(rng.choice(["x", "y"], n))
    spine = pd.concat([spine, spine.iloc[:2]])  # repeated spine rows stay repeated
    for kwargs in ({}, {"ttl": "3 hours"}, {"include_feature_view_timestamp_col": True}):
        got = store.retrieve_feature_values(spine, ["voice"], spine_timestamp_col="ts",
                                            **kwargs)
        want = local_fs.retrieve_feature_values(spine, ["voice"], spine_timestamp_col="ts",
                                                **kwargs)
        pd.testing.assert_frame_equal(got, want)
        assert got["jitter"].notna().sum() >= 3  # the data exercised matches, not only misses
    order = [*keys, "processed_at"]
    offline = store.read_feature_view("voice").sort_values(order, ignore_index=True)
    want = local_fs.read_feature_view("voice").sort_values(order, ignore_index=True)
    pd.testing.assert_frame_equal(offline, want)
    local.close()


def test_ingest_merges_and_refreshes_the_view(fake: FakeFeatureStore, store: Any) -> None:
    _register(store)
    first = make_feature_rows(FEATURES, ["a", "b"], [_t(1), _t(2)], seed=1)
    assert store.ingest("voice", first) == 2
    fix = make_feature_rows(FEATURES, ["a"], [_t(1)], seed=2)
    assert store.ingest("voice/v1", fix) == 1
    rows = local_session().table(f'"CQ"."{store.schema.name}"."CQ_FV_VOICE_V1"')
    assert rows.count() == 2  # the same (call_id, processed_at) was replaced
    assert set(rows.columns) >= {"CALL_ID", "PROCESSED_AT", "CQ_INGESTED_AT", "JITTER",
                                 "DOMINANT_EMOTION"}
    assert fake.refreshes == [("VOICE", StoreType.OFFLINE), ("VOICE", StoreType.ONLINE)] * 2
    fresh = store.freshness("voice")
    assert fresh["rows"].iloc[0] == 2 and fresh["online_keys"].iloc[0] == 2
    assert fresh["last_event_at"].iloc[0] == pd.Timestamp(_t(2))
    assert bool(fresh["within_target"].iloc[0]) is False  # 2024 is older than 2 minutes


def test_online_reads_use_the_online_store_in_request_order(fake: FakeFeatureStore,
                                                            store: Any) -> None:
    _register(store)
    keys = ["a", "b", "it's", "back\\slash"]
    store.ingest("voice", make_feature_rows(FEATURES, keys, [_t(5)] * 4, seed=3))
    older = make_feature_rows(FEATURES, ["a"], [_t(1)], seed=4)
    store.ingest("voice", older)
    got = store.get_online_features("voice", ["back\\slash", "zzz", "a", "it's"],
                                    ["jitter", "dominant_emotion"])
    assert list(got.columns) == ["call_id", "processed_at", "jitter", "dominant_emotion"]
    assert list(got["call_id"]) == ["back\\slash", "zzz", "a", "it's"]
    assert np.isnan(got["jitter"].iloc[1])
    newest = store.read_feature_view("voice", store="online").set_index("call_id")
    for key in ("back\\slash", "a", "it's"):
        row = got[got["call_id"] == key].iloc[0]
        assert row["jitter"] == newest.loc[key, "jitter"]
        assert row["processed_at"] == pd.Timestamp(_t(5))
    reads = fake.online_reads
    assert all(r["store_type"] == StoreType.ONLINE for r in reads)
    assert reads[0]["feature_names"] == ["PROCESSED_AT", "JITTER", "DOMINANT_EMOTION"]
    # batched lookups only for keys snowflake-ml can quote safely; backslashes one by one
    assert sorted(map(tuple, reads[0]["keys"])) == [("a",), ("it's",), ("zzz",)]
    assert reads[1]["keys"] == [["back\\slash"]]


def test_deleting_a_view_drops_its_data(fake: FakeFeatureStore, store: Any) -> None:
    _register(store)
    store.ingest("voice", make_feature_rows(FEATURES, ["a"], [_t(1)]))
    store.delete_feature_view("voice", "v1")
    assert fake.views == {}
    with pytest.raises(NotFoundError, match="voice"):
        store.get_feature_view("voice", "v1")
    assert store.list_feature_views().empty


def test_a_failed_registration_leaves_nothing_behind(fake: FakeFeatureStore,
                                                     store: Any) -> None:
    from callquality.exceptions import BackendError

    store.register_entity(Entity("call", ("call_id",)))
    fake.fs.register_feature_view.side_effect = RuntimeError("(1300) dynamic table quota")
    with pytest.raises(BackendError, match="quota"):
        store.register_feature_view(FeatureViewSpec("voice", Entity("call", ("call_id",)),
                                                    FEATURES))
    assert store.list_feature_views().empty
    with pytest.raises(Exception, match=r"(?i)does not exist|CQ_FV_VOICE_V1"):
        local_session().table(f'"CQ"."{store.schema.name}"."CQ_FV_VOICE_V1"').collect()
