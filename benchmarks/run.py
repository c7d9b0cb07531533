"""Speed and memory of the extraction core against peers, measured in the same run.

    python benchmarks/run.py [--minutes 10] [--device cpu|cuda] [--threads 1,2] [--skip-memory]
                             [--out FILE]

What it measures (all on the same audio, after one warm-up call each):

* real-time factor (audio seconds per wall second, higher is faster) of the full acoustic +
  interaction + extended set on one long stereo call built from the fixture corpus
  (agent and customer channels of consecutive fixture calls, 8 kHz), beside
  - openSMILE eGeMAPSv02 functionals (each channel),
  - Praat via parselmouth: pitch (ac), point process (periodic, cc), jitter, shimmer,
    harmonicity (cc) (each channel),
  - librosa.pyin (each channel; timed on the first ``--pyin-seconds`` and scaled, since it is
    slow);
* calls per second over the fixture corpus against the batch size, per thread count;
* peak resident memory of extracting one two-hour call (a separate process; the file is
  built by tiling the fixture audio).

Ratios against the peers are what count: absolute figures depend on the machine. The peers
run single-threaded; callquality is timed with each torch thread count of ``--threads``, and
its speed-ups over the peers are given per thread count (the batch sizes and the two-hour call
run with each too). With more than one thread the chunks of a long call (and the batches of
short calls) run side by side, one thread each; one thread is the like-for-like comparison
with the single-threaded peers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from _timing import best_of  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "examples" / "fixtures"


def long_call(minutes: float, sr: int = 8000) -> np.ndarray:
    """A stereo (2, n) array of ``minutes`` of fixture speech at ``sr``."""
    import callquality as cq

    need = int(minutes * 60 * sr)
    parts, have = [], 0
    calls = [c for c in cq.load_calls(FIXTURES, validate=False) if c.is_stereo]
    if not calls:
        raise SystemExit("no stereo fixture calls found in examples/fixtures")
    while have < need:
        for c in calls:
            y = c.audio(sr)
            parts.append(y)
            have += y.shape[1]
            if have >= need:
                break
    return np.concatenate(parts, axis=1)[:, :need]


def bench_ours(y: np.ndarray, sr: int, device: str, repeat: int = 5) -> float:
    import callquality as cq

    call = cq.Call.from_array(y, sr, call_id="bench", channels=("agent", "customer"))

    def run() -> None:
        df = cq.extract([call], groups=("acoustic", "interaction", "extended"), device=device,
                        progress=False, num_threads=None)  # the thread count set by main()
        assert df["error"].isna().all(), df["error"].iloc[0]
    return best_of(run, repeat)


def bench_opensmile(y: np.ndarray, sr: int) -> float:
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    return best_of(lambda: [smile.process_signal(ch, sr) for ch in y], repeat=1)


def bench_praat(y: np.ndarray, sr: int) -> float:
    import parselmouth
    from parselmouth.praat import call

    def run() -> None:
        for ch in y:
            snd = parselmouth.Sound(ch.astype(np.float64), sampling_frequency=sr)
            pitch = call(snd, "To Pitch (ac)", 0.0, 75, 15, False, 0.03, 0.45, 0.01, 0.35, 0.14,
                         600)
            call(pitch, "Get mean", 0, 0, "Hertz")
            pp = call(snd, "To PointProcess (periodic, cc)", 75, 600)
            call(pp, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
            call([snd, pp], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
            hnr = call(snd, "To Harmonicity (cc)", 0.01, 75, 0.1, 1.0)
            call(hnr, "Get mean", 0, 0)
    return best_of(run, repeat=1)


def bench_pyin(y: np.ndarray, sr: int, seconds: float) -> float:
    import librosa

    n = int(seconds * sr)
    part = y[:, :n]

    def run() -> None:
        for ch in part:
            librosa.pyin(ch, fmin=75, fmax=600, sr=sr, frame_length=1024, hop_length=sr // 100)
    t = best_of(run, repeat=1)
    return t * y.shape[1] / n  # scaled to the full length


def bench_batches(device: str, threads: Sequence[int]) -> list[dict[str, float]]:
    """Calls per second on the fixture corpus against batch size, per torch thread count."""
    import torch

    import callquality as cq

    calls = list(cq.load_calls(FIXTURES, validate=False))
    audio = sum(c.duration_sec for c in calls)
    out = []
    for n in threads:
        torch.set_num_threads(n)
        for bs in (1, 4, 16, 64):
            t = best_of(lambda bs=bs: cq.extract(calls, groups=("acoustic", "interaction",
                                                                "extended"),
                                                 device=device, batch_size=bs, progress=False,
                                                 num_threads=None),
                        repeat=1)
            out.append({"threads": n, "batch_size": bs, "calls_per_sec": len(calls) / t,
                        "rtf": audio / t, "n_calls": len(calls)})
    return out


MEMORY_CHILD = """
import sys, time
import torch
torch.set_num_threads(int(sys.argv[3]))
import callquality as cq
def hwm():  # this process's own peak RSS in MiB (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = hwm()
t0 = time.perf_counter()
df = cq.extract([sys.argv[1]], groups=("acoustic", "interaction", "extended"),
                device=sys.argv[2], progress=False, num_threads=None)
