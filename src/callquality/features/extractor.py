"""The batched extractor: calls in, one feature row per call out.

Pipeline for a batch of calls with the same sample rate and channel layout:

1. decode (or take the in-memory samples), pad to a common length -> ``(B, C, n)``;
2. frame-level tracks on the shared 10 ms grid (:func:`functional.frame_grid`), batched over
   calls and channels: RMS level, spectral centroid, zero-crossing rate, voice activity, F0
   (YIN) with its voicing decision;
3. who speaks when: stereo channels -> per-speaker activity with crosstalk rejection; mono ->
   two-speaker diarization;
4. per-call summaries: pitch statistics, voice quality (jitter, shimmer, HNR as Praat), energy
   and spectrum over voice-active frames, pauses, turns, interruptions, speaking rate.

Calls longer than ``chunk_sec`` are processed alone, chunk by chunk with a little context on
both sides, so memory stays bounded by the chunk (a two-hour call needs a few hundred MB);
frame tracks are concatenated (10 ms resolution, small) and voice-quality sums pooled.

5. the model groups (content, emotion) on batches of calls: transcripts (the call's own or
   ASR; mono words get their speaker from step 3), entities and sentiment over the redacted
   text, emotion over windows of the customer's speech (:mod:`.model_groups`).

A call that fails yields a row whose ``error`` says why; the batch always finishes.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..calls import AGENT, CUSTOMER, Call, load_call
from ..exceptions import CallQualityError, ConfigurationError
from ..schema import FEATURES, GROUPS, feature_names
from . import functional as F
from . import pitch as P
from . import turns as TT
from . import vad as V
from . import voice as VQ
from .model_groups import ModelStage
from .models import resolve_device

__all__ = ["AUDIO_GROUPS", "TorchExtractor", "extract"]

log = logging.getLogger("callquality")

#: Groups computed from the audio alone (no model).
AUDIO_GROUPS: tuple[str, ...] = ("acoustic", "interaction", "extended")
#: Groups that need models (ASR, NER, sentiment, speech emotion).
MODEL_GROUPS: tuple[str, ...] = ("emotion", "content")

#: Syllables per English word, to turn a syllable-nuclei count into words (estimate).
SYLLABLES_PER_WORD = 1.5
#: Shortest utterance (s) whose rate enters speech_rate_variability.
MIN_UTTERANCE_SEC = 1.0
HOP_SEC = 0.01


@dataclass
class _Tracks:
    """Frame-level tracks of one call on the 10 ms grid; channel axis first."""

    level_db: torch.Tensor      # (C, T) RMS level, dBFS
    band_db: torch.Tensor       # (C, T) speech-band (300-3400 Hz) level, dBFS
    rms: torch.Tensor           # (C, T) RMS amplitude
    centroid: torch.Tensor      # (C, T) Hz (0 outside voice-active frames)
    zcr: torch.Tensor           # (C, T)
    vad: torch.Tensor           # (C, T) bool
    f0: torch.Tensor            # (C, T) Hz, NaN unvoiced
    voiced: torch.Tensor        # (C, T) bool


def _window_lengths(sr: int) -> tuple[int, int, int]:
    hop = sr // 100
    win = int(round(0.025 * sr))             # 25 ms energy / ZCR window
    n_fft = 1 << (win - 1).bit_length()     # spectrum: next power of two
    return hop, win, n_fft


def _frame_tracks(y: torch.Tensor, sr: int, lengths: torch.Tensor
                  ) -> tuple[_Tracks, Any, F.PaddedRows]:
    """Batched frame tracks for ``y (B, C, n)``; returns tracks with a leading batch axis, the
    pitch track and the mean-removed padded rows ``(B * C, n)`` (for the voice stage)."""
    hop, win, n_fft = _window_lengths(sr)
    t_total = F.grid_frames(y.shape[-1], hop)
    valid = (torch.arange(t_total, device=y.device)[None, :] * hop
             < lengths[:, None]).unsqueeze(1)                 # (B, 1, T)
    # one zero-padded copy of the signal holds the grid frames of the spectrum (n_fft) and,
    # from an offset, those of the 25 ms energy / ZCR window; RMS and zero crossings are
    # reduced straight from strided views (no (B, C, T, win) frame copies)
    padded = F.grid_signal(y, n_fft, hop)                     # spectrum frame t at t * hop
    p_win = padded[..., n_fft // 2 - win // 2:]               # energy frame t at t * hop
    rms = torch.linalg.vector_norm(F.frame(p_win, win, hop)[..., :t_total, :], dim=-1)
    rms /= math.sqrt(win)
    level_db = F.amplitude_to_db(rms)
    zcr = F.zero_crossings(p_win, win, hop)[..., :t_total] / win
    # one speech-band analysis gives both the voice activity and the band level
    vad, band_db = V.voice_activity_with_level(y, sr, hop_length=hop, lengths=lengths)
    vad &= valid
    # The spectral centroid is only ever summarised over voice-active frames: compute it there
    # (0 elsewhere), which saves most of the FFTs on a call that is half silence.
    centroid = torch.zeros(vad.shape, dtype=y.dtype, device=y.device)
    idx_r, idx_t = torch.nonzero(vad.reshape(-1, t_total), as_tuple=True)
    centroid.view(-1, t_total)[idx_r, idx_t] = F.spectral_centroid_windows(
        padded.reshape(-1, padded.shape[-1]), idx_r, idx_t * hop, sr, n_fft)
    del padded, p_win
    # one mean-removed, padded copy of the rows serves the F0 stage and the voice stage
    sig = F.PaddedRows(y.reshape(-1, y.shape[-1]), VQ.signal_pad(sr))
    flat = P.yin_padded(sig, sr, hop_length=hop, mask=vad.reshape(-1, t_total))
    track = type(flat)(*(t.reshape(vad.shape) for t in flat))
    return _Tracks(level_db, band_db[..., :t_total], rms, centroid, zcr, vad, track.f0,
                   track.voiced & vad), track, sig


def _nanstat(x: np.ndarray, fn: Any) -> float:
    x = x[np.isfinite(x)]
    return float(fn(x)) if x.size else math.nan


def _syllable_nuclei(level_db: np.ndarray, voiced: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Frame indices of syllable nuclei: voiced intensity peaks (de Jong & Wempe 2009, simplified).

    A nucleus is a local maximum of the level (dBFS, 10 ms frames) within +-50 ms that is
    voiced, voice-active, no more than 25 dB below the 99th percentile of the speaker's active
    level, and stands at least 2 dB above the lowest level within 100 ms on *both* sides;
    nuclei closer than 100 ms keep the louder one.
    """
    if not active.any():
        return np.zeros(0, dtype=int)
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    lv = np.where(active, level_db, -120.0)
    top = np.percentile(level_db[active], 99)
    # running extrema over 11 frames (edges repeated), O(T)
    is_max = lv >= maximum_filter1d(lv, 11, mode="nearest")              # +-50 ms
    left = minimum_filter1d(lv, 11, mode="nearest", origin=5)            # 100 ms before
    right = minimum_filter1d(lv, 11, mode="nearest", origin=-5)          # 100 ms after
    prominent = (lv - np.maximum(left, right)) >= 2.0
    cand = np.flatnonzero(is_max & prominent & voiced & active & (lv >= top - 25.0))
    keep: list[int] = []
    for i in cand:
        if keep and i - keep[-1] < 10:
            if lv[i] > lv[keep[-1]]:
                keep[-1] = int(i)
            continue
        keep.append(int(i))
    return np.asarray(keep, dtype=int)


