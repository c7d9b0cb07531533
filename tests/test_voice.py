"""Voice quality: glottal pulses, jitter, shimmer and HNR against synthetic truth and against
Praat (parselmouth), pooling, batches, masks and degenerate input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import _synthetic
from callquality.features import functional as F
from callquality.features import pitch as P
from callquality.features import voice as V

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"
PRAAT_PITCH = (0.0, 75, 15, False, 0.03, 0.45, 0.01, 0.35, 0.14, 600)


# --------------------------------------------------------------------------- synthetic source


def glottal_source(f0: float, jitter: float, shimmer: float, sr: int, *, dur: float = 1.0,
                   snr_db: float | None = None, seed: int = 0
                   ) -> tuple[np.ndarray, float, float, np.ndarray]:
    """A glottal-like pulse train whose jitter and shimmer are known exactly.

    Cycle ``i`` starts at ``onset[i]`` and is one smooth biphasic pulse (the derivative of a
    raised-sine flow) of fixed duration, scaled by ``amp[i]``; the pulse is shorter than the
    shortest cycle, so cycles never overlap and the waveform repeats exactly up to timing and
    scale. Cycle durations are ``T0 (1 +- 0.75 jitter U(0.5, 1.5))``, amplitudes
    ``1 +- 0.75 shimmer U(0.5, 1.5)`` (random signs).

    Returns ``(y, true_jitter, true_shimmer, onsets_s)`` where the truths use Praat's
    definitions on the true cycles: jitter = mean ``|T_i - T_{i-1}|`` / mean ``T`` over the
    intervals between onsets, shimmer = mean ``|A_i - A_{i-1}|`` / mean ``A`` over the interior
    cycles (the ones Praat can give an amplitude: both neighbouring intervals exist).
    """
    y, onsets, amps = _synthetic.glottal_source(f0, jitter, shimmer, sr, dur=dur,
                                                snr_db=snr_db, seed=seed)
    per = np.diff(onsets)
    true_jitter = float(np.mean(np.abs(np.diff(per))) / per.mean())
    inner = amps[1:-1]
    true_shimmer = float(np.mean(np.abs(np.diff(inner))) / inner.mean())
    return y, true_jitter, true_shimmer, onsets


def _analyse(y: np.ndarray, sr: int, fmin: float = 50.0) -> dict[str, float]:
    yt = torch.from_numpy(y)
    track = P.yin(yt, sr, fmin=fmin, fmax=500.0)
    out = V.voice_quality(yt, sr, track)
    assert isinstance(out, dict)
    return out


def _praat_hnr(y: np.ndarray, sr: int) -> float:
    parselmouth = pytest.importorskip("parselmouth")
    from parselmouth.praat import call

    snd = parselmouth.Sound(y.astype(np.float64), sr)
    return call(call(snd, "To Harmonicity (cc)", 0.01, 75, 0.1, 1.0), "Get mean", 0, 0)


# --------------------------------------------------------------------------- synthetic truth


@pytest.mark.parametrize("sr", [8000, 16000])
@pytest.mark.parametrize(("f0", "jitter", "shimmer"), [
    (60.0, 0.0, 0.0), (100.0, 0.01, 0.05), (200.0, 0.02, 0.08), (400.0, 0.03, 0.10),
])
def test_jitter_and_shimmer_match_the_truth(sr: int, f0: float, jitter: float,
                                            shimmer: float) -> None:
    y, tj, ts, _ = glottal_source(f0, jitter, shimmer, sr, seed=7)
    out = _analyse(y, sr)
    assert abs(out["jitter"] - tj) <= 0.15 * tj + 2e-4
    assert abs(out["shimmer"] - ts) <= 0.15 * ts + 2e-3
    assert out["n_pulses"] >= 0.9 * f0 * 0.96


@settings(max_examples=20, deadline=None, derandomize=True,
          phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@given(f0=st.floats(60.0, 400.0), jitter=st.floats(0.0, 0.03), shimmer=st.floats(0.0, 0.10),
       snr=st.one_of(st.none(), st.floats(30.0, 60.0)), sr=st.sampled_from([8000, 16000]),
       seed=st.integers(0, 1000))
def test_property_voice_quality(f0: float, jitter: float, shimmer: float, snr: float | None,
                                sr: int, seed: int) -> None:
    y, tj, ts, _ = glottal_source(f0, jitter, shimmer, sr, snr_db=snr, seed=seed)
    out = _analyse(y, sr)
    # additive noise moves the measured cycles: an absolute allowance that shrinks with SNR;
    # the amplitude window follows the cycle length (Praat: 0.2 of each adjacent period),
    # so jitter leaks a little into shimmer
    noise = 0.0 if snr is None else 10 ** (-snr / 20)
    assert abs(out["jitter"] - tj) <= 0.15 * tj + 2e-4 + 0.1 * noise
    assert abs(out["shimmer"] - ts) <= 0.15 * ts + 2e-3 + 1.0 * noise + 0.25 * tj
    # HNR against Praat where it is a measurement: above the 75 Hz pitch floor, and below
    # 30 dB (beyond that the figure resolves the fourth decimal of the correlation and both
    # tools' peak interpolation errors dominate)
    if f0 >= 80.0:
        ref = _praat_hnr(y, sr)
        if ref <= 30.0:
            assert abs(out["hnr_db"] - ref) <= 1.5


def test_pulses_follow_the_true_cycles() -> None:
    sr = 16000
    y, _, _, onsets = glottal_source(130.0, 0.02, 0.05, sr, seed=3)
    track = P.yin(torch.from_numpy(y), sr)
    pulses = V.glottal_pulses(torch.from_numpy(y), sr, track)
    assert (pulses.row == 0).all()
    t = pulses.time.numpy()
    assert np.all(np.diff(t) > 0)
    # every pulse sits at the same phase of its cycle: intervals equal the true cycles
    k = np.searchsorted(onsets, t, side="right") - 1
    ok = (k >= 0) & (k < len(onsets) - 1)
    phase = t[ok] - onsets[k[ok]]
    assert np.ptp(phase[1:-1]) < 2.0 / sr
    assert len(np.unique(k[ok])) >= 0.9 * (len(onsets) - 2)


def test_hnr_of_a_noisy_periodic_signal_matches_praat() -> None:
    for sr in (8000, 16000):
        for snr in (10.0, 20.0, 30.0):
            y, _, _, _ = glottal_source(150.0, 0.005, 0.02, sr, snr_db=snr, seed=int(snr))
            ours = V.harmonicity_cc(torch.from_numpy(y), sr)
            mean = float(np.nanmean(ours.numpy()))
            assert abs(mean - _praat_hnr(y, sr)) <= 1.5
            assert ours.shape == (-(-y.size // (sr // 100)),)


# --------------------------------------------------------------------------- batches, masks, pooling


def test_batch_equals_rows_and_pool_combines_sums() -> None:
    sr = 8000
    a, _, _, _ = glottal_source(110.0, 0.01, 0.04, sr, seed=1)
    b, _, _, _ = glottal_source(210.0, 0.02, 0.06, sr, seed=2, snr_db=35)
    batch = torch.from_numpy(np.stack([a, b]))
    track = P.yin(batch, sr)
    both = V.voice_quality(batch, sr, track)
    assert isinstance(both, list) and len(both) == 2
    for i, y in enumerate((a, b)):
        one = V.voice_quality(torch.from_numpy(y), sr, P.yin(torch.from_numpy(y), sr))
        assert isinstance(one, dict)
        for key in ("jitter", "shimmer", "hnr_db", "n_pulses", "n_hnr_frames"):
            assert one[key] == pytest.approx(both[i][key], rel=1e-6), key
    pooled = V.pool(both)
    expected = ((both[0]["jitter_sum_abs_diff"] + both[1]["jitter_sum_abs_diff"])
                / (both[0]["jitter_n_pairs"] + both[1]["jitter_n_pairs"])
                / ((both[0]["period_sum"] + both[1]["period_sum"])
                   / (both[0]["n_periods"] + both[1]["n_periods"])))
    assert pooled["jitter"] == pytest.approx(expected)
    hnr = ((both[0]["hnr_sum_db"] + both[1]["hnr_sum_db"])
           / (both[0]["n_hnr_frames"] + both[1]["n_hnr_frames"]))
    assert pooled["hnr_db"] == pytest.approx(hnr)
    assert V.pool([pooled])["shimmer"] == pytest.approx(pooled["shimmer"])   # re-poolable
    empty = V.pool([])
    assert math.isnan(empty["jitter"]) and empty["n_periods"] == 0


def test_voice_quality_on_shared_padded_rows() -> None:
    sr = 8000
    a, _, _, _ = glottal_source(110.0, 0.01, 0.04, sr, seed=1)
    b, _, _, _ = glottal_source(210.0, 0.02, 0.06, sr, seed=2, snr_db=35)
    rows = torch.from_numpy(np.stack([a, b]))
    track = P.yin(rows, sr)
    ref = V.voice_quality(rows, sr, track)
    assert isinstance(ref, list)
    for pad in (10, V.signal_pad(sr)):   # too little padding is made good
        got = V.voice_quality_padded(F.PaddedRows(rows, pad), sr, track)
        for r, g in zip(ref, got, strict=True):
            for key in ("jitter", "shimmer", "hnr_db", "n_pulses", "n_hnr_frames"):
                assert g[key] == pytest.approx(r[key], rel=1e-9, nan_ok=True), key


def test_tabulated_sinc_kernel_matches_the_kernel() -> None:
    rng = np.random.default_rng(0)
    r = torch.from_numpy(rng.uniform(-1, 1, (64, 105))).double()
    lag = torch.from_numpy(rng.uniform(16.0, 88.0, (64, 3))).double()
    lag[0] = torch.tensor([30.0, 30.9999, 31.0001])          # whole and nearly whole lags
    for depth in (4, 16):
        exact = V._sinc_at(r, lag, depth)
        torch.testing.assert_close(V._sinc_at_full(r, lag, depth), exact, rtol=0, atol=1e-6)


def test_mask_restricts_pulses_and_hnr_frames() -> None:
    sr = 8000
    y, _, _, _ = glottal_source(150.0, 0.01, 0.03, sr, dur=2.0, seed=4)
    yt = torch.from_numpy(y)
    track = P.yin(yt, sr)
    full = V.voice_quality(yt, sr, track)
    mask = torch.zeros_like(track.voiced)
    mask[: mask.shape[-1] // 2] = True
    half = V.voice_quality(yt, sr, track, mask)
    assert isinstance(full, dict) and isinstance(half, dict)
    assert 0.4 * full["n_pulses"] <= half["n_pulses"] <= 0.6 * full["n_pulses"]
    assert half["n_hnr_frames"] <= mask.sum().item()
    pulses = V.glottal_pulses(yt, sr, track, mask)
    assert pulses.time.max().item() <= mask.sum().item() * 0.01 + 0.02
    nothing = V.voice_quality(yt, sr, track, torch.zeros_like(mask))
    assert isinstance(nothing, dict)
    assert math.isnan(nothing["jitter"]) and nothing["n_pulses"] == 0
    assert nothing["n_hnr_frames"] == 0 and math.isnan(nothing["hnr_db"])


def test_public_measures_agree_with_voice_quality() -> None:
    sr = 16000
    y, _, _, _ = glottal_source(180.0, 0.015, 0.05, sr, seed=5)
    yt = torch.from_numpy(y)
    track = P.yin(yt, sr)
    vq = V.voice_quality(yt, sr, track)
    assert isinstance(vq, dict)
    assert V.jitter_local(yt, sr, track).item() == pytest.approx(vq["jitter"])
    assert V.shimmer_local(yt, sr, track).item() == pytest.approx(vq["shimmer"])


# --------------------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("case", ["silence", "white_noise", "clipping", "dc_offset", "one_second",
                                  "no_voiced_frames", "empty"])
def test_degenerate_input(case: str) -> None:
    sr = 8000
    y = _synthetic.degenerate_signal("tone" if case == "no_voiced_frames" else case, sr)
    yt = torch.from_numpy(y)
    track = P.yin(yt, sr)
    if case == "no_voiced_frames":
        track = P.PitchTrack(torch.full_like(track.f0, math.nan),
                             torch.zeros_like(track.voiced), track.aperiodicity)
    out = V.voice_quality(yt, sr, track)
    assert isinstance(out, dict)
    assert set(out) >= {"jitter", "shimmer", "hnr_db", "n_periods", "n_hnr_frames"}
    if case in ("silence", "empty"):
        assert math.isnan(out["jitter"]) and math.isnan(out["shimmer"])
        assert math.isnan(out["hnr_db"]) and out["n_hnr_frames"] == 0
    elif case == "white_noise":
        assert out["n_pulses"] < 20
        assert out["hnr_db"] < 5.0
    elif case == "no_voiced_frames":   # no pulses; HNR has its own voicing (Praat's)
        assert math.isnan(out["jitter"]) and math.isnan(out["shimmer"])
        assert out["n_pulses"] == 0 and out["hnr_db"] > 20.0
    else:   # a steady periodic signal: tiny jitter and shimmer, high HNR
        assert out["jitter"] < 0.002 and out["shimmer"] < 0.01
        assert out["hnr_db"] > 20.0


def test_dc_offset_gives_the_same_measures() -> None:
    sr = 8000
    y, _, _, _ = glottal_source(140.0, 0.01, 0.05, sr, seed=9, snr_db=40)
    a = _analyse(y, sr)
    b = _analyse(y + 0.25, sr)
    for key in ("jitter", "shimmer", "hnr_db"):
        assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-3)


# --------------------------------------------------------------------------- Praat oracle on speech


@pytest.mark.oracle
def test_voice_quality_matches_praat_on_speech(speech: list[tuple[str, int, np.ndarray]]) -> None:
    parselmouth = pytest.importorskip("parselmouth")
    from parselmouth.praat import call

    jit, shim, hnr = [], [], []
    for _name, sr, x in speech:
        snd = parselmouth.Sound(x.astype(np.float64), sr)
        pp = call(snd, "To PointProcess (periodic, cc)", 75, 600)
        ref_j = call(pp, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
        ref_s = call([snd, pp], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
        ref_h = call(call(snd, "To Harmonicity (cc)", 0.01, 75, 0.1, 1.0), "Get mean", 0, 0)
        xt = torch.from_numpy(x)
        out = V.voice_quality(xt, sr, P.yin(xt, sr))
        assert isinstance(out, dict)
        jit.append(out["jitter"] / ref_j - 1.0)
        shim.append(out["shimmer"] / ref_s - 1.0)
        hnr.append(out["hnr_db"] - ref_h)
    assert np.median(np.abs(jit)) <= 0.20, jit
    assert np.median(np.abs(shim)) <= 0.20, shim
    assert np.median(np.abs(hnr)) <= 1.5, hnr
    assert np.max(np.abs(hnr)) <= 1.5, hnr
