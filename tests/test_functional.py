"""Framing, energy, zero-crossing rate and spectral centroid against librosa (the oracle)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from callquality.features import functional as F


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([y, 0.5 * rng.standard_normal(t.size)]).astype(np.float32)


@pytest.mark.parametrize(("frame_length", "hop_length"), [(400, 160), (512, 128), (2048, 512)])
def test_rms_matches_librosa(signal: np.ndarray, frame_length: int, hop_length: int) -> None:
    ours = F.rms(torch.from_numpy(signal), frame_length, hop_length).numpy()
    ref = librosa.feature.rms(y=signal, frame_length=frame_length, hop_length=hop_length,
                              center=False)[:, 0]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)


def test_zcr_matches_librosa(signal: np.ndarray) -> None:
    ours = F.zero_crossing_rate(torch.from_numpy(signal), 400, 160).numpy()
    ref = librosa.feature.zero_crossing_rate(signal, frame_length=400, hop_length=160,
                                             center=False)[:, 0]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_spectral_centroid_matches_librosa(signal: np.ndarray) -> None:
    ours = F.spectral_centroid(torch.from_numpy(signal), 16000, 512, 160).numpy()
    ref = librosa.feature.spectral_centroid(y=signal, sr=16000, n_fft=512, hop_length=160,
                                            center=False)[:, 0]
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_centroid_of_pure_tone_is_its_frequency() -> None:
    t = torch.arange(8000) / 8000
    y = torch.sin(2 * torch.pi * 1000 * t)
    c = F.spectral_centroid(y, 8000, 256, 80)
    assert float(c.median()) == pytest.approx(1000, rel=0.02)


def test_db_and_silence() -> None:
    assert float(F.amplitude_to_db(torch.tensor(1.0))) == pytest.approx(0.0)
    assert float(F.amplitude_to_db(torch.tensor(0.0))) == F.DB_FLOOR
    assert F.spectral_centroid(torch.zeros(4000), 8000, 256, 80).abs().max() == 0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3000), frame_length=st.integers(1, 600), hop=st.integers(1, 200))
def test_frame_grid_shape_and_centres(n: int, frame_length: int, hop: int) -> None:
    y = torch.arange(n, dtype=torch.float64) + 1  # sample i holds i + 1; padding holds 0
    frames = F.frame_grid(y, frame_length, hop)
    assert frames.shape == (F.grid_frames(n, hop), frame_length)
    assert F.n_frames(n, frame_length, hop) == (0 if n < frame_length else
                                                1 + (n - frame_length) // hop)
    for t in range(frames.shape[0]):
        centre = t * hop + hop // 2
        if centre < n:
            assert frames[t, frame_length // 2] == centre + 1


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 2000), frame_length=st.integers(1, 400), hop=st.integers(1, 200))
def test_frame_reductions_without_copies(n: int, frame_length: int, hop: int) -> None:
    rng = np.random.default_rng(n)
    y = torch.from_numpy(rng.standard_normal((2, n)).astype(np.float32))
    frames = F.frame(y, frame_length, hop)
    torch.testing.assert_close(F.frame_sum(y, frame_length, hop), frames.sum(-1))
    signs = frames >= 0
    ref = (signs[..., 1:] != signs[..., :-1]).sum(-1).to(y.dtype)
    torch.testing.assert_close(F.zero_crossings(y, frame_length, hop), ref)
    torch.testing.assert_close(F.pad_zeros(y, 3, frame_length),
                               torch.nn.functional.pad(y, (3, frame_length)))
    padded = F.grid_signal(y, frame_length, hop)
    t = F.grid_frames(n, hop)
    torch.testing.assert_close(F.frame(padded, frame_length, hop)[..., :t, :],
                               F.frame_grid(y, frame_length, hop))


def test_take_windows_and_padded_rows() -> None:
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.standard_normal((3, 500)).astype(np.float32)) + 2.0
    row = torch.tensor([0, 2, 1, 2])
    start = torch.tensor([0, 10, 437, 250])
    win = F.take_windows(y, row, start, 63)
    assert torch.equal(win, y.unfold(-1, 63, 1)[row, start])
    sig = F.PaddedRows(y, 40)
    torch.testing.assert_close(sig.x, y - y.mean(-1, keepdim=True))
    torch.testing.assert_close(sig.peak, sig.x.abs().amax(-1))
    # windows reaching past either end read the zero padding
    got = sig.take(torch.tensor([1, 1]), torch.tensor([-5, 480]), 30)
    assert torch.equal(got[0, :5], torch.zeros(5)) and torch.equal(got[0, 5:], sig.x[1, :25])
    assert torch.equal(got[1, :20], sig.x[1, 480:]) and torch.equal(got[1, 20:], torch.zeros(10))
    assert torch.equal(sig.grid(64, 20), F.frame_grid(sig.x, 64, 20))
    t = torch.tensor([0, 7, 24])
    assert torch.equal(sig.take_frames(torch.tensor([0, 1, 2]), t, -22, 64, 20),
                       sig.grid(64, 20)[torch.tensor([0, 1, 2]), t])


def test_centroid_on_the_grid_matches_framewise(signal: np.ndarray) -> None:
    y = torch.from_numpy(signal)
    frames = F.frame_grid(y, 512, 160)
    hann = torch.hann_window(512, periodic=True)
    mag = torch.fft.rfft(frames * hann).abs()
    freqs = torch.fft.rfftfreq(512, 1 / 16000)
    ref = (mag * freqs).sum(-1) / mag.sum(-1)
    mask = torch.rand(ref.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    got = F.spectral_centroid_grid(y, 16000, 512, 160, mask)
    torch.testing.assert_close(got[mask], ref[mask], rtol=1e-5, atol=1e-3)
    assert (got[~mask] == 0).all()
    assert F.spectral_centroid_grid(torch.zeros(2, 800), 8000, 256, 80).abs().max() == 0
