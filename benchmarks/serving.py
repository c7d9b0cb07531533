"""Load test of the prediction service on 127.0.0.1, beside a bare FastAPI endpoint.

    python benchmarks/serving.py [--requests 400] [--seconds 20] [--out FILE]

What runs (each server in its own process, one uvicorn worker; the load generator is an
asyncio httpx client in this process):

* ``callquality serve`` (the CLI) on a fresh local store holding a 100-tree model trained on
  synthetic calls (46 features), with a bearer token. Two request kinds:
  - ``features``: ``POST /predict`` with every feature in the body;
  - ``call_id``: ``POST /predict`` with a call id, features read from the online store
    (4 views).
  Every answer is logged to the prediction log (group commit) before it is returned.
* the peer: a bare FastAPI endpoint in the same framework and server that runs the same
  model on the same ``features`` bodies, with no authentication, signature validation,
  store lookup or logging: what the service's guarantees cost.

At concurrency 1, 8 and 32, each kind gets at most ``--requests`` requests and at most
``--seconds`` seconds (after 20 warm-up requests); reported: p50 and p99 latency (ms) and
throughput (requests/s). The client shares the machine's cores with the server, so the
ratios to the peer count; the absolute figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
CONCURRENCY = (1, 8, 32)


def build_store(path: Path, n_calls: int = 400) -> list[str]:
    """A store with every feature group online and a PRODUCTION model; returns call ids."""
    import callquality as cq
    from callquality.backends.local import CALL_ENTITY
    from callquality.protocols import FeatureViewSpec
    from callquality.schema import feature_names
    from callquality.training import XGBTrainer, build_dataset, make_synthetic_calls

    feats, outs = make_synthetic_calls(n_calls, label="high_quality_call", seed=0)
    ds = build_dataset(feats, outs, label="high_quality_call")
    model = XGBTrainer(n_estimators=100, cv_folds=3).fit(ds.frame, label="high_quality_call",
                                                         features=ds.features)
    with cq.connect("local", path=path) as backend:
        backend.feature_store.register_feature_view(FeatureViewSpec(
            "extended_features", CALL_ENTITY, tuple(feature_names("extended"))))
        for view in ("acoustic_features", "emotion_sentiment_features",
                     "ner_content_features", "extended_features"):
            backend.feature_store.ingest(view, feats)
        info = backend.registry.log_model(model, model_name="call_quality")
        backend.registry.set_alias("call_quality", info.version, "PRODUCTION")
    return feats["call_id"].tolist()


def feature_bodies(path: Path, call_ids: list[str]) -> list[dict[str, Any]]:
    """``{"features": {...}}`` bodies of the calls (JSON-ready: NaN -> null)."""
    import callquality as cq
    from callquality.serving import OnlineFeatures, load_registered

    with cq.connect("local", path=path) as backend:
        lm = load_registered(backend, "call_quality@PRODUCTION")
        frame, _ = OnlineFeatures(backend.feature_store, lm.feature_names).fetch(call_ids)
    bodies = []
    for rec in frame[lm.feature_names].to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if v is None or (isinstance(v, float) and not np.isfinite(v)) or str(v) == "<NA>":
                clean[k] = None
            elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                clean[k] = int(v)
            elif isinstance(v, (np.floating, float)):
                clean[k] = float(v)
            else:
                clean[k] = str(v)
        bodies.append({"features": clean})
    return bodies


def peer_app(store: str) -> Any:
    """The bare endpoint: the same model, nothing else."""
    import pandas as pd
    from fastapi import FastAPI

    import callquality as cq
    from callquality.serving import load_registered

    backend = cq.connect("local", path=store)
    lm = load_registered(backend, "call_quality@PRODUCTION")
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        score = float(lm.model.predict_proba(pd.DataFrame([body["features"]]))[0])
        return {"score": score, "predicted_class": int(score >= lm.threshold)}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc
        except OSError as exc:
            if getattr(exc, "code", None) is not None:  # an HTTP answer: it is up
                return proc
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server at {url} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def load(url: str, bodies: list[dict[str, Any]], concurrency: int, n_max: int,
               seconds: float, headers: dict[str, str]) -> dict[str, float]:
    """Send up to ``n_max`` requests (or for ``seconds``) with ``concurrency`` workers."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers=headers) as client:
        for i in range(20):  # warm-up
            await client.post("/predict", json=bodies[i % len(bodies)])
        counter = iter(range(n_max))
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                r = await client.post("/predict", json=bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "errors": errors,
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "throughput_rps": round(len(latencies) / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="most requests per level")
    ap.add_argument("--seconds", type=float, default=20.0, help="most seconds per level")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_serving.json")))
    ap.add_argument("--peer-server", default=None, help=argparse.SUPPRESS)  # internal
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_server:
        import uvicorn

        uvicorn.run(peer_app(args.peer_server), host="127.0.0.1", port=args.port,
                    log_level="warning", access_log=False)
        return

    tmp = Path(tempfile.mkdtemp(prefix="cq-bench-serving-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        store = tmp / "store"
        t0 = time.perf_counter()
        ids = build_store(store)
        bodies = feature_bodies(store, ids)
        print(f"store built in {time.perf_counter() - t0:.1f} s ({len(ids)} calls)")
        env = {**os.environ, "CALLQUALITY_API_TOKEN": TOKEN}
        ours_port, peer_port = free_port(), free_port()
        procs.append(start([sys.executable, "-m", "callquality.cli", "serve", "--store",
                            str(store), "--port", str(ours_port), "--log-level", "warning"],
                           f"http://127.0.0.1:{ours_port}/health", env))
        procs.append(start([sys.executable, __file__, "--peer-server", str(store), "--port",
                            str(peer_port)], f"http://127.0.0.1:{peer_port}/docs", env))
        kinds = {
            "callquality_features": (ours_port, bodies, {"Authorization": f"Bearer {TOKEN}"}),
            "callquality_call_id": (ours_port, [{"call_id": c} for c in ids],
                                    {"Authorization": f"Bearer {TOKEN}"}),
            "peer_bare_fastapi": (peer_port, bodies, {}),
        }
        results: dict[str, dict[str, Any]] = {}
        for name, (port, reqs, headers) in kinds.items():
            results[name] = {}
            for c in CONCURRENCY:
                r = asyncio.run(load(f"http://127.0.0.1:{port}", reqs, c, args.requests,
                                     args.seconds, headers))
                results[name][f"c{c}"] = r
                print(f"{name:22s} c={c:2d}: p50 {r['p50_ms']:7.2f} ms  p99 "
                      f"{r['p99_ms']:7.2f} ms  {r['throughput_rps']:7.1f} req/s  "
                      f"({r['requests']} requests, {r['errors']} errors)")
        ratios = {f"c{c}": round(results["peer_bare_fastapi"][f"c{c}"]["throughput_rps"]
                                 / results["callquality_features"][f"c{c}"]["throughput_rps"],
                                 2) for c in CONCURRENCY}
        print(f"peer throughput / callquality (features): {ratios}")
        import callquality as cq

        with cq.connect("local", path=store) as backend:
            logged = len(backend.predictions.read(model_name="call_quality"))
        ok = sum(r["requests"] - r["errors"] for k in ("callquality_features",
                                                       "callquality_call_id")
                 for r in results[k].values())
        print(f"prediction log: {logged} rows for {ok} answered requests (+ warm-up)")
        out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                           "python": platform.python_version()},
               "settings": {"requests": args.requests, "seconds": args.seconds},
               "results": results, "peer_over_callquality_throughput": ratios,
               "logged_predictions": logged}
        Path(args.out).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.out}")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