dt = time.perf_counter() - t0
assert df["error"].isna().all(), df["error"].iloc[0]
peak = hwm()
print(base, peak, dt)
"""


def bench_memory(hours: float, device: str, threads: Sequence[int]
                 ) -> dict[str, dict[str, float]]:
    """Peak RSS and speed of one ``hours``-long stereo FLAC call, per torch thread count."""
    import soundfile as sf

    y = long_call(10.0)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two_hours.flac"
        reps = int(np.ceil(hours * 6))
        with sf.SoundFile(path, "w", samplerate=8000, channels=2, subtype="PCM_16") as f:
            for _ in range(reps):
                f.write(y.T)
        for t in threads:
            run = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(path), device,
                                  str(t)], capture_output=True, text=True, check=True)
            base, peak, dt = map(float, run.stdout.split()[-3:])
            out[str(t)] = {"hours": reps / 6, "peak_rss_mb": peak, "import_rss_mb": base,
                           "seconds": dt, "rtf": reps * 600 / dt}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", default="1,2",
                    help="torch thread counts to time callquality with (first: headline)")
    ap.add_argument("--pyin-seconds", type=float, default=60.0)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = ap.parse_args()

    import torch

    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    sr = 8000
    y = long_call(args.minutes, sr)
    dur = y.shape[1] / sr
    machine: dict[str, object] = {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "torch_threads": threads, "load_average_start": os.getloadavg(),
        "device": args.device, "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    res: dict[str, object] = {
        "machine": machine,
        "audio": {"seconds": dur, "channels": 2, "sample_rate": sr},
    }
    by_threads: dict[str, float] = {}
    for t in threads:
        torch.set_num_threads(t)
        by_threads[str(t)] = dur / bench_ours(y, sr, args.device)
    peers: dict[str, float] = {}
    if not args.skip_peers:
        peers["opensmile_egemaps"] = dur / bench_opensmile(y, sr)
        peers["praat_parselmouth"] = dur / bench_praat(y, sr)
        peers["librosa_pyin"] = dur / bench_pyin(y, sr, args.pyin_seconds)
    res["realtime_factor"] = {"callquality_by_threads": by_threads, **peers}
    res["speedup_vs"] = {t: {k: r / v for k, v in peers.items()} for t, r in by_threads.items()}
    res["batch_size"] = bench_batches(args.device, threads)
    if not args.skip_memory:
        res["two_hour_call"] = bench_memory(2.0, args.device, threads)
    machine["load_average_end"] = os.getloadavg()
    res["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
