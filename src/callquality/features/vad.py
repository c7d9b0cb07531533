"""Voice activity detection on the shared 10 ms analysis grid.

:func:`voice_activity` answers "is someone speaking in this channel at frame ``t``?" for every
frame of the analysis grid (:func:`callquality.features.functional.frame_grid`: hop
``sr // 100`` samples, frame ``t`` centred at ``(t + 0.5) * hop_length / sr`` seconds), batched
over any leading axes ``(..., n_samples) -> (..., T)``.

Two methods:

``"energy"`` (default; no model, a few milliseconds per minute of audio)
    1. *Features* per frame (a Hann-windowed frame of ``frame_length`` samples, default one
       hop = 10 ms, centred on the grid point): the **speech-band level** ``L_t``, the power
       between ``fmin`` and ``fmax`` (300-3400 Hz, the telephone band; DC, hum and hiss
       outside it are ignored) in dBFS, and the **spectral flatness** ``S_t`` of that band
       (geometric over arithmetic mean of the power spectrum, in dB: about -2.5 dB for white
       noise, -10 to -30 dB for voiced speech, whose formants make the spectrum peaky).
    2. *Adaptive noise floor* per channel: ``N = percentile(L, noise_percentile)`` over the
       channel's valid frames (default the 10th percentile: any channel in which nobody speaks
       for at least a tenth of the time reveals its background level there).
    3. *Hysteresis*: a frame is a **seed** when ``L_t >= max(N + onset_db, abs_threshold_db)``
       and ``S_t <= max_flatness_db`` (loud *and* peaky: a vowel, not a noise burst); a frame is
       **sounding** when ``L_t >= max(N + offset_db, abs_threshold_db - (onset_db - offset_db))``.
       Speech = the maximal runs of sounding frames that contain at least one seed (so weak
       consonants next to a vowel are kept, an isolated noisy frame is not).
    4. *Durations*: silences shorter than ``min_silence_sec`` between two speech runs are
       bridged, then speech runs shorter than ``min_speech_sec`` are dropped, then each run is
       extended by ``hangover_sec`` at its end.

``"silero"`` (``pip install silero-vad``; the package ships its model, runs offline)
    The Silero VAD network on the signal resampled to 16 kHz (speech probability per 32 ms
    window), mapped to the grid by frame centre, then the same hysteresis (``threshold`` /
    ``neg_threshold``) and duration rules.

Degenerate inputs have defined outputs: digital silence, a DC offset, stationary noise of
any level (white noise included) and signals shorter than one frame give no speech; frames
past a call's ``lengths`` (zero padding in a batch) are never speech.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..exceptions import ConfigurationError
from . import functional as F

__all__ = [
    "band_level_and_flatness",
    "fill_short_runs",
    "run_lengths",
    "silero_speech_probability",
    "voice_activity",
    "voice_activity_from_features",
    "voice_activity_with_level",
]

#: Sample rate the Silero network runs at.
SILERO_SR = 16000
#: Samples per Silero window at 16 kHz (32 ms).
SILERO_WINDOW = 512

_EPS_POWER = 1e-12  # -120 dBFS: the level of digital silence


# --------------------------------------------------------------------------- run helpers


def run_lengths(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ids and run lengths of a boolean ``mask (N, T)``, frame by frame.

    Returns:
        ``(run_id, length)``, both ``(N, T)`` int64: ``run_id`` numbers the maximal runs of
        equal values consecutively over the flattened rows (a new row always starts a new run);
        ``length[n, t]`` is the length in frames of the run that frame ``t`` belongs to.
    """
    n, t = mask.shape
    if n * t == 0:
        z = torch.zeros((n, t), dtype=torch.long, device=mask.device)
        return z, z
    change = torch.ones((n, t), dtype=torch.bool, device=mask.device)
    change[:, 1:] = mask[:, 1:] != mask[:, :-1]
    run_id = torch.cumsum(change.reshape(-1), 0).reshape(n, t) - 1
    counts = torch.bincount(run_id.reshape(-1))
    return run_id, counts[run_id]


