"""F0 by YIN: synthetic truth, Praat (parselmouth) as the oracle on speech, grid and mask
contracts, batches, degenerate input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from _synthetic import degenerate_signal, glottal_source, harmonic_tone
from callquality.features import functional as F
from callquality.features import pitch as P

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


# --------------------------------------------------------------------------- synthetic source


def _median_f0_error(track: P.PitchTrack, onsets: np.ndarray, frame_s: float,
                     hop_s: float = 0.01) -> float:
    """Median relative error of the voiced interior frames against the local truth: the
    reciprocal of the mean duration of the cycles inside the frame's analysis window
    (``frame_s`` seconds centred on the frame; a frame-level tracker measures those cycles)."""
    f = track.f0.numpy()
    centres = (np.arange(f.size) + 0.5) * hop_s
    periods = np.diff(onsets)
    mids = onsets[:-1] + 0.5 * periods
    reach = max(0.5 * frame_s, 1.5 * periods.mean())
    inside = (centres > onsets[0] + 0.03) & (centres < onsets[-1] - 0.03)
    ok = inside & np.isfinite(f)
    assert ok.sum() >= 0.9 * inside.sum(), "most interior frames must be voiced"
    near = np.abs(mids[None, :] - centres[ok, None]) <= reach
    truth = near.sum(axis=1) / (near * periods[None, :]).sum(axis=1)
    return float(np.median(np.abs(f[ok] / truth - 1.0)))


def _frame_s(sr: int, fmin: float) -> float:
    """YIN's default analysis frame in seconds (see :func:`callquality.features.pitch.yin`)."""
    tau_max = math.ceil(sr / fmin)
    return (1 << (2 * tau_max + 1).bit_length()) / sr


@pytest.mark.parametrize("sr", [8000, 16000])
@pytest.mark.parametrize("f0", [60.0, 100.0, 220.0, 400.0])
def test_synthetic_f0_within_one_percent(sr: int, f0: float) -> None:
    y, onsets, _ = glottal_source(f0, 0.01, 0.03, sr, seed=int(f0))
    track = P.yin(torch.from_numpy(y), sr, fmin=50.0, fmax=500.0)
    assert _median_f0_error(track, onsets, _frame_s(sr, 50.0)) <= 0.01


