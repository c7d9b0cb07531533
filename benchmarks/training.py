"""Training speed and memory: the quickstart's four experiments against a plain scikit-learn loop.

    python benchmarks/training.py [--rows 10000 100000] [--threads 2]

Both sides do the same work on the same synthetic table (``make_synthetic_calls``: schema
features, 40 numeric columns used): for each of the four quickstart feature sets, 5-fold
out-of-fold predictions on the training rows, then one final fit and one scoring of the test
rows. callquality adds grouped splits, threshold tuning, SMOTE inside the folds, tracking and
the model manifest; the peer is ``XGBClassifier`` inside ``sklearn.model_selection
.cross_val_predict`` (with an imbalanced-learn pipeline for the SMOTE experiment). Each
configuration runs in its own process, so the peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
from callquality import training as cqt
from callquality.schema import feature_names

impl, n_rows, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
features, outcomes = cqt.make_synthetic_calls(n_rows, groups=("acoustic", "interaction",
                                                                  "extended"), seed=0)
numeric = [c for c in feature_names(("acoustic", "interaction", "extended"))][:40]
features = features[["call_id", "agent_id", "processed_at", *numeric, "error"]]
sets = {
    "all_features": numeric,
    "acoustic_interaction": [c for c in numeric if c in feature_names(("acoustic", "interaction"))],
    "interaction_extended": [c for c in numeric if c in feature_names(("interaction", "extended"))],
    "all_features_smote": numeric,
}
t0 = time.perf_counter()
if impl == "callquality":
    ds = cqt.build_dataset(features, outcomes, label="resolved")
    exps = [cqt.Experiment(name, features=tuple(cols),
                           resampling="smote" if name.endswith("smote") else None)
            for name, cols in sets.items()]
    res = cqt.run_experiments(ds, exps, test_size=0.2, seed=0, log_models=False,
                              trainer=cqt.XGBTrainer(cv_folds=5, n_jobs=threads, seed=0),
                              raise_on_error=True)
    assert (res.table()["status"] == "FINISHED").all()
else:
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import make_pipeline
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
    from xgboost import XGBClassifier
    df = features.merge(outcomes, on="call_id")
    train, test = train_test_split(df, test_size=0.2, stratify=df["resolved"], random_state=0)
    for name, cols in sets.items():
        clf = XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=threads,
                            tree_method="hist", random_state=0)
        est = make_pipeline(SMOTE(random_state=0), clf) if name.endswith("smote") else clf
        X, y = train[cols].astype(float).fillna(0.0), train["resolved"].to_numpy()
        cross_val_predict(est, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                          method="predict_proba")
        est.fit(X, y)
        est.predict_proba(test[cols].astype(float).fillna(0.0))
dt = time.perf_counter() - t0
print(json.dumps({"impl": impl, "rows": n_rows, "seconds": dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_training.json")))
    args = ap.parse_args()
    results = []
    for n in args.rows:
        for impl in ("callquality", "sklearn_cross_val_predict"):
            out = subprocess.run([sys.executable, "-c", CHILD, impl, str(n), str(args.threads)],
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"{impl} at {n} rows failed")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    for n in args.rows:
        ours = next(r for r in results if r["rows"] == n and r["impl"] == "callquality")
        peer = next(r for r in results if r["rows"] == n and r["impl"] != "callquality")
        print(f"{n} rows: callquality {ours['seconds']:.1f} s / {ours['peak_rss_mb']:.0f} MB, "
              f"plain loop {peer['seconds']:.1f} s / {peer['peak_rss_mb']:.0f} MB "
              f"(time ratio {ours['seconds'] / peer['seconds']:.2f})")
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
