"""The whole lifecycle on the local backend and the fixture audio.

Run with ``make demo`` (or ``python examples/demo.py``). On the 60 fixture calls:

1. load the calls (audio + sidecar transcripts) and extract every available feature group;
2. label them with the transparent heuristic labeler;
3. ingest the features into the feature store's views (offline + online) and look some up;
4. run the quickstart's experiments whose feature groups are available (tracked);
5. register the best model, alias it PRODUCTION, store its training rows as its baseline;
6. score the held-out calls with ``call_quality@PRODUCTION`` and log the predictions;

then two simulated later days, each one run of the retraining loop
(:func:`callquality.monitoring.process_period`: extract, label, serve, actuals, evaluate,
alerts, train, promote, score):

7. day 1: new calls like the corpus (synthesised with the fixture generator);
8. day 2: drifted: two thirds angry customers, on noisy lines (white noise at 15 dB SNR) -- the
   monitor reports drift, the alerts fire, a challenger is trained (on the champion's calls,
   day 1's and half of day 2's) and compared with the champion and the base model on the
   other half of day 2's calls, and the best is promoted;
9. the monitor's report: performance per day, drift per feature, the alerts; charts as PNG.

Generated audio goes to a cache folder outside the repository (``--audio-cache``, default
in the system's temporary folder), so later runs skip the synthesis. The store is a folder
(``--store``, default ``./cq-store``) that a dashboard can open at the same time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import callquality as cq
from callquality import monitoring as cqm
from callquality import training as cqt
from callquality.labeling import HeuristicLabeler
from callquality.monitoring.retraining import RetrainingPolicy, process_period, set_baseline
from callquality.schema import GROUPS

MODEL = "call_quality"
LABEL = "high_quality_call"
DAY0 = pd.Timestamp("2025-06-01 12:00", tz="UTC")
PERIODS = ("2025-06-02", "2025-06-03")
NOISE_DB = 15.0
HERE = Path(__file__).resolve().parent


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


# --------------------------------------------------------------------------- period audio


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("cq_generate_fixtures",
                                                  HERE / "generate_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _make(args: tuple[int, int, str]) -> str:
    gen = _generator()
    index, seed, out = args
    return str(gen.make_call(index, seed, Path(out), version=gen.espeak_version())["call_id"])


def _add_noise(folder: Path, snr_db: float, seed: int) -> None:
    """White noise at ``snr_db`` (relative to each channel's speech RMS) on every call."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    for flac in sorted(folder.glob("*.flac")):
        y, sr = sf.read(flac, dtype="float64", always_2d=True)
        rms = np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2)) if np.any(np.abs(y) > 1e-4) else 0.01
        noisy = y + rng.normal(0.0, rms / 10 ** (snr_db / 20), y.shape)
        peak = np.abs(noisy).max()
        sf.write(flac, noisy / peak * 0.9 if peak > 0.99 else noisy, sr, subtype="PCM_16")


def period_audio(cache: Path, name: str, indices: list[int], *, seed: int,
                 noise_db: float | None, jobs: int) -> Path:
    """Synthesise (once) the calls ``indices`` with the fixture generator into
    ``cache/name``; with ``noise_db``, a copy on noisy lines in ``cache/name-snrN``
    (made once from the clean calls)."""
    clean = _cached(cache / name, lambda tmp: _synthesise(tmp, indices, seed, jobs),
                    {"indices": indices, "seed": seed})
    if noise_db is None:
        return clean

    def noisy(tmp: Path) -> None:
        for f in clean.iterdir():
            if not f.name.startswith("."):
                shutil.copy2(f, tmp / f.name)
        _add_noise(tmp, noise_db, seed)

    return _cached(cache / f"{name}-snr{noise_db:g}", noisy,
                   {"indices": indices, "seed": seed, "noise_db": noise_db})


def _synthesise(out: Path, indices: list[int], seed: int, jobs: int) -> None:
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_make, [(i, seed, str(out)) for i in indices]))


