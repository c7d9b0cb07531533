"""Speed of monitoring: drift of a wide table, and a 30-day monitor report, beside Evidently.

    python benchmarks/monitoring.py [--rows 1000000] [--features 50] [--days 30]
                                    [--per-day 2000] [--part all] [--skip-evidently]
                                    [--evidently-windows 5] [--out FILE]

What it measures, in one process, on the same data for both sides:

* **drift of ``--features`` numeric columns x ``--rows`` rows** (reference and current the
  same size; a fifth of the columns shifted): ``drift_table`` with each method (PSI on the
  reference's deciles, KS, Wasserstein-1, Jensen-Shannon; one thread, and PSI with two) beside
  Evidently 0.7's ``DataDriftPreset`` with its default test for numeric columns of more than
  1000 rows (normed Wasserstein distance) and with ``method="psi"``. The normed Wasserstein
  values are compared column by column (ours divided by the reference's standard deviation);
  Evidently's PSI bins differently (so its values differ) and is reported for time only;
* **a full monitor report over ``--days`` daily windows**: ``--per-day`` predictions a day
  logged to a folder store with 33 schema features and ``agent_id`` (90 % with actuals), then
  one :class:`Monitor` report (in one ``snapshot()``: the log read once): performance per
  day, per day and agent, PSI drift per day of every feature and the score against a
  10,000-row baseline, and two alert rules evaluated on every window (stored). Beside it, Evidently's ``DataDriftPreset(method="psi")`` run per day on the
  same windows and columns (drift only: the part both do), timed on the first
  ``--evidently-windows`` windows (it takes seconds per window) and compared per window.

Ratios against the peer measured in the same run are what count; absolute figures depend on
the machine and on its load.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import callquality as cq
from callquality import monitoring as cqm
from callquality.testing import FakeModel


def _columns(rng: np.random.Generator, n: int, n_features: int, shifted: bool) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for j in range(n_features):
        shift = shifted and j % 5 == 0
        kind = j % 3
        if kind == 0:
            cols[f"f{j:02d}"] = rng.normal(10.0 + (0.3 if shift else 0.0), 2.0, n)
        elif kind == 1:
            cols[f"f{j:02d}"] = rng.lognormal(0.0, 0.5 * (1.3 if shift else 1.0), n)
        else:
            cols[f"f{j:02d}"] = rng.poisson(4.0 + (1.0 if shift else 0.0), n).astype(np.float64)
    return pd.DataFrame(cols)


def _timed(fn: Any) -> tuple[Any, float]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _evidently_values(snapshot: Any) -> dict[str, float]:
    out = {}
    for m in snapshot.dict()["metrics"]:
        col = m.get("config", {}).get("column")
        if col is not None and isinstance(m.get("value"), (int, float)):
            out[col] = float(m["value"])
    return out


def bench_drift(n_rows: int, n_features: int, evidently: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    ref = _columns(rng, n_rows, n_features, shifted=False)
    cur = _columns(rng, n_rows, n_features, shifted=True)
    res: dict[str, Any] = {"rows": n_rows, "features": n_features, "callquality_s": {}}
    small_ref, small_cur = ref.head(2000), cur.head(2000)
    for method in ("psi", "ks"):  # warm-up: imports, first allocations
        cqm.drift_table(small_ref, small_cur, method=method)
    tables = {}
    for method in ("psi", "ks", "wasserstein", "jensen_shannon"):
        tables[method], dt = _timed(lambda m=method: cqm.drift_table(ref, cur, method=m))
        res["callquality_s"][method] = round(dt, 3)
        print(f"callquality drift_table {method:15s} {dt:7.2f} s", flush=True)
    _, dt = _timed(lambda: cqm.drift_table(ref, cur, method="psi", n_jobs=2))
    res["callquality_s"]["psi_2_threads"] = round(dt, 3)
    print(f"callquality drift_table psi, 2 threads  {dt:7.2f} s", flush=True)
    if not evidently:
        return res
    from evidently import Report
    from evidently.presets import DataDriftPreset

    Report([DataDriftPreset()]).run(small_cur, small_ref)  # warm-up
    snap, dt = _timed(lambda: Report([DataDriftPreset()]).run(cur, ref))
    res["evidently_default_s"] = round(dt, 3)
    print(f"evidently DataDriftPreset (normed Wasserstein) {dt:7.2f} s", flush=True)
    ev = _evidently_values(snap)
    ours = tables["wasserstein"].set_index("feature")["value"] / ref.std(ddof=0)
    diffs = [abs(ours[c] - ev[c]) for c in ev if c in ours.index]
    res["normed_wasserstein_max_abs_diff"] = float(max(diffs)) if diffs else None
    _, dt = _timed(lambda: Report([DataDriftPreset(method="psi")]).run(cur, ref))
    res["evidently_psi_s"] = round(dt, 3)
    print(f"evidently DataDriftPreset(method='psi')        {dt:7.2f} s", flush=True)
    res["ratio_wasserstein"] = round(res["evidently_default_s"]
                                     / res["callquality_s"]["wasserstein"], 2)
    res["ratio_psi"] = round(res["evidently_psi_s"] / res["callquality_s"]["psi"], 2)
    print(f"Evidently / callquality: Wasserstein {res['ratio_wasserstein']}x, PSI "
          f"{res['ratio_psi']}x; normed Wasserstein max |diff| "
          f"{res['normed_wasserstein_max_abs_diff']:.2e}", flush=True)
    return res


def bench_report(days: int, per_day: int, evidently: bool, evidently_windows: int
                 ) -> dict[str, Any]:
    names = [s.name for s in cq.FEATURES if s.group in ("acoustic", "interaction", "extended")
             and s.dtype != "string"][:33]
    rng = np.random.default_rng(1)
    start = pd.Timestamp("2025-01-01", tz="UTC")

    def table(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame({f: rng.normal(shift * (k % 4 == 0), 1.0, n)
                             for k, f in enumerate(names)})

    baseline = table(10_000, 0.0)
    res: dict[str, Any] = {"days": days, "per_day": per_day, "features": len(names)}
    with tempfile.TemporaryDirectory(prefix="cq-bench-mon-") as tmp, \
            cq.connect("local", path=tmp) as b:
        b.registry.log_model(FakeModel({names[0]: 1.0, names[1]: -0.5}), model_name="cq")
        windows = []
        t0 = time.perf_counter()
        for d in range(days):
            x = table(per_day, 0.5 if d >= days - 5 else 0.0)
            score = 1 / (1 + np.exp(-(x[names[0]] - 0.5 * x[names[1]])))
            actual = (rng.random(per_day) < score).astype(int)
            ids = [f"d{d}-{i}" for i in range(per_day)]
            preds = pd.DataFrame({
                "prediction_id": ids, "call_id": ids, "model_name": "cq", "model_version": "V1",
                "threshold": 0.5, "score": score, "predicted_class": (score >= 0.5).astype(int),
                "predicted_at": start + pd.Timedelta(days=d)
                + pd.to_timedelta(np.sort(rng.random(per_day)) * 86_000, unit="s"),
                "agent_id": [f"agent_{a:02d}" for a in rng.integers(0, 40, per_day)], **x})
            b.predictions.log_predictions(preds)
            keep = rng.random(per_day) < 0.9
            b.predictions.log_actuals(pd.DataFrame({"prediction_id": np.array(ids)[keep],
                                                    "actual": actual[keep]}))
            windows.append(preds[[*names, "score"]])
        res["log_s"] = round(time.perf_counter() - t0, 3)
        print(f"logged {days * per_day} predictions in {res['log_s']:.1f} s", flush=True)
        base = baseline.assign(score=1 / (1 + np.exp(-(baseline[names[0]]
                                                         - 0.5 * baseline[names[1]]))))
        rules = [cqm.AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6,
                               min_count=100),
                 cqm.AlertRule("drift", metric="drift:max", comparator=">", threshold=0.25)]
        gc.collect()
        t0 = time.perf_counter()
        mon = cqm.Monitor(b, "cq", "V1", baseline=base)
        parts: dict[str, float] = {}
        with mon.snapshot():  # the log is read once for the whole report
            for label, fn in (("read_log", lambda: mon.predictions()),
                              ("metrics", lambda: mon.metrics()),
                              ("metrics_by_agent", lambda: mon.metrics(segment="agent_id")),
                              ("drift_psi", lambda: mon.drift(method="psi")),
                              ("alerts", lambda: cqm.evaluate_alerts(mon, rules))):
                t1 = time.perf_counter()
                out = fn()
                parts[label] = round(time.perf_counter() - t1, 3)
                if label == "drift_psi":
                    res["drift_rows"] = len(out)
                if label == "alerts":
                    res["alerts_fired"] = len(out)
        res["report_s"] = round(time.perf_counter() - t0, 3)
        res["parts_s"] = parts
        print(f"monitor report over {days} windows: {res['report_s']:.2f} s {parts}", flush=True)
    if evidently and evidently_windows:
        from evidently import Report
        from evidently.presets import DataDriftPreset

        k = min(evidently_windows, len(windows))
        t0 = time.perf_counter()
        for w in windows[:k]:
            Report([DataDriftPreset(method="psi")]).run(w, base)
        per_window = (time.perf_counter() - t0) / k
        ours = parts["drift_psi"] / days
        res["evidently_drift_s_per_window"] = round(per_window, 3)
        res["callquality_drift_s_per_window"] = round(ours, 4)
        res["evidently_windows_measured"] = k
        res["ratio_drift_per_window"] = round(per_window / ours, 1)
        print(f"evidently DataDriftPreset(psi), {k} of the windows: {per_window:.2f} s per "
              f"window vs ours {ours:.3f} s ({res['ratio_drift_per_window']}x)", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=2000)
    ap.add_argument("--part", choices=("drift", "report", "all"), default="all")
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument("--evidently-windows", type=int, default=5,
                    help="windows Evidently's per-window drift report is timed on")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_monitoring.json")))
    args = ap.parse_args()
    result: dict[str, Any] = {"machine": platform.machine(),
                              "python": platform.python_version()}
    if args.part in ("drift", "all"):
        result["drift"] = bench_drift(args.rows, args.features, not args.skip_evidently)
    if args.part in ("report", "all"):
        result["report"] = bench_report(args.days, args.per_day, not args.skip_evidently,
                                        args.evidently_windows)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
