"""Voice quality as Praat defines it: glottal pulses, jitter (local), shimmer (local), HNR (cc).

All functions take a waveform ``y`` of shape ``(..., n_samples)`` (every leading axis is a batch
axis, e.g. ``(channels, n)``) and, where needed, a :class:`~callquality.features.pitch.PitchTrack`
on the shared 10 ms analysis grid. They are device-agnostic torch code; nothing is moved to the
CPU before the final per-row summaries.

Definitions (Praat 6.1.38, the version bundled with parselmouth; ``fon/Pitch_to_PointProcess.cpp``,
``fon/VoiceAnalysis.cpp``, ``fon/AmplitudeTier.cpp``, ``fon/PointProcess.cpp``,
``fon/Sound_to_Harmonicity.cpp``, ``fon/Sound_to_Pitch.cpp``):

**Glottal pulses** (:func:`glottal_pulses`, Praat's ``Sound & Pitch: To PointProcess (cc)``).
For each voiced stretch (a run of voiced frames; each frame counts as voiced over its whole
10 ms), the first pulse is the largest absolute waveform extremum (parabolically interpolated)
within half a period of the stretch's midpoint. From there pulses are walked to the left and to
the right: from a pulse at ``t`` with local period ``T = 1 / F0(t)`` (F0 linearly interpolated
between frame centres; undefined when the nearest frame is unvoiced, which ends the walk) the
next pulse is where the ``T``-long window around ``t`` correlates best (normalised
cross-correlation, first highest local maximum, parabolic interpolation) with a ``T``-long
window centred between ``0.8 T`` and ``1.25 T`` away. A pulse is kept when its correlation
exceeds 0.3 and its window peak exceeds 1 % of the signal's absolute peak; the walk stops at the
first pulse beyond the stretch, which is kept only if its correlation exceeds 0.7 and its peak
2.3333 % of the absolute peak. A leftward pulse within ``0.8 T`` of a pulse added by the previous
stretch's rightward walk is dropped (no double filling of short unvoiced gaps).

**Jitter (local)** = mean ``|T_i - T_{i-1}|`` over consecutive interval pairs whose intervals
both lie in ``[0.0001, 0.02]`` s and differ by a factor <= 1.3, divided by the mean period (mean
of the intervals in ``[0.0001, 0.02]`` s that do not differ by more than a factor 1.3 from *both*
neighbours). Fraction, not percent. Undefined (``NaN``) with no valid pair, i.e. fewer than three
pulses or no two consecutive regular periods.

**Shimmer (local)**: each pulse whose two adjacent intervals form a valid pair (as for jitter)
gets an amplitude ``A_i`` = Hann-windowed RMS of the waveform from ``0.2 T_{i-1}`` before to
``0.2 T_i`` after the pulse (Praat's ``PointProcess_Sound_to_AmplitudeTier_period``: an RMS, not
a peak-to-peak amplitude). Shimmer = mean ``|A_i - A_{i-1}|`` over consecutive amplitudes no
more than 0.02 s apart (and at least 0.0001 s) whose ratio is <= 1.6, divided by the mean
amplitude (all amplitudes but the last, as Praat). Fraction, not percent. ``NaN`` with fewer
than three pulses or no valid amplitude pair.

**HNR** (:func:`harmonicity_cc`, Praat's ``Sound: To Harmonicity (cc)``, time step 0.01 s, pitch
floor 75 Hz, silence threshold 0.1, 1 period per window): per frame, the forward normalised
cross-correlation ``r(tau)`` of a ``1 / floor`` window with the window ``tau`` samples later
(local mean removed) for lags up to one floor period; the strength is the highest local maximum
(refined by windowed-sinc interpolation; values above 1 reflected as ``1 / r``). A frame is
*sounding* when that strength exceeds ``max(0, 2 - intensity / 0.1)``, where ``intensity`` is the
frame's peak over the signal's peak (both after mean removal); frames quieter than 10 % of the
peak are never sounding. HNR = ``10 log10(r / (1 - r))`` dB (clamped to +-150 dB as Praat). The
mean over sounding frames is Praat's ``Harmonicity: Get mean``.

Documented deviations from Praat:

* Pulses follow *our* YIN track (:func:`callquality.features.pitch.yin`), not Praat's
  ``To Pitch (ac)``; voiced stretches therefore start and end a frame or so differently.
* The waveform's row mean is removed first (Praat does not), so a DC offset cannot bias the
  extremum choice or the correlations; on DC-free audio this changes nothing.
* HNR frames lie on our 10 ms grid (centres ``(t + 0.5) * 10 ms``) instead of Praat's grid
  centred on the sound, and near the signal edges we zero-pad where Praat shifts the window.
* HNR candidates are ranked by their parabolic peak height and only the best is refined: the
  windowed-sinc interpolation Praat uses (same kernel, depth ``sinc_depth`` = 16 samples each
  side, 64 where ``r > 0.99``, Praat up to 700) is maximised through three points and their
  parabola instead of Brent's method. Where the full depth fits, the kernel is read from a
  table computed in float64 at 1/4096-sample steps and linearly interpolated (within 1e-7). On the fixture speech the mean HNR differs from Praat's by
  0.04 dB (median); above ~30 dB (``1 - r < 0.001``) the figure resolves the fourth decimal of
  ``r`` and the two interpolations can differ by 1-2 dB.
* Only the 10 ms frames inside ``mask`` are analysed for HNR (Praat: all frames).
* A ``mask`` (frames owned by the speaker) removes frames from the pitch track before the pulses
  are placed and from the HNR frames; Praat has no such notion.

Pooling: :func:`voice_quality` returns, with each measure, the sums and counts it is made of, and
:func:`pool` combines any number of such dicts (channels of a call, chunks of a long call) into
the measure Praat would give for the concatenated pulse sets (pairs never straddle two parts).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import torch

from . import functional as F
from .pitch import PitchTrack, frame_xcorr

__all__ = [
    "Pulses",
    "glottal_pulses",
    "harmonicity_cc",
    "jitter_local",
    "pool",
    "shimmer_local",
    "signal_pad",
    "voice_quality",
    "voice_quality_padded",
]

#: Praat's usual arguments for jitter and shimmer (shortest, longest period in s; factors).
SHORTEST_PERIOD = 0.0001
LONGEST_PERIOD = 0.02
MAX_PERIOD_FACTOR = 1.3
MAX_AMPLITUDE_FACTOR = 1.6

#: Steps per sample of the tabulated interpolation kernel of the HNR peak refinement.
_SINC_STEPS = 4096
#: Chains per block of a pulse-walk step on CPU (cache-friendly, and tight array sizes); on a
#: GPU all chains form one block.
_WALK_BLOCK = 512

_SUM_KEYS = ("jitter_sum_abs_diff", "jitter_n_pairs", "period_sum", "n_periods",
             "shimmer_sum_abs_diff", "shimmer_n_pairs", "amplitude_sum", "n_amplitudes",
             "hnr_sum_db", "n_hnr_frames", "n_pulses")


class Pulses(NamedTuple):
    """Glottal pulses of a batch, flattened: pulse ``k`` belongs to row ``row[k]``.

    Rows index the flattened leading axes of the waveform (``y.reshape(-1, n)``); pulses are
    sorted by row, then time. ``position`` is in samples (float64; sample ``i`` at ``i``),
    ``time`` in seconds (``position / sr``).
    """

    row: torch.Tensor
    position: torch.Tensor
    time: torch.Tensor


# --------------------------------------------------------------------------- helpers


def _rows(y: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    y = F.as_tensor(y, device=y.device if isinstance(y, torch.Tensor) else None)
    lead = tuple(y.shape[:-1])
    return y.reshape(math.prod(lead), y.shape[-1]), lead


def signal_pad(sr: int) -> int:
    """Zero padding (samples) the voice analyses need around the rows: 4 periods at 50 Hz + 64."""
    return 4 * int(math.ceil(sr / 50.0)) + 64


def _signal(rows: torch.Tensor, sr: int) -> F.PaddedRows:
    """The analysed rows ``(R, n)``, mean removed, zero-padded once for every window view."""
    return F.PaddedRows(rows, signal_pad(sr))


def _row_mask(mask: torch.Tensor | None, lead: tuple[int, ...], n_t: int,
              device: torch.device) -> torch.Tensor | None:
    if mask is None:
        return None
    m = torch.as_tensor(mask, device=device).to(torch.bool)
    if m.shape[-1] != n_t:
        raise ValueError(f"mask has {m.shape[-1]} frames, the analysis grid has {n_t}")
    return m.expand(*lead, n_t).reshape(math.prod(lead), n_t)


class _F0Lookup:
    """Praat's ``Pitch_getValueAtTime`` (linear) on a frame track, for sample positions.

    ``NaN`` when the nearest frame is unvoiced or off the grid; the nearest frame's value when
    the other neighbour is unvoiced; otherwise linear interpolation between frame centres.
    Each half of the interval between two frame centres gets its nearest value and slope
    once, so a lookup is one gather of both and ``near + phase * slope``.
    """

    def __init__(self, f0: torch.Tensor, hop: int) -> None:
        self.n_t = f0.shape[-1]
        self.hop = hop
        fp = torch.nn.functional.pad(f0, (1, 2), value=math.nan)       # frames -1 .. n_t + 1
        a, b = fp[:, :-1], fp[:, 1:]                     # interval k (-1 .. n_t): k and k + 1
        # half 0 (nearer frame k) and half 1 (nearer frame k + 1): (near value, far - near),
        # the slope 0 where the far frame is unvoiced
        near = torch.stack([a, b], dim=-1)
        slope = torch.stack([b - a, a - b], dim=-1)
        slope = torch.where(torch.isfinite(torch.stack([b, a], dim=-1)), slope, 0.0)
        self.width = 2 * (self.n_t + 2)
        self.table = torch.stack([near, slope], dim=-1).reshape(-1, 2)  # (R * width, 2)

    def __call__(self, row: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        real = pos / self.hop - 0.5
        left = torch.floor(real)
        frac = real - left
        upper = frac >= 0.5                                              # nearer frame k + 1
        phase = torch.where(upper, 1.0 - frac, frac)
        half = (left.long().clamp(-1, self.n_t) + 1) * 2 + upper
        near, slope = self.table.index_select(0, row * self.width + half).unbind(-1)
        return near + phase * slope


def _runs(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs of ``True`` in ``v (R, T)``: ``(row, first, last)`` (inclusive), in row-time order."""
    pad = torch.nn.functional.pad(v.to(torch.int8), (1, 1))
    dv = pad[:, 1:] - pad[:, :-1]
    r0, s = torch.nonzero(dv == 1, as_tuple=True)
    _, e = torch.nonzero(dv == -1, as_tuple=True)
    return r0, s, e - 1