def fill_short_runs(mask: torch.Tensor, value: bool, max_len: int, *,
                    interior_only: bool = False) -> torch.Tensor:
    """Flip runs of ``value`` shorter than ``max_len`` frames in ``mask (..., T)``.

    ``fill_short_runs(m, False, k, interior_only=True)`` bridges gaps shorter than ``k`` frames
    between two ``True`` runs (a gap touching either end of the signal is kept);
    ``fill_short_runs(m, True, k)`` removes ``True`` runs shorter than ``k`` frames.
    """
    if max_len <= 1 or mask.shape[-1] == 0:
        return mask
    lead, t = mask.shape[:-1], mask.shape[-1]
    m = mask.reshape(-1, t)
    run_id, length = run_lengths(m)
    flip = (m == value) & (length < max_len)
    if interior_only:
        flip &= (run_id != run_id[:, :1]) & (run_id != run_id[:, -1:])
    return (m ^ flip).reshape(*lead, t)


def _extend_ends(mask: torch.Tensor, n: int) -> torch.Tensor:
    """Extend every ``True`` run of ``mask (..., T)`` by ``n`` frames at its end."""
    if n <= 0 or mask.shape[-1] == 0:
        return mask
    lead, t = mask.shape[:-1], mask.shape[-1]
    x = mask.reshape(-1, 1, t).to(torch.float32)
    x = torch.nn.functional.pad(x, (n, 0))  # frame t looks back n frames
    out = torch.nn.functional.max_pool1d(x, n + 1, stride=1) > 0
    return out.reshape(*lead, t)


def _hysteresis(sounding: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Runs of ``sounding`` (N, T) that contain at least one ``seed`` frame."""
    seed = seed & sounding
    run_id, _ = run_lengths(sounding)
    n_runs = int(run_id[-1, -1]) + 1 if run_id.numel() else 0
    has_seed = torch.zeros(n_runs, dtype=torch.bool, device=sounding.device)
    has_seed[run_id[seed]] = True
    return sounding & has_seed[run_id]


def _masked_quantile(x: torch.Tensor, valid: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row ``q``-quantile (linear interpolation) of ``x (N, T)`` over ``valid`` frames.

    NaN for rows without a valid frame. No size limit (unlike :func:`torch.quantile`).
    """
    n, t = x.shape
    out = x.new_full((n,), math.nan)
    if t == 0:
        return out
    if n <= 16:  # few rows: selection (O(T)) instead of a full sort
        for i in range(n):
            v = x[i][valid[i]] if not bool(valid[i].all()) else x[i]
            m = v.numel()
            if m == 0:
                continue
            pos = (m - 1) * q
            lo = int(math.floor(pos))
            v_lo = torch.kthvalue(v, lo + 1).values
            if pos > lo:
                v_hi = torch.kthvalue(v, lo + 2).values
                v_lo = v_lo + (v_hi - v_lo) * (pos - lo)
            out[i] = v_lo
        return out
    big = torch.finfo(x.dtype).max
    s, _ = torch.sort(torch.where(valid, x, big), dim=-1)
    cnt = valid.sum(-1)
    rank = (cnt - 1).clamp_min(0).to(x.dtype) * q
    lo_i = rank.floor().long().clamp(0, t - 1)
    hi_i = (lo_i + 1).clamp(max=(cnt - 1).clamp_min(0))
    frac = rank - lo_i.to(x.dtype)
    s_lo = s.gather(-1, lo_i[:, None])[:, 0]
    s_hi = s.gather(-1, hi_i[:, None])[:, 0]
    res = s_lo + (s_hi - s_lo) * frac
    return torch.where(cnt > 0, res, out)


def _valid_frames(lead: torch.Size, t: int, hop: int, lengths: Any, mask: Any,
                  device: torch.device) -> torch.Tensor:
    """Boolean ``(*lead, T)`` of frames inside each signal (``lengths``) and ``mask``."""
    valid = torch.ones((*lead, t), dtype=torch.bool, device=device)
    if lengths is not None:
        ln = torch.as_tensor(lengths, device=device)
        if ln.ndim > len(lead):
            raise ConfigurationError(f"voice_activity: lengths of shape {tuple(ln.shape)} do not "
                                     f"fit the batch shape {tuple(lead)}")
        while ln.ndim < len(lead):  # lengths index the leading axes from the left: (B,) ~ (B, C)
            ln = ln.unsqueeze(-1)
        starts = torch.arange(t, device=device) * hop
        valid = valid & (starts < ln[..., None])
    if mask is not None:
        valid = valid & torch.as_tensor(mask, dtype=torch.bool, device=device)
    return valid


# --------------------------------------------------------------------------- features


@functools.lru_cache(maxsize=32)
def _band_basis(win: int, sr: int, fmin: float, fmax: float, dtype: torch.dtype,
                device: str) -> tuple[torch.Tensor, float]:
    """Hann-windowed real DFT basis ``(win, 2K)`` (cosines then sines) of the band's bins,
    and the factor turning the summed power of those bins into mean square amplitude."""
    freqs = np.fft.rfftfreq(win, d=1.0 / sr)
    sel = (freqs >= fmin) & (freqs <= min(fmax, 0.48 * sr))
    if not sel.any():  # frame too short to resolve the band: take all but DC
        sel = freqs > 0
    if not sel.any():
        sel = freqs >= 0
    k = np.flatnonzero(sel)
    nn = np.arange(win)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * nn / win)                      # periodic Hann
    ang = 2 * np.pi * nn[:, None] * k[None, :] / win
    basis = np.concatenate([np.cos(ang), -np.sin(ang)], axis=1) * w[:, None]
    # Parseval: mean square of the band component = 2 sum |X_k|^2 / (win * sum w^2)
    scale = 2.0 / (win * float(np.square(w).sum()))
    return torch.as_tensor(basis, dtype=dtype, device=device), scale



