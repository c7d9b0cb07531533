"""Reliability of a folder store shared by real processes.

* four writers log model versions, ingest feature batches and log predictions at once while a
  fifth process reads like a dashboard: no version is lost or duplicated, numbers are unique,
  and the reader never sees a half-written version or batch;
* a writer killed with SIGKILL at the critical points of a write (artifact in place but not
  committed; inside the open transaction; feature segment written but not committed) or at a
  random moment leaves a store that opens, passes the integrity check and holds the
  interrupted write whole or not at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import callquality as cq

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

BATCH = 40  # feature rows per ingestion
PREDS = 10  # predictions per batch

WORKER = textwrap.dedent('''
    import json, os, signal, sys, time
    import pandas as pd
    import callquality as cq
    from callquality.backends.local import _util
    from callquality.testing import FakeModel, make_feature_rows

    mode, path, wid, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \\
        sys.argv[5]
    BATCH, PREDS = int(os.environ["CQ_BATCH"]), int(os.environ["CQ_PREDS"])
    FEATS = cq.feature_names(("acoustic", "interaction"))

    crash_at = os.environ.get("CQ_CRASH_AT")
    if crash_at:
        def fault(point):
            if point == crash_at:
                sys.stdout.write("CRASHING\\n"); sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        _util.fault = fault

    store = cq.connect("local", path=path)
    while go != "-" and not os.path.exists(go):
        time.sleep(0.005)

    def write(i):
        info = store.registry.log_model(
            FakeModel({"jitter": float(wid), "shimmer": float(i)}, seed=wid * 1000 + i,
                      payload_bytes=int(os.environ.get("CQ_PAYLOAD", "2000"))),
            model_name="shared", metrics={"writer": wid, "i": i})
        ids = [f"w{wid}-{i}-{j}" for j in range(BATCH)]
        store.feature_store.ingest("acoustic_features", make_feature_rows(
            FEATS, ids, [pd.Timestamp("2024-01-01", tz="UTC")] * BATCH, seed=i))
        store.predictions.log_predictions(pd.DataFrame({
            "prediction_id": ids[:PREDS], "model_name": "shared",
            "model_version": info.version, "score": 0.5, "predicted_class": 1}))
        return info.version

    if mode == "writer":
        versions = [write(i) for i in range(n)]
        print(json.dumps({"versions": versions}))
    elif mode == "forever":
        i = 0
        while True:
            write(i)
            print(f"done {i}", flush=True)
            i += 1
    elif mode == "reader":
        violations, loops, seen = [], 0, 0
        deadline = time.time() + 60
        while loops < 2 or (not os.path.exists(path + ".stop") and time.time() < deadline):
            loops += 1
            try:
                infos = store.registry.versions("shared")
            except cq.exceptions.NotFoundError:
                infos = []
            if infos:
                seen = max(seen, len(infos))
                newest = infos[-1]
                model = store.registry.load_model(f"shared/{newest.version}")
                if model.weights["jitter"] != newest.metrics["writer"]:
                    violations.append(f"{newest.version} loads another model")
            rows = len(store.feature_store.read_feature_view("acoustic_features"))
            if rows % BATCH:
                violations.append(f"half a feature batch visible: {rows} rows")
            online = int(store.feature_store.freshness("acoustic_features")["online_keys"][0])
            if online % BATCH:
                violations.append(f"half an online batch visible: {online} keys")
            preds = len(store.predictions.read(model_name="shared"))
            if preds % PREDS:
                violations.append(f"half a prediction batch visible: {preds} rows")
        print(json.dumps({"loops": loops, "violations": violations, "seen": seen}))
''')


def _spawn(tmp_path: Path, *args: object, env: dict[str, str] | None = None
           ) -> subprocess.Popen[str]:
    script = tmp_path / "worker.py"
    if not script.exists():
        script.write_text(WORKER)
    full_env = {**os.environ, "CQ_BATCH": str(BATCH), "CQ_PREDS": str(PREDS), **(env or {})}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env)


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err[-3000:]}"
    return out


def _assert_consistent(path: Path) -> tuple[int, int, int]:
    """Open the store, check it, and return (versions, feature rows, predictions)."""
    with cq.connect("local", path=path) as s:
        report = s.check_integrity()
        assert report.ok, report.problems
        versions = s.registry.versions("shared") if "shared" in s.registry.models() else []
        for info in versions:
            s.registry.load_model(f"shared/{info.version}")
        rows = len(s.feature_store.read_feature_view("acoustic_features"))
        online = int(s.feature_store.freshness("acoustic_features")["online_keys"][0])
        preds = len(s.predictions.read())
        assert rows % BATCH == 0 and online == rows and preds % PREDS == 0
        assert len({v.version for v in versions}) == len(versions)
        report = s.check_integrity(repair=True, grace_s=0)
        assert s.check_integrity().orphans == []
        return len(versions), rows, preds


def test_four_writers_and_a_reader_at_once(tmp_path: Path) -> None:
    path = tmp_path / "store"
    cq.connect("local", path=path).close()
    go = tmp_path / "go"
    n = 4
    writers = [_spawn(tmp_path, "writer", path, wid, n, go) for wid in range(4)]
    reader = _spawn(tmp_path, "reader", path, 9, 0, "-")
    time.sleep(0.5)
    go.touch()
    results = [json.loads(_finish(w).strip().splitlines()[-1]) for w in writers]
    Path(str(path) + ".stop").touch()
    seen = json.loads(_finish(reader).strip().splitlines()[-1])
    assert seen["violations"] == [] and seen["loops"] >= 2

    logged = [v for r in results for v in r["versions"]]
    assert sorted(logged, key=lambda v: int(v[1:])) == [f"V{i}" for i in range(1, 4 * n + 1)]
    with cq.connect("local", path=path) as s:
        infos = s.registry.versions("shared")
        assert len(infos) == 4 * n
        by_writer = {(int(i.metrics["writer"]), int(i.metrics["i"])) for i in infos}
        assert by_writer == {(w, i) for w in range(4) for i in range(n)}  # none lost
        for info in infos:  # each version holds the model its writer logged
            model = s.registry.load_model(f"shared/{info.version}")
            assert model.weights == {"jitter": info.metrics["writer"],
                                     "shimmer": info.metrics["i"]}
    assert _assert_consistent(path) == (4 * n, 4 * n * BATCH, 4 * n * PREDS)


@pytest.mark.parametrize("point", ["after_artifact", "before_commit", "after_segment"])
def test_sigkill_at_a_critical_point_leaves_the_write_absent(tmp_path: Path, point: str
                                                             ) -> None:
    path = tmp_path / "store"
    _finish(_spawn(tmp_path, "writer", path, 1, 2, "-"))  # two complete writes first
    before = _assert_consistent(path)
    proc = _spawn(tmp_path, "writer", path, 2, 1, "-", env={"CQ_CRASH_AT": point})
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL and "CRASHING" in out
    versions, rows, preds = _assert_consistent(path)
    if point == "after_segment":  # the version was committed, the feature batch was not
        assert (versions, rows, preds) == (before[0] + 1, before[1], before[2])
    else:
        assert (versions, rows, preds) == before
    with cq.connect("local", path=path) as s:  # the store goes on numbering correctly
        info = s.registry.log_model(cq.testing.FakeModel({"jitter": 0.0}), model_name="shared")
        assert info.version == f"V{before[0] + (2 if point == 'after_segment' else 1)}"


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "store"
    cq.connect("local", path=path).close()
    for delay in (0.05, 0.2, 0.45):
        proc = _spawn(tmp_path, "forever", path, 3, 0, "-", env={"CQ_PAYLOAD": "3000000"})
        assert proc.stdout is not None
        proc.stdout.readline()  # one write done: the process is busy writing the next
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        _assert_consistent(path)
