"""Who speaks when: speaker activity, two-speaker diarization and interaction features.

Speaker activity is a boolean array ``(2, T)`` on the shared 10 ms grid, row 0 the agent and
row 1 the customer (frame ``t`` centred at ``(t + 0.5) * hop_sec`` seconds). It comes from

* **stereo** calls (one party per channel): :func:`speaker_activity` — per-channel voice
  activity (:func:`callquality.features.vad.voice_activity`) with *crosstalk rejection*
  (:func:`activity_from_tracks`);
* **mono** calls: :func:`diarize` — voice activity, then a two-speaker clustering of short
  speech windows (:func:`diarize` documents the steps and which cluster is the agent).

:func:`interaction_features` turns activity into the interaction features of the schema
(interruptions, talk ratio, turn-taking rate, turn duration), the extended ones (talk times,
per-speaker interruptions, overtalk, longest monologue, long silences) and the pause and
silence features of the acoustic group. :func:`analyze_interaction` returns the underlying
utterances, turns, interruptions and pauses. :func:`diarization_error_rate` scores activity
against a reference.

Definitions (the same as the fixture corpus' ground truth, ``examples/generate_fixtures.py``;
``hop_sec`` resolution):

utterance
    A maximal stretch of one speaker's voice activity in which no silence is >= ``bridge_sec``
    (default 0.3 s). Stretches shorter than ``min_utterance_sec`` (default 0.1 s) are dropped.
    The ground truth splits utterances at word gaps >= 250 ms; a VAD loses the quietest
    20-50 ms at word edges (final stops, weak fricatives, decays under the noise floor), so
    a measured silence is longer than the true one and 0.3 s is the measured equivalent
    (pass ``bridge_sec=0.25`` for the nominal value on clean audio).
backchannel
    An utterance shorter than 1 s lying entirely inside an utterance of the other speaker
    (``tol_sec`` = 50 ms of slack at both ends). With ``words`` given, an utterance < 1 s that
    overlaps the other speaker and whose words are all backchannel tokens ("uh-huh", "okay",
    "right", ...) is a backchannel too. Backchannels are not turns, do not start or end
    turns and are never interruptions.
turn
    The non-backchannel utterances sorted by start, grouped into maximal runs of the same
    speaker: a turn runs from its first utterance's start to its last utterance's end — a
    speaker holds the floor until the other speaker's next non-backchannel utterance; the
    speaker's own pauses do not end the turn. Turns alternate speakers and may overlap.
speaker change
    A floor transfer: ``n_turns - 1``. ``turn_taking_rate`` = speaker changes per minute of
    call.
interruption
    A turn whose first utterance starts while the other speaker is inside a (non-backchannel)
    utterance, overlaps that utterance for >= 200 ms, and lasts >= 1 s itself. Counted for the
    speaker who starts (the interrupter). Shorter overlaps are backchannels or handoffs.
pause
    Within a turn, each gap between consecutive utterances of the turn's speaker, minus the
    time the other speaker is active in it; every remaining silent stretch >= 250 ms is a
    pause (so a pause is a silence of the speaker while the other is silent). Gaps between
    turns (including holds) are not pauses.
long silence
    A stretch > 5 s in which no utterance of either speaker is active, from call start to
    call end (leading and trailing silence included).
talk time, overtalk, silence
    From the activity as given (not bridged): talk time = active frames x ``hop_sec``;
    overtalk = frames both active; silence = frames neither active. Talk time is therefore
    voice-active time: in stereo activity (:func:`activity_from_tracks`) a frame at the
    channel's noise floor is never speech, so pauses, gaps between words and silences inside
    a word (a stop closure) are not talk even where the VAD bridges them; mono activity
    (:func:`diarize`) keeps the VAD's bridging of silences shorter than its
    ``min_silence_sec`` (50 ms by default).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..exceptions import ConfigurationError
from . import functional as F
from .vad import (
    _band_power,
    _floor_and_seed_flatness,
    _level_db,
    _masked_quantile,
    _valid_frames,
    fill_short_runs,
    voice_activity,
    voice_activity_from_features,
)

__all__ = [
    "BACKCHANNEL_TOKENS",
    "Interaction",
    "Pause",
    "Turn",
    "Utterance",
    "activity_from_tracks",
    "analyze_interaction",
    "crosstalk_coupling",
    "diarization_error_rate",
    "diarize",
    "diarize_tracks",
    "interaction_features",
    "speaker_activity",
]

SPEAKERS: tuple[str, str] = ("agent", "customer")

#: Seconds: shortest overlap of an interruption, shortest interrupting utterance, longest
#: backchannel, shortest pause, longest silence that is not a long silence.
INTERRUPTION_MIN_OVERLAP_SEC = 0.2
INTERRUPTION_MIN_TALK_SEC = 1.0
BACKCHANNEL_MAX_SEC = 1.0
PAUSE_MIN_SEC = 0.25
LONG_SILENCE_SEC = 5.0

#: Tokens that make up backchannels ("uh-huh", "okay", ...), lower case, no punctuation.
BACKCHANNEL_TOKENS = frozenset({
    "uh-huh", "uhhuh", "uh", "huh", "mm-hm", "mm-hmm", "mhm", "mm", "hmm", "hm", "mmhmm",
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "i", "see",
    "got", "it", "oh", "ah", "aha", "true", "exactly", "absolutely", "indeed", "really",
    "sorry", "uh-uh", "no", "nope", "wow", "great", "fine", "good", "cool", "understood",
})


# --------------------------------------------------------------------------- stereo activity


def _shift(x: torch.Tensor, k: int, fill: float) -> torch.Tensor:
    """``y[..., t] = x[..., t - k]`` (a delay by ``k`` frames), ``fill`` where undefined."""
    if k == 0:
        return x
    out = torch.full_like(x, fill)
    if abs(k) >= x.shape[-1]:
        return out
    if k > 0:
        out[..., k:] = x[..., :-k]
    else:
        out[..., :k] = x[..., -k:]
    return out


def _delay_order(max_delay: int) -> list[int]:
    """Candidate delays ``0, 1, -1, 2, -2, ...``: ties go to the smallest delay."""
    return [0] + [s * k for k in range(1, max(max_delay, 0) + 1) for s in (1, -1)]


def _coupling_and_delay(lv: torch.Tensor, va: torch.Tensor,
                        max_delay: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Coupling ``(N, 2)`` in dB and echo delay ``(N, 2)`` in frames of each direction
    (steps 1-2 of :func:`activity_from_tracks`): column ``b`` is how loud, and how late,
    channel ``a``'s speaker comes out in channel ``b``. NaN coupling and delay 0 when ``a``
    never speaks."""
    n = lv.shape[0]
    g = lv.new_full((n, 2), math.nan)
    delay = torch.zeros((n, 2), dtype=torch.long, device=lv.device)
    d = max(max_delay, 0)
    lags = torch.as_tensor(_delay_order(d), device=lv.device)
    for b in (0, 1):
        a = 1 - b
        nan = torch.full_like(lv[:, a], math.nan)
        med_a = torch.nanmedian(torch.where(va[:, a], lv[:, a], nan), dim=-1).values  # NaN if never
        clear = va[:, a] & (lv[:, a] >= med_a[:, None]) & (lv[:, a] >= lv[:, b])
        lb = torch.nn.functional.pad(lv[:, b], (d, d), value=math.nan)      # off the call: NaN
        for r in range(n):
            s = torch.nonzero(clear[r])[:, 0]
            if s.numel() == 0:
                continue
            # L_b(s + k) - L_a(s) over a's clear frames s, every lag k at once: (lags, frames)
            same = lb[r, (s + d)[None] + lags[:, None]] - lv[r, a, s][None]
            med = torch.nanmedian(same, dim=-1).values
            spread = torch.nanmedian((same - med[:, None]).abs(), dim=-1).values
            best = torch.nan_to_num(spread, nan=math.inf).argmin()          # first = smallest
            g[r, b] = med[best]
            delay[r, b] = lags[best]
    return g, delay


