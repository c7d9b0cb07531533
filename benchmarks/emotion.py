"""Cost of the emotion group per call: the prosody heuristic against wav2vec2 classifiers.

    python benchmarks/emotion.py [--sizes base,large] [--model-windows 8] [--threads 1]
                                 [--skip-peers] [--out FILE]

What it measures on the fixture corpus (60 calls of 20-60 s; the customer's speech), after
one warm-up run each, best of ``--repeat``:

* ``emotion_features(calls, ProsodyStress())`` end to end: seconds per call, per minute of call
  audio and per minute of customer speech; split into finding the customer's speech and
  cutting windows (decode, crosstalk-rejected activity or diarization, resampling) and the
  model itself;
* the peer for the model part: openSMILE eGeMAPSv02 functionals (the usual prosodic feature
  set for arousal) on the same windows;
* :class:`~callquality.features.emotion.TransformersEmotion` with randomly initialised
  ``Wav2Vec2ForSequenceClassification`` models of wav2vec2-base size (12 layers x 768, ~94 M
  parameters) and of the full profile's wav2vec2-large XLSR size (24 layers x 1024, ~316 M),
  saved with ``save_pretrained`` and loaded by path (the real loading and inference path;
  random weights cost the same as trained ones). They are timed on the first
  ``--model-windows`` windows and scaled to the corpus' window count.

Per-call figures are for the customer only (the default ``speaker``). Ratios measured in the
same run are what count: absolute figures depend on the machine and its load (the load
average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _timing import best_of  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "examples" / "fixtures"
sys.path.insert(0, str(ROOT / "src"))

#: Wav2Vec2Config overrides of the two sizes (base: transformers' defaults).
SIZES: dict[str, dict[str, Any]] = {
    "base": {},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "intermediate_size": 4096, "feat_extract_norm": "layer",
              "do_stable_layer_norm": True},
}


def bench_opensmile(windows: np.ndarray, sr: int) -> float:
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)

    def run() -> None:
        for w in windows:
            smile.process_signal(w, sr)
    return best_of(run, 1)


def bench_wav2vec2(size: str, windows: np.ndarray, batch_size: int) -> dict[str, float]:
    import torch
    import transformers

    from callquality.features.emotion import LABELS, TransformersEmotion

    cfg = transformers.Wav2Vec2Config(num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                                      label2id={lab: i for i, lab in enumerate(LABELS)},
                                      **SIZES[size])
    torch.manual_seed(0)
    model = transformers.Wav2Vec2ForSequenceClassification(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    fe = transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True,
                                               return_attention_mask=size == "large")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        fe.save_pretrained(tmp)
        del model
        t0 = time.perf_counter()
        clf = TransformersEmotion(tmp, device="cpu", batch_size=batch_size).load()
        load_s = time.perf_counter() - t0
        sec = best_of(lambda: clf.predict_proba(windows), 1)
    from callquality.features.models import clear_model_cache

    clear_model_cache()
    return {"parameters_m": n_params / 1e6, "load_seconds": load_s,
            "seconds_per_window": sec / windows.shape[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="base,large", help="wav2vec2 sizes, comma-separated")
    ap.add_argument("--model-windows", type=int, default=8,
                    help="windows the wav2vec2 models are timed on")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_emotion.json"))
    args = ap.parse_args()

    import torch

    import callquality as cq
    from callquality.features.emotion import (
        MODEL_SR,
        ProsodyStress,
        emotion_features,
        speaker_windows,
    )

    torch.set_num_threads(args.threads)
    calls = list(cq.load_calls(FIXTURES, progress=False))
    n_calls = len(calls)
    call_min = sum(c.duration_sec for c in calls) / 60.0
    load0 = os.getloadavg()[0]

    model = ProsodyStress()
    total = best_of(lambda: emotion_features(calls, model), args.repeat)
    sws: list[Any] = []

    def find() -> None:
        sws.clear()
        sws.extend(speaker_windows(c) for c in calls)
    find_s = best_of(find, args.repeat)
    windows = np.concatenate([s.windows for s in sws if s.windows.shape[0]])
    speech_min = sum(s.speech_sec for s in sws) / 60.0
    n_win = windows.shape[0]
    model_s = best_of(lambda: model.predict_proba(windows), args.repeat)

    res: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": args.threads, "torch": torch.__version__,
                    "load_average_start": load0},
        "corpus": {"calls": n_calls, "call_minutes": call_min,
                   "customer_speech_minutes": speech_min, "windows": n_win,
                   "window_sec": windows.shape[1] / MODEL_SR},
        "prosody": {
            "seconds_per_call": total / n_calls,
            "seconds_per_call_minute": total / call_min,
            "seconds_per_speech_minute": total / speech_min,
            "find_speech_seconds_per_call": find_s / n_calls,
            "model_seconds_per_call": model_s / n_calls,
            "model_seconds_per_window": model_s / n_win,
        },
    }
    if not args.skip_peers:
        smile_s = bench_opensmile(windows, MODEL_SR)
        res["opensmile_egemaps"] = {"seconds_per_window": smile_s / n_win,
                                    "prosody_speedup": smile_s / model_s}
    sub = windows[:args.model_windows]
    w2v: dict[str, Any] = {}
    for size in [s for s in args.sizes.split(",") if s]:
        r = bench_wav2vec2(size, sub, args.batch_size)
        per_call = find_s / n_calls + r["seconds_per_window"] * n_win / n_calls
        r.update({"timed_windows": int(sub.shape[0]), "seconds_per_call": per_call,
                  "seconds_per_call_minute": per_call * n_calls / call_min,
                  "seconds_per_speech_minute": per_call * n_calls / speech_min,
                  "prosody_speedup": per_call / (total / n_calls)})
        w2v[size] = r
    res["wav2vec2"] = w2v
    res["machine"]["load_average_end"] = os.getloadavg()[0]
    res["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