def _rate_features(call: Call, activity: np.ndarray, tracks: dict[str, np.ndarray],
                   speaker_channel: dict[str, int]) -> dict[str, float]:
    """Speaking rates (words per minute of talk time) and their variability."""
    out: dict[str, float] = {}
    hop = HOP_SEC
    talk = {spk: activity[i].sum() * hop for i, spk in enumerate((AGENT, CUSTOMER))}
    words_by: dict[str, float] = {AGENT: 0.0, CUSTOMER: 0.0}
    utter_rates: list[float] = []
    if call.transcript is not None and call.transcript.segments:
        for w in call.transcript.words:
            if w.speaker in words_by:
                words_by[w.speaker] += 1
        for seg in call.transcript.segments:
            n = len(seg.words) or len(seg.text.split())
            if seg.duration >= MIN_UTTERANCE_SEC and n:
                utter_rates.append(n / seg.duration * 60.0)
    else:
        for i, spk in enumerate((AGENT, CUSTOMER)):
            ch = speaker_channel[spk]
            nuclei = _syllable_nuclei(tracks["level_db"][ch], tracks["voiced"][ch], activity[i])
            words_by[spk] = len(nuclei) / SYLLABLES_PER_WORD
            marks = np.zeros(activity.shape[1], dtype=bool)
            marks[nuclei] = True
            for s, e in zip(*TT.mask_runs(activity[i]), strict=True):
                dur = (e - s) * hop
                if dur >= MIN_UTTERANCE_SEC:
                    utter_rates.append(marks[s:e].sum() / SYLLABLES_PER_WORD / dur * 60.0)
    total_talk = talk[AGENT] + talk[CUSTOMER]
    out["speaking_rate_wpm"] = (words_by[AGENT] + words_by[CUSTOMER]) / (total_talk / 60.0) \
        if total_talk > 0 else math.nan
    for spk in (AGENT, CUSTOMER):
        out[f"{spk}_speaking_rate_wpm"] = words_by[spk] / (talk[spk] / 60.0) \
            if talk[spk] > 0 else math.nan
    rates = np.asarray(utter_rates)
    out["speech_rate_variability"] = float(rates.std() / rates.mean()) \
        if rates.size >= 2 and rates.mean() > 0 else math.nan
    return out