def crosstalk_coupling(level_db: torch.Tensor, vad: torch.Tensor) -> torch.Tensor:
    """Estimated crosstalk coupling of a two-channel call: ``(..., 2, T) -> (..., 2)`` dB.

    Entry ``b`` is the level at which the *other* channel's speaker appears in channel ``b``,
    relative to that speaker's own channel: about -25 dB for typical bleed, -inf-like values
    for clean separation, near 0 dB for both entries when the two channels carry the same
    signal (a mono call stored as stereo: diarize it instead). NaN when the other channel is
    never voice-active. See :func:`activity_from_tracks` for the estimator (here at zero
    delay).
    """
    if level_db.shape != vad.shape or level_db.ndim < 2 or level_db.shape[-2] != 2:
        raise ConfigurationError(f"crosstalk_coupling: need level_db and vad of the same shape "
                                 f"(..., 2, T), got {tuple(level_db.shape)} and "
                                 f"{tuple(vad.shape)}")
    lead, t = level_db.shape[:-2], level_db.shape[-1]
    if t == 0:
        return level_db.new_full((*lead, 2), math.nan)
    g, _ = _coupling_and_delay(level_db.reshape(-1, 2, t).float(), vad.reshape(-1, 2, t).bool())
    return g.reshape(*lead, 2)


#: Frames of slack around the estimated echo delay: the delay is rounded to whole frames and
#: a 10 ms frame's level is shared with its neighbours, so the leak of frame ``s`` can show up
#: one frame early or late.
DELAY_SLACK_FRAMES = 1

#: dB to natural log of power: ``10 log10(p) * _DB_TO_LN = ln(p)``.
_DB_TO_LN = math.log(10.0) / 10.0


