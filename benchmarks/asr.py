"""Cost of speech recognition per minute of call audio, against the engines used directly.

    python benchmarks/asr.py [--seconds 30] [--sizes tiny,base] [--gated-sizes tiny]
                             [--sample-len 64] [--threads 1] [--wer-calls 2]
                             [--skip-whisper] [--skip-pocketsphinx] [--out FILE]

What it measures on one stereo 8 kHz call of ``--seconds`` of fixture speech (agent and
customer channels of consecutive fixture calls), each after a warm-up on 2 s of audio:

* :class:`~callquality.features.asr.WhisperTranscriber` with randomly initialised checkpoints
  of Whisper ``tiny`` (4 + 4 layers x 384, 39 M parameters) and ``base`` (6 + 6 layers x 512,
  74 M) dimensions, saved in Whisper's checkpoint format and loaded by path (the real loading
  and inference path; random weights cost the same FLOPs per step as trained ones), against
  Whisper's own ``model.transcribe`` on the same two 16 kHz channels with the same options
  (temperature 0, ``word_timestamps=True``, ``sample_len``; ours with
  ``crosstalk_rejection=False``, so both decode the same audio). Two things would make random
  weights cost differently from trained ones, and are fixed for both sides alike: they never
  emit end-of-text, so every window decodes exactly ``--sample-len`` tokens (default 64: one
  channel of a two-party call holds about 40-60 words per 30 s); and Whisper moves its window
  to the end of the last aligned word, which for random attention is anywhere, so the run
  would re-decode overlapping windows an arbitrary number of times. The benchmark disables
  that step (``whisper.transcribe``'s ``get_end`` returns ``None``), so each channel is
  decoded in consecutive 30 s windows, as a trained model's windows ending on a timestamp
  are. The number of windows decoded is reported. For ``--gated-sizes`` a third run times our
  default, which first finds each channel's own speech and silences the rest (crosstalk
  rejection);
* :class:`~callquality.features.asr.PocketSphinxTranscriber` (own-speech regions decoded as
  utterances) against PocketSphinx used directly (each whole channel decoded as one
  utterance), same audio;
* PocketSphinx's word error rate on the first ``--wer-calls`` fixture calls against their
  sidecar transcripts (stereo: per channel against that speaker's words; mono: against all
  words), words lower-cased without punctuation.

Absolute figures depend on the machine and its load (the load average is recorded); the ratios
measured in the same run are what count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "examples" / "fixtures"
sys.path.insert(0, str(ROOT / "src"))

#: (n_state, n_head, n_layer) of the official Whisper sizes benchmarked.
SIZES: dict[str, tuple[int, int, int]] = {"tiny": (384, 6, 4), "base": (512, 8, 6),
                                          "small": (768, 12, 12)}


def long_call(seconds: float, sr: int = 8000) -> np.ndarray:
    """A stereo ``(2, n)`` array of ``seconds`` of fixture speech at ``sr``."""
    import callquality as cq

    need = int(seconds * sr)
    parts, have = [], 0
    calls = [c for c in cq.load_calls(FIXTURES, validate=False) if c.is_stereo]
    while have < need:
        for c in calls:
            y = c.audio(sr)
            parts.append(y)
            have += y.shape[1]
            if have >= need:
                break
    return np.ascontiguousarray(np.concatenate(parts, axis=1)[:, :need])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def random_checkpoint(size: str, folder: Path) -> Path:
    """A randomly initialised Whisper of ``size``'s dimensions, saved like Whisper's own."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    state, head, layer = SIZES[size]
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=state, n_audio_head=head,
                           n_audio_layer=layer, n_vocab=51865, n_text_ctx=448,
                           n_text_state=state, n_text_head=head, n_text_layer=layer)
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():  # left uninitialised (torch.empty) by Whisper
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    path = folder / f"{size}-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def whole_windows() -> Callable[[], None]:
    """Make ``whisper.transcribe`` advance by whole 30 s windows (see the module doc); returns
    the function that undoes it."""
    import importlib

    module = importlib.import_module("whisper.transcribe")
    original = module.get_end
    module.get_end = lambda segments: None  # type: ignore[attr-defined]

    def undo() -> None:
        module.get_end = original  # type: ignore[attr-defined]
    return undo