class TorchExtractor:
    """Batched extractor of every feature group (implements ``AcousticExtractor``).

    The audio groups (``acoustic``, ``interaction``, ``extended``) come from the batched
    PyTorch core; the model groups (``content``, ``emotion``) from the models of ``profile``
    (:mod:`callquality.features.model_groups`), run on batches of ``model_batch_size`` calls.

    Args:
        groups: feature groups to return; default all (:data:`callquality.GROUPS`).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        batch_size: calls analysed together by the audio core (padded to the longest; sorted
            by length first). Default: 1 on CPU, where batching measured slower
            (benchmarks/run.py: padding and larger working sets cost more than the per-call
            overhead saves), 16 on CUDA.
        chunk_sec: calls longer than this are processed alone in chunks of this length.
        progress: show a progress bar (default: when more than 20 calls).
        profile: model profile of the model groups, ``"offline"`` or ``"full"``
            (:data:`callquality.features.models.PROFILES`).
        models: per-stage model overrides, e.g. ``{"asr": "whisper:/models/tiny.pt"}``.
        cache_dir: folder for downloaded model weights.
        model_batch_size: calls whose transcripts and emotion windows go through the models
            together.
        num_threads: CPU threads of the audio core. It runs that many units of work (batches
            of short calls, chunks of a long call) side by side, each on one torch thread,
            rather than splitting every small tensor operation over threads: on 2 cores,
            a 10-minute call ran at 1167-1266x real time with 2 against 791-1139x with 1
            (benchmarks/run.py). The numbers do not depend on it. ``None`` (default): torch's
            setting (``torch.get_num_threads()``, normally the physical cores; set
            ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` when several processes share the
            machine), at most the CPU count. The model groups keep the process setting; the
            setting is restored afterwards. Ignored on CUDA.
    """

    def __init__(self, groups: Sequence[str] | None = None, *, device: str = "auto",
                 batch_size: int | None = None, chunk_sec: float = 300.0,
                 progress: bool | None = None, profile: str = "offline",
                 models: Mapping[str, str] | None = None,
                 cache_dir: str | Path | None = None, model_batch_size: int = 16,
                 num_threads: int | None = None) -> None:
        self.groups = groups
        self.device = device
        self.batch_size = batch_size
        self.chunk_sec = chunk_sec
        self.progress = progress
        self.profile = profile
        self.models = models
        self.cache_dir = cache_dir
        self.model_batch_size = model_batch_size
        self.num_threads = num_threads

    # -- public -------------------------------------------------------------------------
    def extract(self, calls: Iterable[Call | str | Path]) -> pd.DataFrame:
        from tqdm.auto import tqdm

        groups = _check_groups(self.groups)
        device = resolve_device(self.device, "extract")
        batch_size = self.batch_size or (16 if device.type == "cuda" else 1)
        if batch_size < 1:
            raise ConfigurationError(f"extract: batch_size must be >= 1, got {batch_size}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigurationError(f"extract: num_threads must be >= 1, got {self.num_threads}")
        if self.model_batch_size < 1:
            raise ConfigurationError(
                f"extract: model_batch_size must be >= 1, got {self.model_batch_size}")
        stage = ModelStage(groups, profile=self.profile, models=self.models,
                           cache_dir=self.cache_dir, device=str(device))
        if stage.active:
            stage.load()  # set-up errors (a model that is unavailable) before any call runs
        items = list(calls)
        rows: dict[int, dict[str, Any]] = {}
        loaded: list[tuple[int, Call]] = []
        for i, item in enumerate(items):
            try:
                loaded.append((i, item if isinstance(item, Call) else load_call(item)))
            except CallQualityError as exc:
                rows[i] = _error_row(str(Path(str(item)).stem), None, exc)
        # group by layout, longest first, so padding stays small
        loaded.sort(key=lambda ic: (ic[1].sample_rate, ic[1].is_stereo, -ic[1].duration_sec))
        show = self.progress if self.progress is not None else len(items) > 20
        bar = tqdm(total=len(loaded), desc="extract", unit="call", disable=not show)
        pending: list[tuple[int, Call]] = []   # audio done, waiting for the model groups

        def run_models() -> None:
            ok = [(i, c) for i, c in pending if rows[i].get("error") is None]
            acts = [rows[i].pop("_activity", None) for i, _ in ok]
            if stage.active and ok:
                for (i, _), extra in zip(ok, stage.run([c for _, c in ok], acts, HOP_SEC),
                                         strict=True):
                    err = extra.pop("error", None)
                    rows[i].update(extra)
                    if err:
                        rows[i]["error"] = err
            pending.clear()

        # units of work in order: batches of short calls (same layout) and long calls alone
        def is_long(call: Call) -> bool:
            return call.duration_sec > self.chunk_sec

        units: list[list[tuple[int, Call]]] = []
        for i, call in loaded:
            last = units[-1] if units else None
            if last is None or is_long(call) or is_long(last[0][1]) \
                    or last[0][1].sample_rate != call.sample_rate \
                    or last[0][1].is_stereo != call.is_stereo or len(last) >= batch_size:
                units.append([(i, call)])
            else:
                last.append((i, call))
        # rounds of about model_batch_size calls: the audio core (on its threads), then the
        # model groups of those calls (on the process's thread setting)
        rounds: list[list[list[tuple[int, Call]]]] = [[]]
        n_round = 0
        for unit in units:
            if stage.active and n_round >= self.model_batch_size:
                rounds.append([])
                n_round = 0
            rounds[-1].append(unit)
            n_round += len(unit)
        for rnd in rounds:
            with _cpu_threads(device, self.num_threads):
                workers = _parallel_workers(device)
                for long, group in itertools.groupby(rnd, key=lambda u: is_long(u[0][1])):
                    if long:   # one at a time, its chunks side by side
                        for [(i, call)] in group:
                            rows[i] = self._run_long(call, device, workers)
                            pending.append((i, call))
                            bar.update(1)
                        continue
                    # batches of short calls side by side, one thread each
                    for pairs, out in _map_ordered(
                            lambda pairs: (pairs, self._run_batch(pairs, device)),
                            ((pairs,) for pairs in group), workers):
                        rows.update(out)
                        pending.extend(pairs)
                        bar.update(len(pairs))
            run_models()
        bar.close()
        df = pd.DataFrame([rows[i] for i in range(len(items))])
        return _finish_frame(df, groups)

    # -- internals ----------------------------------------------------------------------
    def _run_batch(self, batch: list[tuple[int, Call]], device: torch.device
                   ) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        arrays: list[np.ndarray] = []
        ok: list[tuple[int, Call]] = []
        for i, call in batch:
            try:
                arrays.append(call.audio())
                ok.append((i, call))
            except CallQualityError as exc:
                out[i] = _error_row(call.call_id, call.agent_id, exc)
        if not ok:
            return out
        n_max = max(a.shape[1] for a in arrays)
        c_max = max(a.shape[0] for a in arrays)
        y = torch.zeros((len(arrays), c_max, n_max), dtype=torch.float32)
        for b, a in enumerate(arrays):
            y[b, : a.shape[0], : a.shape[1]] = torch.from_numpy(a)
        y = y.to(device)
        lengths = torch.tensor([a.shape[1] for a in arrays], device=device)
        sr = ok[0][1].sample_rate
        try:
            with torch.inference_mode():
                tracks, track, sig = _frame_tracks(y, sr, lengths)
                # a batch of one call: its padded rows serve the voice stage as they are
                shared = sig if len(ok) == 1 else None
                for b, (i, call) in enumerate(ok):
                    out[i] = self._summarise_safe(call, y[b, :, : arrays[b].shape[1]], sr,
                                                  _slice_tracks(tracks, b, arrays[b].shape[1],
                                                                sr),
                                                  _slice_track(track, b, arrays[b].shape[1], sr),
                                                  shared)
        except Exception as exc:  # one bad batch must not stop the run: retry call by call
            if len(ok) == 1:
                i, call = ok[0]
                log.exception("extract: call %s failed", call.call_id)
                out[i] = _error_row(call.call_id, call.agent_id, exc)
            else:
                for pair in ok:
                    out.update(self._run_batch([pair], device))
        return out

    def _run_long(self, call: Call, device: torch.device, workers: int = 1
                  ) -> dict[str, Any]:
        """Chunked analysis of one long call, ``workers`` chunks at a time; bounded memory."""
        try:
            sr = call.sample_rate
            hop = sr // 100
            ctx = 2 * sr                                      # 2 s of context each side
            chunk = int(self.chunk_sec * sr) // hop * hop
            parts: list[_Tracks] = []
            vq_parts: list[list[dict[str, float]]] = []

            def jobs() -> Iterator[tuple[np.ndarray, int, int]]:
                prev_tail: np.ndarray | None = None
                for block in _rechunk(call.iter_chunks(self.chunk_sec), chunk):
                    head = prev_tail if prev_tail is not None else np.zeros(
                        (block.shape[0], 0), np.float32)
                    y_np = (np.concatenate([head, block], axis=1) if head.shape[1]
                            else np.ascontiguousarray(block))
                    t0 = head.shape[1] // hop
                    yield y_np, t0, t0 + -(-block.shape[1] // hop)
                    prev_tail = block[:, -ctx:]

            def work(y_np: np.ndarray, t0: int, t1: int
                     ) -> tuple[_Tracks, list[dict[str, float]]]:
                with torch.inference_mode():
                    y = torch.from_numpy(y_np)[None].to(device)
                    lengths = torch.tensor([y_np.shape[1]], device=device)
                    tracks, track, sig = _frame_tracks(y, sr, lengths)
                    sl = _slice_tracks(tracks, 0, y_np.shape[1], sr, t0, t1)
                    return sl, _voice_quality(y[0], sr, _slice_track(track, 0, y_np.shape[1], sr),
                                              sl.vad, t0, t1, sig)

            # chunks are independent given their context: with more than one torch thread on
            # CPU they run side by side, one thread each
            for sl, vq_chunk in _map_ordered(work, jobs(), workers):
                parts.append(sl)
                vq_parts.append(vq_chunk)
            tracks_all = _Tracks(*(torch.cat([getattr(p, f) for p in parts], dim=-1)
                                   for f in _Tracks.__dataclass_fields__))
            vq = [_pool_vq([p[c] for p in vq_parts]) for c in range(call.n_channels)]
            return self._summarise(call, None, sr, tracks_all, None, vq)
        except Exception as exc:
            log.exception("extract: call %s failed", call.call_id)
            return _error_row(call.call_id, call.agent_id, exc)

    def _summarise_safe(self, call: Call, y: torch.Tensor, sr: int, tracks: _Tracks,
                        track: Any, sig: F.PaddedRows | None = None) -> dict[str, Any]:
        try:
            return self._summarise(call, y, sr, tracks, track, None, sig)
        except Exception as exc:
            log.exception("extract: call %s failed", call.call_id)
            return _error_row(call.call_id, call.agent_id, exc)

    def _summarise(self, call: Call, y: torch.Tensor | None, sr: int, tracks: _Tracks,
                   track: Any, vq: list[dict[str, float]] | None,
                   sig: F.PaddedRows | None = None) -> dict[str, Any]:
        n_frames = tracks.vad.shape[-1]
        # who speaks when -> activity (2, T): row 0 agent, row 1 customer
        if call.is_stereo:
            agent_ch = call.channels.index(AGENT) if AGENT in call.channels else 0
            cust_ch = 1 - agent_ch
            activity = TT.activity_from_tracks(tracks.band_db[[agent_ch, cust_ch]],
                                               tracks.vad[[agent_ch, cust_ch]])
            owner = {AGENT: agent_ch, CUSTOMER: cust_ch}
            own_mask = torch.zeros_like(tracks.vad)
            own_mask[agent_ch] = activity[0]
            own_mask[cust_ch] = activity[1]
        else:
            # with the samples (batch path) the diarizer uses cepstra; chunked calls fall back
            # to the frame tracks alone
            activity = TT.diarize_tracks(tracks, sr, y[0] if y is not None else None)
            owner = {AGENT: 0, CUSTOMER: 0}
            own_mask = tracks.vad[:1].clone()
        act_np = activity.cpu().numpy().astype(bool)

        feats: dict[str, Any] = {}
        feats.update(TT.interaction_features(act_np, HOP_SEC))
        feats["call_duration_sec"] = call.duration_sec

        # acoustic summaries over frames each channel's own speaker is active
        sel = own_mask.bool()
        any_sel = bool(sel.any())
        rms = tracks.rms[sel].double().cpu().numpy()
        db = tracks.level_db[sel].double().cpu().numpy()
        feats["energy_mean"] = float(rms.mean()) if any_sel else math.nan
        feats["energy_variance"] = float(rms.var()) if any_sel else math.nan
        feats["dynamic_range_db"] = float(np.percentile(db, 95) - np.percentile(db, 5)) \
            if any_sel else math.nan
        feats["spectral_centroid"] = float(tracks.centroid[sel].double().mean()) \
            if any_sel else math.nan
        feats["zero_crossing_rate"] = float(tracks.zcr[sel].double().mean()) \
            if any_sel else math.nan
        vsel = sel & tracks.voiced
        f0 = tracks.f0[vsel].double().cpu().numpy()
        f0 = f0[np.isfinite(f0)]
        feats["avg_pitch_hz"] = float(f0.mean()) if f0.size else math.nan
        feats["pitch_variance"] = float(f0.var()) if f0.size else math.nan
        feats["pitch_range_hz"] = float(np.percentile(f0, 95) - np.percentile(f0, 5)) \
            if f0.size else math.nan

        if vq is None:
            assert y is not None and track is not None
            vq = _voice_quality(y, sr, track, sel, 0, n_frames, sig)
        pooled = _pool_vq(vq)
        feats["jitter"] = pooled["jitter"]
        feats["shimmer"] = pooled["shimmer"]
        feats["harmonics_to_noise_ratio"] = pooled["hnr_db"]

        np_tracks = {"level_db": tracks.level_db.cpu().numpy(),
                     "voiced": (tracks.voiced & tracks.vad).cpu().numpy()}
        feats.update(_rate_features(call, act_np, np_tracks, owner))
        # "_activity" (who speaks when) feeds the model stage, then is dropped
        return {"call_id": call.call_id, "agent_id": call.agent_id, **feats, "error": None,
                "_activity": act_np}


@contextmanager
def _cpu_threads(device: torch.device, n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads on CPU, then restore the setting."""
    if device.type != "cpu" or n is None or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _parallel_workers(device: torch.device) -> int:
    """Units of work (batches of calls, chunks of a long call) analysed at once: on CPU the
    torch thread budget (``torch.get_num_threads()``, at most the CPU count), each unit on
    one thread; 1 on a GPU.

    Whole units side by side use the cores better than splitting every (mostly small)
    tensor operation over threads, and never make OpenMP threads wait on each other. Each
    unit's numbers are those of a one-thread run, whatever the thread count.
    """
    if device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def _map_ordered(fn: Callable[..., Any], jobs: Iterable[tuple[Any, ...]], workers: int
                 ) -> Iterator[Any]:
    """``fn(*job)`` for every job, results in order. With ``workers > 1`` up to ``workers``
    jobs run at once in threads whose torch operations are single-threaded (torch releases the
    GIL inside them), and no more are prepared than run, so memory stays bounded. Each worker
    sets its own thread count (OpenMP keeps it per thread); the caller's setting is restored
    when done."""
    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    threads = torch.get_num_threads()
    pending: collections.deque[Future[Any]] = collections.deque()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="callquality",
                                initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for job in jobs:
                pending.append(pool.submit(fn, *job))
                if len(pending) >= workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        torch.set_num_threads(threads)


def _rechunk(chunks: Iterable[np.ndarray], size: int) -> Iterable[np.ndarray]:
    """Re-cut a stream of ``(C, n)`` blocks into blocks of exactly ``size`` samples (last shorter)."""
    buf: list[np.ndarray] = []
    have = 0
    for c in chunks:
        buf.append(c)
        have += c.shape[1]
        while have >= size:
            cat = buf[0] if len(buf) == 1 else np.concatenate(buf, axis=1)  # views if one
            yield cat[:, :size]
            rest = cat[:, size:]
            buf, have = [rest], rest.shape[1]
    if have:
        yield buf[0] if len(buf) == 1 else np.concatenate(buf, axis=1)


def _slice_tracks(tracks: _Tracks, b: int, n: int, sr: int, t0: int = 0,
                  t1: int | None = None) -> _Tracks:
    hop = sr // 100
    end = -(-n // hop) if t1 is None else t1
    return _Tracks(*(getattr(tracks, f)[b, ..., t0:end] for f in _Tracks.__dataclass_fields__))


def _slice_track(track: Any, b: int, n: int, sr: int) -> Any:
    hop = sr // 100
    end = -(-n // hop)
    return type(track)(*(t[b, ..., :end] for t in track))


def _voice_quality(y: torch.Tensor, sr: int, track: Any, mask: torch.Tensor, t0: int,
                   t1: int, sig: F.PaddedRows | None = None) -> list[dict[str, float]]:
    """Voice quality per channel over the frames of ``mask`` (frames t0..t1 of the track);
    ``sig``: the mean-removed padded rows of ``y`` if the frame stage made them."""
    full = torch.zeros(y.shape[0], track.f0.shape[-1], dtype=torch.bool, device=y.device)
    full[:, t0:t1] = mask
    if sig is not None:
        return VQ.voice_quality_padded(sig, sr, track, full)
    out = VQ.voice_quality(y, sr, track, full)  # all channels in one batched pass
    return out if isinstance(out, list) else [out]


def _pool_vq(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    return VQ.pool(parts)


def _error_row(call_id: str, agent_id: str | None, exc: BaseException) -> dict[str, Any]:
    return {"call_id": call_id, "agent_id": agent_id,
            "error": f"{type(exc).__name__}: {exc}"}


def _check_groups(groups: Sequence[str] | str | None) -> tuple[str, ...]:
    if groups is None:
        return GROUPS
    gs = (groups,) if isinstance(groups, str) else tuple(groups)
    unknown = [g for g in gs if g not in GROUPS]
    if unknown:
        raise ConfigurationError(f"extract: unknown group(s) {unknown}; expected some of {GROUPS}")
    if not gs:
        raise ConfigurationError(f"extract: groups is empty; expected some of {GROUPS}")
    return gs


def _finish_frame(df: pd.DataFrame, groups: tuple[str, ...]) -> pd.DataFrame:
    names = feature_names(groups)
    for c in ("call_id", "agent_id", "error", *names):
        if c not in df.columns:
            df[c] = None
    df["processed_at"] = pd.Timestamp(datetime.now(timezone.utc))
    specs = {s.name: s for s in FEATURES}
    for n in names:
        dt = specs[n].dtype
        if dt == "float64":
            df[n] = pd.to_numeric(df[n], errors="coerce").astype("float64")
        elif dt == "int64":
            df[n] = pd.to_numeric(df[n], errors="coerce").astype("Int64")
        else:
            df[n] = df[n].astype("string")
    df["call_id"] = df["call_id"].astype("string")
    df["agent_id"] = df["agent_id"].astype("string")
    df["error"] = df["error"].astype("string")
    return df[["call_id", "agent_id", "processed_at", *names, "error"]]


def extract(
    calls_or_paths: Iterable[Call | str | Path] | Call | str | Path,
    *,
    groups: Sequence[str] | str | None = None,
    profile: str = "offline",
    device: str = "auto",
    models: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int | None = None,
    chunk_sec: float = 300.0,
    progress: bool | None = None,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """Extract features: one row per call.

    Args:
        calls_or_paths: calls (:class:`~callquality.Call`), audio paths, a folder, or one of
            these.
        groups: feature groups (default: all of :data:`callquality.GROUPS`).
            ``("acoustic", "interaction")`` runs no model.
        profile: model profile of the emotion and content groups: ``"offline"`` (models that
            pip packages ship; no network) or ``"full"`` (the quickstart's hub models); see
            :mod:`callquality.features.models`. A call's own transcript always skips ASR.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        models: per-stage model overrides (``asr``, ``ner``, ``sentiment``, ``emotion``), e.g.
            ``{"asr": "whisper:/models/base.pt"}``.
        cache_dir: folder for downloaded weights (default ``$CALLQUALITY_MODEL_CACHE`` or
            ``~/.cache/callquality``).
        batch_size: calls analysed together by the audio core (default: 1 on CPU, 16 on CUDA).
        chunk_sec: calls longer than this are analysed in chunks (bounded memory).
        progress: progress bar (default: for more than 20 calls).
        num_threads: CPU threads of the audio core, one unit of work (batch of calls, chunk
            of a long call) each (default: torch's setting, at most the CPU count); see
            :class:`TorchExtractor`.

    Returns:
        DataFrame with ``call_id``, ``agent_id``, ``processed_at``, the features of the chosen
        groups in schema order (dtypes from the schema) and ``error`` (``None`` if the call
        succeeded, else the cause). Calls passed as :class:`~callquality.Call` objects that had
        no transcript carry the ASR transcript afterwards (``call.transcript``).

    Raises:
        ConfigurationError: unknown group or profile, bad options, or a model that is not
            available (:class:`~callquality.exceptions.ModelUnavailableError`, which says how
            to pre-download it). Per-call failures never raise: they fill ``error``.
    """
    if profile not in ("offline", "full"):
        raise ConfigurationError(f"extract: profile must be 'offline' or 'full', got {profile!r}")
    if isinstance(calls_or_paths, (Call, str, Path)):
        p = calls_or_paths
        if isinstance(p, (str, Path)) and Path(p).is_dir():
            from ..calls import load_calls

            items: list[Call | str | Path] = list(load_calls(p))
        else:
            items = [p]
    else:
        items = list(calls_or_paths)
    ex = TorchExtractor(groups, device=device, batch_size=batch_size, chunk_sec=chunk_sec,
                        progress=progress, profile=profile, models=models, cache_dir=cache_dir,
                        num_threads=num_threads)
    return ex.extract(items)
