"""Pure tensor functions: framing, energy, spectrum, zero crossings.

Conventions (as librosa, but batched torch): the input ``y`` has shape ``(..., n_samples)``;
every leading axis is a batch axis; outputs have shape ``(..., n_frames)``. Frames are not
centred: frame ``t`` covers samples ``[t * hop_length, t * hop_length + frame_length)``, and
``n_frames = 1 + (n_samples - frame_length) // hop_length`` (0 when the signal is shorter than
one frame). This equals librosa with ``center=False``.

Units: sample rates in Hz, lengths in samples, amplitudes in full scale (1.0 = digital full
scale), levels in dBFS (0 dBFS = a full-scale RMS of 1).
"""

from __future__ import annotations

import torch

__all__ = [
    "amplitude_to_db",
    "as_tensor",
    "frame",
    "frame_grid",
    "grid_frames",
    "n_frames",
    "rms",
    "spectral_centroid",
    "zero_crossing_rate",
]

#: Level assigned to digital silence, in dBFS.
DB_FLOOR = -120.0


def as_tensor(y: object, *, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``y`` (NumPy array, list or tensor) as a tensor of ``dtype`` on ``device``."""
    if isinstance(y, torch.Tensor):
        return y.to(device=device or y.device, dtype=dtype)
    return torch.as_tensor(y, dtype=dtype, device=device)


def n_frames(n_samples: int, frame_length: int, hop_length: int) -> int:
    """Number of whole frames in ``n_samples`` samples (no centring, no padding)."""
    if n_samples < frame_length:
        return 0
    return 1 + (n_samples - frame_length) // hop_length


def frame(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Split ``y (..., n_samples)`` into a strided view ``(..., n_frames, frame_length)``.

    No copy is made. A signal shorter than one frame gives ``n_frames = 0``.
    """
    if frame_length <= 0 or hop_length <= 0:
        raise ValueError(f"frame: frame_length and hop_length must be > 0, got "
                         f"{frame_length}, {hop_length}")
    if y.shape[-1] < frame_length:
        return y.new_zeros((*y.shape[:-1], 0, frame_length))
    return y.unfold(-1, frame_length, hop_length)


def grid_frames(n_samples: int, hop_length: int) -> int:
    """Frames on the analysis grid: ``ceil(n_samples / hop_length)``."""
    return -(-n_samples // hop_length)


def frame_grid(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Frames on the call-level *analysis grid*: ``(..., n_samples) -> (..., T, frame_length)``.

    The grid is what every frame-level track of the extractor shares, so masks from different
    analyses line up: ``T = ceil(n_samples / hop_length)`` and frame ``t`` is centred on
    sample ``t * hop_length + hop_length // 2`` (time ``(t + 0.5) * hop_length / sr``). The
    signal is zero-padded on both sides as needed, whatever ``frame_length``.
    """
    n = y.shape[-1]
    t = grid_frames(n, hop_length)
    left = frame_length // 2 - hop_length // 2
    total = (t - 1) * hop_length + frame_length
    if left < 0:  # frames shorter than the hop: drop the head instead of padding
        y = y[..., -left:]
        left = 0
    right = total - y.shape[-1] - left
    y = torch.nn.functional.pad(y, (left, max(right, 0)))
    return frame(y, frame_length, hop_length)[..., :t, :]


def rms(y: torch.Tensor, frame_length: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """Root-mean-square amplitude of each frame: ``(..., n_samples) -> (..., n_frames)``.

    Unit: full scale (a full-scale sine has RMS 1/sqrt(2)).
    """
    frames = frame(y, frame_length, hop_length)
    return frames.square().mean(dim=-1).sqrt()


def amplitude_to_db(amplitude: torch.Tensor, *, floor_db: float = DB_FLOOR) -> torch.Tensor:
    """``20 * log10(amplitude)`` in dBFS, floored at ``floor_db`` (digital silence)."""
    floor = 10.0 ** (floor_db / 20.0)
    return 20.0 * torch.log10(amplitude.clamp_min(floor))


def zero_crossing_rate(y: torch.Tensor, frame_length: int = 2048,
                       hop_length: int = 512) -> torch.Tensor:
    """Fraction of zero crossings per frame: ``(..., n_samples) -> (..., n_frames)``.

    A crossing is counted between samples ``i-1`` and ``i`` of a frame when their signs
    differ (zero counts as positive, as librosa); the count is divided by ``frame_length``.
    Dimensionless, in [0, 1].
    """
    frames = frame(y, frame_length, hop_length)
    signs = frames >= 0
    crossings = (signs[..., 1:] != signs[..., :-1]).sum(dim=-1)
    return crossings.to(y.dtype) / frame_length


def spectral_centroid(y: torch.Tensor, sr: int, n_fft: int = 2048,
                      hop_length: int = 512, *, window: str = "hann") -> torch.Tensor:
    """Magnitude-weighted mean frequency of each frame in Hz: ``(..., n_samples) -> (..., n_frames)``.

    ``centroid = sum_k f_k |X_k| / sum_k |X_k|`` over the one-sided spectrum of a Hann-windowed
    frame of ``n_fft`` samples. Frames with no energy get 0 Hz.
    """
    frames = frame(y, n_fft, hop_length)
    if window == "hann":
        win = torch.hann_window(n_fft, periodic=True, dtype=y.dtype, device=y.device)
    elif window in ("rect", "boxcar", "ones"):
        win = torch.ones(n_fft, dtype=y.dtype, device=y.device)
    else:
        raise ValueError(f"spectral_centroid: unknown window {window!r}")
    mag = torch.fft.rfft(frames * win, n=n_fft, dim=-1).abs()
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sr, dtype=y.dtype, device=y.device)
    total = mag.sum(dim=-1)
    centroid = (mag * freqs).sum(dim=-1) / total.clamp_min(torch.finfo(y.dtype).tiny)
    return torch.where(total > 0, centroid, torch.zeros_like(centroid))