def activity_from_tracks(
    level_db: torch.Tensor,
    vad: torch.Tensor,
    *,
    margin_db: float = 6.0,
    delay_frames: int = 3,
    hop_sec: float = 0.01,
    min_speech_sec: float = 0.03,
    min_silence_sec: float = 0.0,
    floor_db: torch.Tensor | None = None,
    noise_percentile: float = 10.0,
) -> torch.Tensor:
    """Speaker activity of a two-channel call with crosstalk rejection: ``(..., 2, T)`` bool.

    Each channel carries its own speaker, the other speaker's voice leaking in (crosstalk,
    echo) at some coupling gain and delay, and noise. Frame ``t`` of channel ``b`` is ``b``'s
    own speech when it is voice-active and clearly louder than the leak and the noise
    together could make it. For channel ``b`` against ``a``:

    1. *Coupling and delay.* Over the frames ``s`` where ``a`` is *clearly* active
       (voice-active, at or above the median of ``a``'s voice-active levels, and at least as
       loud as ``b``) channel ``b`` mostly carries only ``a``'s leak, so
       ``L_b(s + k) - L_a(s)`` is nearly constant at the true delay ``k``. The delay ``k_ab``
       is the ``k`` in ``-delay_frames .. delay_frames`` for which that difference has the
       smallest median absolute deviation (ties: the smallest ``|k|``), the coupling ``g_ab``
       its median at that delay (:func:`crosstalk_coupling` returns the zero-delay estimate).
    2. *Expected level without own speech*: the leak
       ``leak(t) = max_{|j - k_ab| <= 1} L_a(t - j) + min(g_ab, 0)`` (one frame of slack
       around the delay, :data:`DELAY_SLACK_FRAMES`) plus ``b``'s noise floor ``N_b``, added
       as powers: ``E_b(t) = 10 log10(10^(leak(t)/10) + 10^(N_b/10))``.
    3. *Own speech*: ``vad[b, t]`` and ``L_b(t) >= E_b(t) + margin_db``. The noise term
       makes the rule reject frames at ``b``'s noise floor that the VAD carried across a
       pause of ``a``'s leak (its gap bridging and hysteresis) whatever the delay tolerance,
       and, with the leak term, frames near ``a``'s speech that the leak explains. When
       both speak at their own levels (real overlap) both pass, so interruptions and overtalk
       remain visible. Two channels carrying the same signal (coupling near 0 dB both ways:
       a mono call in a stereo file) give no activity where both are voice-active; such a
       recording has to be diarized as mono;
    4. speech runs shorter than ``min_speech_sec`` are dropped (fragments of leak), silences
       shorter than ``min_silence_sec`` are bridged.

    Constants (none fitted to data): ``margin_db`` = 6 dB asks the own voice to carry at
    least three times the power expected without it (own + expected >= 4 x expected =
    +6 dB). The level of a 10 ms frame of band-limited noise scatters about 1 dB around its
    mean power; ``N_b``, the ``noise_percentile`` (10th) percentile of ``b``'s levels (the
    VAD's floor estimate), lies 1.5 dB under that mean, so ``N_b + 6`` dB is 4.5 dB above the
    mean noise level, beyond its 99.9th percentile (+3 dB): noise frames do not pass, and
    the same holds for leak frames, whose level follows ``a``'s within the coupling's
    spread. One frame of slack around the delay (:data:`DELAY_SLACK_FRAMES`) covers the
    rounding of the delay to whole frames; more would mask ``b``'s onsets right after ``a``
    stops. ``delay_frames`` = 3 (30 ms) bounds the search, not the slack, so a wider search
    costs no precision.

    Args:
        level_db: ``(..., 2, T)`` frame level of each channel, dB (any consistent level:
            speech-band level or RMS level).
        vad: ``(..., 2, T)`` voice activity of each channel.
        margin_db: how far above the expected leak plus noise a frame must be, dB.
        delay_frames: largest echo delay searched, frames (either sign).
        hop_sec: frame step, seconds.
        floor_db: ``(..., 2)`` noise floor of each channel in the units of ``level_db``
            (e.g. the VAD's); default the ``noise_percentile`` percentile of its levels.
    """
    if level_db.shape != vad.shape or level_db.ndim < 2 or level_db.shape[-2] != 2:
        raise ConfigurationError(f"activity_from_tracks: need level_db and vad of the same shape "
                                 f"(..., 2, T), got {tuple(level_db.shape)} and "
                                 f"{tuple(vad.shape)}")
    lead, t = level_db.shape[:-2], level_db.shape[-1]
    lv = level_db.reshape(-1, 2, t).to(torch.float32)
    va = vad.reshape(-1, 2, t).to(torch.bool)
    if t == 0:
        return va.reshape(*lead, 2, t)
    n = lv.shape[0]
    if floor_db is None:
        floor = _masked_quantile(lv.reshape(-1, t), torch.ones((2 * n, t), dtype=torch.bool,
                                                               device=lv.device),
                                 noise_percentile / 100.0).reshape(n, 2)
    else:
        floor = torch.as_tensor(floor_db, dtype=torch.float32, device=lv.device).reshape(n, 2)
    floor = torch.nan_to_num(floor, nan=-math.inf)
    d = max(int(delay_frames), 0)
    g_all, delay = _coupling_and_delay(lv, va, d)                        # (N, 2) each
    slack = DELAY_SLACK_FRAMES
    out = torch.empty_like(va)
    for b in (0, 1):
        a = 1 - b
        # the leak: a's level delayed by k_ab +- slack, the loudest of those frames
        la = torch.stack([
            torch.stack([_shift(lv[r, a], k + j, -math.inf) for j in range(-slack, slack + 1)])
            .amax(0) for r, k in enumerate(delay[:, b].tolist())])             # (N, T)
        g = torch.nan_to_num(g_all[:, b], nan=-math.inf).clamp_max(0.0)
        leak = la + g[:, None]
        expected = torch.logaddexp(leak * _DB_TO_LN, floor[:, b, None] * _DB_TO_LN) / _DB_TO_LN
        out[:, b] = va[:, b] & (lv[:, b] >= expected + margin_db)
    hop = max(hop_sec, 1e-9)
    out = fill_short_runs(out, False, int(round(min_silence_sec / hop)), interior_only=True)
    out = fill_short_runs(out, True, int(round(min_speech_sec / hop)))
    return out.reshape(*lead, 2, t)


def speaker_activity(
    y: torch.Tensor | np.ndarray,
    sr: int,
    *,
    hop_length: int | None = None,
    lengths: torch.Tensor | Sequence[int] | int | None = None,
    method: str = "energy",
    margin_db: float = 6.0,
    delay_frames: int = 3,
    **vad_kwargs: Any,
) -> torch.Tensor:
    """Who speaks when in a two-channel call: ``(..., 2, n_samples) -> (..., 2, T)`` bool.

    Row ``c`` is the activity of the speaker of channel ``c`` (for the usual layout row 0 =
    agent, row 1 = customer). Per-channel :func:`~callquality.features.vad.voice_activity`,
    then crosstalk rejection by :func:`activity_from_tracks` on the speech-band level.

    Args:
        y: samples ``(..., 2, n)``, full scale 1.0.
        sr: sample rate, Hz.
        hop_length: grid step, samples (default ``sr // 100``).
        lengths: true lengths of zero-padded calls, shape a prefix of ``y.shape[:-2]``.
        method: VAD method, ``"energy"`` or ``"silero"``.
        margin_db, delay_frames: crosstalk rule, see :func:`activity_from_tracks` (the noise
            floor is the VAD's, over the valid frames).
        **vad_kwargs: passed to the VAD (e.g. ``onset_db``, ``min_speech_sec``).
    """
    yt = F.as_tensor(y)
    if yt.ndim < 2 or yt.shape[-2] != 2:
        raise ConfigurationError(f"speaker_activity: expected samples of shape (..., 2, n), got "
                                 f"{tuple(yt.shape)}")
    hop = hop_length or sr // 100
    t = F.grid_frames(yt.shape[-1], hop)
    if lengths is not None:
        ln = torch.as_tensor(lengths, device=yt.device)
        while ln.ndim < yt.ndim - 1:
            ln = ln.unsqueeze(-1)
        lengths = ln.expand(yt.shape[:-1])
    power, scale = _band_power(yt, sr, hop, vad_kwargs.pop("frame_length", None),
                               vad_kwargs.pop("fmin", 300.0), vad_kwargs.pop("fmax", 3400.0))
    level = _level_db(power, scale)
    valid = _valid_frames(yt.shape[:-1], t, hop, lengths, vad_kwargs.pop("mask", None),
                          yt.device)
    pct = vad_kwargs.get("noise_percentile", 10.0)
    if method == "energy":
        floor, flat = _floor_and_seed_flatness(
            level, power, scale, valid, pct, vad_kwargs.get("onset_db", 8.0),
            vad_kwargs.get("abs_threshold_db", -80.0))
        vad = voice_activity_from_features(level, flat, hop_sec=hop / sr, valid=valid,
                                           floor_db=floor, **vad_kwargs)
    else:
        vad = voice_activity(yt, sr, hop_length=hop, lengths=lengths, method=method,
                             **vad_kwargs) & valid
        floor = _masked_quantile(level.reshape(-1, t), valid.reshape(-1, t),
                                 pct / 100.0).reshape(level.shape[:-1])
    # the noise floor over the valid frames only (zero padding would drag a percentile down)
    return activity_from_tracks(level, vad, margin_db=margin_db, delay_frames=delay_frames,
                                hop_sec=hop / sr, floor_db=floor)


