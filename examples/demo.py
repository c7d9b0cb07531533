"""The main job on the local machine: load the fixture calls, extract features, summarise.

Run with ``make demo`` (or ``python examples/demo.py --fixtures examples/fixtures``). It grows
into the full lifecycle (label, train, register, score, monitor) as those stages land.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import callquality as cq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="examples/fixtures")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    t0 = time.perf_counter()
    calls = cq.load_calls(args.fixtures)
    audio_sec = sum(c.duration_sec for c in calls)
    print(f"loaded {len(calls)} calls ({audio_sec / 60:.1f} min of audio) from {args.fixtures} "
          f"in {time.perf_counter() - t0:.1f} s")
    if calls.report:
        print(calls.report)

    t0 = time.perf_counter()
    df = cq.extract(calls, groups=("acoustic", "interaction", "extended"), device=args.device)
    dt = time.perf_counter() - t0
    print(f"extracted {len(df.columns) - 4} features per call in {dt:.1f} s "
          f"({audio_sec / dt:.0f}x real time)\n")

    truth = pd.DataFrame([
        {"call_id": c.call_id,
         "mood": (c.ground_truth or {}).get("customer_mood"),
         "true_talk_ratio": (c.ground_truth or {}).get("agent_talk_ratio", np.nan),
         "true_interruptions": ((c.ground_truth or {}).get("interruptions") or {}).get("total")}
        for c in calls])
    view = df.merge(truth, on="call_id", how="left")
    cols = ["call_id", "agent_id", "mood", "agent_talk_ratio", "true_talk_ratio",
            "interruption_count", "true_interruptions", "turn_taking_rate", "avg_pitch_hz",
            "jitter", "shimmer", "harmonics_to_noise_ratio", "speaking_rate_wpm", "error"]
    with pd.option_context("display.width", 200, "display.max_rows", 200,
                           "display.float_format", "{:.3f}".format):
        print(view[cols].to_string(index=False))
    ok = view["error"].isna()
    print(f"\n{int(ok.sum())}/{len(view)} calls ok; "
          f"agent talk ratio |error| median "
          f"{(view.agent_talk_ratio - view.true_talk_ratio).abs().median():.3f}; "
          f"interruption count exact on "
          f"{(view.interruption_count == view.true_interruptions).mean():.0%} of calls")


if __name__ == "__main__":
    main()
