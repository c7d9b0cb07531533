"""Property tests: resampling keeps the duration, chunked reading equals whole reading, and the
channel order survives resampling, ``mono=False`` and speaker naming.

Length contract (documented in :func:`callquality.audio.resample`): ``n`` samples at
``orig`` Hz become exactly ``resampled_length(n, orig, target) = floor(n * target / orig + 1/2)``
samples (nearest integer, halves up, as soxr does; Python's ``round`` would round halves to
even, which differs by one sample on exact halves). So the duration is kept to within half a
sample, and always within one sample of ``round(n * target / orig)``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callquality as cq
from callquality.audio import iter_audio_chunks, read_audio, resample, resampled_length, to_mono

RATES = (4000, 8000, 11025, 16000, 22050, 44100, 48000)
rates = st.sampled_from(RATES) | st.integers(min_value=4000, max_value=96_000)
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Tone frequencies of channel 0 and 1: below the Nyquist rate of the lowest rate (4 kHz).
F0, F1 = 310.0, 730.0
A0, A1 = 0.5, 0.2


@pytest.fixture(scope="module")
def wavdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


# --------------------------------------------------------------------------- resample length


@SETTINGS
@given(n=st.integers(0, 30_000), orig=rates, target=rates, channels=st.integers(1, 3))
def test_resample_preserves_duration(n: int, orig: int, target: int, channels: int) -> None:
    y = np.random.default_rng(n).standard_normal((channels, n)).astype(np.float32) * 0.1
    out = resample(y, orig, target)
    expected = resampled_length(n, orig, target)
    assert out.shape == (channels, expected)
    assert out.dtype == np.float32
    exact = Fraction(n * target, orig)
    assert expected == math.floor(exact + Fraction(1, 2))
    assert abs(expected - exact) <= Fraction(1, 2)  # duration kept within half a sample
    assert abs(expected - round(n * target / orig)) <= 1


@SETTINGS
@given(n=st.integers(1, 5000), orig=rates, target=rates)
def test_resample_handles_1d_and_batch_shapes(n: int, orig: int, target: int) -> None:
    y = np.random.default_rng(n).standard_normal((2, 3, n)).astype(np.float32) * 0.1
    m = resampled_length(n, orig, target)
    out = resample(y, orig, target)
    assert out.shape == (2, 3, m)
    one = resample(y[1, 2], orig, target)
    assert one.shape == (m,)
    np.testing.assert_allclose(one, out[1, 2], atol=1e-6)


@pytest.mark.parametrize(("n", "orig", "target"), [(1, 8000, 4000), (5, 8000, 4000),
                                                   (100, 4000, 44100), (3, 48000, 8000)])
def test_resample_rounds_halves_up(n: int, orig: int, target: int) -> None:
    assert n * target / orig % 1 == 0.5
    assert resample(np.ones(n, np.float32), orig, target).shape[-1] == math.ceil(n * target / orig)


def test_resample_edge_cases() -> None:
    y = np.ones((2, 10), np.float64)
    assert resample(y, 8000, 8000) is y
    assert resample(np.zeros((2, 0), np.float32), 8000, 16000).shape == (2, 0)
    with pytest.raises(ValueError, match="positive"):
        resample(y, 0, 8000)
    with pytest.raises(ValueError, match="positive"):
        resample(y, 8000, -1)


def test_resample_keeps_a_tone() -> None:
    t = np.arange(8000) / 8000
    out = resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), 8000, 22050)
    ref = np.sin(2 * np.pi * 440 * np.arange(out.shape[-1]) / 22050)
    np.testing.assert_allclose(out[200:-200], ref[200:-200], atol=2e-3)


# --------------------------------------------------------------------------- whole vs chunked


@SETTINGS
@given(n=st.integers(1, 20_000), orig=st.sampled_from(RATES), target=rates,
       channels=st.integers(1, 2), chunk_sec=st.floats(0.003, 0.5), mono=st.booleans())
def test_read_audio_equals_concatenated_chunks(wavdir: Path, n: int, orig: int, target: int,
                                               channels: int, chunk_sec: float,
                                               mono: bool) -> None:
    y = np.random.default_rng(n).standard_normal((n, channels)).astype(np.float32) * 0.3
    path = wavdir / "chunks.wav"
    sf.write(path, y, orig, subtype="FLOAT")

    whole, sr = read_audio(path, sr=target, mono=mono)
    parts = list(iter_audio_chunks(path, sr=target, mono=mono, chunk_sec=chunk_sec))
    out_ch = 1 if mono else channels
    # (a file of a sample or two may resample to nothing: then no chunk at all)
    cat = np.concatenate(parts, axis=1) if parts else np.zeros((out_ch, 0), np.float32)
    m = resampled_length(n, orig, target)
    assert sr == target
    assert whole.shape == cat.shape == (out_ch, m)
    assert all(p.dtype == np.float32 and p.shape[0] == out_ch for p in parts)
    np.testing.assert_allclose(cat, whole, atol=1e-5)
    if target == orig:  # no resampling: the samples are the file's, exactly
        ref = y.T.mean(axis=0, keepdims=True) if mono else y.T
        np.testing.assert_allclose(whole, ref, atol=1e-7)


def test_chunks_are_bounded(wavdir: Path) -> None:
    path = wavdir / "bounded.wav"
    sf.write(path, np.zeros((4000 * 10, 1), np.float32), 4000)
    sizes = [c.shape[1] for c in iter_audio_chunks(path, chunk_sec=1.0, sr=8000)]
    assert sum(sizes) == 80_000
    assert max(sizes) <= 1.1 * 8000  # about one chunk (soxr's latency shifts a little)
    with pytest.raises(ValueError, match="chunk_sec"):
        next(iter_audio_chunks(path, chunk_sec=0))


# --------------------------------------------------------------------------- channel order


def _write_two_tones(path: Path, sr: int, seconds: float) -> None:
    t = np.arange(int(seconds * sr)) / sr
    y = np.stack([A0 * np.sin(2 * np.pi * F0 * t), A1 * np.sin(2 * np.pi * F1 * t)], axis=1)
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")


def _tone_amplitude(x: np.ndarray, f: float, sr: int) -> float:
    """Amplitude of the ``f`` Hz component of ``x`` (projection onto sin/cos, edges dropped)."""
    edge = sr // 20
    x = x[edge:-edge]
    t = (np.arange(x.size) + edge) / sr
    s, c = np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)
    return float(2 * np.hypot(x @ s, x @ c) / x.size)


@SETTINGS
@given(orig=st.sampled_from(RATES), target=st.sampled_from(RATES) | st.none(),
       names=st.sampled_from([None, ("agent", "customer"), ("customer", "agent")]))
def test_channel_order_is_kept(wavdir: Path, orig: int, target: int | None,
                               names: tuple[str, str] | None) -> None:
    path = wavdir / "two_tones.wav"
    _write_two_tones(path, orig, 0.5)
    call = cq.load_call(path, channels=names, sidecar=False)
    assert call.channels == (names or ("agent", "customer"))

    out_sr = target or orig
    y = call.audio(sr=target, mono=False)
    assert y.shape == (2, resampled_length(call.n_samples, orig, out_sr))
    # row 0 is channel 0 (the F0 tone, amplitude A0), row 1 is channel 1, whatever the names
    assert _tone_amplitude(y[0], F0, out_sr) == pytest.approx(A0, abs=0.02)
    assert _tone_amplitude(y[0], F1, out_sr) < 0.01
    assert _tone_amplitude(y[1], F1, out_sr) == pytest.approx(A1, abs=0.02)
    assert _tone_amplitude(y[1], F0, out_sr) < 0.01

    chunks = np.concatenate(list(call.iter_chunks(0.1, sr=target)), axis=1)
    np.testing.assert_allclose(chunks, y, atol=1e-5)

    mono = call.audio(sr=target, mono=True)
    assert mono.shape == (1, y.shape[1])
    # resampling is linear: averaging then resampling == resampling then averaging
    np.testing.assert_allclose(mono, to_mono(y), atol=1e-4)
    assert _tone_amplitude(mono[0], F0, out_sr) == pytest.approx(A0 / 2, abs=0.02)
    assert _tone_amplitude(mono[0], F1, out_sr) == pytest.approx(A1 / 2, abs=0.02)


def test_mono_is_the_average_at_the_native_rate(wavdir: Path) -> None:
    path = wavdir / "avg.wav"
    _write_two_tones(path, 8000, 0.25)
    raw, _ = sf.read(path, dtype="float32", always_2d=True)
    call = cq.load_call(path, channels=("customer", "agent"))
    np.testing.assert_array_equal(call.audio(), raw.T)
    np.testing.assert_allclose(call.audio(mono=True)[0], raw.mean(axis=1), atol=1e-7)


@SETTINGS
@given(orig=st.sampled_from(RATES), target=st.sampled_from(RATES),
       names=st.sampled_from([("agent", "customer"), ("customer", "agent")]))
def test_in_memory_call_keeps_channel_order(orig: int, target: int,
                                            names: tuple[str, str]) -> None:
    t = np.arange(orig // 2) / orig
    y = np.stack([A0 * np.sin(2 * np.pi * F0 * t), A1 * np.sin(2 * np.pi * F1 * t)])
    call = cq.Call.from_array(y, orig, channels=names)
    out = call.audio(sr=target)
    assert call.channels == names
    assert out.shape == (2, resampled_length(y.shape[1], orig, target))
    assert _tone_amplitude(out[0], F0, target) == pytest.approx(A0, abs=0.02)
    assert _tone_amplitude(out[1], F1, target) == pytest.approx(A1, abs=0.02)
    np.testing.assert_allclose(call.audio(sr=target, mono=True), to_mono(out), atol=1e-4)
