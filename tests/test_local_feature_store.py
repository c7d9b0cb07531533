"""Local feature store: point-in-time correctness against oracles, online store, bad input."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callquality as cq
from callquality.backends.errors import (
    DuplicateKeyError,
    MissingColumnsError,
    MissingTimestampError,
)
from callquality.backends.local._pit import asof_indices, encode_keys, prepare
from callquality.exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    NotFoundError,
    SchemaError,
)
from callquality.protocols import Entity, FeatureViewSpec
from callquality.testing import make_feature_rows

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
HOUR = 3_600_000_000_000


def t(hours: float) -> datetime:
    return T0 + timedelta(hours=float(hours))


@pytest.fixture
def store():
    s = cq.connect("local", predefined_views=False)
    entity = s.feature_store.register_entity(Entity("call", ("call_id",)))
    s.feature_store.register_feature_view(
        FeatureViewSpec("v", entity, ("jitter", "interruption_count", "dominant_emotion")))
    yield s
    s.close()


# --------------------------------------------------------------------------- oracles

def brute_force(batches: list[list[tuple[str, int, float]]], spine: list[tuple[str, int]],
                ttl_h: int | None) -> list[float]:
    """For each spine row: the value of the latest (ts <= spine ts, within TTL) row of its key;
    among rows of equal (key, ts) the one of the latest batch."""
    out = []
    for key, ts in spine:
        best: tuple[int, int] | None = None
        value = math.nan
        for b, batch in enumerate(batches):
            for k, fts, val in batch:
                if k != key or fts > ts or (ttl_h is not None and ts - fts > ttl_h):
                    continue
                if best is None or (fts, b) >= best:
                    best, value = (fts, b), val
        out.append(value)
    return out


batch_st = st.dictionaries(st.tuples(st.sampled_from("abc"), st.integers(0, 12)),
                           st.floats(-1e6, 1e6, allow_nan=False), max_size=8)
spine_st = st.lists(st.tuples(st.sampled_from("abcd"), st.integers(-2, 16)), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(batch_st, min_size=1, max_size=4), spine=spine_st,
       ttl_h=st.none() | st.integers(1, 6))
def test_point_in_time_matches_brute_force_and_merge_asof(batches, spine, ttl_h) -> None:
    rows = [[(k, ts, v) for (k, ts), v in b.items()] for b in batches]
    with cq.connect("local", predefined_views=False) as s:
        fs = s.feature_store
        fs.register_entity(Entity("call", ("call_id",)))
        fs.register_feature_view(FeatureViewSpec("v", Entity("call", ("call_id",)), ("jitter",)))
        for b in rows:
            if b:
                fs.ingest("v", pd.DataFrame({"call_id": [r[0] for r in b],
                                             "processed_at": [t(r[1]) for r in b],
                                             "jitter": [r[2] for r in b]}))
        spine_df = pd.DataFrame({"call_id": pd.Series([r[0] for r in spine], dtype=object),
                                 "ts": pd.to_datetime([t(r[1]) for r in spine], utc=True)})
        got = fs.retrieve_feature_values(spine_df, ["v"], spine_timestamp_col="ts",
                                         ttl=None if ttl_h is None else timedelta(hours=ttl_h))
    want = brute_force(rows, spine, ttl_h)
    np.testing.assert_array_equal(got["jitter"].to_numpy(), np.array(want, dtype=float))

    # pandas.merge_asof on the upserted table gives the same answer
    final: dict[tuple[str, int], float] = {}
    for b in rows:
        final.update({(k, ts): v for k, ts, v in b})
    feats = pd.DataFrame({"call_id": pd.Series([k for k, _ in final], dtype=object),
                          "fts": [t(ts) for _, ts in final],
                          "jitter": list(final.values())})
    feats["fts"] = pd.to_datetime(feats["fts"], utc=True)
    left = spine_df.reset_index().sort_values("ts", kind="stable")
    merged = pd.merge_asof(left, feats.sort_values("fts"), left_on="ts", right_on="fts",
                           by="call_id", direction="backward", allow_exact_matches=True,
                           tolerance=None if ttl_h is None else pd.Timedelta(hours=ttl_h))
    merged = merged.sort_values("index")
    np.testing.assert_array_equal(merged["jitter"].to_numpy(dtype=float),
                                  np.array(want, dtype=float))


def test_asof_core_matches_merge_asof_on_larger_random_data() -> None:
    rng = np.random.default_rng(3)
    n_f, n_s = 20_000, 30_000
    f_keys = rng.integers(0, 2_000, n_f).astype(str).astype(object)
    f_ts = rng.integers(0, 500, n_f) * HOUR
    f_val = rng.random(n_f)
    s_keys = rng.integers(0, 2_200, n_s).astype(str).astype(object)
    s_ts = rng.integers(-10, 520, n_s) * HOUR
    f_codes, s_codes = encode_keys(f_keys, s_keys)
    index = prepare(f_codes, f_ts, np.arange(n_f))  # later rows win ties
    pos = asof_indices(index, s_codes, s_ts, ttl_ns=48 * HOUR)
    got = np.where(pos >= 0, f_val[index.rows[np.where(pos >= 0, pos, 0)]], np.nan)

    feats = pd.DataFrame({"k": f_keys, "ts": f_ts, "v": f_val, "seq": np.arange(n_f)})
    feats = feats.sort_values(["k", "ts", "seq"]).drop_duplicates(["k", "ts"], keep="last")
    spine = pd.DataFrame({"k": s_keys, "ts": s_ts, "i": np.arange(n_s)})
    merged = pd.merge_asof(spine.sort_values("ts"), feats.sort_values("ts"), on="ts", by="k",
                           tolerance=48 * HOUR).sort_values("i")
    np.testing.assert_array_equal(got, merged["v"].to_numpy())


def test_retrieval_matches_a_duckdb_asof_join(store) -> None:
    duckdb = pytest.importorskip("duckdb")
    fs = store.feature_store
    rng = np.random.default_rng(5)
    ids = [f"c{i}" for i in rng.integers(0, 300, 2_000)]
    times = [t(h) for h in rng.integers(0, 200, 2_000)]
    batch = make_feature_rows(["jitter", "interruption_count", "dominant_emotion"], ids, times)
    batch = batch.drop_duplicates(["call_id", "processed_at"])
    fs.ingest("v", batch)
    spine = pd.DataFrame({"call_id": [f"c{i}" for i in rng.integers(0, 320, 3_000)],
                          "ts": pd.to_datetime([t(h) for h in rng.integers(-5, 210, 3_000)],
                                               utc=True)})
    spine["row"] = np.arange(len(spine))
    got = fs.retrieve_feature_values(spine, ["v"], spine_timestamp_col="ts")
    con = duckdb.connect()
    con.register("spine", spine)
    con.register("feats", batch)
    want = con.execute("SELECT s.row, f.jitter FROM spine s ASOF LEFT JOIN feats f "
                       "ON s.call_id = f.call_id AND s.ts >= f.processed_at "
                       "ORDER BY s.row").df()
    np.testing.assert_array_equal(got["jitter"].to_numpy(), want["jitter"].to_numpy())


# --------------------------------------------------------------------------- retrieval

def test_dtypes_and_missing_values_round_trip(store) -> None:
    fs = store.feature_store
    batch = pd.DataFrame({"call_id": ["a", "b"], "processed_at": [t(0), t(0)],
                          "jitter": [0.25, None],
                          "interruption_count": pd.array([3, None], dtype="Int64"),
                          "dominant_emotion": pd.array(["angry", None], dtype="string")})
    fs.ingest("v", batch)
    spine = pd.DataFrame({"call_id": ["a", "b", "z"], "ts": [t(1)] * 3})
    out = fs.retrieve_feature_values(spine, ["v"], spine_timestamp_col="ts")
    assert out["jitter"].dtype == "float64"
    assert out["interruption_count"].dtype == "Int64"
    assert out["dominant_emotion"].dtype == "string"
    assert out["interruption_count"].tolist()[:1] == [3]
    assert out["interruption_count"].isna().tolist() == [False, True, True]
    assert out["dominant_emotion"].isna().tolist() == [False, True, True]
    online = fs.get_online_features("v", ["a", "b", "z"])
    assert online["interruption_count"].dtype == "Int64"
    assert online["dominant_emotion"].tolist()[0] == "angry"
    assert online["interruption_count"].isna().tolist() == [False, True, True]
    offline = fs.read_feature_view("v")
    assert offline["call_id"].tolist() == ["a", "b"]
    assert offline["interruption_count"].tolist()[0] == 3


def test_without_spine_timestamp_the_latest_row_as_of_now(store) -> None:
    fs = store.feature_store
    now = datetime.now(timezone.utc)
    batch = make_feature_rows(["jitter", "interruption_count", "dominant_emotion"],
                              ["a", "a", "a"], [now - timedelta(days=3), now - timedelta(days=1),
                                                now + timedelta(days=5)])
    fs.ingest("v", batch)
    out = fs.retrieve_feature_values(pd.DataFrame({"call_id": ["a"]}), ["v"])
    assert out["jitter"].iloc[0] == batch["jitter"].iloc[1]  # the future row is not "latest"
    ttl = fs.retrieve_feature_values(pd.DataFrame({"call_id": ["a"]}), ["v"], ttl="12 hours")
    assert math.isnan(ttl["jitter"].iloc[0])


def test_several_views_and_timestamp_columns(store) -> None:
    fs = store.feature_store
    entity = fs.get_entity("call")
    fs.register_feature_view(FeatureViewSpec("w", entity, ("shimmer",), version="2024.1"))
    fs.ingest("v", make_feature_rows(["jitter", "interruption_count", "dominant_emotion"],
                                     ["a"], [t(0)]))
    fs.ingest("w", make_feature_rows(["shimmer"], ["a", "a"], [t(1), t(5)], seed=9))
    spine = pd.DataFrame({"call_id": ["a", "a"], "ts": [t(2), t(6)]})
    out = fs.retrieve_feature_values(spine, ["v", "w/2024.1"], spine_timestamp_col="ts",
                                     include_feature_view_timestamp_col=True)
    assert list(out["v_processed_at"]) == [pd.Timestamp(t(0))] * 2
    assert list(out["w_processed_at"]) == [pd.Timestamp(t(1)), pd.Timestamp(t(5))]
    with pytest.raises(SchemaError, match="jitter"):
        fs.retrieve_feature_values(spine.assign(jitter=1.0), ["v"], spine_timestamp_col="ts")
    with pytest.raises(NotFoundError, match="nope"):
        fs.retrieve_feature_values(spine, ["nope"], spine_timestamp_col="ts")
    with pytest.raises(ConfigurationError, match="ttl"):
        fs.retrieve_feature_values(spine, ["v"], spine_timestamp_col="ts", ttl="soonish")
    with pytest.raises(SchemaError, match="timestamps"):
        fs.retrieve_feature_values(spine.assign(ts=[1, 2]), ["v"], spine_timestamp_col="ts")


def test_naive_and_string_timestamps_are_utc(store) -> None:
    fs = store.feature_store
    batch = make_feature_rows(["jitter", "interruption_count", "dominant_emotion"], ["a"],
                              [t(0)])
    batch["processed_at"] = batch["processed_at"].dt.tz_localize(None)  # naive = UTC
    fs.ingest("v", batch)
    spine = pd.DataFrame({"call_id": ["a", "a"],
                          "ts": ["2024-03-01T00:00:00+00:00", "2024-02-29T23:59:59+00:00"]})
    out = fs.retrieve_feature_values(spine, ["v"], spine_timestamp_col="ts")
    assert out["jitter"].notna().tolist() == [True, False]


def test_composite_join_keys() -> None:
    with cq.connect("local", predefined_views=False) as s:
        fs = s.feature_store
        e = fs.register_entity(Entity("agent_call", ("agent_id", "call_id")))
        fs.register_feature_view(FeatureViewSpec("c", e, ("jitter",)))
        fs.ingest("c", pd.DataFrame({"agent_id": ["x", "x", "y"], "call_id": ["1", "2", "1"],
                                     "processed_at": [t(0)] * 3, "jitter": [1.0, 2.0, 3.0]}))
        spine = pd.DataFrame({"agent_id": ["y", "x", "x"], "call_id": [1, 2, 3],
                              "ts": [t(1)] * 3})
        out = fs.retrieve_feature_values(spine, ["c"], spine_timestamp_col="ts")
        assert out["jitter"].tolist()[:2] == [3.0, 2.0] and math.isnan(out["jitter"].iloc[2])
        online = fs.get_online_features("c", [("y", "1"), ("x", 2), ("q", "9")])
        assert online["jitter"].tolist()[:2] == [3.0, 2.0]
        with pytest.raises(ConfigurationError, match="join keys"):
            fs.get_online_features("c", ["x"])


# --------------------------------------------------------------------------- ingestion

def test_upserts_and_online_store_agree_with_offline(store) -> None:
    fs = store.feature_store
    feats = ["jitter", "interruption_count", "dominant_emotion"]
    rng = np.random.default_rng(0)
    for b in range(6):
        ids = [f"c{i}" for i in rng.choice(40, 25, replace=False)]
        fs.ingest("v", make_feature_rows(feats, ids, [t(h) for h in rng.integers(0, 8, 25)],
                                         seed=b))
    offline = fs.read_feature_view("v")
    assert not offline.duplicated(["call_id", "processed_at"]).any()
    latest = offline.sort_values("processed_at").groupby("call_id").tail(1)
    online = fs.read_feature_view("v", store="online").set_index("call_id")
    assert set(online.index) == set(latest["call_id"])
    for _, row in latest.iterrows():
        assert online.loc[row["call_id"], "processed_at"] == row["processed_at"]
    # equal timestamps: the last ingestion wins offline and online
    last = offline.iloc[[0]].copy()
    last["jitter"] = 123.0
    fs.ingest("v", last)
    again = fs.read_feature_view("v")
    key = (last["call_id"].iloc[0], last["processed_at"].iloc[0])
    hit = again[(again["call_id"] == key[0]) & (again["processed_at"] == key[1])]
    assert hit["jitter"].tolist() == [123.0]
    assert len(again) == len(offline)


def test_compaction_keeps_the_rows_and_semantics(tmp_path) -> None:
    with cq.connect("local", path=tmp_path / "s", compact_every=3) as s:
        fs = s.feature_store
        rng = np.random.default_rng(1)
        expected: dict[tuple[str, pd.Timestamp], float] = {}
        for b in range(8):
            ids = [f"c{i}" for i in rng.choice(10, 5, replace=False)]
            batch = make_feature_rows(cq.feature_names(("acoustic", "interaction")), ids,
                                      [t(h) for h in rng.integers(0, 4, 5)], seed=b)
            fs.ingest("acoustic_features", batch)
            expected.update({(k, pd.Timestamp(ts)): j for k, ts, j in
                             zip(batch["call_id"], batch["processed_at"], batch["jitter"],
                                 strict=True)})
        fresh = fs.freshness("acoustic_features")
        assert fresh["segments"].iloc[0] <= 3
        got = fs.read_feature_view("acoustic_features")
        assert {(k, ts): j for k, ts, j in zip(got["call_id"], got["processed_at"],
                                               got["jitter"], strict=True)} == expected
        report = s.check_integrity()
        assert report.ok and report.orphans == []


def test_ingest_bad_input_is_refused_whole(store) -> None:
    fs = store.feature_store
    feats = ["jitter", "interruption_count", "dominant_emotion"]
    good = make_feature_rows(feats, ["a", "b"], [t(0), t(1)])
    with pytest.raises(SchemaError, match="non-numeric"):
        fs.ingest("v", good.assign(jitter=["x", "y"]))
    with pytest.raises(SchemaError, match="non-integer"):
        fs.ingest("v", good.assign(interruption_count=[1.5, 2.0]))
    with pytest.raises(SchemaError, match="join key 'call_id' is missing"):
        fs.ingest("v", good.assign(call_id=["a", None]))
    with pytest.raises(MissingTimestampError, match="processed_at"):
        fs.ingest("v", good.assign(processed_at=[t(0), None]))
    with pytest.raises(DuplicateKeyError, match="'a'"):
        fs.ingest("v", make_feature_rows(feats, ["a", "a"], [t(0), t(0)]))
    with pytest.raises(MissingColumnsError) as err:
        fs.ingest("v", good.drop(columns=["processed_at", "jitter"]))
    assert set(err.value.missing) == {"processed_at", "jitter"}
    with pytest.raises(ConfigurationError):
        fs.ingest("v", good.to_dict())
    assert fs.ingest("v", good.iloc[:0]) == 0
    assert fs.freshness("v")["rows"].iloc[0] == 0
    assert fs.ingest("v", good.assign(extra_column=1)) == 2  # other columns are ignored


def test_view_registration_rules(store) -> None:
    fs = store.feature_store
    e = fs.get_entity("call")
    with pytest.raises(NotFoundError, match="register_entity"):
        fs.register_feature_view(FeatureViewSpec("x", Entity("agent", ("agent_id",)),
                                                 ("jitter",)))
    with pytest.raises(ConfigurationError, match="version"):
        fs.register_feature_view(FeatureViewSpec("x", e, ("jitter",), version="v 1"))
    with pytest.raises(ConfigurationError, match="duplicated"):
        fs.register_feature_view(FeatureViewSpec("x", e, ("jitter", "jitter")))
    with pytest.raises(ConfigurationError, match="join key"):
        fs.register_feature_view(FeatureViewSpec("x", e, ("jitter",), timestamp_col="call_id"))
    with pytest.raises(AlreadyExistsError):
        fs.register_entity(Entity("call", ("other_id",)))
    fs.ingest("v", make_feature_rows(["jitter", "interruption_count", "dominant_emotion"],
                                     ["a"], [t(0)]))
    fs.register_feature_view(FeatureViewSpec("v", e, ("jitter",)), overwrite=True)
    assert fs.freshness("v")["rows"].iloc[0] == 0  # overwrite drops the old data
    fs.delete_feature_view("v", "v1")
    with pytest.raises(NotFoundError):
        fs.get_feature_view("v")


def test_online_lookup_details_and_freshness_target(store) -> None:
    fs = store.feature_store
    e = fs.get_entity("call")
    fs.register_feature_view(FeatureViewSpec("fresh", e, ("jitter",), target_lag="1 hour"))
    now = datetime.now(timezone.utc)
    fs.ingest("fresh", pd.DataFrame({"call_id": [1, 2], "processed_at": [now, now],
                                     "jitter": [0.1, 0.2]}))
    got = fs.get_online_features("fresh", np.array([2, 1, 2]))  # ints match their text form
    assert got["jitter"].tolist() == [0.2, 0.1, 0.2]
    many = fs.get_online_features("fresh", [str(i) for i in range(2_000)])  # chunked IN (...)
    assert many["jitter"].notna().sum() == 2
    fresh = fs.freshness("fresh").iloc[0]
    assert bool(fresh["within_target"]) and fresh["lag"] < pd.Timedelta("1 hour")
    assert fresh["online_keys"] == 2
    fs.register_feature_view(FeatureViewSpec("offline_only", e, ("jitter",), online=False))
    with pytest.raises(ConfigurationError, match="online=False"):
        fs.get_online_features("offline_only", ["1"])
    with pytest.raises(NotFoundError):
        fs.get_online_features("nope", ["1"])


def test_quickstart_views_take_the_extractor_table() -> None:
    with cq.connect("local") as s:
        fs = s.feature_store
        names = cq.feature_names(("acoustic", "interaction", "emotion", "content"))
        table = make_feature_rows(names, ["c1", "c2"], [t(0), t(0)])
        table["agent_id"] = ["ag1", "ag2"]
        table["error"] = pd.array([None, None], dtype="string")
        for view in ("acoustic_features", "emotion_sentiment_features", "ner_content_features"):
            assert fs.ingest(view, table) == 2
        spine = pd.DataFrame({"call_id": ["c2", "c1"], "ts": [t(1), t(1)]})
        out = fs.retrieve_feature_values(spine, ["acoustic_features",
                                                 "emotion_sentiment_features",
                                                 "ner_content_features"],
                                         spine_timestamp_col="ts")
        assert list(out.columns) == ["call_id", "ts", *names] or \
            set(out.columns) == {"call_id", "ts", *names}
        assert out["jitter"].tolist() == table["jitter"].tolist()[::-1]