class _CountDecodes:
    """Counts the 30 s windows Whisper decodes (calls of ``model.decode``)."""

    def __init__(self, model: Any) -> None:
        self.n = 0
        self._decode = model.decode
        model.decode = self

    def __call__(self, *a: Any, **k: Any) -> Any:
        self.n += 1
        return self._decode(*a, **k)


def bench_whisper(size: str, y8: np.ndarray, folder: Path, sample_len: int, *,
                  gated: bool) -> dict[str, Any]:
    import whisper

    import callquality as cq
    from callquality.features.asr import WhisperTranscriber
    from callquality.features.models import clear_model_cache

    path = random_checkpoint(size, folder)
    sr = 8000
    call = cq.Call.from_array(y8, sr, call_id="bench")
    warm = cq.Call.from_array(y8[:1, :2 * sr], sr, call_id="warm")  # one window: one-time costs
    opts: dict[str, Any] = {"temperature": 0.0, "sample_len": sample_len, "language": "en"}
    minutes = y8.shape[1] / sr / 60

    # whisper's own: the same checkpoint, each channel resampled to 16 kHz beforehand
    model = whisper.load_model(str(path), device="cpu")
    counter = _CountDecodes(model)
    y16 = call.audio(sr=16000)

    def peer(y: np.ndarray) -> list[dict[str, Any]]:
        return [model.transcribe(ch, word_timestamps=True, fp16=False, verbose=None, **opts)
                for ch in y]

    peer(warm.audio(sr=16000))
    counter.n = 0
    t_peer, res_peer = timed(lambda: peer(y16))
    win_peer = counter.n

    clear_model_cache()
    ours = WhisperTranscriber(str(path), device="cpu", crosstalk_rejection=False, **opts)
    loaded, _ = ours._load()
    counter = _CountDecodes(loaded.model)
    ours.transcribe([warm])
    counter.n = 0
    t_ours, (tr_ours,) = timed(lambda: ours.transcribe([call]))
    win_ours = counter.n
    n_words_peer = sum(len(s.get("words", ())) for r in res_peer for s in r["segments"])

    n_params = sum(p.numel() for p in loaded.model.parameters())
    runs = {"whisper_transcribe": (t_peer, win_peer, n_words_peer),
            "callquality": (t_ours, win_ours, len(tr_ours.words))}
    if gated:
        default = WhisperTranscriber(str(path), device="cpu", **opts)
        counter.n = 0
        t_gated, (tr_gated,) = timed(lambda: default.transcribe([call]))
        runs["callquality_crosstalk_rejection"] = (t_gated, counter.n, len(tr_gated.words))
    clear_model_cache()
    return {
        "parameters_m": n_params / 1e6,
        "windows": {k: w for k, (_, w, _) in runs.items()},
        "words": {k: n for k, (_, _, n) in runs.items()},
        "seconds": {k: t for k, (t, _, _) in runs.items()},
        "seconds_per_audio_minute": {k: t / minutes for k, (t, _, _) in runs.items()},
        "seconds_per_window": {k: t / max(w, 1) for k, (t, w, _) in runs.items()},
        "overhead_ratio": t_ours / t_peer,
    }