# --------------------------------------------------------------------------- interaction


@dataclass(frozen=True)
class Utterance:
    """A maximal stretch of one speaker's activity (see the module docstring); seconds."""

    speaker: str
    start: float
    end: float
    backchannel: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Turn:
    """A maximal run of one speaker's non-backchannel utterances; seconds."""

    speaker: str
    start: float
    end: float
    n_utterances: int = 1
    interruption: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Pause:
    """A within-turn silence of the turn's speaker while the other is silent; seconds."""

    speaker: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Interaction:
    """The conversation structure of one call (:func:`analyze_interaction`)."""

    duration_sec: float
    hop_sec: float
    utterances: list[Utterance] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    long_silences: list[tuple[float, float]] = field(default_factory=list)
    talk_time_sec: dict[str, float] = field(default_factory=dict)
    overtalk_sec: float = 0.0
    silence_sec: float = 0.0

    @property
    def interruptions(self) -> list[Turn]:
        """Turns opened by an interruption (their ``speaker`` is the interrupter)."""
        return [t for t in self.turns if t.interruption]

    @property
    def backchannels(self) -> list[Utterance]:
        return [u for u in self.utterances if u.backchannel]


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open ``(starts, ends)`` frame indices of the runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def bridge_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill interior gaps (runs of False between two runs of True) shorter than ``max_gap``
    frames of a 1-D bool array."""
    if max_gap <= 1 or not mask.any():
        return mask
    s, e = mask_runs(mask)
    out = mask.copy()
    gaps = s[1:] - e[:-1]
    for a, b in zip(e[:-1][gaps < max_gap], s[1:][gaps < max_gap], strict=True):
        out[a:b] = True
    return out


def _word_fields(w: Any) -> tuple[str | None, float, float, str]:
    if isinstance(w, Mapping):
        return w.get("speaker"), float(w["start"]), float(w["end"]), str(w.get("text", ""))
    return (getattr(w, "speaker", None), float(w.start), float(w.end),
            str(getattr(w, "text", "")))


def _is_backchannel_text(words: list[str]) -> bool:
    toks = [t.strip(".,!?;:\"'()").lower() for t in words]
    toks = [t for t in toks if t]
    return bool(toks) and all(t in BACKCHANNEL_TOKENS for t in toks)


def analyze_interaction(
    activity: np.ndarray | torch.Tensor,
    hop_sec: float,
    *,
    words: Iterable[Any] | None = None,
    duration_sec: float | None = None,
    bridge_sec: float = 0.3,
    min_utterance_sec: float = 0.1,
    tol_sec: float = 0.05,
    speakers: tuple[str, str] = SPEAKERS,
) -> Interaction:
    """Utterances, turns, interruptions, pauses and silences of a two-speaker call.

    Args:
        activity: ``(2, T)`` bool, row 0 agent, row 1 customer, frames of ``hop_sec`` seconds
            (frame ``t`` spans ``[t, t + 1) * hop_sec``).
        hop_sec: frame step, seconds.
        words: optional transcript words (:class:`callquality.Word` or dicts with ``speaker``,
            ``start``, ``end``, ``text``) to recognise backchannels by their words.
        duration_sec: call duration (default ``T * hop_sec``).
        bridge_sec: silences shorter than this inside one speaker's speech do not split an
            utterance (word gaps), seconds.
        min_utterance_sec: shorter utterances are ignored, seconds.
        tol_sec: slack of "entirely inside" for backchannels, seconds.
        speakers: names of the two rows.

    See the module docstring for the definitions.
    """
    act = activity.detach().cpu().numpy() if isinstance(activity, torch.Tensor) \
        else np.asarray(activity)
    act = act.astype(bool)
    if act.ndim != 2 or act.shape[0] != 2:
        raise ConfigurationError(f"analyze_interaction: activity must be (2, T), got shape "
                                 f"{act.shape}")
    if not hop_sec > 0:
        raise ConfigurationError(f"analyze_interaction: hop_sec must be > 0, got {hop_sec}")
    t_frames = act.shape[1]
    dur = float(duration_sec) if duration_sec is not None else t_frames * hop_sec
    res = Interaction(duration_sec=dur, hop_sec=hop_sec)
    both = act[0] & act[1]
    res.talk_time_sec = {speakers[i]: float(act[i].sum()) * hop_sec for i in (0, 1)}
    res.overtalk_sec = float(both.sum()) * hop_sec
    res.silence_sec = float((~(act[0] | act[1])).sum()) * hop_sec

    # 1. utterances per speaker (bridged word gaps, tiny stretches dropped)
    bridge = max(int(round(bridge_sec / hop_sec)), 1)
    min_len = int(round(min_utterance_sec / hop_sec))
    sm = np.zeros_like(act)
    utt: list[list[tuple[int, int]]] = [[], []]
    for i in (0, 1):
        m = bridge_gaps(act[i], bridge)
        s, e = mask_runs(m)
        keep = (e - s) >= max(min_len, 1)
        utt[i] = list(zip(s[keep].tolist(), e[keep].tolist(), strict=True))
        for a, b in utt[i]:
            sm[i, a:b] = True
    # cumulative activity of each (smoothed) speaker: O(1) overlap queries
    csum = np.concatenate([np.zeros((2, 1), np.int64), np.cumsum(sm, axis=1)], axis=1)

    # 2. backchannels
    bc_max = int(round(BACKCHANNEL_MAX_SEC / hop_sec))
    tol = int(round(tol_sec / hop_sec))
    word_list = [_word_fields(w) for w in words] if words is not None else []
    records: list[tuple[int, int, int, bool]] = []  # (start, end, speaker, backchannel)
    for i in (0, 1):
        o = 1 - i
        o_s = np.asarray([a for a, _ in utt[o]], dtype=np.int64)
        o_e = np.asarray([b for _, b in utt[o]], dtype=np.int64)
        for a, b in utt[i]:
            is_bc = False
            if b - a < bc_max and o_s.size:
                inside = (o_s <= a + tol) & (o_e >= b - tol)
                is_bc = bool(inside.any())
                if not is_bc and word_list and csum[o, b] - csum[o, a] > 0:
                    ws = [txt for spk, ws_, we_, txt in word_list
                          if (spk is None or spk == speakers[i])
                          and a * hop_sec <= 0.5 * (ws_ + we_) < b * hop_sec]
                    is_bc = _is_backchannel_text(ws)
            records.append((a, b, i, is_bc))
    records.sort(key=lambda r: (r[0], r[1]))
    res.utterances = [Utterance(speakers[i], a * hop_sec, b * hop_sec, bc)
                      for a, b, i, bc in records]

    # 3. turns and interruptions
    ov_min = int(round(INTERRUPTION_MIN_OVERLAP_SEC / hop_sec))
    talk_min = int(round(INTERRUPTION_MIN_TALK_SEC / hop_sec))
    # non-backchannel utterances of each speaker, sorted by start (they never overlap)
    full = [[(a, b) for a, b, i, bc in records if i == k and not bc] for k in (0, 1)]
    full_starts = [[a for a, _ in f] for f in full]
    turns: list[list[Any]] = []  # [speaker, start, end, [utterances], interruption]
    for a, b, i, bc in records:
        if bc:
            continue
        if turns and turns[-1][0] == i:
            turns[-1][2] = max(turns[-1][2], b)
            turns[-1][3].append((a, b))
            continue
        interrupt = False
        if turns and b - a >= talk_min:
            # the other speaker's utterance in progress at ``a`` (the last one starting before)
            k = bisect.bisect_left(full_starts[1 - i], a) - 1
            if k >= 0:
                oa, ob = full[1 - i][k]
                interrupt = oa < a < ob and min(b, ob) - a >= ov_min
        turns.append([i, a, b, [(a, b)], interrupt])
    res.turns = [Turn(speakers[i], a * hop_sec, b * hop_sec, len(us), intr)
                 for i, a, b, us, intr in turns]

    # 4. pauses: gaps inside a turn where the other speaker is silent, >= 250 ms each
    p_min = int(round(PAUSE_MIN_SEC / hop_sec))
    for i, _, _, us, _ in turns:
        for (_, e1), (s2, _) in itertools.pairwise(us):
            if s2 - e1 < p_min:
                continue
            s, e = mask_runs(~sm[1 - i, e1:s2])
            for a, b in zip(s, e, strict=True):
                if b - a >= p_min:
                    res.pauses.append(Pause(speakers[i], (e1 + a) * hop_sec, (e1 + b) * hop_sec))

    # 5. long silences: > 5 s without any utterance, call start to call end
    anyone = sm[0] | sm[1]
    s, e = mask_runs(~anyone)
    end_frame = dur / hop_sec
    for a, b in zip(s, e, strict=True):
        b_sec = dur if b >= t_frames else b * hop_sec
        if b_sec - a * hop_sec > LONG_SILENCE_SEC:
            res.long_silences.append((a * hop_sec, b_sec))
    if t_frames == 0 and dur > LONG_SILENCE_SEC:
        res.long_silences.append((0.0, dur))
    elif t_frames and end_frame - t_frames > 0 and anyone[-1] and \
            end_frame - t_frames > LONG_SILENCE_SEC / hop_sec:
        res.long_silences.append((t_frames * hop_sec, dur))
    return res


def interaction_features(
    activity: np.ndarray | torch.Tensor,
    hop_sec: float,
    *,
    words: Iterable[Any] | None = None,
    duration_sec: float | None = None,
    **options: Any,
) -> dict[str, float | int]:
    """Interaction, extended and pause/silence features of a two-speaker call.

    Args:
        activity: ``(2, T)`` bool, row 0 agent, row 1 customer.
        hop_sec: frame step, seconds.
        words: optional transcript words (backchannel recognition, see
            :func:`analyze_interaction`).
        duration_sec: call duration (default ``T * hop_sec``).
        **options: ``bridge_sec``, ``min_utterance_sec``, ``tol_sec`` of
            :func:`analyze_interaction`.

    Returns:
        ``interruption_count``, ``agent_interruption_count``, ``customer_interruption_count``
        (int); ``agent_talk_ratio`` (agent / (agent + customer) talk time; NaN when nobody
        speaks), ``turn_taking_rate`` (speaker changes per minute; 0 without turns; NaN for a
        zero-length call), ``avg_turn_duration_sec`` (NaN without turns),
        ``longest_monologue_sec`` (0 without turns), ``overtalk_ratio``, ``silence_ratio``
        (fractions of the call; NaN for a zero-length call), ``speech_to_silence_ratio``
        (time anyone speaks / silent time, silence floored at one frame; NaN for a
        zero-length call), ``long_silence_count`` (int), ``agent_talk_time_sec``,
        ``customer_talk_time_sec``, ``avg_pause_duration_sec`` (NaN without pauses),
        ``pause_frequency_per_min`` (0 without pauses; NaN for a zero-length call).
    """
    r = analyze_interaction(activity, hop_sec, words=words, duration_sec=duration_sec,
                            **options)
    nan = math.nan
    minutes = r.duration_sec / 60.0
    agent, customer = SPEAKERS
    ta, tc = r.talk_time_sec[agent], r.talk_time_sec[customer]
    inter = r.interruptions
    t_frames = int(activity.shape[-1])
    call_sec = t_frames * hop_sec  # the span the activity covers, for the time fractions
    speech_sec = call_sec - r.silence_sec
    durs = [t.duration for t in r.turns]
    pauses = [p.duration for p in r.pauses]
    feats: dict[str, float | int] = {
        "interruption_count": len(inter),
        "agent_interruption_count": sum(t.speaker == agent for t in inter),
        "customer_interruption_count": sum(t.speaker == customer for t in inter),
        "agent_talk_ratio": ta / (ta + tc) if ta + tc > 0 else nan,
        "turn_taking_rate": max(len(r.turns) - 1, 0) / minutes if minutes > 0 else nan,
        "avg_turn_duration_sec": float(np.mean(durs)) if durs else nan,
        "overtalk_ratio": r.overtalk_sec / call_sec if call_sec > 0 else nan,
        "longest_monologue_sec": float(max(durs)) if durs else 0.0,
        "long_silence_count": len(r.long_silences),
        "agent_talk_time_sec": ta,
        "customer_talk_time_sec": tc,
        "avg_pause_duration_sec": float(np.mean(pauses)) if pauses else nan,
        "pause_frequency_per_min": len(pauses) / minutes if minutes > 0 else nan,
        "silence_ratio": r.silence_sec / call_sec if call_sec > 0 else nan,
        "speech_to_silence_ratio": (speech_sec / max(r.silence_sec, hop_sec)
                                    if call_sec > 0 else nan),
    }
    return {k: v if isinstance(v, int) else float(v) for k, v in feats.items()}


# --------------------------------------------------------------------------- DER


def diarization_error_rate(
    reference: np.ndarray | torch.Tensor,
    hypothesis: np.ndarray | torch.Tensor,
    *,
    return_details: bool = False,
) -> float | dict[str, Any]:
    """Frame-level diarization error rate (NIST definition, no collar, overlap scored).

    ``DER = (missed + false alarm + confusion) / reference speech``, where per frame with
    ``R`` reference and ``H`` hypothesis speakers active: missed = ``max(0, R - H)``, false
    alarm = ``max(0, H - R)``, confusion = ``min(R, H) - correct``; ``correct`` counts the
    reference speakers active in the frame whose mapped hypothesis speaker is active too,
    under the one-to-one speaker mapping that maximises the total correct time (Hungarian
    algorithm). Sums are over frames (multiply by the frame step for seconds).

    Args:
        reference: ``(S_ref, T)`` bool activity.
        hypothesis: ``(S_hyp, T)`` bool activity (the same frames).
        return_details: also return the components (in frames) and the mapping.

    Returns:
        The DER (``nan`` when the reference has no speech and the hypothesis none either;
        ``inf`` when only the hypothesis has speech), or a dict with ``der``, ``missed``,
        ``false_alarm``, ``confusion``, ``reference`` (frames) and ``mapping``.
    """
    from scipy.optimize import linear_sum_assignment

    ref = np.asarray(reference.cpu() if isinstance(reference, torch.Tensor) else reference,
                     dtype=bool)
    hyp = np.asarray(hypothesis.cpu() if isinstance(hypothesis, torch.Tensor) else hypothesis,
                     dtype=bool)
    if ref.ndim == 1:
        ref = ref[None]
    if hyp.ndim == 1:
        hyp = hyp[None]
    if ref.shape[-1] != hyp.shape[-1]:
        raise ConfigurationError(f"diarization_error_rate: reference has {ref.shape[-1]} frames, "
                                 f"hypothesis {hyp.shape[-1]}")
    r_cnt = ref.sum(0).astype(np.int64)
    h_cnt = hyp.sum(0).astype(np.int64)
    missed = int(np.maximum(r_cnt - h_cnt, 0).sum())
    fa = int(np.maximum(h_cnt - r_cnt, 0).sum())
    overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)                 # (S_ref, S_hyp)
    mapping: dict[int, int] = {}
    correct = 0
    if overlap.size:
        ri, hi = linear_sum_assignment(-overlap)
        mapping = {int(a): int(b) for a, b in zip(ri, hi, strict=True)}
        correct = int(overlap[ri, hi].sum())
    confusion = int(np.minimum(r_cnt, h_cnt).sum()) - correct
    total = int(r_cnt.sum())
    err = missed + fa + confusion
    der = err / total if total else (math.nan if err == 0 else math.inf)
    if return_details:
        return {"der": der, "missed": missed, "false_alarm": fa, "confusion": confusion,
                "reference": total, "mapping": mapping}
    return der


# --------------------------------------------------------------------------- mono diarization


def _mel_filterbank(n_fft: int, sr: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters ``(n_fft // 2 + 1, n_mels)`` (HTK mel scale, unit peak)."""
    def hz_to_mel(f: Any) -> Any:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: Any) -> Any:
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lo[None]) / np.maximum(mid - lo, 1e-9)[None]
    down = (hi[None] - freqs[:, None]) / np.maximum(hi - mid, 1e-9)[None]
    return np.clip(np.minimum(up, down), 0.0, None)


