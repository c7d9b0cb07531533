"""Synthetic test signals with known truth, shared by the pitch and voice-quality tests."""

from __future__ import annotations

import math

import numpy as np


def glottal_source(f0: float, jitter: float, shimmer: float, sr: int, *, dur: float = 1.0,
                   snr_db: float | None = None, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A glottal-like pulse train with known per-cycle durations and amplitudes.

    Cycle ``i`` starts at ``onset[i]`` and is one smooth biphasic pulse (the derivative of a
    raised-sine flow) of fixed duration, scaled by ``amp[i]``; the pulse is shorter than the
    shortest cycle, so cycles never overlap and the waveform repeats exactly up to timing and
    scale. Cycle durations are ``T0 (1 +- 0.75 jitter U(0.5, 1.5))``, amplitudes
    ``1 +- 0.75 shimmer U(0.5, 1.5)``. Returns ``(y, onsets_s, amps)``.
    """
    rng = np.random.default_rng(seed)
    t0 = 1.0 / f0
    n_cyc = int(dur * f0) + 2
    # |x_i - x_{i-1}| of two such draws averages ~1.3 * 0.75 ~ 1: jitter and shimmer as given
    periods = t0 * (1 + 0.75 * jitter * rng.choice([-1.0, 1.0], n_cyc)
                    * rng.uniform(0.5, 1.5, n_cyc))
    amps = 1 + 0.75 * shimmer * rng.choice([-1.0, 1.0], n_cyc) * rng.uniform(0.5, 1.5, n_cyc)
    onsets = 0.02 + np.concatenate([[0.0], np.cumsum(periods)[:-1]])
    keep = onsets + periods < dur - 0.02
    onsets, amps = onsets[keep], amps[keep]
    n = int(round(dur * sr))
    ts = np.arange(n) / sr
    k = np.searchsorted(onsets, ts, side="right") - 1
    d = ts - onsets[np.clip(k, 0, None)]
    tp = 0.5 * t0 * (1 - 1.5 * jitter)
    on = (k >= 0) & (d < tp)
    y = np.where(on, amps[np.clip(k, 0, None)] * np.sin(2 * np.pi * d / tp)
                 * np.sin(np.pi * d / tp) ** 2, 0.0)
    y *= 0.3 / np.abs(y).max()
    if snr_db is not None:
        y = y + rng.standard_normal(n) * math.sqrt(np.mean(y ** 2) / 10 ** (snr_db / 10))
    return y.astype(np.float32), onsets, amps


def harmonic_tone(sr: int, seconds: float, f0: float = 150.0) -> np.ndarray:
    """A steady harmonic complex (5 harmonics, 1/k amplitudes, peak about 0.5), float32."""
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


def degenerate_signal(case: str, sr: int = 8000) -> np.ndarray:
    """Awkward inputs every analysis must survive with defined values, by name: ``silence``,
    ``white_noise``, ``clipping``, ``dc_offset``, ``one_second``, ``shorter_than_a_frame``,
    ``empty`` (and ``tone``: 2 s of :func:`harmonic_tone`)."""
    rng = np.random.default_rng(0)
    makers = {
        "silence": lambda: np.zeros(2 * sr, np.float32),
        "white_noise": lambda: (0.2 * rng.standard_normal(2 * sr)).astype(np.float32),
        "clipping": lambda: np.clip(5 * harmonic_tone(sr, 2.0), -1.0, 1.0),
        "dc_offset": lambda: harmonic_tone(sr, 2.0) + 0.4,
        "one_second": lambda: harmonic_tone(sr, 1.0),
        "shorter_than_a_frame": lambda: harmonic_tone(sr, 0.01),
        "empty": lambda: np.zeros(0, np.float32),
        "tone": lambda: harmonic_tone(sr, 2.0),
    }
    return makers[case]()