def bench_pocketsphinx(y8: np.ndarray) -> dict[str, Any]:
    import pocketsphinx

    import callquality as cq
    from callquality.features.asr import PocketSphinxTranscriber

    sr = 8000
    call = cq.Call.from_array(y8, sr, call_id="bench")
    warm = cq.Call.from_array(y8[:, :2 * sr], sr, call_id="warm")
    minutes = y8.shape[1] / sr / 60
    ours = PocketSphinxTranscriber()
    ours.transcribe([warm])
    t_ours, (tr,) = timed(lambda: ours.transcribe([call]))

    dec = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL")

    def plain(y: np.ndarray) -> list[str]:
        words = []
        for ch in y:
            dec.start_utt()
            dec.process_raw((np.clip(ch, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
            dec.end_utt()
            words += [s.word for s in dec.seg()]
        return words

    plain(warm.audio(sr=16000))
    y16 = call.audio(sr=16000)
    t_plain, _ = timed(lambda: plain(y16))
    return {"seconds": {"callquality": t_ours, "pocketsphinx_whole_channel": t_plain},
            "seconds_per_audio_minute": {"callquality": t_ours / minutes,
                                         "pocketsphinx_whole_channel": t_plain / minutes},
            "ratio_vs_whole_channel": t_ours / t_plain, "words": len(tr.words)}


def _norm(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _edits(ref: list[str], hyp: list[str]) -> int:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1]


def pocketsphinx_wer(n_calls: int) -> dict[str, Any]:
    """Word error rate of PocketSphinxTranscriber on the first ``n_calls`` fixture calls."""
    import callquality as cq
    from callquality.features.asr import PocketSphinxTranscriber

    calls = list(cq.load_calls(FIXTURES, validate=False))[:n_calls]
    ps = PocketSphinxTranscriber()
    groups: dict[str, list[int]] = {}  # name -> [edits, reference words]
    per_call = []
    t0 = time.perf_counter()
    for call in calls:
        assert call.transcript is not None
        (hyp,) = ps.transcribe([replace(call, transcript=None)])
        band = "16k" if call.sample_rate >= 16000 else "8k"
        for speaker in call.channels:
            truth = (call.transcript.for_speaker(speaker) if call.is_stereo
                     else call.transcript)
            ref, got = _norm(truth.text), _norm(hyp.for_speaker(speaker).text)
            e = _edits(ref, got)
            per_call.append({"call_id": call.call_id, "speaker": speaker, "band": band,
                             "ref_words": len(ref), "wer": e / max(len(ref), 1)})
            for key in ("all", f"{speaker}", f"band_{band}"):
                acc = groups.setdefault(key, [0, 0])
                acc[0] += e
                acc[1] += len(ref)
    return {"n_calls": len(calls), "seconds": time.perf_counter() - t0,
            "audio_minutes": sum(c.duration_sec for c in calls) / 60,
            "wer": {k: e / max(n, 1) for k, (e, n) in groups.items()},
            "ref_words": {k: n for k, (_, n) in groups.items()}, "per_channel": per_call}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sizes", default="tiny,base")
    ap.add_argument("--gated-sizes", default="tiny")
    ap.add_argument("--sample-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wer-calls", type=int, default=2)
    ap.add_argument("--skip-whisper", action="store_true")
    ap.add_argument("--skip-pocketsphinx", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_asr.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    y8 = long_call(args.seconds)
    res: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": args.threads, "torch": torch.__version__,
                    "load_average_start": os.getloadavg()},
        "audio": {"seconds": y8.shape[1] / 8000, "channels": 2, "sample_rate": 8000},
        "sample_len": args.sample_len,
    }
    if not args.skip_whisper:
        undo = whole_windows()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                gated = set(args.gated_sizes.split(","))
                res["whisper"] = {size: bench_whisper(size, y8, Path(tmp), args.sample_len,
                                                      gated=size in gated)
                                  for size in args.sizes.split(",") if size}
        finally:
            undo()
    if not args.skip_pocketsphinx:
        res["pocketsphinx"] = bench_pocketsphinx(y8)
        if args.wer_calls > 0:
            res["pocketsphinx_wer"] = pocketsphinx_wer(args.wer_calls)
    res["machine"]["load_average_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(res, indent=2))
    summary = {k: v for k, v in res.items() if k != "pocketsphinx_wer"}
    if "pocketsphinx_wer" in res:
        summary["pocketsphinx_wer"] = {k: v for k, v in res["pocketsphinx_wer"].items()
                                       if k != "per_channel"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