def _frame_features(y: torch.Tensor, sr: int, hop: int, frames_idx: torch.Tensor,
                    n_mels: int = 24, f0_range: tuple[float, float] = (60.0, 400.0),
                    with_f0: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-mel energies ``(K, n_mels)`` (100-3800 Hz) and, if ``with_f0``, an autocorrelation
    F0 ``(K,)`` in Hz (NaN unvoiced) of the grid frames ``frames_idx`` of the 1-D signal
    ``y``; 32 ms Hann frames."""
    win = 1 << int(round(math.log2(0.032 * sr)))
    n_fft = 2 * win if with_f0 else win          # zero-padded: linear autocorrelation
    frames = F.frame_grid(y, win, hop).index_select(0, frames_idx)         # (K, win)
    frames = frames - frames.mean(-1, keepdim=True)
    w = torch.hann_window(win, periodic=True, dtype=frames.dtype)
    spec = torch.fft.rfft(frames * w, n=n_fft, dim=-1)
    power = torch.view_as_real(spec).square().sum(-1)                        # (K, n_fft/2+1)
    fb = torch.as_tensor(_mel_filterbank(n_fft, sr, n_mels, 100.0, min(3800.0, 0.48 * sr)),
                         dtype=power.dtype)
    logmel = torch.log(power @ fb + 1e-10)
    if not with_f0:
        return logmel, None
    # autocorrelation, unbiased by the window's own; F0 = the strongest lag in range
    ac = torch.fft.irfft(power, n=n_fft, dim=-1)[:, :win]
    wac = torch.fft.irfft(torch.fft.rfft(w, n=n_fft).abs().square(), n=n_fft)[:win]
    ac = ac / wac.clamp_min(1e-6 * float(wac[0]))
    ac = ac / ac[:, :1].clamp_min(1e-20)
    lag_lo = max(int(sr / f0_range[1]), 2)
    lag_hi = min(int(sr / f0_range[0]), win // 2)
    peak, arg = ac[:, lag_lo:lag_hi + 1].max(-1)
    f0 = sr / (arg + lag_lo).to(torch.float32)
    return logmel, torch.where(peak >= 0.5, f0, torch.full_like(f0, math.nan))


def _kmeans2(x: np.ndarray, n_init: int = 8, n_iter: int = 50,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Two-cluster k-means (k-means++ seeding, best of ``n_init``): labels, centres, inertia."""
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    n = x.shape[0]
    for _ in range(n_init):
        c0 = x[rng.integers(n)]
        d = ((x - c0) ** 2).sum(1)
        p = d / d.sum() if d.sum() > 0 else np.full(n, 1.0 / n)
        c = np.stack([c0, x[rng.choice(n, p=p)]])
        lab = np.zeros(n, dtype=int)
        for _ in range(n_iter):
            dist = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = dist.argmin(1)
            if _ and np.array_equal(new, lab):
                break
            lab = new
            for k in (0, 1):
                if (lab == k).any():
                    c[k] = x[lab == k].mean(0)
        inertia = float(((x - c[lab]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (lab.copy(), c.copy(), inertia)
    assert best is not None
    return best


def diarize(
    y: torch.Tensor | np.ndarray,
    sr: int,
    *,
    hop_length: int | None = None,
    vad: torch.Tensor | np.ndarray | None = None,
    f0: torch.Tensor | np.ndarray | None = None,
    window_sec: float = 0.7,
    bridge_sec: float = 0.2,
    n_mfcc: int = 19,
    f0_weight: float = 2.0,
    frame_step: int = 2,
    **vad_kwargs: Any,
) -> torch.Tensor:
    """Two-speaker diarization of a mono call: ``(n_samples,)`` or ``(1, n) -> (2, T)`` bool.

    1. Voice activity (``vad``, or :func:`~callquality.features.vad.voice_activity`).
    2. Speech is cut into windows: each voice-active stretch (silences < ``bridge_sec``
       bridged) is split into pieces of about ``window_sec`` (0.7 s).
    3. Each window gets an embedding from every ``frame_step``-th of its voice-active frames
       (32 ms Hann frames): the mean of cepstral coefficients 1..``n_mfcc`` (DCT of a 24-band
       log-mel spectrum, 100-3800 Hz; level-independent) and the mean log F0 of its voiced
       frames (the ``f0`` track in Hz if given, else an autocorrelation estimate; windows
       without voicing get the call's mean). The dimensions are standardised over the call;
       F0 is weighted by ``f0_weight``.
    4. The embeddings are whitened by the *within-speaker* covariance, estimated from
       consecutive windows of the same stretch (see :func:`_whiten_within`): an
       unsupervised LDA that makes the between-speaker direction dominate.
    5. Two-cluster k-means (k-means++ seeding, best of 8, fixed seed: deterministic); each
       window's frames get its cluster.
    6. **Agent = the speaker of the first speech** (the agent answers and greets): the
       cluster of the first window becomes row 0.

    One frame has at most one speaker (overlapped speech goes to one of them), so overlap
    counts as missed speech in the diarization error rate and mono interruptions are not
    detected. A call with one voice is still split in two clusters.
    """
    yt = F.as_tensor(y)
    if yt.ndim == 2 and yt.shape[0] == 1:
        yt = yt[0]
    if yt.ndim != 1:
        raise ConfigurationError(f"diarize: expected a mono signal (n,) or (1, n), got shape "
                                 f"{tuple(yt.shape)}")
    hop = hop_length or sr // 100
    t = F.grid_frames(yt.shape[-1], hop)
    out = torch.zeros((2, t), dtype=torch.bool)
    if t == 0:
        return out
    speech = (torch.as_tensor(vad).reshape(-1)[:t].bool().cpu() if vad is not None
              else voice_activity(yt, sr, hop_length=hop, **vad_kwargs).cpu())
    if not bool(speech.any()):
        return out
    idx = torch.nonzero(speech).flatten()[::max(int(frame_step), 1)]
    logmel, f0_auto = _frame_features(yt.cpu(), sr, hop, idx, with_f0=f0 is None)
    if f0 is not None:
        f0_t = torch.as_tensor(f0, dtype=torch.float32).reshape(-1)[:t].cpu()
        f0_sp = f0_t[idx]
        f0_sp = torch.where(f0_sp > 0, f0_sp, torch.full_like(f0_sp, math.nan))
    else:
        assert f0_auto is not None
        f0_sp = f0_auto
    mfcc = logmel.double().numpy() @ _dct_basis(logmel.shape[1], n_mfcc + 1)[:, 1:]
    feats = np.concatenate([mfcc, np.log(f0_sp.double().numpy())[:, None]], axis=1)
    return _cluster_windows(speech.numpy(), idx.numpy(), feats, hop / sr, window_sec,
                            bridge_sec, f0_weight)


def _dct_basis(n: int, k: int) -> np.ndarray:
    """DCT-II basis ``(n, k)``: log-mel energies ``@`` basis = cepstral coefficients 0..k-1."""
    i = np.arange(n)
    return np.cos(np.pi / n * (i[:, None] + 0.5) * np.arange(k)[None, :])


def _window_ids(speech: np.ndarray, hop_sec: float, window_sec: float,
                bridge_sec: float) -> np.ndarray:
    """Window id of every frame (-1 outside speech): stretches cut into ~window_sec pieces."""
    wid = np.full(speech.shape[0], -1, dtype=np.int64)
    m = bridge_gaps(speech, max(int(round(bridge_sec / hop_sec)), 1))
    s, e = mask_runs(m)
    wlen = max(int(round(window_sec / hop_sec)), 1)
    k = 0
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        n_win = max(int(round((b - a) / wlen)), 1)
        bounds = np.linspace(a, b, n_win + 1).round().astype(int)
        for j in range(n_win):
            wid[bounds[j]:bounds[j + 1]] = k
            k += 1
    return np.where(speech, wid, -1)


def _whiten_within(z: np.ndarray, wid_all: np.ndarray, speech: np.ndarray, hop_sec: float,
                   bridge_sec: float, shrink: float = 0.3) -> np.ndarray:
    """Whiten window embeddings ``z (W, D)`` by the *within-speaker* covariance.

    Consecutive windows of one voice-active stretch almost always belong to the same speaker,
    so half the covariance of their differences estimates the within-speaker covariance
    ``S_w``; in ``z S_w^{-1/2}`` the remaining spread is mostly between speakers, which is
    what the clustering should split (an unsupervised LDA). The estimate is shrunk towards
    a multiple of the identity by ``min(1, shrink * D / n_pairs)``.
    """
    if z.shape[0] < 3:
        return z
    run = np.full(speech.shape[0], -1, dtype=np.int64)
    s, e = mask_runs(bridge_gaps(speech, max(int(round(bridge_sec / hop_sec)), 1)))
    for k, (a, b) in enumerate(zip(s.tolist(), e.tolist(), strict=True)):
        run[a:b] = k
    first = np.full(z.shape[0], -1, dtype=np.int64)
    frames = np.flatnonzero(wid_all >= 0)
    ids = wid_all[frames]
    uniq, pos = np.unique(ids, return_index=True)
    first[uniq] = frames[pos]                            # first frame of each window
    wrun = run[np.clip(first, 0, None)]
    same = wrun[1:] == wrun[:-1]
    d = (z[1:] - z[:-1])[same]
    if d.shape[0] < 3:
        return z
    dim = z.shape[1]
    cov = d.T @ d / (2.0 * d.shape[0])
    # shrink towards a multiple of the identity, the more the fewer pairs (short calls)
    a = min(1.0, shrink * dim / d.shape[0])
    cov = (1.0 - a) * cov + a * np.trace(cov) / dim * np.eye(dim) + 0.01 * np.eye(dim)
    ev, vec = np.linalg.eigh(cov)
    return (z @ vec) / np.sqrt(np.maximum(ev, 1e-9))


def _cluster_windows(speech: np.ndarray, idx: np.ndarray, feats: np.ndarray, hop_sec: float,
                     window_sec: float, bridge_sec: float, f0_weight: float) -> torch.Tensor:
    t = speech.shape[0]
    out = np.zeros((2, t), dtype=bool)
    wid_all = _window_ids(speech, hop_sec, window_sec, bridge_sec)
    wid = wid_all[idx]                                                       # per speech frame
    n_win = int(wid_all.max()) + 1
    has = np.bincount(wid, minlength=n_win) > 0       # windows with analysed frames
    # window means (NaN-aware for F0)
    emb = np.zeros((n_win, feats.shape[1]))
    for d in range(feats.shape[1]):
        col = feats[:, d]
        ok = np.isfinite(col)
        sums = np.bincount(wid[ok], weights=col[ok], minlength=n_win)
        cnt = np.bincount(wid[ok], minlength=n_win)
        emb[:, d] = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    # windows without a voiced frame: F0 imputed by the mean
    col_mean = np.nanmean(np.where(np.isfinite(emb), emb, np.nan), axis=0)
    col_mean = np.where(np.isfinite(col_mean), col_mean, 0.0)
    emb = np.where(np.isfinite(emb), emb, col_mean[None])[has]
    sd = emb.std(0)
    z = (emb - emb.mean(0)) / np.where(sd > 1e-9, sd, 1.0)
    z[:, -1] *= f0_weight
    kept = np.flatnonzero(has)
    remap = np.full(n_win, -1, dtype=np.int64)
    remap[kept] = np.arange(kept.size)
    z = _whiten_within(z, np.where(wid_all >= 0, remap[np.clip(wid_all, 0, None)], -1), speech,
                       hop_sec, bridge_sec)
    lab_kept = np.zeros(kept.size, dtype=int) if kept.size < 2 else _kmeans2(z)[0]
    # a window without analysed frames takes the label of the nearest analysed one before it
    prev = np.maximum.accumulate(np.where(has, np.arange(n_win), -1))
    prev = np.where(prev >= 0, prev, kept[0])
    labels = lab_kept[remap[prev]]
    # agent = cluster of the first window
    agent_label = labels[0]
    frame_lab = np.where(wid_all >= 0, labels[np.clip(wid_all, 0, None)], -1)
    out[0] = frame_lab == agent_label
    out[1] = (frame_lab >= 0) & (frame_lab != agent_label)
    return torch.from_numpy(out)


def diarize_tracks(tracks: Any, sr: int, y: torch.Tensor | np.ndarray | None = None, *,
                   window_sec: float = 0.7, bridge_sec: float = 0.2,
                   f0_weight: float = 2.0) -> torch.Tensor:
    """:func:`diarize` on frame tracks the extractor already has: ``(2, T)`` bool.

    ``tracks`` has ``(C, T)`` attributes ``vad`` and ``f0`` (Hz, NaN unvoiced), and, when
    ``y`` (the mono samples) is not given, ``level_db``, ``centroid`` and ``zcr``: then the
    window embedding is the mean level, spectral centroid, zero-crossing rate and median log
    F0 (weaker than the log-mel spectrum that ``y`` allows).
    """
    vad = torch.as_tensor(tracks.vad)[0].bool().cpu()
    f0 = torch.as_tensor(tracks.f0)[0].float().cpu()
    if y is not None:
        return diarize(y, sr, vad=vad, f0=f0, window_sec=window_sec, bridge_sec=bridge_sec,
                       f0_weight=f0_weight)
    t = vad.shape[0]
    if not bool(vad.any()):
        return torch.zeros((2, t), dtype=torch.bool)
    idx = torch.nonzero(vad).flatten()
    cols = [torch.as_tensor(getattr(tracks, name))[0].float().cpu()[idx]
            for name in ("level_db", "centroid", "zcr")]
    f0_sp = f0[idx]
    f0_sp = torch.where(f0_sp > 0, f0_sp, torch.full_like(f0_sp, math.nan))
    feats = torch.stack([*cols, torch.log(f0_sp)], dim=1).numpy().astype(np.float64)
    hop_sec = 0.01
    return _cluster_windows(vad.numpy(), idx.numpy(), feats, hop_sec, window_sec, bridge_sec,
                            f0_weight)