@settings(max_examples=25, deadline=None, derandomize=True,
          phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@given(f0=st.floats(60.0, 400.0), jitter=st.floats(0.0, 0.03), shimmer=st.floats(0.0, 0.10),
       snr=st.one_of(st.none(), st.floats(25.0, 60.0)), sr=st.sampled_from([8000, 16000]),
       seed=st.integers(0, 1000))
def test_property_f0_median_error(f0: float, jitter: float, shimmer: float,
                                  snr: float | None, sr: int, seed: int) -> None:
    y, onsets, _ = glottal_source(f0, jitter, shimmer, sr, snr_db=snr, seed=seed)
    track = P.yin(torch.from_numpy(y), sr, fmin=50.0, fmax=500.0)
    assert _median_f0_error(track, onsets, _frame_s(sr, 50.0)) <= 0.01


# --------------------------------------------------------------------------- contracts


def test_grid_shape_mask_and_dtypes() -> None:
    sr, hop = 8000, 80
    y, _, _ = glottal_source(150.0, 0.0, 0.0, sr, dur=0.8)
    batch = torch.from_numpy(np.stack([y, y[::-1].copy(), np.zeros_like(y)]))[None]  # (1, 3, n)
    n_t = -(-y.size // hop)
    mask = torch.ones(1, 3, n_t, dtype=torch.bool)
    mask[..., :20] = False
    track = P.yin(batch, sr, mask=mask)
    for field in track:
        assert field.shape == (1, 3, n_t)
    assert track.voiced.dtype == torch.bool
    assert torch.isnan(track.f0[..., :20]).all() and not track.voiced[..., :20].any()
    assert torch.isnan(track.aperiodicity[..., :20]).all()
    assert torch.equal(track.voiced, torch.isfinite(track.f0))
    assert not track.voiced[0, 2].any()                      # the silent row
    ap = track.aperiodicity[0, 0, 20:]
    assert ((ap >= 0) | torch.isnan(ap)).all()


def test_frame_t_is_centred_on_the_grid() -> None:
    # a voiced burst on frames [50, 70) only: the voiced frames must be those frames
    sr, hop = 16000, 160
    y, _, _ = glottal_source(200.0, 0.0, 0.0, sr, dur=1.0)
    gate = np.zeros_like(y)
    gate[50 * hop:70 * hop] = 1.0
    track = P.yin(torch.from_numpy(y * gate), sr)
    voiced = np.flatnonzero(track.voiced.numpy())
    assert voiced.min() >= 49 and voiced.max() <= 70
    assert len(voiced) >= 17


def test_batch_rows_are_independent_and_deterministic() -> None:
    sr = 8000
    a, _, _ = glottal_source(120.0, 0.01, 0.05, sr, dur=1.0, seed=1)
    b, _, _ = glottal_source(230.0, 0.02, 0.05, sr, dur=0.6, seed=2, snr_db=30)
    batch = np.zeros((2, a.size), np.float32)
    batch[0] = a
    batch[1, :b.size] = b
    both = P.yin(torch.from_numpy(batch), sr)
    alone = P.yin(torch.from_numpy(a), sr)
    np.testing.assert_array_equal(both.f0[0].numpy(), alone.f0.numpy())
    again = P.yin(torch.from_numpy(batch), sr)
    for x1, x2 in zip(both, again, strict=True):
        assert torch.equal(torch.nan_to_num(x1, nan=-1.0), torch.nan_to_num(x2, nan=-1.0))
    short = P.yin(torch.from_numpy(b), sr)
    t = short.f0.shape[-1]
    f_b, f_s = both.f0[1, :t].numpy(), short.f0.numpy()
    same = np.isfinite(f_b) & np.isfinite(f_s)
    assert same.sum() >= 0.95 * np.isfinite(f_s).sum()
    np.testing.assert_allclose(f_b[same], f_s[same], rtol=1e-3)


def test_yin_on_shared_padded_rows_equals_yin() -> None:
    sr = 8000
    a, _, _ = glottal_source(120.0, 0.01, 0.05, sr, dur=1.0, seed=1)
    b, _, _ = glottal_source(230.0, 0.02, 0.05, sr, dur=1.0, seed=2, snr_db=30)
    rows = torch.from_numpy(np.stack([a, b]))
    mask = torch.ones(2, -(-a.size // 80), dtype=torch.bool)
    mask[1, :30] = False
    ref = P.yin(rows, sr, mask=mask)
    for pad in (0, 50, 2000):          # too little padding is made good
        got = P.yin_padded(F.PaddedRows(rows, pad), sr, mask=mask)
        for x1, x2 in zip(ref, got, strict=True):
            assert torch.equal(torch.nan_to_num(x1, nan=-1.0), torch.nan_to_num(x2, nan=-1.0))


def test_pitch_stats_definitions() -> None:
    f0 = torch.tensor([[100.0, math.nan, 200.0, 300.0, math.nan], [math.nan] * 5])
    track = P.PitchTrack(f0, torch.isfinite(f0), torch.zeros_like(f0))
    mean, var, rng = P.pitch_stats(track)
    vals = np.array([100.0, 200.0, 300.0])
    assert mean[0].item() == pytest.approx(vals.mean())
    assert var[0].item() == pytest.approx(vals.var())
    assert rng[0].item() == pytest.approx(np.percentile(vals, 95) - np.percentile(vals, 5))
    assert all(math.isnan(x[1].item()) for x in (mean, var, rng))   # no voiced frame: NaN
    mask = torch.tensor([[True, True, False, False, False]] * 2)
    m2, v2, r2 = P.pitch_stats(track, mask)
    assert m2[0].item() == 100.0 and v2[0].item() == 0.0 and r2[0].item() == 0.0


def test_bad_arguments_raise() -> None:
    y = torch.zeros(800)
    with pytest.raises(ValueError):
        P.yin(y, 8000, fmin=600.0, fmax=75.0)
    with pytest.raises(ValueError):
        P.yin(y, 8000, hop_length=0)
    with pytest.raises(ValueError):
        P.yin(y, 8000, frame_length=50)


# --------------------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("case", ["silence", "white_noise", "clipping", "dc_offset", "one_second",
                                  "shorter_than_a_frame", "empty"])
def test_degenerate_input(case: str) -> None:
    sr = 8000
    y = degenerate_signal(case, sr)
    track = P.yin(torch.from_numpy(y), sr)
    n_t = -(-y.size // (sr // 100))
    assert track.f0.shape == (n_t,)
    mean, _, _ = P.pitch_stats(track)
    if case in ("silence", "shorter_than_a_frame", "empty"):
        assert not track.voiced.any() and math.isnan(mean.item())
    elif case == "white_noise":
        assert track.voiced.float().mean().item() < 0.05
    else:   # periodic at 150 Hz whatever the clipping, offset or length
        assert track.voiced.float().mean().item() > 0.9
        assert mean.item() == pytest.approx(150.0, rel=0.01)


def test_dc_offset_changes_nothing() -> None:
    sr = 8000
    y = harmonic_tone(sr, 1.0) + 0.01 * np.random.default_rng(3).standard_normal(sr).astype(np.float32)
    a = P.yin(torch.from_numpy(y), sr)
    b = P.yin(torch.from_numpy(y + 0.3), sr)
    assert torch.equal(a.voiced, b.voiced)
    np.testing.assert_allclose(a.f0.numpy(), b.f0.numpy(), rtol=1e-4)


# --------------------------------------------------------------------------- Praat oracle


@pytest.mark.oracle
def test_mean_f0_matches_praat_on_speech(speech: list[tuple[str, int, np.ndarray]]) -> None:
    parselmouth = pytest.importorskip("parselmouth")
    from parselmouth.praat import call

    errors = []
    for _name, sr, x in speech:
        snd = parselmouth.Sound(x.astype(np.float64), sr)
        pitch = call(snd, "To Pitch (ac)", 0.0, 75, 15, False, 0.03, 0.45, 0.01, 0.35, 0.14, 600)
        ref = call(pitch, "Get mean", 0, 0, "Hertz")
        mean, _, _ = P.pitch_stats(P.yin(torch.from_numpy(x), sr))
        errors.append(mean.item() / ref - 1.0)
    errors_arr = np.abs(np.array(errors))
    assert np.median(errors_arr) <= 0.02, errors
    assert np.mean(errors_arr <= 0.05) >= 0.8, errors
