"""Voice activity detection: grid, timing of known bursts, noise rejection, batching, degenerate
input, and agreement with the word timings of the fixture corpus."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import callquality as cq
from callquality.exceptions import ConfigurationError
from callquality.features.vad import (
    band_level_and_flatness,
    fill_short_runs,
    voice_activity,
    voice_activity_from_features,
    voice_activity_with_level,
)

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"
SR = 8000
HOP = SR // 100


# --------------------------------------------------------------------------- synthetic signals


def vowel(seconds: float, sr: int = SR, f0: float = 140.0, formants=(600, 1400, 2500),
          level_dbfs: float = -22.0, seed: int = 0) -> np.ndarray:
    """A steady synthetic vowel: harmonics of ``f0`` shaped by three formant peaks, RMS
    ``level_dbfs``, with a little F0 jitter so it is not a pure periodic tone."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f_inst = f0 * (1 + 0.02 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f_inst) / sr
    y = np.zeros(n)
    for k in range(1, int(0.45 * sr / f0)):
        f = k * f0
        amp = sum(np.exp(-0.5 * ((f - fm) / 120.0) ** 2) for fm in formants) + 0.02
        y += amp * np.sin(k * phase)
    y *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(y ** 2))
    return y


def timeline(total: float, spans, sr: int = SR, noise_dbfs: float = -60.0, seed: int = 1,
             **vowel_kw) -> np.ndarray:
    """White noise at ``noise_dbfs`` with synthetic vowels on the ``(start, end)`` spans (s)."""
    rng = np.random.default_rng(seed)
    n = int(round(total * sr))
    y = rng.standard_normal(n) * 10 ** (noise_dbfs / 20)
    for i, (a, b) in enumerate(spans):
        s, e = int(round(a * sr)), int(round(b * sr))
        y[s:e] += vowel((e - s) / sr, sr, seed=seed + i, **vowel_kw)
    return y.astype(np.float32)