def band_level_and_flatness(
    y: torch.Tensor, sr: int, *, hop_length: int | None = None, frame_length: int | None = None,
    fmin: float = 300.0, fmax: float = 3400.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Speech-band level and spectral flatness per grid frame: ``(..., n) -> 2 x (..., T)``.

    Each frame is ``frame_length`` samples (default ``hop_length``, i.e. 10 ms) centred on the
    grid point (with the default the frames tile the signal) and Hann-windowed; only the DFT
    bins inside the band are computed (DC and hum below ``fmin`` never enter). Level: mean power of the frame's components
    between ``fmin`` and ``fmax`` Hz (``fmax`` capped at 0.48 ``sr``), in dBFS (a full-scale
    sine in the band reads -3 dB), floored at -120 dB. Flatness: ``10 log10(geometric mean /
    arithmetic mean)`` of the power spectrum in the band, in dB (<= 0; 0 for a perfectly flat
    spectrum, -2.5 dB expected for white noise; 0 for digital silence).
    """
    power, scale = _band_power(y, sr, hop_length, frame_length, fmin, fmax)
    level = _level_db(power, scale)
    return level, _flatness_db(power, scale)


def _band_power(y: torch.Tensor | np.ndarray, sr: int, hop_length: int | None,
                frame_length: int | None, fmin: float, fmax: float
                ) -> tuple[torch.Tensor, float]:
    """Power ``(..., T, K)`` of the band's DFT bins per grid frame, and its Parseval scale."""
    hop = hop_length or sr // 100
    win = frame_length or hop
    if hop <= 0 or win <= 0:
        raise ConfigurationError(f"band_level_and_flatness: hop_length and frame_length must be "
                                 f"> 0, got {hop}, {win}")
    if not (0 <= fmin < fmax):
        raise ConfigurationError(f"band_level_and_flatness: need 0 <= fmin < fmax, got "
                                 f"{fmin}, {fmax}")
    y = F.as_tensor(y)
    n = y.shape[-1]
    t = F.grid_frames(n, hop)
    if win == hop:  # non-overlapping frames: a view of the (tail-padded) signal, no copy
        if n < t * hop:
            y = torch.nn.functional.pad(y, (0, t * hop - n))
        frames = y.reshape(*y.shape[:-1], t, hop)
    else:
        frames = F.frame_grid(y, win, hop)                           # (..., T, win)
    basis, scale = _band_basis(win, sr, fmin, fmax, y.dtype, str(y.device))
    k = basis.shape[1] // 2
    spec = frames.reshape(-1, win) @ basis                             # windowed band DFT
    power = (spec[:, :k].square() + spec[:, k:].square()).reshape(*frames.shape[:-1], k)
    return power, scale


def _level_db(power: torch.Tensor, scale: float) -> torch.Tensor:
    return 10.0 * torch.log10((power.sum(-1) * scale).clamp_min(_EPS_POWER))


def _flatness_db(power: torch.Tensor, scale: float) -> torch.Tensor:
    """Spectral flatness in dB over the last axis; 0 dB for (digitally) silent frames."""
    if power.shape[-1] == 0 or power.numel() == 0:
        return power.new_zeros(power.shape[:-1])
    p = power + _EPS_POWER / scale
    flat = 10.0 * (torch.log10(p).mean(-1) - torch.log10(p.mean(-1)))
    return torch.where(power.sum(-1) * scale > _EPS_POWER, flat, torch.zeros_like(flat))


def voice_activity_from_features(
    level_db: torch.Tensor,
    flatness_db: torch.Tensor | None = None,
    *,
    hop_sec: float = 0.01,
    valid: torch.Tensor | None = None,
    noise_percentile: float = 10.0,
    onset_db: float | torch.Tensor = 8.0,
    offset_db: float | torch.Tensor = 2.0,
    abs_threshold_db: float = -80.0,
    max_flatness_db: float = -6.0,
    min_speech_sec: float = 0.05,
    min_silence_sec: float = 0.05,
    hangover_sec: float = 0.0,
    floor_db: torch.Tensor | None = None,
) -> torch.Tensor:
    """The energy VAD decision (steps 2-4 of the module docstring) on precomputed features.

    Args:
        level_db: ``(..., T)`` speech-band level per frame, dBFS.
        flatness_db: ``(..., T)`` spectral flatness in dB, or ``None`` to skip the check.
        hop_sec: frame step in seconds.
        valid: ``(..., T)`` frames that belong to the signal (default all).
        noise_percentile: percentile of the valid levels taken as the channel's noise floor.
        onset_db, offset_db: hysteresis thresholds above the noise floor, dB; a float or one
            value per signal (shape ``level_db.shape[:-1]``).
        abs_threshold_db: the onset threshold is never below this level (dBFS), so digital
            silence and very low-level hiss are not speech.
        max_flatness_db: seeds must be at least this peaky.
        min_speech_sec, min_silence_sec, hangover_sec: duration rules, seconds.
        floor_db: the noise floor of each signal (shape ``level_db.shape[:-1]``) if already
            known; default: estimated as above.

    Returns:
        Bool tensor ``(..., T)``.
    """
    lead, t = level_db.shape[:-1], level_db.shape[-1]
    lv = level_db.reshape(-1, t).to(torch.float32)
    on_db = _per_row(onset_db, lead, lv)
    off_db = _per_row(offset_db, lead, lv)
    if bool((on_db < off_db).any()):
        raise ConfigurationError(f"voice_activity: onset_db ({onset_db}) must be >= offset_db "
                                 f"({offset_db})")
    ok = (torch.ones_like(lv, dtype=torch.bool) if valid is None
          else torch.as_tensor(valid, dtype=torch.bool, device=lv.device)
          .expand(*lead, t).reshape(-1, t))
    floor = (_masked_quantile(lv, ok, noise_percentile / 100.0) if floor_db is None
             else torch.as_tensor(floor_db, dtype=lv.dtype, device=lv.device).reshape(-1))
    on = torch.clamp_min(floor + on_db, abs_threshold_db)[:, None]
    off = torch.maximum(floor + off_db, abs_threshold_db - (on_db - off_db))[:, None]
    sounding = ok & (lv >= off)
    seed = sounding & (lv >= on)
    if flatness_db is not None:
        seed &= flatness_db.reshape(-1, t).to(lv.device) <= max_flatness_db
    speech = _hysteresis(sounding, seed)
    speech = _durations(speech, hop_sec, min_speech_sec, min_silence_sec, hangover_sec) & ok
    return speech.reshape(*lead, t)


def _per_row(v: float | torch.Tensor, lead: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """A scalar or a per-signal value (shape ``lead``) as one value per row of ``like (N, T)``."""
    vt = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return vt.expand(lead).reshape(-1) if vt.ndim else vt.expand(like.shape[0])


def _durations(speech: torch.Tensor, hop_sec: float, min_speech_sec: float,
               min_silence_sec: float, hangover_sec: float) -> torch.Tensor:
    speech = fill_short_runs(speech, False, int(round(min_silence_sec / hop_sec)),
                             interior_only=True)
    speech = fill_short_runs(speech, True, int(round(min_speech_sec / hop_sec)))
    return _extend_ends(speech, int(round(hangover_sec / hop_sec)))


def _floor_and_seed_flatness(level: torch.Tensor, power: torch.Tensor, scale: float,
                             valid: torch.Tensor, noise_percentile: float,
                             onset_db: float | torch.Tensor, abs_threshold_db: float
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise floor per signal and the flatness of the frames that can be seeds (level at or
    above the onset threshold); other frames get 0 dB. Saves the logarithms of most frames."""
    lead, t = level.shape[:-1], level.shape[-1]
    lv = level.reshape(-1, t)
    floor = _masked_quantile(lv, valid.reshape(-1, t), noise_percentile / 100.0)
    on = torch.clamp_min(floor + _per_row(onset_db, lead, lv), abs_threshold_db)
    cand = (valid.reshape(-1, t) & (lv >= on[:, None])).reshape(-1)
    flat = lv.new_zeros(lv.numel())
    idx = torch.nonzero(cand).flatten()
    if idx.numel():
        flat[idx] = _flatness_db(power.reshape(-1, power.shape[-1]).index_select(0, idx), scale)
    return floor.reshape(lead), flat.reshape(*lead, t)


# --------------------------------------------------------------------------- public entry


def voice_activity(
    y: torch.Tensor | np.ndarray,
    sr: int,
    *,
    hop_length: int | None = None,
    frame_length: int | None = None,
    lengths: torch.Tensor | Sequence[int] | int | None = None,
    mask: torch.Tensor | None = None,
    method: str = "energy",
    fmin: float = 300.0,
    fmax: float = 3400.0,
    noise_percentile: float = 10.0,
    onset_db: float = 8.0,
    offset_db: float = 2.0,
    abs_threshold_db: float = -80.0,
    max_flatness_db: float = -6.0,
    threshold: float = 0.5,
    neg_threshold: float = 0.35,
    min_speech_sec: float = 0.05,
    min_silence_sec: float = 0.05,
    hangover_sec: float = 0.0,
) -> torch.Tensor:
    """Voice activity per frame of the analysis grid: ``(..., n_samples) -> (..., T)`` bool.

    ``T = ceil(n_samples / hop_length)``; frame ``t`` is centred at ``(t + 0.5) * hop_length /
    sr`` seconds. See the module docstring for the two methods.

    Args:
        y: samples, full scale 1.0, any leading batch axes (e.g. ``(B, C, n)``).
        sr: sample rate, Hz.
        hop_length: grid step in samples (default ``sr // 100``, 10 ms).
        frame_length: analysis frame in samples for the energy method (default one hop).
        lengths: true length in samples of each zero-padded signal; its shape is a prefix of
            the leading axes (``(B,)`` for ``y (B, C, n)``). Frames starting at or past the
            length are never speech and do not enter the noise floor.
        mask: optional ``(..., T)`` bool, frames to consider at all.
        method: ``"energy"`` or ``"silero"``.
        fmin, fmax: speech band, Hz (energy method).
        noise_percentile, onset_db, offset_db, abs_threshold_db, max_flatness_db: energy
            decision, see :func:`voice_activity_from_features`.
        threshold, neg_threshold: Silero speech-probability hysteresis (onset / offset).
        min_speech_sec: speech runs shorter than this are dropped (s).
        min_silence_sec: silences shorter than this between speech runs are bridged (s).
        hangover_sec: every speech run is extended by this much at its end (s).

    Returns:
        Bool tensor ``(..., T)`` on ``y``'s device.
    """
    return _voice_activity(y, sr, hop_length, frame_length, lengths, mask, method, fmin, fmax,
                           noise_percentile, onset_db, offset_db, abs_threshold_db,
                           max_flatness_db, threshold, neg_threshold, min_speech_sec,
                           min_silence_sec, hangover_sec)[0]


def voice_activity_with_level(y: torch.Tensor | np.ndarray, sr: int, **kwargs: Any
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The energy voice activity and the speech-band level it was decided on, in one pass.

    Takes the arguments of :func:`voice_activity` (``method`` must be ``"energy"``) and returns
    ``(speech, level_db)``: the bool activity ``(..., T)`` and the speech-band level in dBFS
    ``(..., T)``, equal to the first output of :func:`band_level_and_flatness` with the same
    ``hop_length``, ``frame_length``, ``fmin`` and ``fmax`` (which this saves computing again).
    """
    try:
        bound = inspect.signature(voice_activity).bind(y, sr, **kwargs)
    except TypeError as exc:
        raise ConfigurationError(f"voice_activity_with_level: {exc}") from None
    bound.apply_defaults()
    if bound.arguments["method"] != "energy":
        raise ConfigurationError("voice_activity_with_level: method must be 'energy'")
    speech, level = _voice_activity(**bound.arguments)
    assert level is not None
    return speech, level


def _voice_activity(y: torch.Tensor | np.ndarray, sr: int, hop_length: int | None,
                    frame_length: int | None, lengths: Any, mask: torch.Tensor | None,
                    method: str, fmin: float, fmax: float, noise_percentile: float,
                    onset_db: float, offset_db: float, abs_threshold_db: float,
                    max_flatness_db: float, threshold: float, neg_threshold: float,
                    min_speech_sec: float, min_silence_sec: float, hangover_sec: float
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`voice_activity`, and the speech-band level for the energy method (else None)."""
    if sr <= 0:
        raise ConfigurationError(f"voice_activity: sample rate must be positive, got {sr}")
    yt = F.as_tensor(y)
    hop = hop_length or sr // 100
    if hop <= 0:
        raise ConfigurationError(f"voice_activity: hop_length must be > 0, got {hop}")
    lead, n = yt.shape[:-1], yt.shape[-1]
    t = F.grid_frames(n, hop)
    valid = _valid_frames(lead, t, hop, lengths, mask, yt.device)
    hop_sec = hop / sr
    if t == 0:
        return valid, torch.full(valid.shape, 10.0 * math.log10(_EPS_POWER), device=yt.device)
    if method == "energy":
        power, scale = _band_power(yt, sr, hop, frame_length, fmin, fmax)
        level = _level_db(power, scale)
        floor, flat = _floor_and_seed_flatness(level, power, scale, valid, noise_percentile,
                                               onset_db, abs_threshold_db)
        speech = voice_activity_from_features(
            level, flat, hop_sec=hop_sec, valid=valid, noise_percentile=noise_percentile,
            onset_db=onset_db, offset_db=offset_db, abs_threshold_db=abs_threshold_db,
            max_flatness_db=max_flatness_db, min_speech_sec=min_speech_sec,
            min_silence_sec=min_silence_sec, hangover_sec=hangover_sec, floor_db=floor)
        return speech, level
    if method == "silero":
        prob = silero_speech_probability(yt, sr, hop_length=hop)
        prob = torch.where(valid, prob, torch.zeros_like(prob))
        flat_p = prob.reshape(-1, t)
        ok = valid.reshape(-1, t)
        speech = _hysteresis(ok & (flat_p >= neg_threshold), flat_p >= threshold)
        speech = _durations(speech, hop_sec, min_speech_sec, min_silence_sec, hangover_sec)
        return (speech & ok).reshape(*lead, t), None
    raise ConfigurationError(f"voice_activity: method must be 'energy' or 'silero', "
                             f"got {method!r}")


# --------------------------------------------------------------------------- silero

_SILERO_LOCK = threading.Lock()
_SILERO_MODEL: Any = None


def _silero_model() -> Any:
    global _SILERO_MODEL
    with _SILERO_LOCK:
        if _SILERO_MODEL is None:
            from .._extras import require

            n_threads = torch.get_num_threads()
            try:  # importing silero_vad calls torch.set_num_threads(1): undo that side effect
                mod = require("silero_vad", "vad", "silero VAD (voice_activity(method='silero'))")
                with warnings.catch_warnings():  # its loader's own deprecation warnings
                    warnings.simplefilter("ignore", DeprecationWarning)
                    _SILERO_MODEL = mod.load_silero_vad()
            finally:
                torch.set_num_threads(n_threads)
        return _SILERO_MODEL


def silero_speech_probability(y: torch.Tensor | np.ndarray, sr: int, *,
                              hop_length: int | None = None) -> torch.Tensor:
    """Silero VAD speech probability mapped to the grid: ``(..., n) -> (..., T)`` in [0, 1].

    The signal is resampled to 16 kHz (soxr); the network scores consecutive 32 ms windows;
    grid frame ``t`` takes the probability of the window containing its centre.
    """
    from ..audio import resample

    yt = F.as_tensor(y)
    hop = hop_length or sr // 100
    lead, n = yt.shape[:-1], yt.shape[-1]
    t = F.grid_frames(n, hop)
    flat = yt.reshape(-1, n).detach().cpu().numpy()
    y16 = resample(flat, sr, SILERO_SR) if sr != SILERO_SR else flat
    model = _silero_model()
    x = torch.from_numpy(np.ascontiguousarray(y16, dtype=np.float32))
    with _SILERO_LOCK, torch.inference_mode():
        model.reset_states()
        probs = model.audio_forward(x, SILERO_SR)                    # (N, n_windows)
        model.reset_states()
    probs = probs.reshape(x.shape[0], -1).to(torch.float32)
    centres = (torch.arange(t, dtype=torch.float64) + 0.5) * hop / sr
    idx = (centres * SILERO_SR / SILERO_WINDOW).floor().long().clamp(0, max(probs.shape[1] - 1, 0))
    if probs.shape[1] == 0:
        out = torch.zeros((x.shape[0], t))
    else:
        out = probs[:, idx]
    return out.reshape(*lead, t).to(yt.device)
