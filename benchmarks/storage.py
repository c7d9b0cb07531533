"""Speed of the local backend's storage paths, beside peers measured in the same run.

    python benchmarks/storage.py [--spine 1000000] [--keys 100000] [--versions 5] [--out FILE]

What it measures (folder store on local disk, after one warm-up call where noted):

* online lookup, in process: p50/p99 of ``get_online_features`` for 1 key x 30 features and
  for 100 keys x 30 features (Feast's published Python feature server with Redis: p99 about
  7 ms for 50 features, 1 key);
* point-in-time retrieval of ``--spine`` spine rows against the three quickstart views
  (``--keys`` calls x ``--versions`` timestamps each), cold (segments read from Parquet) and
  warm (segments cached), beside ``pandas.merge_asof`` (one per view, data already in memory)
  and a DuckDB ``ASOF LEFT JOIN`` (one per view, on the same in-memory frames); the three
  results are compared value by value;
* registry ``log_model`` and ``load_model`` latency for an XGBoost model of the trainer's size
  (``DEFAULT_PARAMS``, 33 features, 400 rounds: the largest of the default search space).

Ratios against the peers are what count: absolute figures depend on the machine (and on its
load: the figures in docs/local-backend.md were taken on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import callquality as cq
from callquality.protocols import FeatureViewSpec
from callquality.testing import make_feature_rows

VIEWS = ("acoustic_features", "emotion_sentiment_features", "ner_content_features")


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "n": len(samples)}


def bench_online(store, n_keys_total: int = 20_000, repeats: int = 5_000) -> dict:
    fs = store.feature_store
    entity = fs.get_entity("call")
    names = tuple(cq.feature_names(("acoustic", "interaction")) +
                  cq.feature_names("extended")[:9])
    assert len(names) == 30
    fs.register_feature_view(FeatureViewSpec("bench30", entity, names))
    ids = [f"k{i}" for i in range(n_keys_total)]
    fs.ingest("bench30", make_feature_rows(names, ids, [pd.Timestamp("2024-01-01", tz="UTC")] *
                                           n_keys_total))
    rng = np.random.default_rng(0)
    out = {}
    for label, size, n in (("1_key_x_30_features", 1, repeats),
                           ("100_keys_x_30_features", 100, repeats // 5)):
        batches = [list(rng.choice(ids, size)) for _ in range(n)]
        fs.get_online_features("bench30", batches[0])  # warm-up
        gc.collect()
        gc.disable()
        samples = []
        try:
            for keys in batches:
                t0 = time.perf_counter()
                fs.get_online_features("bench30", keys)
                samples.append(time.perf_counter() - t0)
        finally:
            gc.enable()
        out[label] = percentiles(samples)
    return out


def bench_pit(store, n_spine: int, n_keys: int, n_versions: int) -> dict:
    fs = store.feature_store
    rng = np.random.default_rng(1)
    ids = np.repeat(np.array([f"c{i}" for i in range(n_keys)], dtype=object), n_versions)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    hours = np.tile(np.arange(n_versions) * 24, n_keys) + rng.integers(0, 24, len(ids))
    times = base + pd.to_timedelta(hours, unit="h")
    frames = {}
    t0 = time.perf_counter()
    for i, v in enumerate(VIEWS):
        spec = fs.get_feature_view(v)
        df = make_feature_rows(list(spec.features), list(ids), list(times), seed=i)
        fs.ingest(v, df)
        frames[v] = (spec, df)
    ingest_s = time.perf_counter() - t0
    spine = pd.DataFrame({
        "call_id": np.array([f"c{i}" for i in rng.integers(0, int(n_keys * 1.05), n_spine)],
                            dtype=object),
        "ts": base + pd.to_timedelta(rng.integers(-24, 24 * (n_versions + 1), n_spine),
                                     unit="h"),
    })

    def ours():
        return fs.retrieve_feature_values(spine, list(VIEWS), spine_timestamp_col="ts")

    fs._cache.clear()  # cold: segments read from Parquet and indexed
    t0 = time.perf_counter()
    got = ours()
    cold = time.perf_counter() - t0
    warm = min(_timed(ours) for _ in range(2))

    def pandas_asof():
        left = spine.reset_index().sort_values("ts", kind="stable")
        for v in VIEWS:
            _spec, df = frames[v]
            right = df.rename(columns={"processed_at": f"_{v}_ts"}).sort_values(f"_{v}_ts")
            left = pd.merge_asof(left, right, left_on="ts", right_on=f"_{v}_ts",
                                 by="call_id", direction="backward", allow_exact_matches=True)
        return left.sort_values("index").set_index("index")

    pandas_s = min(_timed(pandas_asof) for _ in range(2))
    want = pandas_asof()

    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("spine", spine.assign(_row=np.arange(n_spine)))
    for v in VIEWS:
        con.register(v, frames[v][1])
    selects = ", ".join(f"{v[0]}.{c}" for v in VIEWS for c in frames[v][0].features)
    joins = " ".join(f"ASOF LEFT JOIN {v} {v[0]} ON s.call_id = {v[0]}.call_id AND "
                     f"s.ts >= {v[0]}.processed_at" for v in VIEWS)
    sql = f"SELECT s._row, {selects} FROM spine s {joins} ORDER BY s._row"

    def duck():
        return con.execute(sql).df()

    duck_s = min(_timed(duck) for _ in range(2))
    duck_df = duck()

    mismatches = {}
    for v in VIEWS:
        for c in frames[v][0].features:
            bad = _differences(got[c], want[c]) + _differences(got[c], duck_df[c])
            if bad:
                mismatches[c] = bad
    return {"spine_rows": n_spine, "feature_rows_per_view": len(ids),
            "ingest_3_views_s": round(ingest_s, 3),
            "ours_cold_s": round(cold, 3), "ours_warm_s": round(warm, 3),
            "pandas_merge_asof_s": round(pandas_s, 3), "duckdb_asof_join_s": round(duck_s, 3),
            "matched_rows": int(got["jitter"].notna().sum()),
            "results_identical": not mismatches, "mismatches": mismatches}


def _differences(a: pd.Series, b: pd.Series) -> int:
    """Rows where two columns differ (missing equals missing), whatever their dtypes."""
    an, bn = a.isna().to_numpy(), b.isna().to_numpy()
    av, bv = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    both = ~an & ~bn
    return int((an != bn).sum() + (av[both] != bv[both]).sum())


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_registry(store, repeats: int = 10) -> dict:
    import xgboost as xgb

    from callquality.training import CallQualityModel
    from callquality.training.model import model_schema_hash
    from callquality.training.trainer import DEFAULT_PARAMS

    names = [s.name for s in cq.FEATURES if s.dtype != "string"][:33]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((2_000, len(names))), columns=names)
    y = (X.iloc[:, 0] + 0.5 * rng.random(2_000) > 0.7).astype(int)
    booster = xgb.train({**DEFAULT_PARAMS, "nthread": 2}, xgb.DMatrix(X, label=y),
                        num_boost_round=400)
    model = CallQualityModel(booster, feature_names=names,
                             feature_dtypes={n: "float64" for n in names},
                             schema_hash=model_schema_hash(names))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        size = sum(p.stat().st_size for p in (Path(tmp) / "m").iterdir())
    log, load = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        info = store.registry.log_model(model, model_name="bench_model")
        log.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.registry.load_model(f"bench_model/{info.version}")
        load.append(time.perf_counter() - t0)
    return {"artifact_bytes": size, "log_model": percentiles(log),
            "load_model": percentiles(load)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spine", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--versions", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    results: dict = {"machine": platform.platform(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        with cq.connect("local", path=Path(tmp) / "store") as store:
            results["online"] = bench_online(store)
            print(json.dumps(results["online"], indent=1), flush=True)
            results["registry"] = bench_registry(store)
            print(json.dumps(results["registry"], indent=1), flush=True)
            results["point_in_time"] = bench_pit(store, args.spine, args.keys, args.versions)
            print(json.dumps(results["point_in_time"], indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