def _segment_max_exclusive(values: torch.Tensor, row: torch.Tensor, n: int) -> torch.Tensor:
    """For items sorted by row, with values in ``[-n, 2n]`` or ``-inf``: the max of ``values``
    over *earlier* items of the same row (``-inf`` if none)."""
    out = torch.full_like(values, -math.inf)
    if values.numel() == 0:
        return out
    floor = -2.0 * n - 8.0
    span = 4.0 * n + 16.0                   # row offsets keep a running max inside its row
    v = torch.where(torch.isfinite(values), values, torch.full_like(values, floor))
    cm = torch.cummax(v + row.to(values.dtype) * span, dim=0).values
    prev = torch.cat([cm.new_full((1,), -math.inf), cm[:-1]]) - row.to(values.dtype) * span
    return torch.where(prev > floor + 1.0, prev, out)


# --------------------------------------------------------------------------- pulses


def _find_extremum(sig: F.PaddedRows, row: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                   width: int) -> torch.Tensor:
    """Praat's ``Sound_findExtremum`` (maxima and minima): position of the largest |value| in
    samples ``[floor(lo), ceil(hi)]`` with parabolic interpolation (not at the window ends)."""
    n = sig.n
    if width > sig.pad:     # windows must not run past the padding
        sig = sig.repad(width)
    i0 = torch.floor(lo).long().clamp(0, n - 1)
    i1 = torch.ceil(hi).long().clamp(0, n - 1)
    cnt = (i1 - i0 + 1).clamp_min(0)
    k = torch.arange(width, device=row.device)
    inside = k[None, :] < cnt[:, None]
    vals = sig.take(row, i0, width)                     # zeros past the end (the padding)
    big = torch.finfo(vals.dtype).max
    vmax_in = torch.where(inside, vals, torch.full_like(vals, -big))
    vmin_in = torch.where(inside, vals, torch.full_like(vals, big))
    imax = vmax_in.argmax(dim=-1)
    imin = vmin_in.argmin(dim=-1)
    vmax = vmax_in.gather(1, imax[:, None])[:, 0]
    vmin = vmin_in.gather(1, imin[:, None])[:, 0]
    iext = torch.where(vmin.abs() > vmax.abs(), imin, imax)
    interior = (iext > 0) & (iext < cnt - 1)
    left = vals.gather(1, (iext - 1).clamp_min(0)[:, None])[:, 0]
    mid = vals.gather(1, iext[:, None])[:, 0]
    right = vals.gather(1, (iext + 1).clamp(max=width - 1)[:, None])[:, 0]
    den = 2 * mid - left - right
    off = 0.5 * (right - left) / torch.where(den != 0, den, torch.ones_like(den))
    off = torch.where(interior & (den != 0), off, torch.zeros_like(off))
    pos = i0.to(torch.float64) + iext.to(torch.float64) + off.to(torch.float64)
    # all equal: the middle; two samples: the larger |value| (1.5 on a tie)
    flat = vmax == vmin
    pos = torch.where(flat, i0.to(torch.float64) + 0.5 * (cnt - 1).to(torch.float64), pos)
    return torch.where(cnt > 0, pos, 0.5 * (lo + hi))


