"""Fundamental frequency (F0) by YIN, batched in PyTorch.

:func:`yin` implements de Cheveigné & Kawahara (2002), "YIN, a fundamental frequency estimator
for speech and music", JASA 111(4):1917-1930, for every analysed frame at once:

1. difference function ``d(tau) = sum_{j<W} (x_j - x_{j+tau})^2`` through the FFT:
   ``d(tau) = e(0) + e(tau) - 2 c(tau)``, with ``c`` the cross-correlation of the frame's first
   ``W`` samples with the frame and ``e(tau)`` the energy of the window shifted by ``tau``;
2. the cumulative mean normalised difference (CMND) ``d'(tau) = d(tau) tau / sum_{k<=tau} d(k)``;
3. absolute threshold: the first dip of ``d'`` below ``threshold`` (0.1), followed down to its
   local minimum (without one: below the global minimum + 0.1);
4. parabolic interpolation of the dip;
5. best local estimate, done here as a path search instead of YIN's neighbourhood re-search
   (below).

Frame-wise YIN makes octave errors and voicing dropouts that Praat's ``To Pitch (ac)`` avoids
with its path finder, and the mean F0 must match Praat's. So each frame keeps several
candidates -- the ``n_candidates`` lowest CMND dips plus YIN's step-3 choice -- and a Viterbi
search with Praat's path-finder costs picks one per frame (or "unvoiced"):

* voiced candidate strength ``1 - d'(tau) - octave_cost * log2(f / fmin)`` (+0.05 for YIN's own
  choice when it is below the absolute threshold);
* unvoiced strength ``(1 - voicing_threshold) + max(0, 2 - intensity / (silence_threshold /
  (2 - voicing_threshold)))`` -- Praat's formula with ``1 - voicing_threshold`` as its voicing
  threshold; ``intensity`` is the frame's peak (central ``1 / fmin`` s) over the row's peak
  ``max |y - mean(y)|``;
* transition costs: ``voiced_unvoiced_cost`` (0.14) per voicing change and
  ``octave_jump_cost * |log2(f1 / f2)|`` (0.35) between voiced frames (Praat's defaults; our
  frames are 10 ms, so Praat's time-step correction is 1).

The search runs over segments of consecutive analysed frames, split where unvoicing wins
whatever the neighbours do; all segments advance together, so the Python loop is as long as
the longest segment (frames), not the signal.

Voicing decision, in short: a frame is voiced when it is analysed (inside ``mask``), not silent
(peak at least ``silence_threshold`` = 0.03 of the row's peak, Praat's silence threshold), and
the best path through it is voiced -- roughly, its CMND dip is below ``voicing_threshold`` (0.5;
for a stationary signal ``d' ~ 1 - r`` with ``r`` the normalised autocorrelation, so this is
Praat's voicing threshold of 0.45 on ``r`` to within the path costs), with short weak stretches
removed and short dropouts bridged by the transition costs.

The output lives on the call-level analysis grid of
:func:`callquality.features.functional.frame_grid` (frame ``t`` centred at
``(t + 0.5) * hop_length / sr`` seconds, ``T = ceil(n_samples / hop_length)``), so it lines up
with every other frame track of the extractor. The row's mean is removed before analysis (a DC
offset changes nothing). Frames outside ``mask`` are not computed, nor frames below the
silence threshold (unvoiced whatever their periodicity, as in Praat; on the stereo fixture
calls, two thirds of the voice-active frames: the other party's crosstalk, quiet consonants).
The FFT stage runs in cache-sized chunks of frames. Device-agnostic and deterministic.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from . import functional as F

__all__ = ["PitchTrack", "pitch_stats", "yin", "yin_padded"]

#: Step 3's relative threshold: a dip counts when below the global minimum plus this.
DIP_MARGIN = 0.1
#: Path-search bonus of YIN's own choice when it is below the absolute threshold.
YIN_BONUS = 0.05


class PitchTrack(NamedTuple):
    """A frame-level F0 track on the analysis grid; every field has shape ``(..., T)``.

    Attributes:
        f0: fundamental frequency in Hz, ``NaN`` where the frame is unvoiced or not analysed.
        voiced: ``True`` where the frame is voiced (then ``f0`` is finite).
        aperiodicity: YIN's cumulative mean normalised difference at the chosen period
            (dimensionless; 0 = perfectly periodic, about 1 = aperiodic) for voiced frames, the
            lowest CMND dip for unvoiced ones; ``NaN`` where the frame was not analysed
            (outside ``mask``, a row of digital silence, or a frame below the silence
            threshold, which is unvoiced whatever its periodicity).
    """

    f0: torch.Tensor
    voiced: torch.Tensor
    aperiodicity: torch.Tensor


# --------------------------------------------------------------------------- shared helpers


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def frame_xcorr(frames: torch.Tensor, win: int, n_lags: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward cross-correlation of each frame's first ``win`` samples with the frame.

    ``frames (N, L)`` with ``L >= win + n_lags - 1``. Returns ``(c, e0, e)``: ``c (N, n_lags)``
    with ``c[:, k] = sum_{j<win} x_j x_{j+k}``, ``e0 (N, 1)`` the energy of the first window and
    ``e (N, n_lags)`` the energy of the window shifted by ``k``. FFT-based (zero padding to a
    power of two at least ``L``, so there is no circular wrap).
    """
    length = frames.shape[-1]
    nfft = _next_pow2(length)
    spec = torch.fft.rfft(frames, n=nfft)
    spec_w = torch.fft.rfft(frames[:, :win], n=nfft)
    c = torch.fft.irfft(spec.mul_(spec_w.conj_physical_()), n=nfft)[:, :n_lags]
    cs = frames.square().cumsum(dim=-1)
    e0 = cs[:, win - 1:win]
    e = torch.empty_like(c)
    e[:, :1] = e0
    torch.sub(cs[:, win:win - 1 + n_lags], cs[:, :n_lags - 1], out=e[:, 1:])
    return c, e0, e