def _cached(folder: Path, make: Callable[[Path], None], meta: dict[str, Any]) -> Path:
    """``folder``, made by ``make(tmp)`` in a temporary sibling and renamed into place only
    when complete, so an interrupted run never leaves half a folder behind."""
    if (folder / ".complete").exists() and \
            json.loads((folder / ".complete").read_text()) == meta:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    tmp = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    make(tmp)
    (tmp / ".complete").write_text(json.dumps(meta))
    tmp.rename(folder)
    return folder


# --------------------------------------------------------------------------- the job


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="examples/fixtures")
    ap.add_argument("--store", default="cq-store")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--calls-per-day", type=int, default=96)
    ap.add_argument("--audio-cache", default=str(Path(tempfile.gettempdir())
                                                 / "callquality-demo-audio"))
    ap.add_argument("--jobs", type=int, default=2, help="processes synthesising audio")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the splits and the trainers (the audio is fixed)")
    ap.add_argument("--noise-db", type=float, default=NOISE_DB,
                    help="SNR of the drifted day's noisy lines")
    ap.add_argument("--keep-store", action="store_true", help="do not start from an empty store")
    args = ap.parse_args()
    t_start = time.perf_counter()

    t0 = step("1. load and extract the fixture calls")
    calls = cq.load_calls(args.fixtures, progress=False)
    audio_sec = sum(c.duration_sec for c in calls)
    features = cq.extract(calls, device=args.device, progress=False)
    groups = [g for g in GROUPS if all(f in features.columns for f in cq.feature_names(g))]
    dt = time.perf_counter() - t0
    print(f"{len(calls)} calls, {audio_sec / 60:.1f} min of audio; groups {groups}; "
          f"{len(features.columns) - 4} features per call in {dt:.1f} s; "
          f"{int(features['error'].notna().sum())} failed")

    t0 = step("2. label (heuristic)")
    labeler = HeuristicLabeler()
    outcomes = labeler.label(list(calls), features=features)
    scripted = pd.DataFrame([{"call_id": c.call_id,
                              "scripted": c.ground_truth["outcome"]["resolved"]}
                             for c in calls if c.ground_truth])
    agree = outcomes.merge(scripted, on="call_id")
    print(f"{len(outcomes)} labeled, {labeler.report_.quarantined} quarantined; "
          f"{outcomes[LABEL].mean():.0%} high quality; resolved agrees with the script on "
          f"{(agree.call_resolved == agree.scripted).mean():.0%}")

    store = Path(args.store)
    if store.exists() and not args.keep_store:
        shutil.rmtree(store)
    report_dir = store / "report"
    with cq.connect("local", path=store) as backend:
        t0 = step("3. feature store")
        ok = features[features["error"].isna()].reset_index(drop=True)
        for view in backend.feature_store.list_feature_views().itertuples():
            if all(f in ok.columns for f in view.features):
                n = backend.feature_store.ingest(view.name, ok)
                print(f"ingested {n} rows into {view.name}/{view.version}")
        online = backend.feature_store.get_online_features(
            "acoustic_features", list(ok["call_id"][:3]), ["agent_talk_ratio", "jitter"])
        print(f"online lookup:\n{online.to_string(index=False)}")

        t0 = step("4. experiments")
        ds = cqt.build_dataset(features, outcomes[["call_id", LABEL]], label=LABEL)
        parts = cqt.split(ds, test_size=0.25, holdout_size=0.25, seed=args.seed)
        runnable = [e for e in cqt.QUICKSTART_EXPERIMENTS
                    if e.groups is None or set(e.groups) <= set(groups)]
        skipped = [e.name for e in cqt.QUICKSTART_EXPERIMENTS if e not in runnable]
        # folds are grouped by agent: no more folds than the training part has agents
        train_df, _, holdout_df = parts.frames(ds)
        trainer = cqt.XGBTrainer(n_estimators=100,
                                 cv_folds=max(2, min(4, train_df["agent_id"].nunique())),
                                 seed=args.seed)
        results = cqt.run_experiments(ds, runnable, data_split=parts, trainer=trainer,
                                      tracker=backend.experiments, seed=args.seed)
        table = results.table()
        cols = [c for c in ("experiment", "status", "threshold", "cv_roc_auc", "test_roc_auc",
                            "test_f1_tuned", "error") if c in table.columns]
        with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
            print(table[cols].to_string(index=False))
        if not (table["status"] == "FINISHED").any():
            sys.exit("demo: every experiment failed (see the errors above)")
        if skipped:
            print(f"skipped (feature groups not available yet): {skipped}")
        best = results.best("test_roc_auc")

        t0 = step("5. register")
        assert best.model is not None and best.test_tuned is not None
        info = backend.registry.log_model(
            best.model, model_name=MODEL,
            metrics={k: v for k, v in best.test_tuned.as_dict("test_").items()},
            lineage={**ds.lineage(), "run_name": best.run_name, "experiment": best.name},
            comment=f"best of {len(runnable)} experiments by test ROC AUC")
        backend.registry.set_alias(MODEL, info.version, "PRODUCTION")
        train_ids = set(train_df["call_id"])
        baseline = ok[ok["call_id"].isin(train_ids)].merge(
            outcomes[["call_id", LABEL]], on="call_id")
        set_baseline(backend, MODEL, info.version, baseline, label=LABEL)
        print(f"{MODEL}/{info.version} ({best.name}, {len(best.features)} features) -> "
              f"PRODUCTION; baseline: its {len(baseline)} training calls")

        t0 = step("6. score the held-out calls (day 0)")
        model = backend.registry.load_model(f"{MODEL}@PRODUCTION")
        held = ok[ok["call_id"].isin(set(holdout_df["call_id"]))].reset_index(drop=True)
        scores = model.predict_proba(held)
        feats_logged = [c for c in held.columns
                        if c not in ("call_id", "agent_id", "processed_at", "error")]
        preds = pd.DataFrame({
            "prediction_id": [f"{MODEL}:{info.version}:{c}".lower() for c in held["call_id"]],
            "call_id": held["call_id"], "model_name": MODEL, "model_version": info.version,
            "threshold": model.threshold, "score": scores,
            "predicted_class": (scores >= model.threshold).astype(int),
            "predicted_at": DAY0, "agent_id": held["agent_id"], "period": "2025-06-01",
            **{c: held[c] for c in feats_logged}})
        backend.predictions.log_predictions(preds)
        backend.predictions.log_actuals(
            held[["call_id"]].merge(outcomes[["call_id", LABEL]], on="call_id")
            .rename(columns={LABEL: "actual"}))
        print(f"logged {len(preds)} predictions with actuals; "
              f"{int(preds.predicted_class.sum())} predicted high quality")

        t0 = step("7. synthesise the next days' calls")
        cache = Path(args.audio_cache)
        n = args.calls_per_day
        day1 = period_audio(cache, f"day1-n{n}", list(range(61, 61 + n)), seed=7,
                            noise_db=None, jobs=args.jobs)
        # day 2: two thirds angry customers (the corpus has one third), all on noisy lines
        angry = [i for i in range(200, 200 + 9 * n) if i % 3 == 2][:n - n // 3]
        others = [i for i in range(200, 200 + 9 * n) if i % 3 != 2][:n // 3]
        day2 = period_audio(cache, f"day2-angry-n{n}", sorted(angry + others), seed=7,
                            noise_db=args.noise_db, jobs=args.jobs)
        print(f"day 1: {n} calls like the corpus; day 2: {len(angry)} angry and "
              f"{len(others)} other customers, on noisy lines ({args.noise_db:g} dB SNR); audio in "
              f"{cache} ({time.perf_counter() - t0:.1f} s)")

        # 96 calls a day: PSI's sampling noise alone is ~9 (1/n_ref + 1/n_cur) ~ 0.37, so the
        # decision and the alert watch the KS statistic (0.1 % critical value ~0.39 for 96
        # calls against 33). The challenger also learns from the days before (accumulate):
        # the drift changes the inputs, not what a good call is. Candidates are compared by F1
        # at their own thresholds on the 48 held-out calls of the day, because decisions are
        # what the drift breaks first (the champion's ranking, its ROC AUC, mostly holds)
        drift_threshold = 0.6
        policy = RetrainingPolicy(f1_threshold=0.6, drift_method="ks",
                                  drift_threshold=drift_threshold, min_labeled=10,
                                  eval_fraction=0.5, selection_metric="f1",
                                  accumulate=True, seed=args.seed)
        rules = [cqm.AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6,
                               min_count=10, severity="critical"),
                 cqm.AlertRule("feature_drift", metric="drift:max", comparator=">",
                               threshold=drift_threshold, method="ks", min_count=20)]
        fired: list[cqm.AlertEvent] = []
        reports = []
        for i, (period, folder) in enumerate(zip(PERIODS, (day1, day2), strict=True), start=1):
            t0 = step(f"{7 + i}. day {i} ({period}): process_period")
            report = process_period(
                backend, period, folder, model_name=MODEL, label=LABEL, policy=policy,
                trainer=trainer, extract_options={"device": args.device, "progress": False},
                alert_rules=rules, sinks=[fired.append])
            reports.append(report)
            print(report.summary())
            print(f"({time.perf_counter() - t0:.1f} s)")

        t0 = step("10. monitor report")
        first = backend.registry.get_version(MODEL, info.version).version
        mon = cqm.Monitor(backend, MODEL, first)  # baseline: its stored training rows
        metrics = mon.metrics()
        with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
            print(f"{MODEL}/{first} per day:")
            print(metrics[["window_start", "count", "n_actual", "accuracy", "f1",
                           "roc_auc"]].to_string(index=False))
            drift_ks = mon.drift(method="ks")
            drift_psi = mon.drift(method="psi")
            top = (drift_ks[drift_ks.feature != "score"].sort_values("value", ascending=False)
                   .groupby("window_start").head(3))
            print("largest feature drift (KS) per day:")
            print(top[["window_start", "feature", "value", "n_current"]].to_string(index=False))
            alerts = cqm.read_alerts(backend, model_name=MODEL)
            print(f"alerts stored: {len(alerts)}")
            for msg in alerts["message"]:
                print(f"  {msg}")
        now = cqm.Monitor(backend, MODEL, "PRODUCTION")
        if now.version != first:
            print(f"PRODUCTION is now {now.version}; its predictions on the calls it did not "
                  "train on:")
            print(now.metrics()[["window_start", "count", "n_actual", "accuracy", "f1"]]
                  .to_string(index=False, float_format="{:.3f}".format))
        from callquality.monitoring.plots import plot_drift, plot_metrics

        png = [plot_metrics(metrics, report_dir / "metrics.png",
                            title=f"{MODEL}/{first}: performance per day",
                            thresholds={"f1": 0.6}),
               plot_drift(drift_ks, report_dir / "drift_ks.png", threshold=drift_threshold),
               plot_drift(drift_psi, report_dir / "drift_psi.png", threshold=0.25)]
        print("charts: " + ", ".join(str(p) for p in png))

        drifted = reports[-1]
        ev = drifted.results["evaluate"]
        print("\n== summary")
        day2 = drift_ks[(drift_ks.feature != "score")
                        & (drift_ks.window_start == drift_ks.window_start.max())]
        top2 = day2.loc[day2["value"].idxmax()] if len(day2) else None
        worst = ev.get("max_drift")
        if top2 is not None:
            print(f"drift on day 2, all logged features: {top2.feature} KS = {top2.value:.2f} "
                  f"(alert threshold {drift_threshold}): "
                  f"{'yes' if top2.value > drift_threshold else 'no'}")
        n_used = len(backend.registry.load_model(f"{MODEL}/{ev['champion']}").feature_names)
        print(f"drift on day 2, the champion's {n_used} features: "
              f"{ev['max_drift_feature']} KS = {'n/a' if worst is None else f'{worst:.2f}'} "
              f"(retraining threshold {policy.drift_threshold}); retraining triggered by: "
              f"{'; '.join(ev.get('reasons') or ['nothing'])}")
        print(f"alerts fired: {len(fired)} ({', '.join(sorted({e.rule for e in fired}))})")
        print(f"challenger trained: {drifted.challenger or 'no'}; promoted: "
              f"{'yes' if drifted.promoted else 'no'} (PRODUCTION {drifted.champion_before} "
              f"-> {drifted.champion_after})")
        print(f"store: {store.resolve()}; total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