def glottal_pulses(
    y: torch.Tensor,
    sr: int,
    track: PitchTrack,
    mask: torch.Tensor | None = None,
    *,
    hop_length: int | None = None,
) -> Pulses:
    """Glottal pulse times, Praat's ``To PointProcess (periodic, cc)`` on our F0 track.

    Args:
        y: waveform ``(..., n_samples)``, full scale.
        sr: sample rate in Hz.
        track: :class:`PitchTrack` of ``y`` (fields ``(..., T)``) on the grid of ``hop_length``.
        mask: optional ``(..., T)`` bool; frames outside it count as unvoiced.
        hop_length: grid step in samples, default ``sr // 100``.

    Returns:
        :class:`Pulses` (row, position in samples, time in s), sorted by row then time. See the
        module docstring for the algorithm. Rows without voiced frames have no pulses.
    """
    rows, lead = _rows(y)
    hop = int(hop_length) if hop_length is not None else sr // 100
    sig = _signal(rows, sr)
    return _pulses(sig, sr, hop, _usable_f0(track, lead, mask, rows.device))


def _usable_f0(track: PitchTrack, lead: tuple[int, ...], mask: torch.Tensor | None,
               device: torch.device) -> torch.Tensor:
    f0 = torch.as_tensor(track.f0, device=device).to(torch.float64)
    n_t = f0.shape[-1]
    f0 = f0.expand(*lead, n_t).reshape(math.prod(lead), n_t)
    voiced = torch.as_tensor(track.voiced, device=device).to(torch.bool)
    voiced = voiced.expand(*lead, n_t).reshape(math.prod(lead), n_t)
    ok = voiced & torch.isfinite(f0) & (f0 > 0)
    m = _row_mask(mask, lead, n_t, device)
    if m is not None:
        ok &= m
    return torch.where(ok, f0, torch.full_like(f0, math.nan))


@functools.lru_cache(maxsize=64)
def _arange(n: int, device: torch.device) -> torch.Tensor:
    """``torch.arange(n)`` on ``device``, cached (read-only use)."""
    return torch.arange(n, device=device)