def truth_frames(total: float, spans, sr: int = SR) -> np.ndarray:
    """Frames (10 ms grid, centre at (t + 0.5) hop) whose centre lies inside a span."""
    hop = sr // 100
    t_frames = -(-int(round(total * sr)) // hop)
    centre = (np.arange(t_frames) + 0.5) * hop / sr
    m = np.zeros(t_frames, bool)
    for a, b in spans:
        m |= (centre >= a) & (centre < b)
    return m


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


SPANS = ((0.5, 1.3), (1.8, 2.1), (3.0, 4.6), (5.2, 5.5))


# --------------------------------------------------------------------------- grid and timing


def test_grid_shape_and_dtype():
    y = timeline(6.0, SPANS)
    v = voice_activity(y, SR)
    assert v.dtype == torch.bool
    assert v.shape == (-(-y.size // HOP),)
    # an odd length still gets ceil(n / hop) frames
    assert voice_activity(y[:12345], SR).shape == (-(-12345 // HOP),)


@pytest.mark.parametrize("sr", [8000, 16000])
def test_known_bursts_are_found_to_within_two_frames(sr):
    y = timeline(6.0, SPANS, sr=sr)
    v = voice_activity(y, sr).numpy()
    found = runs(v)
    assert len(found) == len(SPANS)
    for (a, b), (s, e) in zip(SPANS, found, strict=True):
        assert abs(s * 0.01 - a) <= 0.02, (a, s)
        assert abs(e * 0.01 - b) <= 0.02, (b, e)
    agree = (v == truth_frames(6.0, SPANS, sr)).mean()
    assert agree >= 0.98


def test_quiet_speech_above_the_noise_is_found_and_loud_noise_alone_is_not():
    # speech 20 dB above a loud noise floor is found ...
    y = timeline(6.0, SPANS, noise_dbfs=-40.0, level_dbfs=-20.0)
    v = voice_activity(y, SR).numpy()
    assert (v == truth_frames(6.0, SPANS)).mean() >= 0.97
    # ... while stationary noise of any level is never speech
    rng = np.random.default_rng(3)
    for level in (1e-4, 1e-2, 0.3):
        noise = (rng.standard_normal(SR * 5) * level).astype(np.float32)
        assert not voice_activity(noise, SR).any()


def test_noise_bursts_are_not_speech_but_vowels_of_the_same_level_are():
    rng = np.random.default_rng(5)
    y = timeline(6.0, ((0.5, 1.5),), noise_dbfs=-60.0, level_dbfs=-25.0)
    burst = rng.standard_normal(SR) * 10 ** (-25 / 20)           # white noise, same RMS
    y[3 * SR:4 * SR] += burst.astype(np.float32)
    v = voice_activity(y, SR).numpy()
    centre = (np.arange(v.size) + 0.5) * 0.01
    assert v[(centre > 0.55) & (centre < 1.45)].all()
    assert not v[(centre > 2.9) & (centre < 4.1)].any()           # flat spectrum: no seed


def test_min_durations():
    y = timeline(4.0, ((0.5, 1.0), (1.06, 1.5), (2.5, 2.53)))
    v = voice_activity(y, SR, min_silence_sec=0.1, min_speech_sec=0.05).numpy()
    found = runs(v)
    assert len(found) == 1                                        # 60 ms gap bridged, click gone
    assert abs(found[0][0] * 0.01 - 0.5) <= 0.02 and abs(found[0][1] * 0.01 - 1.5) <= 0.02
    v2 = voice_activity(y, SR, min_silence_sec=0.0, min_speech_sec=0.0).numpy()
    assert len(runs(v2)) == 3
    v3 = voice_activity(y, SR, min_silence_sec=0.1, hangover_sec=0.1).numpy()
    assert abs(runs(v3)[0][1] * 0.01 - 1.6) <= 0.02


def test_fill_short_runs():
    m = torch.tensor([[0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0]], dtype=torch.bool)
    bridged = fill_short_runs(m, False, 2, interior_only=True)
    assert bridged.int().tolist() == [[0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0]]
    dropped = fill_short_runs(m, True, 2)
    assert dropped.int().tolist() == [[0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]]


# --------------------------------------------------------------------------- batching


def test_batched_with_padding_matches_one_by_one():
    a = timeline(6.0, SPANS, seed=1)
    b = timeline(3.5, ((0.4, 1.9),), seed=2, noise_dbfs=-50.0)
    c = timeline(5.0, ((1.0, 4.0),), seed=3, f0=220.0)
    n = a.size
    batch = np.zeros((3, 2, n), np.float32)
    batch[0, 0], batch[0, 1] = a, a[::-1]
    batch[1, 0, :b.size], batch[1, 1, :b.size] = b, b * 0.5
    batch[2, 0, :c.size], batch[2, 1, :c.size] = c, 0.0
    lengths = torch.tensor([n, b.size, c.size])
    v = voice_activity(torch.from_numpy(batch), SR, lengths=lengths)
    assert v.shape == (3, 2, -(-n // HOP))
    for i, ln in enumerate((n, b.size, c.size)):
        t = -(-ln // HOP)
        single = voice_activity(batch[i, :, :ln], SR)
        assert torch.equal(v[i, :, :t], single)
        assert not v[i, :, t:].any()                               # padding is never speech
    assert torch.equal(v[0, 0], voice_activity(a, SR))


def test_mask_and_bad_arguments():
    y = timeline(6.0, SPANS)
    t = -(-y.size // HOP)
    mask = torch.zeros(t, dtype=torch.bool)
    mask[: t // 2] = True
    v = voice_activity(y, SR, mask=mask)
    assert not v[t // 2:].any() and v[: t // 2].any()
    with pytest.raises(ConfigurationError):
        voice_activity(y, SR, method="nope")
    with pytest.raises(ConfigurationError):
        voice_activity(y, 0)
    with pytest.raises(ConfigurationError):
        voice_activity(y, SR, onset_db=2.0, offset_db=5.0)


# --------------------------------------------------------------------------- degenerate input


def test_degenerate_inputs_have_defined_outputs():
    speech = timeline(6.0, SPANS)
    ref = voice_activity(speech, SR)
    # digital silence, empty and sub-frame signals
    assert not voice_activity(np.zeros(SR * 3, np.float32), SR).any()
    assert voice_activity(np.zeros(0, np.float32), SR).shape == (0,)
    assert voice_activity(np.zeros(10, np.float32), SR).shape == (1,)
    # DC offset: the speech band excludes it
    dc = voice_activity(speech + 0.3, SR)
    assert (dc == ref).float().mean() >= 0.99
    # hard clipping at a tenth of the peak still leaves the bursts
    clip = np.clip(speech, -0.1 * np.abs(speech).max(), 0.1 * np.abs(speech).max())
    assert (voice_activity(clip, SR) == ref).float().mean() >= 0.97
    # a 1-second call with one word
    short = timeline(1.0, ((0.3, 0.7),))
    v = voice_activity(short, SR).numpy()
    assert v.size == 100 and (v == truth_frames(1.0, ((0.3, 0.7),))).mean() >= 0.97
    # one silent channel
    st = np.stack([speech, np.zeros_like(speech)])
    vs = voice_activity(st, SR)
    assert torch.equal(vs[0], ref) and not vs[1].any()


def test_band_level_of_a_sine():
    t = np.arange(SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    level, flat = band_level_and_flatness(y, SR)
    # 0.5-amplitude sine: mean square 0.125 = -9.03 dBFS, all in the band
    assert abs(float(level[5:-5].median()) - 10 * np.log10(0.125)) < 0.5
    assert float(flat[5:-5].median()) < -10.0                      # a line spectrum is peaky
    lv_out, _ = band_level_and_flatness((0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32),
                                        SR)
    assert float(lv_out[5:-5].median()) < -30.0                     # 100 Hz is out of band


def test_features_entry_point_matches():
    y = torch.from_numpy(timeline(6.0, SPANS))
    level, flat = band_level_and_flatness(y, SR)
    assert torch.equal(voice_activity_from_features(level, flat), voice_activity(y, SR))


def test_activity_with_level_is_one_pass_of_both():
    y = torch.from_numpy(np.stack([timeline(6.0, SPANS), timeline(6.0, SPANS[:2], seed=5)]))
    lengths = torch.tensor([6 * SR, 4 * SR])
    speech, level = voice_activity_with_level(y, SR, lengths=lengths, onset_db=9.0)
    assert torch.equal(speech, voice_activity(y, SR, lengths=lengths, onset_db=9.0))
    assert torch.equal(level, band_level_and_flatness(y, SR)[0])
    with pytest.raises(ConfigurationError):
        voice_activity_with_level(y, SR, method="silero")
    with pytest.raises(ConfigurationError):
        voice_activity_with_level(y, SR, no_such_argument=1)


# --------------------------------------------------------------------------- fixture corpus


@pytest.fixture(scope="module")
def stereo_calls():
    calls = [c for c in cq.load_calls(FIXTURES) if c.ground_truth and not c.ground_truth["mono"]]
    if not calls:
        pytest.skip("fixture corpus missing")
    return calls


def word_frames(call: cq.Call, t_frames: int, *, utterances: bool = False) -> np.ndarray:
    """(2, T) frames covered by each speaker's words (the sidecar's word timings), or by their
    utterances (words with the gaps < 250 ms between them)."""
    m = np.zeros((2, t_frames), bool)
    for seg in call.transcript.segments:
        i = 0 if seg.speaker == "agent" else 1
        spans = [(seg.start, seg.end)] if utterances else [(w.start, w.end) for w in seg.words]
        for a, b in spans:
            m[i, int(round(a * 100)):int(round(b * 100))] = True
    return m


def test_vad_agrees_with_fixture_word_timings(stereo_calls):
    recalls, false_alarms = [], []
    for call in stereo_calls[:12]:
        v = voice_activity(call.audio(), call.sample_rate).numpy()
        words = word_frames(call, v.shape[1])
        talk = word_frames(call, v.shape[1], utterances=True).any(0)
        for ch in (0, 1):
            recalls.append((v[ch] & words[ch]).sum() / words[ch].sum())
            # speech where nobody talks (outside every utterance of both parties); the VAD
            # alone also hears the other party's crosstalk, so that is not counted here
            false_alarms.append((v[ch] & ~talk).sum() / max(v[ch].sum(), 1))
    assert np.mean(recalls) >= 0.9, recalls
    assert np.mean(false_alarms) <= 0.03, false_alarms


@pytest.mark.skipif(importlib.util.find_spec("silero_vad") is None,
                    reason="silero-vad not installed")
def test_silero_method(stereo_calls):
    threads = torch.get_num_threads()
    call = stereo_calls[0]
    y = call.audio()[:, : 15 * call.sample_rate]
    v = voice_activity(y, call.sample_rate, method="silero").numpy()
    assert torch.get_num_threads() == threads                     # import side effect undone
    assert v.shape == (2, -(-y.shape[1] // (call.sample_rate // 100)))
    words = word_frames(call, v.shape[1])
    for ch in (0, 1):
        if words[ch].sum() > 100:
            assert (v[ch] & words[ch]).sum() / words[ch].sum() >= 0.85
    # silence stays silence
    assert not voice_activity(np.zeros(16000, np.float32), 16000, method="silero").any()