def _cmnd(frames: torch.Tensor, win: int, n_lags: int) -> torch.Tensor:
    """CMND ``d'`` for lags ``1 .. n_lags - 1``: ``(N, L) -> (N, n_lags - 1)`` (column ``j`` is
    lag ``j + 1``); silent frames get 1 (aperiodic)."""
    nfft = _next_pow2(frames.shape[-1])
    spec = torch.fft.rfft(frames, n=nfft)
    spec.mul_(torch.fft.rfft(frames[:, :win], n=nfft).conj_physical_())
    c = torch.fft.irfft(spec, n=nfft)
    cs = frames.square().cumsum(dim=-1)
    # d(tau) = e0 + e(tau) - 2 c(tau), e(tau) = cs[win - 1 + tau] - cs[tau - 1], tau >= 1
    d = cs[:, win:win - 1 + n_lags] - cs[:, :n_lags - 1]
    d.add_(cs[:, win - 1:win]).sub_(c[:, 1:n_lags], alpha=2.0).clamp_min_(0.0)
    cum = d.cumsum(dim=-1)
    tau = torch.arange(1, n_lags, device=frames.device, dtype=frames.dtype)
    return d.mul_(tau).div_(cum).nan_to_num_(nan=1.0, posinf=1.0)


def _runs(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs of ``True`` in ``v (R, T)``: ``(row, first, last)`` (inclusive), in row-time order."""
    pad = torch.nn.functional.pad(v.to(torch.int8), (1, 1))
    dv = pad[:, 1:] - pad[:, :-1]
    r0, s = torch.nonzero(dv == 1, as_tuple=True)
    _, e = torch.nonzero(dv == -1, as_tuple=True)
    return r0, s, e - 1


class _Grid:
    """Maps between compact per-analysed-frame arrays ``(N,)`` and the grid ``(R, T)``."""

    def __init__(self, idx_r: torch.Tensor, idx_t: torch.Tensor, n_rows: int, n_t: int) -> None:
        self.idx_r, self.idx_t = idx_r, idx_t
        self.shape = (n_rows, n_t)
        self.index = torch.full(self.shape, -1, dtype=torch.long, device=idx_r.device)
        self.index[idx_r, idx_t] = torch.arange(idx_r.numel(), device=idx_r.device)

    def scatter(self, values: torch.Tensor, fill: float | bool) -> torch.Tensor:
        out = torch.full(self.shape, fill, dtype=values.dtype, device=values.device)
        out[self.idx_r, self.idx_t] = values
        return out

    def gather(self, full: torch.Tensor) -> torch.Tensor:
        return full[self.idx_r, self.idx_t]


def _parabolic_offset(left: torch.Tensor, mid: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex offset in [-1, 1] of the parabola through three equally spaced points (0 if flat)."""
    den = left - 2.0 * mid + right
    off = 0.5 * (left - right) / torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, off, torch.zeros_like(off)).clamp(-1.0, 1.0)


