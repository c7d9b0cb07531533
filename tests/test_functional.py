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