def _walk_step(sig: F.PaddedRows, row: torch.Tensor, il1: torch.Tensor, n1: torch.Tensor,
               il2min: torch.Tensor, nl: torch.Tensor, p_max: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the pulse walks of a block of chains: the normalised cross-correlation of
    each chain's reference window (``n1`` samples from ``il1``) with the windows starting at
    ``il2min + k``, ``k < nl``; Praat's candidate choice.

    Returns ``(best, has, trio, peak)``: the chosen offset ``k`` (long; Praat's step ``k + 1``),
    whether there was a candidate, the correlations at ``k - 1, k, k + 1`` ``(M, 3)`` (zeros
    before the first offset, Praat's ring buffer) and the absolute peak of the chosen window.
    Arrays are sized for ``p_max``, the longest period (samples) in the block: ``n1 <=
    floor(T) + 2`` and ``nl <= ceil(0.45 T) + 2`` always, so nothing is clipped.
    """
    dev = row.device
    m = row.numel()
    n1_max = int(math.floor(p_max)) + 2                          # window samples
    nl_max = int(math.ceil(0.45 * p_max)) + 4                    # candidate offsets
    seg_len = n1_max + nl_max - 1
    nfft = 1 << (seg_len - 1).bit_length()
    kn = _arange(nfft, dev)
    k1, kl = kn[:n1_max], kn[:nl_max]
    # both windows are read nfft samples long: the FFT needs no zero padding (the reference
    # is masked beyond its length, and samples of the other window past seg_len only meet
    # those zeros at the offsets kept), so one gather serves both
    both = sig.take(torch.cat([row, row]), torch.cat([il2min, il1]), nfft)
    both[m:] *= kn < n1[:, None]                                 # the reference window
    seg, ref = both[:m], both[m:]
    spec = torch.fft.rfft(seg, dim=-1)
    spec *= torch.fft.rfft(ref, dim=-1).conj_physical_()
    cc = torch.fft.irfft(spec, n=nfft, dim=-1)[:, :nl_max]
    cs = seg.new_empty((m, seg_len + 1))                         # cs[:, j]: energy of 0..j-1
    cs[:, 0] = 0.0
    torch.cumsum(seg[:, :seg_len].square(), dim=-1, out=cs[:, 1:])
    norm2 = cs.gather(1, kl + n1[:, None]) - cs[:, :nl_max]
    den = norm2 * ref.square().sum(dim=-1, keepdim=True)
    # Praat's ring buffer of three correlations starts with two zeros; the value at
    # offset p - 1 is a candidate at step p when it is >= both neighbours
    e = seg.new_empty((m, nl_max + 2))
    e[:, :2] = 0.0
    rr = e[:, 2:]
    torch.mul(cc, den.clamp_min(1e-30).rsqrt(), out=rr)
    rr.masked_fill_(~(den > 0), 0.0)
    val = e[:, 1:nl_max + 1]
    cand = (val >= e[:, :nl_max]) & (val >= e[:, 2:]) & (kl < nl[:, None])
    best = torch.where(cand, val, -math.inf).argmax(dim=-1, keepdim=True)
    has = cand.gather(1, best)[:, 0]
    trio = e.gather(1, best + kn[:3])                            # r1, r2, r3
    wpk = seg.gather(1, best + k1).abs()
    peak = torch.where(k1 < n1[:, None], wpk, 0.0).amax(dim=-1)
    return best[:, 0], has, trio, peak


def _pulses(sig: F.PaddedRows, sr: int, hop: int, f0: torch.Tensor) -> Pulses:
    x = sig.x
    dev = x.device
    n_rows, n = x.shape
    empty = torch.zeros(0, dtype=torch.long, device=dev)
    none = Pulses(empty, empty.to(torch.float64), empty.to(torch.float64))
    if n == 0 or n_rows == 0:
        return none
    s_row, s_first, s_last = _runs(torch.isfinite(f0))
    n_str = s_row.numel()
    if n_str == 0:
        return none
    f0_at = _F0Lookup(f0, hop)
    gpeak = sig.peak                                             # Praat: absolute extremum
    tleft = (s_first * hop).to(torch.float64)
    tright = torch.clamp(((s_last + 1) * hop).to(torch.float64), max=float(n))
    tmid = 0.5 * (tleft + tright)
    f0mid = f0_at(s_row, tmid)
    t_max = sr / float(torch.nan_to_num(f0, nan=math.inf).amin().item())   # longest period
    anchor = _find_extremum(sig, s_row, tmid - 0.5 * sr / f0mid, tmid + 0.5 * sr / f0mid,
                            int(math.ceil(t_max)) + 3)

    pad = sig.pad

    # two walks per stretch: chains [0, n_str) go left, [n_str, 2 n_str) go right; they are
    # walked in the order of their stretch's F0, so that blocks of them share a period range.
    # State per chain: (position, limit, direction +-1, offset of the search window in
    # periods) as float64 rows, (chain, row) as integer rows, filtered together
    chain = torch.argsort(torch.cat([f0mid, f0mid]).nan_to_num(nan=0.0), stable=True)
    left = chain < n_str
    fstate = torch.stack([torch.cat([anchor, anchor])[chain],
                          torch.cat([tleft, tright])[chain],
                          torch.where(left, -1.0, 1.0).to(torch.float64),
                          torch.where(left, -1.25, 0.8).to(torch.float64)])
    istate = torch.stack([chain, torch.cat([s_row, s_row])[chain]])
    rec: list[tuple[torch.Tensor, ...]] = []
    while istate.shape[1] > 0:
        pos, lim, sgn, off = fstate.unbind(0)
        chain, row = istate.unbind(0)
        f = f0_at(row, pos)
        ok = torch.isfinite(f)
        if not bool(ok.all()):
            fstate, istate, f = fstate[:, ok], istate[:, ok], f[ok]
            if istate.shape[1] == 0:
                break
            pos, lim, sgn, off = fstate.unbind(0)
            chain, row = istate.unbind(0)
        per = sr / f                                             # local period, samples
        half = 0.5 * per
        il1f = torch.round(pos - half)
        near = pos + off * per                                   # pos - 1.25 T or pos + 0.8 T
        il2f = torch.floor(near - half)
        # whole numbers in float64, exact: one conversion for the four
        il1, n1, il2min, nl = torch.stack([
            il1f, torch.round(pos + half) - il1f + 1.0, il2f,
            torch.ceil(near + 0.45 * per - half) - il2f + 1.0]).long().unbind(0)
        # the correlations, in blocks of chains with similar periods (chains are ordered by
        # their stretch's F0), each with arrays sized for its own longest period
        m = row.numel()
        block = _WALK_BLOCK if dev.type == "cpu" else m
        if m <= block:
            best, has, trio, peak = _walk_step(sig, row, il1, n1, il2min, nl,
                                               float(per.max()))
        else:
            parts = [_walk_step(sig, row[a:a + block], il1[a:a + block], n1[a:a + block],
                                il2min[a:a + block], nl[a:a + block],
                                float(per[a:a + block].max()))
                     for a in range(0, m, block)]
            best, has, trio, peak = (torch.cat(t) for t in zip(*parts, strict=True))
        # parabolic refinement of the chosen offset (no refinement where the curvature is 0)
        r1, mc, r3 = trio.double().unbind(1)
        d2r = 2.0 * mc - r1 - r3
        dr = 0.5 * (r3 - r1)
        q = dr / d2r.masked_fill(d2r == 0, math.inf)
        corr = torch.where(has, mc + 0.5 * dr * q, -1.0)
        new = pos + torch.where(has, (il2min - il1 + best - 1) + q, sgn * per)
        beyond = (new - lim) * sgn > 0                           # past the stretch's end
        added = (corr > torch.where(beyond, 0.7, 0.3)) & (
            (peak > torch.where(beyond, 0.023333, 0.01) * gpeak[row]) | ((peak == 0) & ~beyond))
        rec.append((chain, new, added, per))
        stay = ~beyond
        fstate = torch.stack([new, lim, sgn, off])[:, stay]
        istate = istate[:, stay]

    if rec:
        w_chain, w_pos, w_add, w_per = (torch.cat(t) for t in zip(*rec, strict=True))
    else:
        w_chain = empty
        w_pos = w_per = empty.to(torch.float64)
        w_add = empty.to(torch.bool)
    is_right = w_chain >= n_str
    stretch = torch.where(is_right, w_chain - n_str, w_chain)
    # last point added by each stretch's rightward walk, then "added by an earlier stretch"
    right_max = torch.full((n_str,), -math.inf, dtype=torch.float64, device=dev)
    sel = is_right & w_add
    right_max = right_max.scatter_reduce(0, stretch[sel], w_pos[sel], reduce="amax")
    added_before = _segment_max_exclusive(right_max, s_row, n)
    keep = w_add & (is_right | (w_pos - added_before[stretch] > 0.8 * w_per))

    p_row = torch.cat([s_row, s_row[stretch[keep]]])
    p_pos = torch.cat([anchor, w_pos[keep]])
    key = p_row.to(torch.float64) * (4.0 * n + 16.0 + 4.0 * pad) + p_pos
    order = torch.argsort(key, stable=True)
    p_row, p_pos, key = p_row[order], p_pos[order], key[order]
    if key.numel() > 1:   # Praat's PointProcess holds no duplicate times
        dup = torch.cat([torch.zeros(1, dtype=torch.bool, device=dev), key[1:] == key[:-1]])
        p_row, p_pos = p_row[~dup], p_pos[~dup]
    return Pulses(p_row, p_pos, p_pos / sr)


# --------------------------------------------------------------------------- jitter, shimmer


def _period_sums(pulses: Pulses, n_rows: int, pmin: float, pmax: float,
                 factor: float) -> dict[str, torch.Tensor]:
    """Per-row sums behind Praat's jitter (local) and mean period."""
    dev = pulses.row.device
    t, row = pulses.time, pulses.row
    z = torch.zeros(n_rows, dtype=torch.float64, device=dev)
    out = {"jitter_sum_abs_diff": z.clone(), "jitter_n_pairs": z.clone(),
           "period_sum": z.clone(), "n_periods": z.clone()}
    if t.numel() < 2:
        return out
    per = t[1:] - t[:-1]
    same = row[1:] == row[:-1]
    prow = row[:-1]
    in_range = same & (per >= pmin) & (per <= pmax) & (per > 0)
    # pairs of consecutive intervals
    if per.numel() >= 2:
        p1, p2 = per[:-1], per[1:]
        both = in_range[:-1] & in_range[1:] & same[:-1] & same[1:]
        ratio = torch.maximum(p1, p2) / torch.minimum(p1, p2).clamp_min(1e-300)
        valid = both & (ratio <= factor)
        out["jitter_sum_abs_diff"].index_add_(0, prow[:-1][valid], (p1 - p2).abs()[valid])
        out["jitter_n_pairs"].index_add_(0, prow[:-1][valid],
                                         torch.ones_like(p1)[valid])
    # PointProcess_isPeriod: in range and not off by more than `factor` from both neighbours
    prev_ok = torch.cat([torch.zeros(1, dtype=torch.bool, device=dev), same[:-1] & same[1:]])
    next_ok = torch.cat([same[:-1] & same[1:], torch.zeros(1, dtype=torch.bool, device=dev)])
    prev = torch.cat([per.new_ones(1), per[:-1]])
    nxt = torch.cat([per[1:], per.new_ones(1)])

    def off(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ratio = a / torch.where(b > 0, b, torch.ones_like(b))
        ratio = torch.where(ratio < 1.0, 1.0 / ratio.clamp_min(1e-300), ratio)
        return (b > 0) & (ratio > factor)

    reject = prev_ok & next_ok & off(per, prev) & off(per, nxt)
    is_period = in_range & ~reject
    out["period_sum"].index_add_(0, prow[is_period], per[is_period])
    out["n_periods"].index_add_(0, prow[is_period], torch.ones_like(per)[is_period])
    return out


def _amplitude_sums(sig: F.PaddedRows, sr: int, pulses: Pulses, n_rows: int, pmin: float,
                    pmax: float, factor: float, amp_factor: float) -> dict[str, torch.Tensor]:
    """Per-row sums behind Praat's shimmer (local): amplitude tier and its differences."""
    x = sig.x
    dev = x.device
    z = torch.zeros(n_rows, dtype=torch.float64, device=dev)
    out = {"shimmer_sum_abs_diff": z.clone(), "shimmer_n_pairs": z.clone(),
           "amplitude_sum": z.clone(), "n_amplitudes": z.clone()}
    t, row, pos = pulses.time, pulses.row, pulses.position
    if t.numel() < 3:
        return out
    p1 = t[1:-1] - t[:-2]
    p2 = t[2:] - t[1:-1]
    same = (row[1:-1] == row[:-2]) & (row[2:] == row[1:-1])
    ratio = torch.maximum(p1, p2) / torch.minimum(p1, p2).clamp_min(1e-300)
    ok = same & (p1 >= pmin) & (p1 <= pmax) & (p2 >= pmin) & (p2 <= pmax) & (ratio <= factor)
    ok &= (p1 > 0) & (p2 > 0)
    # a row needs at least three pulses (Praat: "too few pulses")
    idx = torch.nonzero(ok, as_tuple=True)[0] + 1
    if idx.numel() == 0:
        return out
    c = pos[idx]
    r = row[idx]
    wl = (0.2 * sr) * p1[idx - 1]
    wr = (0.2 * sr) * p2[idx - 1]
    n = x.shape[-1]
    lo = torch.ceil(c - wl).long().clamp_min(0)
    hi = torch.floor(c + wr).long().clamp(max=n - 1)
    cnt = hi - lo + 1
    # samples per window: at most 0.4 pmax sr + 1; sized for the widest window present
    width = max(1, min(int(cnt.max()), int(math.floor(0.4 * pmax * sr)) + 3))
    vals = sig.take(r, lo.clamp(0, n - 1), width)
    k = torch.arange(width, device=dev)
    dt = (lo - c)[:, None].to(x.dtype) + k                      # sample time - pulse time
    wid = torch.where(dt < 0, wl[:, None].to(x.dtype), wr[:, None].to(x.dtype))
    win = torch.where(k < cnt[:, None], 0.5 + 0.5 * torch.cos(dt * (math.pi / wid)), 0.0)
    num = (vals * win).square().sum(dim=-1).double()
    den = win.square().sum(dim=-1).double()
    amp = (num / den.clamp_min(1e-300)).sqrt()
    good = (cnt >= 3) & (den > 0) & (amp > 0)
    amp, r, ta = amp[good], r[good], t[idx][good]
    if amp.numel() == 0:
        return out
    # every tier point but the last of its row enters the mean amplitude
    last = torch.cat([r[1:] != r[:-1], torch.ones(1, dtype=torch.bool, device=dev)])
    out["amplitude_sum"].index_add_(0, r[~last], amp[~last])
    out["n_amplitudes"].index_add_(0, r[~last], torch.ones_like(amp)[~last])
    if amp.numel() >= 2:
        a1, a2 = amp[:-1], amp[1:]
        gap = ta[1:] - ta[:-1]
        pair = (r[1:] == r[:-1]) & (gap >= pmin) & (gap <= pmax)
        af = torch.maximum(a1, a2) / torch.minimum(a1, a2)
        pair &= af <= amp_factor
        out["shimmer_sum_abs_diff"].index_add_(0, r[:-1][pair], (a1 - a2).abs()[pair])
        out["shimmer_n_pairs"].index_add_(0, r[:-1][pair], torch.ones_like(a1)[pair])
    return out


def _ratio_of_means(s_num: float, n_num: float, s_den: float, n_den: float) -> float:
    if n_num < 1 or n_den < 1 or s_den == 0:
        return math.nan
    return (s_num / n_num) / (s_den / n_den)


def jitter_local(y: torch.Tensor, sr: int, track: PitchTrack, mask: torch.Tensor | None = None,
                 *, shortest_period: float = SHORTEST_PERIOD,
                 longest_period: float = LONGEST_PERIOD,
                 max_period_factor: float = MAX_PERIOD_FACTOR) -> torch.Tensor:
    """Jitter (local) per row, as a fraction (Praat's ``Get jitter (local)``: 0, 0, 0.0001,
    0.02, 1.3); shape ``(...)``, ``NaN`` where undefined (fewer than one valid period pair)."""
    rows, lead = _rows(y)
    hop = sr // 100
    sig = _signal(rows, sr)
    pulses = _pulses(sig, sr, hop, _usable_f0(track, lead, mask, rows.device))
    s = _period_sums(pulses, rows.shape[0], shortest_period, longest_period, max_period_factor)
    mean_abs = s["jitter_sum_abs_diff"] / s["jitter_n_pairs"]
    mean_per = s["period_sum"] / s["n_periods"]
    j = mean_abs / mean_per
    j = torch.where((s["jitter_n_pairs"] > 0) & (s["n_periods"] > 0), j,
                    torch.full_like(j, math.nan))
    return j.reshape(lead)


def shimmer_local(y: torch.Tensor, sr: int, track: PitchTrack,
                  mask: torch.Tensor | None = None, *,
                  shortest_period: float = SHORTEST_PERIOD,
                  longest_period: float = LONGEST_PERIOD,
                  max_period_factor: float = MAX_PERIOD_FACTOR,
                  max_amplitude_factor: float = MAX_AMPLITUDE_FACTOR) -> torch.Tensor:
    """Shimmer (local) per row, as a fraction (Praat's ``Get shimmer (local)``: 0, 0, 0.0001,
    0.02, 1.3, 1.6); shape ``(...)``, ``NaN`` where undefined (no valid amplitude pair)."""
    rows, lead = _rows(y)
    hop = sr // 100
    sig = _signal(rows, sr)
    pulses = _pulses(sig, sr, hop, _usable_f0(track, lead, mask, rows.device))
    s = _amplitude_sums(sig, sr, pulses, rows.shape[0], shortest_period, longest_period,
                        max_period_factor, max_amplitude_factor)
    sh = (s["shimmer_sum_abs_diff"] / s["shimmer_n_pairs"]) / (s["amplitude_sum"]
                                                              / s["n_amplitudes"])
    sh = torch.where((s["shimmer_n_pairs"] > 0) & (s["n_amplitudes"] > 0)
                     & (s["amplitude_sum"] > 0), sh, torch.full_like(sh, math.nan))
    return sh.reshape(lead)


# --------------------------------------------------------------------------- HNR


def _sinc_at(r: torch.Tensor, lag: torch.Tensor, depth: int) -> torch.Tensor:
    """Praat's ``NUM_interpolate_sinc`` of the symmetric lag function ``r`` at fractional lags.

    ``r (N, M+1)`` holds lags ``0..M`` (``r(-i) = r(i)``; Praat's array runs over ``-M..M``);
    ``lag (N, P)``. The kernel is ``sinc`` times a raised cosine that reaches zero one sample
    beyond the last tap, with ``min(depth, distance to the array ends)`` taps on each side.
    """
    m = r.shape[-1] - 1
    left = torch.floor(lag)
    frac = (lag - left)[..., None]
    # Praat: depth <= midleft (1-based) and <= size - midleft, i.e. M + 1 + left and M - left
    dep = torch.minimum(torch.minimum(left + m + 1, m - left),
                        torch.full_like(left, depth)).clamp_min(1)[..., None]
    taps = torch.arange(-depth + 1, depth + 1, device=r.device, dtype=lag.dtype)
    is_left = taps <= 0
    dist = frac - taps                                   # lag - sample index (> 0 on the left)
    use = torch.where(is_left, -taps < dep, taps <= dep)
    span = torch.where(is_left, frac + dep, dep + 1.0 - frac)
    # sin(pi (frac - tap)) = (-1)^tap sin(pi frac), and sin(pi frac) = sin(pi (1 - frac)):
    # one sine per point, of an argument that keeps its precision near whole lags
    sin_f = torch.sin(math.pi * torch.minimum(frac, 1.0 - frac))
    sign = 1.0 - 2.0 * torch.remainder(taps, 2.0)
    arg = math.pi * dist
    kernel = (sin_f * sign) / arg * (0.5 + 0.5 * torch.cos(arg / span))
    kernel = torch.where(use, kernel, 0.0)
    idx = (left[..., None] + taps).abs().clamp(max=m).long()
    vals = r.gather(1, idx.reshape(r.shape[0], -1)).reshape(idx.shape)
    out = (kernel * vals).sum(dim=-1)
    exact = frac[..., 0] == 0
    return torch.where(exact, r.gather(1, left.abs().clamp(max=m).long()), out)


@functools.lru_cache(maxsize=8)
def _sinc_table(depth: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """:func:`_sinc_at`'s kernel at full depth, tabulated over the fractional lag.

    ``(_SINC_STEPS + 1, 2 depth)``: row ``i`` is the fraction ``i / _SINC_STEPS``, column ``c``
    the tap ``c - depth + 1``; computed in float64. Linear interpolation between rows is
    within 1e-7 of the kernel (its second derivative is below pi^2).
    """
    frac = (torch.arange(_SINC_STEPS + 1, dtype=torch.float64) / _SINC_STEPS)[:, None]
    taps = torch.arange(-depth + 1, depth + 1, dtype=torch.float64)
    dist = frac - taps
    span = torch.where(taps <= 0, frac + depth, depth + 1.0 - frac)
    arg = math.pi * dist
    kernel = torch.sin(arg) / arg * (0.5 + 0.5 * torch.cos(arg / span))
    kernel = torch.where(dist == 0, 1.0, kernel)
    return kernel.to(dtype=dtype, device=device)


def _sinc_at_full(r: torch.Tensor, lag: torch.Tensor, depth: int) -> torch.Tensor:
    """:func:`_sinc_at` for lags at least ``depth`` samples from the array's end (full depth
    on both sides), with the tabulated kernel: ``r (N, M+1)``, ``lag (N, P) -> (N, P)``."""
    m = r.shape[-1] - 1
    left = torch.floor(lag)
    u = (lag - left) * _SINC_STEPS
    i = u.floor().clamp_(max=_SINC_STEPS - 1)
    w = (u - i)[..., None]
    i = i.long().reshape(-1)
    table = _sinc_table(depth, r.dtype, str(r.device))
    k0 = table.index_select(0, i).reshape(*lag.shape, table.shape[1])
    kernel = torch.lerp(k0, table.index_select(0, i + 1).reshape(k0.shape), w)
    taps = torch.arange(-depth + 1, depth + 1, device=r.device)
    idx = (left.long()[..., None] + taps).abs_().clamp_(max=m)
    vals = r.gather(1, idx.reshape(r.shape[0], -1)).reshape(idx.shape)
    return (kernel * vals).sum(dim=-1)


def _sinc_peak(r: torch.Tensor, x0: torch.Tensor, offs: torch.Tensor, depth: int
               ) -> torch.Tensor:
    """Maximum of the sinc interpolation of ``r`` near ``x0``: three points ``x0 + offs`` and
    the vertex of the parabola through them (Praat maximises with Brent's method)."""
    lag = x0[:, None] + offs
    # full depth on both sides (the usual case): tabulated kernel; near the array's end the
    # depth shrinks as in Praat: computed kernel
    full = torch.floor(lag).amax(dim=-1) <= r.shape[-1] - 1 - depth
    if bool(full.all()):
        v = _sinc_at_full(r, lag, depth)
    else:
        v = torch.empty_like(lag)
        part = torch.nonzero(full, as_tuple=True)[0]
        rest = torch.nonzero(~full, as_tuple=True)[0]
        if part.numel():
            v[part] = _sinc_at_full(r[part], lag[part], depth)
        v[rest] = _sinc_at(r[rest], lag[rest], depth)
    fl, fm, fr = v[:, 0], v[:, 1], v[:, 2]
    curv = fl - 2.0 * fm + fr
    peak = torch.where(curv < 0, fm - (fl - fr).square() / (8.0 * curv.clamp(max=-1e-30)), fm)
    return torch.maximum(torch.maximum(peak, fm), torch.maximum(fl, fr))


def harmonicity_cc(
    y: torch.Tensor,
    sr: int,
    *,
    hop_length: int | None = None,
    pitch_floor: float = 75.0,
    silence_threshold: float = 0.1,
    periods_per_window: float = 1.0,
    mask: torch.Tensor | None = None,
    sinc_depth: int = 16,
) -> torch.Tensor:
    """Harmonics-to-noise ratio per frame in dB, Praat's ``To Harmonicity (cc)``.

    Args:
        y: waveform ``(..., n_samples)``, full scale.
        sr: sample rate in Hz.
        hop_length: grid step in samples; default ``sr // 100`` (Praat's 0.01 s time step).
        pitch_floor: Hz; the window is ``periods_per_window / pitch_floor`` s and lags reach
            one floor period.
        silence_threshold: frames whose peak is at most this fraction of the row's peak are
            never sounding (Praat 0.1).
        periods_per_window: Praat's "periods per window" (1.0).
        mask: optional ``(..., T)`` bool; frames outside are not computed (``NaN``).
        sinc_depth: taps on each side for the peak refinement (Praat: up to 700).

    Returns:
        ``(..., T)`` HNR in dB on the analysis grid; ``NaN`` where the frame is not sounding
        (Praat writes -200 dB there and leaves it out of ``Get mean``) or not analysed.
    """
    rows, lead = _rows(y)
    hop = int(hop_length) if hop_length is not None else sr // 100
    n_rows, n = rows.shape
    n_t = F.grid_frames(n, hop)
    out = torch.full((n_rows, n_t), math.nan, dtype=torch.float32, device=rows.device)
    if n_t == 0 or n_rows == 0:
        return out.reshape(*lead, n_t)
    db, _ = _harmonicity_rows(_signal(rows, sr), sr, hop, n_t, pitch_floor, silence_threshold,
                              periods_per_window, _row_mask(mask, lead, n_t, rows.device),
                              sinc_depth)
    return db.reshape(*lead, n_t)


def _harmonicity_rows(sig: F.PaddedRows, sr: int, hop: int, n_t: int, pitch_floor: float,
                      silence_threshold: float, periods_per_window: float,
                      mask: torch.Tensor | None, sinc_depth: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    x = sig.x
    dev = x.device
    n_rows = x.shape[0]
    db = torch.full((n_rows, n_t), math.nan, dtype=torch.float32, device=dev)
    sounding = torch.zeros((n_rows, n_t), dtype=torch.bool, device=dev)
    nsamp_period = int(math.floor(sr / pitch_floor))
    half_period = nsamp_period // 2 + 1
    nw0 = int(math.floor(periods_per_window / pitch_floor * sr))
    hw = nw0 // 2 - 1
    if hw < 2:
        raise ValueError("harmonicity_cc: analysis window too short")
    nw = 2 * hw
    max_lag = min(int(math.floor(nw / periods_per_window)) + 2, nw)
    top = max_lag                           # candidates at lags 2 .. top - 1 (< brent_ixmax = nw)
    gpeak = sig.peak                        # x has its mean removed
    # frame t lies between samples c - 1 and c, c = t * hop + hop // 2
    # local mean over samples [c - P, c + P) and local peak over the centred window
    mean_view = sig.frames(hop // 2 - nsamp_period, 2 * nsamp_period, hop, n_t)
    j0 = max(0, hw - half_period)
    j1 = min(nw - 1, hw + half_period - 1)
    plen = j1 - j0 + 1
    pstart = hop // 2 - hw + j0
    sel = torch.ones((n_rows, n_t), dtype=torch.bool, device=dev) if mask is None else mask
    if not bool(sel.any()):
        return db, sounding
    # local mean and peak of every grid frame, reduced straight from the strided frame views
    # (no copies); only frames louder than the silence threshold are analysed further
    lmean = mean_view.mean(dim=-1)
    cen = sig.frames(pstart, plen, hop, n_t)
    lpeak = torch.maximum(cen.amax(dim=-1) - lmean, lmean - cen.amin(dim=-1))
    intensity = (lpeak / gpeak.clamp_min(torch.finfo(x.dtype).tiny)[:, None]).clamp(max=1.0)
    live = sel & (lpeak > 0) & (intensity > silence_threshold)
    r_idx, t_idx = torch.nonzero(live, as_tuple=True)
    if r_idx.numel() == 0:
        return db, sounding
    lmean, intensity = lmean[r_idx, t_idx], intensity[r_idx, t_idx]
    # forward cross-correlation: the window starts 0.5 * (1/floor + window) before frame time
    start_off = int(math.floor(-0.5 - 0.5 * (1.0 + periods_per_window) * sr / pitch_floor))
    span = nw + max_lag
    sig.frames(hop // 2 + start_off, span, hop, n_t)          # every frame inside the padding
    n_live = r_idx.numel()
    strength = torch.empty(n_live, dtype=x.dtype, device=dev)
    has = torch.empty(n_live, dtype=torch.bool, device=dev)
    h = 0.1
    offs = torch.tensor([-h, 0.0, h], dtype=x.dtype, device=dev)
    chunk = F.chunk_frames(dev)                               # bounded memory, cache-sized
    for a in range(0, n_live, chunk):
        b = min(a + chunk, n_live)
        seg = sig.take_frames(r_idx[a:b], t_idx[a:b], hop // 2 + start_off, span, hop)
        seg -= lmean[a:b, None]
        c, e0, e = frame_xcorr(seg, nw, max_lag + 1)
        r = torch.where(e > 0, c * (e0 * e).clamp_min(1e-30).rsqrt(), 0.0)
        r[:, 0] = 1.0
        # candidates: local maxima with r > 0 at lags 2 .. top - 1, the highest raw peak wins
        rm, rl, rr = r[:, 2:top], r[:, 1:top - 1], r[:, 3:top + 1]
        cand = (rm > rl) & (rm >= rr) & (rm > 0)
        # rank by the parabolic peak height (Praat ranks by an interpolated strength)
        height = rm + 0.125 * (rr - rl).square() / ((rm - rl) + (rm - rr)).clamp_min(1e-30)
        height = torch.where(height > 1.0, 1.0 / height, height)
        i = torch.where(cand, height, -2.0).argmax(dim=-1, keepdim=True) + 2
        has[a:b] = cand.any(dim=-1)
        lmr = r.gather(1, i + torch.arange(-1, 2, device=dev))
        d2r = (lmr[:, 1] - lmr[:, 0]) + (lmr[:, 1] - lmr[:, 2])
        x0 = i[:, 0].to(x.dtype) + torch.where(
            d2r > 0, 0.5 * (lmr[:, 2] - lmr[:, 0]) / d2r.clamp_min(1e-30), 0.0).clamp(-0.5, 0.5)
        if sinc_depth > 0:
            # maximise the sinc interpolation: three points around the parabolic peak and
            # the vertex of the parabola through them
            st = _sinc_peak(r, x0, offs, sinc_depth)
            # where the frame is very periodic (r > 0.99, HNR > 20 dB) the dB value resolves
            # the third and fourth decimal of r: refine those with a deep kernel, as Praat
            deep = torch.nonzero(st > 0.99, as_tuple=True)[0]
            if deep.numel() > 0 and 4 * sinc_depth < max_lag:
                st[deep] = _sinc_peak(r[deep], x0[deep], offs, 4 * sinc_depth)
            # near the end of the lag array Praat's depth drops to 1 (linear interpolation,
            # maximal at the sample) or 2 (cubic; we take the parabolic peak)
            room = max_lag - i[:, 0]
            parab = lmr[:, 1] + torch.where(d2r > 0, 0.125 * (lmr[:, 2] - lmr[:, 0]).square()
                                            / d2r.clamp_min(1e-30), 0.0)
            st = torch.where(room <= 1, lmr[:, 1], torch.where(room == 2, parab, st))
        else:   # parabolic interpolation of the raw maximum
            st = lmr[:, 1] + torch.where(d2r > 0, 0.125 * (lmr[:, 2] - lmr[:, 0]).square()
                                         / d2r.clamp_min(1e-30), 0.0)
        strength[a:b] = torch.where(st > 1.0, 1.0 / st, st)
    return _finish_hnr(db, sounding, r_idx, t_idx, has, strength, intensity, silence_threshold)


def _finish_hnr(db: torch.Tensor, sounding: torch.Tensor, r_idx: torch.Tensor,
                t_idx: torch.Tensor, has: torch.Tensor, strength: torch.Tensor,
                intensity: torch.Tensor, silence_threshold: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    strength = strength.to(torch.float64)
    unvoiced = (2.0 - intensity.double() / silence_threshold).clamp_min(0.0)
    snd = has & (strength > unvoiced)
    hnr = torch.where(strength <= 1e-15, torch.full_like(strength, -150.0),
                      torch.where(strength > 1.0 - 1e-15, torch.full_like(strength, 150.0),
                                  10.0 * torch.log10(strength / (1.0 - strength).clamp_min(1e-300))))
    db[r_idx, t_idx] = torch.where(snd, hnr, torch.full_like(hnr, math.nan)).to(db.dtype)
    sounding[r_idx, t_idx] = snd
    return db, sounding


# --------------------------------------------------------------------------- entry point


def _summaries(s: Mapping[str, float]) -> dict[str, float]:
    out = {k: float(s[k]) for k in _SUM_KEYS}
    out["jitter"] = _ratio_of_means(out["jitter_sum_abs_diff"], out["jitter_n_pairs"],
                                    out["period_sum"], out["n_periods"])
    out["shimmer"] = _ratio_of_means(out["shimmer_sum_abs_diff"], out["shimmer_n_pairs"],
                                     out["amplitude_sum"], out["n_amplitudes"])
    out["hnr_db"] = (out["hnr_sum_db"] / out["n_hnr_frames"] if out["n_hnr_frames"] > 0
                     else math.nan)
    return out


def voice_quality(
    y: torch.Tensor,
    sr: int,
    track: PitchTrack,
    mask: torch.Tensor | None = None,
    *,
    hop_length: int | None = None,
) -> dict[str, float] | list[dict[str, float]]:
    """Jitter, shimmer and HNR of each channel, with the sums needed to pool channels.

    Args:
        y: waveform ``(n_samples,)`` for one channel, or ``(..., n_samples)`` for a batch of
            channels (all rows are processed together, which is faster than one call each).
        sr: sample rate in Hz.
        track: the :class:`PitchTrack` of ``y`` (fields ``(..., T)``).
        mask: optional ``(..., T)`` bool, the frames owned by this channel's speaker (stereo
            crosstalk): pulses are placed only in voiced frames inside it and HNR averages only
            sounding frames inside it.
        hop_length: grid step in samples, default ``sr // 100``.

    Returns:
        For a 1-D ``y`` a dict, otherwise a list of dicts in row-major order of the leading
        axes. Each dict holds ``jitter`` and ``shimmer`` (fractions), ``hnr_db`` (dB) and the
        sums and counts they are made of: ``jitter_sum_abs_diff`` (s), ``jitter_n_pairs``,
        ``period_sum`` (s), ``n_periods``, ``shimmer_sum_abs_diff``, ``shimmer_n_pairs``,
        ``amplitude_sum`` (full scale), ``n_amplitudes``, ``hnr_sum_db``, ``n_hnr_frames`` and
        ``n_pulses``. ``jitter``/``shimmer`` are ``NaN`` when there is no valid pair of periods
        or amplitudes (silence, noise, unvoiced or too short input: the measures compare
        consecutive glottal cycles, and with none there is nothing to measure); ``hnr_db`` is
        ``NaN`` with no sounding frame (silence, or nothing louder than 10 % of the peak).
        White noise has few or no pulses and a low or undefined HNR; clipping and a DC offset
        give defined values.
    """
    rows, lead = _rows(y)
    results = _voice_quality_rows(_signal(rows, sr), lead, sr, track, mask, hop_length)
    if len(lead) == 0:
        return results[0]
    return results


def voice_quality_padded(sig: F.PaddedRows, sr: int, track: PitchTrack,
                         mask: torch.Tensor | None = None, *, hop_length: int | None = None
                         ) -> list[dict[str, float]]:
    """:func:`voice_quality` of rows already mean-removed and padded (shared with the F0 stage).

    ``sig`` holds the ``R`` rows (e.g. a call's channels); ``track`` and ``mask`` have shape
    ``(R, T)`` (or broadcast to it). Returns one dict per row, as :func:`voice_quality`.
    Rows with less padding than the pulse search needs are padded again first.
    """
    if sig.pad < signal_pad(sr):
        sig = sig.repad(signal_pad(sr))
    return _voice_quality_rows(sig, (sig.x.shape[0],), sr, track, mask, hop_length)


def _voice_quality_rows(sig: F.PaddedRows, lead: tuple[int, ...], sr: int, track: PitchTrack,
                        mask: torch.Tensor | None, hop_length: int | None
                        ) -> list[dict[str, float]]:
    hop = int(hop_length) if hop_length is not None else sr // 100
    x = sig.x
    n_rows = x.shape[0]
    f0 = _usable_f0(track, lead, mask, x.device)
    n_t = f0.shape[-1]
    pulses = _pulses(sig, sr, hop, f0)
    sums = _period_sums(pulses, n_rows, SHORTEST_PERIOD, LONGEST_PERIOD, MAX_PERIOD_FACTOR)
    sums.update(_amplitude_sums(sig, sr, pulses, n_rows, SHORTEST_PERIOD, LONGEST_PERIOD,
                                MAX_PERIOD_FACTOR, MAX_AMPLITUDE_FACTOR))
    hnr_sum = torch.zeros(n_rows, dtype=torch.float64, device=x.device)
    hnr_n = torch.zeros(n_rows, dtype=torch.float64, device=x.device)
    if n_t > 0 and n_rows > 0:
        db, snd = _harmonicity_rows(sig, sr, hop, n_t, 75.0, 0.1, 1.0,
                                    _row_mask(mask, lead, n_t, x.device), 16)
        hnr_sum = torch.where(snd, db.double(), torch.zeros_like(db, dtype=torch.float64)).sum(-1)
        hnr_n = snd.sum(dim=-1).double()
    sums["hnr_sum_db"] = hnr_sum
    sums["n_hnr_frames"] = hnr_n
    sums["n_pulses"] = torch.bincount(pulses.row, minlength=n_rows).double()
    table = torch.stack([sums[k] for k in _SUM_KEYS], dim=-1).cpu().tolist()
    return [_summaries(dict(zip(_SUM_KEYS, vals, strict=True))) for vals in table]


def pool(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Pool :func:`voice_quality` dicts (channels, chunks) into one, summing the parts' sums.

    The pooled jitter is ``(sum |dT| / pairs) / (sum T / periods)`` over all parts, i.e. what
    Praat would report for the union of the parts' pulses with no pair straddling two parts;
    likewise shimmer; the pooled HNR is the mean over all parts' sounding frames. The result
    has the same keys and can be pooled again. No parts, or parts with nothing measured, give
    ``NaN`` measures and zero counts.
    """
    acc = dict.fromkeys(_SUM_KEYS, 0.0)
    for p in parts:
        for k in _SUM_KEYS:
            v = float(p.get(k, 0.0))
            if math.isfinite(v):
                acc[k] += v
    return _summaries(acc)