def _candidates(dprime: torch.Tensor, tau_min: int, tau_max: int, threshold: float,
                n_dips: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Period candidates of each frame from its CMND ``(N, n_lags)``.

    The ``n_dips`` lowest local minima of ``d'`` strictly inside ``(tau_min, tau_max)`` plus
    YIN's own choice (step 3: the first dip below ``max(threshold, min d' + DIP_MARGIN)``,
    followed down to its local minimum) when it is another one. Returns
    ``(period, value, global_min)``: parabolically interpolated periods in samples and the
    interpolated ``d'`` at them, ``(N, n_dips + 1)`` (value ``inf`` = no candidate), the
    lowest ``d'`` in the lag range ``(N,)``, and ``(N, n_dips + 1)`` bool: the candidate is
    YIN's choice under the absolute threshold.
    """
    d = dprime[:, tau_min - 2:tau_max + 1]              # column j is lag j + 1
    mid, left, right = d[:, 1:-1], d[:, :-2], d[:, 2:]
    is_min = (mid <= left) & (mid < right)
    is_min[:, 0] = False
    is_min[:, -1] = False
    glob = mid.amin(dim=-1, keepdim=True)
    # the n_dips lowest local minima: repeated argmin over the minima (cheaper than topk)
    score = torch.where(is_min, mid, math.inf)
    picks = []
    for _ in range(min(n_dips, mid.shape[-1])):
        j = score.argmin(dim=-1, keepdim=True)
        picks.append(j)
        score.scatter_(1, j, math.inf)
    idx = torch.cat(picks, dim=-1)
    # YIN's step 3: the first local minimum at or after the first lag below the absolute
    # threshold (there is one iff the global minimum is below it), else below the relative
    # threshold (global minimum + DIP_MARGIN)
    strict = glob < threshold
    below = mid < torch.where(strict, threshold, glob + DIP_MARGIN)
    first = below.view(torch.uint8).argmax(dim=-1, keepdim=True)
    lags = torch.arange(mid.shape[-1], device=mid.device)
    yin_pick = (is_min.view(torch.uint8) * (lags >= first)).argmax(dim=-1, keepdim=True)
    same = idx == yin_pick
    dup = same.any(dim=-1, keepdim=True)
    idx = torch.cat([idx, yin_pick], dim=-1)
    ok = is_min.gather(1, idx)
    ok[:, -1:] &= ~dup
    # the strict YIN choice earns a bonus in the path search, on whichever column holds it
    chosen = torch.cat([same, ~dup], dim=-1) & strict & ok
    lv, mv, rv = left.gather(1, idx), mid.gather(1, idx), right.gather(1, idx)
    off = _parabolic_offset(lv, mv, rv)
    value = torch.where(ok, (mv - 0.25 * (lv - rv) * off).clamp_min(0.0), math.inf)
    period = (idx + tau_min).to(dprime.dtype) + off
    return period, value, glob[:, 0], chosen


def _viterbi(grid: _Grid, live: torch.Tensor, strength: torch.Tensor, logf: torch.Tensor,
             jump_cost: float, vuv_cost: float) -> torch.Tensor:
    """Best path through the candidates, Praat's path finder, batched over segments.

    ``strength (N, K)``: state 0 unvoiced, states ``1..`` voiced candidates (``-inf`` = none);
    ``logf (N, K)``: their log2 frequency (``NaN`` for state 0). Segments are runs of ``live``
    grid frames; the frames around a segment are unvoiced for sure, so entering and leaving
    voicing at a segment edge costs ``vuv_cost``. Returns the chosen state per compact frame
    (0 outside the segments). The loop runs over positions within a segment, all segments at
    once (the longest first), so its length is that of the longest segment.
    """
    dev = strength.device
    n_states = strength.shape[-1]
    state = torch.zeros(strength.shape[0], dtype=torch.long, device=dev)
    s_row, s_first, s_last = _runs(live)
    n_seg = s_row.numel()
    if n_seg == 0:
        return state
    lens = s_last - s_first + 1
    order = torch.argsort(lens, descending=True, stable=True)
    s_row, s_first, lens = s_row[order], s_first[order], lens[order]
    l_max = int(lens[0].item())
    # counts[p] = number of segments longer than p (a prefix, as they are sorted)
    counts_t = torch.bincount(lens, minlength=l_max + 1).flip(0).cumsum(0).flip(0)[1:]
    counts = counts_t.tolist()
    offsets = [0, *torch.cumsum(counts_t, 0).tolist()]
    # compact frame index of (segment s, position p), laid out position-major
    seg_of = torch.repeat_interleave(torch.arange(n_seg, device=dev), lens)
    start = torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)
    p_of = torch.arange(seg_of.numel(), device=dev) - start
    offs = torch.tensor(offsets[:-1], device=dev)
    slot = offs[p_of] + seg_of
    frame = grid.index[s_row[seg_of], s_first[seg_of] + p_of]
    flat = torch.empty_like(frame)
    flat[slot] = frame
    # the predecessor of (segment s, position p) is (s, p - 1); position 0 has none
    prev = torch.empty_like(frame)
    prev_frame = torch.where(p_of > 0, grid.index[s_row[seg_of], s_first[seg_of] + p_of - 1],
                             frame)
    prev[slot] = prev_frame
    # transition costs into every frame from its predecessor (vectorised once)
    lp, lc = logf[prev], logf[flat]
    vp = torch.isfinite(lp)[:, :, None]
    vc = torch.isfinite(lc)[:, None, :]
    jump = torch.nan_to_num((lp[:, :, None] - lc[:, None, :]).abs(), nan=0.0)
    cost = torch.where(vp & vc, jump_cost * jump, torch.where(vp ^ vc, vuv_cost, 0.0))
    gain = strength[flat]
    edge = torch.where(torch.arange(n_states, device=dev) > 0, -vuv_cost, 0.0).to(strength.dtype)

    delta = gain[:counts[0]] + edge
    final = torch.zeros(n_seg, dtype=torch.long, device=dev)
    psis: list[torch.Tensor] = []
    for p in range(1, l_max):
        m, m_prev = counts[p], counts[p - 1]
        if m < m_prev:   # segments of length p end at p - 1
            final[m:m_prev] = (delta[m:m_prev] + edge).argmax(dim=-1)
        a, b = offsets[p], offsets[p + 1]
        best, arg = (delta[:m, :, None] - cost[a:b]).max(dim=1)
        delta = best + gain[a:b]
        psis.append(arg)
    m_last = counts[l_max - 1]
    final[:m_last] = (delta[:m_last] + edge).argmax(dim=-1)
    st = final
    for p in range(l_max - 1, 0, -1):
        m = counts[p]
        state[flat[offsets[p]:offsets[p + 1]]] = st[:m]
        st = torch.cat([psis[p - 1].gather(1, st[:m, None])[:, 0], st[m:]])
    state[flat[:offsets[1]]] = st
    return state


# --------------------------------------------------------------------------- YIN


def yin(
    y: torch.Tensor,
    sr: int,
    *,
    fmin: float = 75.0,
    fmax: float = 600.0,
    hop_length: int | None = None,
    frame_length: int | None = None,
    threshold: float = 0.1,
    mask: torch.Tensor | None = None,
    voicing_threshold: float = 0.5,
    silence_threshold: float = 0.03,
    octave_cost: float = 0.01,
    octave_jump_cost: float = 0.35,
    voiced_unvoiced_cost: float = 0.14,
    n_candidates: int = 3,
) -> PitchTrack:
    """F0 track by YIN on the 10 ms analysis grid, batched over frames and leading axes.

    Args:
        y: waveform ``(..., n_samples)``, full scale; shorter signals of a batch zero-padded.
        sr: sample rate in Hz.
        fmin: lowest F0 searched, Hz (the longest lag is ``tau_max = ceil(sr / fmin)``).
        fmax: highest F0 searched, Hz (the shortest lag is ``max(2, floor(sr / fmax))``).
        hop_length: grid step in samples; default ``sr // 100`` (10 ms).
        frame_length: samples per analysis frame, centred on the grid frame: the integration
            window ``W = frame_length - tau_max - 2`` plus the longest lag. Default: the largest
            that fits the power-of-two FFT of the shortest possible frame,
            ``next_pow2(2 tau_max + 2)`` (``W`` ~ 1.4 longest periods, 18 ms at 75 Hz).
        threshold: YIN's absolute threshold on the CMND (step 3); its dip is always a candidate.
        mask: ``(..., T)`` bool, frames worth analysing (e.g. voice activity); frames outside
            are not computed and come back unvoiced with ``NaN`` aperiodicity.
        voicing_threshold: CMND level of Praat's voicing threshold: the unvoiced candidate's
            strength is ``1 - voicing_threshold`` (plus the silence term).
        silence_threshold: frames whose peak is below this fraction of the row's peak are
            unvoiced (and not analysed); quiet frames above it get a higher unvoiced strength,
            as in Praat.
        octave_cost: per octave above ``fmin``, subtracted from a candidate's strength. Praat
            favours high candidates (its cost is per octave below the ceiling); YIN's CMND
            already favours the short lags of sub-multiples of the period (more so in
            telephone-band speech without the fundamental), so here the preference is reversed.
        octave_jump_cost: per octave of F0 change between voiced neighbours (path cost).
        voiced_unvoiced_cost: per voiced/unvoiced transition (path cost).
        n_candidates: lowest CMND dips per frame entering the path search (plus YIN's choice).

    Returns:
        :class:`PitchTrack` with fields of shape ``(..., T)``, ``T = ceil(n_samples / hop_length)``.

    Raises:
        ValueError: for an empty lag range, a too short ``frame_length`` or ``hop_length <= 0``.
    """
    y = F.as_tensor(y, device=y.device if isinstance(y, torch.Tensor) else None)
    hop, _, _, frame_length = _yin_sizes(sr, fmin, fmax, hop_length, frame_length)
    lead = tuple(y.shape[:-1])
    n = y.shape[-1]
    n_t = F.grid_frames(n, hop)
    rows = y.reshape(math.prod(lead), n)
    if mask is not None:
        mask = torch.as_tensor(mask, device=y.device).to(torch.bool).expand(*lead, n_t)
        mask = mask.reshape(rows.shape[0], n_t)
    sig = F.PaddedRows(rows, frame_length + hop)
    track = yin_padded(sig, sr, fmin=fmin, fmax=fmax, hop_length=hop, frame_length=frame_length,
                       threshold=threshold, mask=mask, voicing_threshold=voicing_threshold,
                       silence_threshold=silence_threshold, octave_cost=octave_cost,
                       octave_jump_cost=octave_jump_cost,
                       voiced_unvoiced_cost=voiced_unvoiced_cost, n_candidates=n_candidates)
    return PitchTrack(*(t.reshape(*lead, n_t) for t in track))


def _yin_sizes(sr: int, fmin: float, fmax: float, hop_length: int | None,
               frame_length: int | None) -> tuple[int, int, int, int]:
    """``(hop, tau_min, tau_max, frame_length)`` in samples, validated (see :func:`yin`)."""
    if not 0 < fmin < fmax:
        raise ValueError(f"yin: need 0 < fmin < fmax, got fmin={fmin}, fmax={fmax}")
    hop = int(hop_length) if hop_length is not None else sr // 100
    if hop <= 0:
        raise ValueError(f"yin: hop_length must be > 0, got {hop}")
    tau_max = int(math.ceil(sr / fmin))
    tau_min = max(2, int(math.floor(sr / fmax)))
    if tau_min + 2 > tau_max:
        raise ValueError(f"yin: empty lag range for fmin={fmin}, fmax={fmax} at sr={sr}")
    if frame_length is None:
        frame_length = _next_pow2(2 * tau_max + 2)
    if int(frame_length) - tau_max - 2 < 2:
        raise ValueError(f"yin: frame_length={frame_length} too short for fmin={fmin} Hz "
                         f"(need more than {tau_max + 3} samples)")
    return hop, tau_min, tau_max, int(frame_length)


def yin_padded(
    sig: F.PaddedRows,
    sr: int,
    *,
    fmin: float = 75.0,
    fmax: float = 600.0,
    hop_length: int | None = None,
    frame_length: int | None = None,
    threshold: float = 0.1,
    mask: torch.Tensor | None = None,
    voicing_threshold: float = 0.5,
    silence_threshold: float = 0.03,
    octave_cost: float = 0.01,
    octave_jump_cost: float = 0.35,
    voiced_unvoiced_cost: float = 0.14,
    n_candidates: int = 3,
) -> PitchTrack:
    """:func:`yin` of rows already mean-removed and padded (shared with the voice stage).

    ``sig`` holds ``R`` rows; ``mask`` is ``(R, T)`` (or broadcasts to it); the track's
    fields have shape ``(R, T)``. The arguments are those of :func:`yin`. Rows with too
    little padding for the analysis frames are padded again first.
    """
    hop, tau_min, tau_max, frame_length = _yin_sizes(sr, fmin, fmax, hop_length, frame_length)
    win = frame_length - tau_max - 2
    n_lags = tau_max + 2
    if not sig.fits_grid(frame_length, hop):
        sig = sig.repad(frame_length + hop)
    rows = sig.x
    n_rows, n = rows.shape
    n_t = F.grid_frames(n, hop)
    dev = rows.device
    f0 = torch.full((n_rows, n_t), math.nan, dtype=rows.dtype, device=dev)
    voiced = torch.zeros((n_rows, n_t), dtype=torch.bool, device=dev)
    aper = torch.full((n_rows, n_t), math.nan, dtype=rows.dtype, device=dev)
    if n_t == 0 or n_rows == 0:
        return PitchTrack(f0, voiced, aper)

    gpeak = sig.peak                                          # Praat's global peak
    if mask is None:
        sel = torch.ones((n_rows, n_t), dtype=torch.bool, device=dev)
    else:
        sel = torch.as_tensor(mask, device=dev).to(torch.bool).expand(n_rows, n_t).clone()
    # the frame's intensity is its peak over the central longest period relative to the row's
    # peak (Praat's local/global peak), reduced from the strided frame view for every grid
    # frame; frames below the silence threshold are unvoiced whatever their periodicity
    # (Praat), so only the others are analysed
    half = tau_max // 2 + 1
    c0, c1 = max(0, frame_length // 2 - half), min(frame_length, frame_length // 2 + half)
    frames = sig.grid(frame_length, hop)                      # (R, T, L) strided view
    central = frames[..., c0:c1]
    peak = torch.maximum(central.amax(dim=-1), -central.amin(dim=-1))
    intensity_all = (peak / gpeak.clamp_min(torch.finfo(rows.dtype).tiny)[:, None]).clamp(max=1.0)
    sel &= (gpeak > 0)[:, None] & (intensity_all >= silence_threshold)
    idx_r, idx_t = torch.nonzero(sel, as_tuple=True)
    n_sel = idx_r.numel()
    if n_sel == 0:
        return PitchTrack(f0, voiced, aper)

    # steps 1-4 and the candidates, chunk by chunk (cache-sized)
    n_c = n_candidates + 1
    period = torch.empty((n_sel, n_c), dtype=rows.dtype, device=dev)
    value = torch.empty((n_sel, n_c), dtype=rows.dtype, device=dev)
    dmin = torch.empty(n_sel, dtype=rows.dtype, device=dev)
    chosen = torch.empty((n_sel, n_c), dtype=torch.bool, device=dev)
    chunk = F.chunk_frames(dev)                               # bounded memory, cache-sized
    for a in range(0, n_sel, chunk):
        b = min(a + chunk, n_sel)
        fr = sig.take_frames(idx_r[a:b], idx_t[a:b], hop // 2 - frame_length // 2,
                             frame_length, hop)
        period[a:b], value[a:b], dmin[a:b], chosen[a:b] = _candidates(
            _cmnd(fr, win, n_lags), tau_min, tau_max, threshold, n_candidates)
    intensity = intensity_all[idx_r, idx_t]

    # strengths as in Praat's path finder, with 1 - d' in place of the correlation
    vt = 1.0 - voicing_threshold
    unvoiced = vt + (2.0 - intensity / (silence_threshold / (1.0 + vt))).clamp_min(0.0)
    freq = sr / period.clamp_min(1.0)
    s_voiced = 1.0 - value - octave_cost * torch.log2(freq / fmin) + YIN_BONUS * chosen
    s_voiced = torch.where(torch.isfinite(value), s_voiced, torch.full_like(s_voiced, -math.inf))
    strength = torch.cat([unvoiced[:, None], s_voiced], dim=-1)
    logf = torch.cat([torch.full_like(unvoiced[:, None], math.nan),
                      torch.where(torch.isfinite(value), torch.log2(freq),
                                  torch.full_like(freq, math.nan))], dim=-1)
    # frames where unvoicedness wins whatever the neighbours do split the path search
    certain = (unvoiced - s_voiced.amax(dim=-1) > 2.0 * voiced_unvoiced_cost) | (
        intensity < silence_threshold)
    grid = _Grid(idx_r, idx_t, n_rows, n_t)
    live = grid.scatter(~certain, False)
    state = _viterbi(grid, live, strength, logf, octave_jump_cost, voiced_unvoiced_cost)
    state = torch.where(certain, torch.zeros_like(state), state)

    is_voiced = state > 0
    pick = (state - 1).clamp_min(0)[:, None]
    f_best = freq.gather(1, pick)[:, 0]
    ap = torch.where(is_voiced, value.gather(1, pick)[:, 0], dmin)
    f0[idx_r, idx_t] = torch.where(is_voiced, f_best, torch.full_like(f_best, math.nan))
    voiced[idx_r, idx_t] = is_voiced
    aper[idx_r, idx_t] = ap.clamp_min(0.0)
    return PitchTrack(f0, voiced, aper)


def pitch_stats(track: PitchTrack, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, variance and range of F0 over the voiced frames in ``mask``, per row.

    Args:
        track: a :class:`PitchTrack` with fields ``(..., T)``.
        mask: ``(..., T)`` bool, frames to include (e.g. the frames a speaker owns); default all.

    Returns:
        ``(mean_hz, variance_hz2, range_hz)``, float64 tensors of shape ``(...)``: the mean F0
        in Hz, its population variance in Hz^2 (``ddof=0``) and ``range = p95 - p5`` in Hz
        (percentiles with linear interpolation, NumPy's default). All three are ``NaN`` for a
        row with no voiced frame in ``mask``: F0 is undefined without periodic frames, and a
        stand-in such as 0 Hz would be a false measurement that biases averages across calls.
    """
    sel = track.voiced & torch.isfinite(track.f0)
    if mask is not None:
        sel = sel & torch.as_tensor(mask, device=sel.device).to(torch.bool)
    f = torch.where(sel, track.f0.double(), torch.full_like(track.f0, math.nan,
                                                            dtype=torch.float64))
    count = sel.sum(dim=-1)
    zero = torch.zeros_like(f)
    mean = torch.where(sel, f, zero).sum(dim=-1) / count.clamp_min(1)
    var = torch.where(sel, (f - mean[..., None]).square(), zero).sum(dim=-1) / count.clamp_min(1)
    nan = torch.full_like(mean, math.nan)
    if f.shape[-1] > 0:
        q = torch.nanquantile(f, torch.tensor([0.05, 0.95], dtype=f.dtype, device=f.device),
                              dim=-1)
        rng = q[1] - q[0]
    else:
        rng = nan
    none = count == 0
    return (torch.where(none, nan, mean), torch.where(none, nan, var),
            torch.where(none, nan, rng))
