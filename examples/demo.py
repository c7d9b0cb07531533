"""The main job on the local backend and the fixture audio.

Run with ``make demo`` (or ``python examples/demo.py``). Stages, each taking and returning the
schema's tables:

1. load the fixture calls (audio + sidecar transcripts);
2. extract the audio feature groups (acoustic, interaction, extended) with the batched core;
3. ingest them into the local feature store (offline + online);
4. label the calls with the transparent heuristic labeler;
5. run the quickstart's experiments that the available groups allow (tracked);
6. register the best model, point the PRODUCTION alias at it;
7. score the calls with the model loaded back by ``name@PRODUCTION`` and log the predictions.

The store is a folder (``--store``, default ``./cq-store``) that a dashboard or another
process can open at the same time. Monitoring and retraining join as their stages land.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

import callquality as cq
from callquality import training as cqt
from callquality.labeling import HeuristicLabeler

GROUPS = ("acoustic", "interaction", "extended")


def step(title: str) -> float:
    print(f"\n== {title}")
    return time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="examples/fixtures")
    ap.add_argument("--store", default="cq-store")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--keep-store", action="store_true", help="do not start from an empty store")
    args = ap.parse_args()

    t0 = step("1. load calls")
    calls = cq.load_calls(args.fixtures)
    audio_sec = sum(c.duration_sec for c in calls)
    print(f"{len(calls)} calls, {audio_sec / 60:.1f} min of audio, "
          f"{sum(c.is_stereo for c in calls)} stereo ({time.perf_counter() - t0:.1f} s)")
    if calls.report:
        print(calls.report)

    t0 = step("2. extract features")
    features = cq.extract(calls, groups=GROUPS, device=args.device)
    dt = time.perf_counter() - t0
    print(f"{len(features.columns) - 4} features per call in {dt:.1f} s "
          f"({audio_sec / dt:.0f}x real time); {int(features['error'].notna().sum())} failed")
    truth = pd.DataFrame([
        {"call_id": c.call_id, "mood": c.ground_truth["customer_mood"],
         "true_talk_ratio": c.ground_truth["agent_talk_ratio"],
         "true_interruptions": c.ground_truth["interruptions"]["total"]}
        for c in calls if c.ground_truth])
    view = features.merge(truth, on="call_id", how="left")
    cols = ["call_id", "agent_id", "mood", "agent_talk_ratio", "true_talk_ratio",
            "interruption_count", "true_interruptions", "avg_pitch_hz", "jitter", "shimmer",
            "harmonics_to_noise_ratio", "speaking_rate_wpm"]
    with pd.option_context("display.width", 200, "display.max_rows", 200,
                           "display.float_format", "{:.3f}".format):
        print(view[cols].to_string(index=False))
    print(f"agent talk ratio |error| median "
          f"{(view.agent_talk_ratio - view.true_talk_ratio).abs().median():.3f}; interruption "
          f"count exact on {(view.interruption_count == view.true_interruptions).mean():.0%}")

    store = Path(args.store)
    if store.exists() and not args.keep_store:
        shutil.rmtree(store)
    with cq.connect("local", path=store) as backend:
        t0 = step("3. feature store")
        ok = features[features["error"].isna()]
        n = backend.feature_store.ingest("acoustic_features", ok)
        online = backend.feature_store.get_online_features(
            "acoustic_features", list(ok["call_id"][:3]), ["agent_talk_ratio", "jitter"])
        print(f"ingested {n} rows into acoustic_features; online lookup:\n{online}")

        t0 = step("4. label")
        labeler = HeuristicLabeler()
        outcomes = labeler.label(list(calls), features=features)
        print(f"labels: {outcomes.attrs.get('labeling')}")
        scripted = pd.DataFrame([{"call_id": c.call_id,
                                  "scripted_resolved": c.ground_truth["outcome"]["resolved"]}
                                 for c in calls if c.ground_truth])
        agree = outcomes.merge(scripted, on="call_id")
        print(f"agreement with the scripted outcome: "
              f"{(agree.call_resolved == agree.scripted_resolved).mean():.0%}")

        t0 = step("5. experiments")
        ds = cqt.build_dataset(features, outcomes[["call_id", "high_quality_call"]],
                               label="high_quality_call")
        experiments = [cqt.Experiment("audio_features", groups=GROUPS),
                       cqt.Experiment("acoustic_interaction", groups=("acoustic", "interaction")),
                       cqt.Experiment("audio_features_smote", groups=GROUPS,
                                      resampling="smote")]
        results = cqt.run_experiments(ds, experiments, test_size=0.25,
                                      trainer=cqt.XGBTrainer(n_estimators=100, cv_folds=4),
                                      tracker=backend.experiments, seed=0)
        table = results.table()
        with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
            print(table[["experiment", "status", "threshold", "cv_roc_auc", "test_roc_auc",
                         "test_f1_default", "test_f1_tuned"]].to_string(index=False))
        best = results.best("test_roc_auc")

        t0 = step("6. register")
        assert best.model is not None and best.test_tuned is not None
        info = backend.registry.log_model(
            best.model, model_name="call_quality",
            metrics={k: v for k, v in best.test_tuned.as_dict().items()
                     if isinstance(v, (int, float))},
            lineage={**ds.lineage(), "run_name": best.run_name, "experiment": best.name},
            comment=f"best of {len(experiments)} experiments by test ROC AUC")
        backend.registry.set_alias("call_quality", info.version, "PRODUCTION")
        print(f"registered call_quality/{info.version} ({best.name}); PRODUCTION -> "
              f"{backend.registry.get_version('call_quality', 'PRODUCTION').version}")

        t0 = step("7. score")
        model = backend.registry.load_model("call_quality@PRODUCTION")
        scores = model.predict_proba(ok)
        preds = pd.DataFrame({"call_id": ok["call_id"].to_numpy(), "model_name": "call_quality",
                              "model_version": info.version, "threshold": model.threshold,
                              "score": scores,
                              "predicted_class": (scores >= model.threshold).astype(int)})
        backend.predictions.log_predictions(preds)
        logged = backend.predictions.read(model_name="call_quality")
        print(f"logged {len(logged)} predictions; {int(preds.predicted_class.sum())} predicted "
              f"high quality; mean score {np.mean(scores):.3f}")
        print(f"\nstore: {store.resolve()}")


if __name__ == "__main__":
    main()
