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
    "PaddedRows",
    "amplitude_to_db",
    "as_tensor",
    "chunk_frames",
    "frame",
    "frame_grid",
    "frame_sum",
    "grid_frames",
    "grid_signal",
    "n_frames",
    "pad_zeros",
    "rms",
    "spectral_centroid",
    "spectral_centroid_grid",
    "spectral_centroid_windows",
    "take_windows",
    "zero_crossing_rate",
    "zero_crossings",
]

#: Level assigned to digital silence, in dBFS.
DB_FLOOR = -120.0
#: Frames per chunk of the FFT stages on CPU (about 1 MB of float32 frames: cache-sized).
FFT_CHUNK = 1024
#: Frames per chunk on a GPU, where fewer and larger kernels are what counts.
FFT_CHUNK_GPU = 1 << 16


def chunk_frames(device: torch.device | str) -> int:
    """Frames (rows) per chunk of the batched FFT stages on ``device``: cache-sized chunks on
    CPU (:data:`FFT_CHUNK`), large ones on a GPU (:data:`FFT_CHUNK_GPU`)."""
    return FFT_CHUNK if torch.device(device).type == "cpu" else FFT_CHUNK_GPU


class PaddedRows:
    """Signal rows ``(R, n)`` with their mean removed, zero-padded once for strided window views.

    Several analyses (F0, pulses, HNR) read windows around arbitrary positions; padding once
    and viewing (``Tensor.unfold``) avoids a copy per analysis. ``center=False`` keeps the rows
    as they are (for rows already centred: :meth:`repad`).

    Attributes:
        x: ``(R, n)`` the rows minus their mean (full scale; a view of ``xp``).
        n: samples per row.
        pad: zero samples added on each side.
        xp: ``(R, n + 2 pad)`` the padded rows; sample ``i`` of row ``r`` is ``xp[r, i + pad]``.
        peak: ``(R,)`` the absolute peak of each row of ``x`` (Praat's global peak).
    """

    def __init__(self, rows: torch.Tensor, pad: int, *, center: bool = True) -> None:
        n = rows.shape[-1]
        self.n = n
        self.pad = int(pad)
        # one allocation: the mean-removed rows are written between the two zero pads, and x
        # is a view of them
        self.xp = pad_zeros(rows, self.pad, self.pad, copy=not center)
        self.x = self.xp[:, self.pad:self.pad + n]
        if center and n > 0:
            torch.sub(rows, rows.mean(dim=-1, keepdim=True), out=self.x)
        if n > 0:   # without allocating |x|
            self.peak = torch.maximum(self.x.amax(dim=-1), -self.x.amin(dim=-1))
        else:
            self.peak = self.x.new_zeros(self.x.shape[0])

    def repad(self, pad: int) -> PaddedRows:
        """The same rows with ``pad`` samples of zeros on each side (no new mean removal)."""
        return PaddedRows(self.x, pad, center=False)

    def windows(self, length: int) -> torch.Tensor:
        """View ``(R, n', length)``; window ``[r, s + pad]`` holds samples ``s .. s+length-1``."""
        return self.xp.unfold(-1, length, 1)

    def frames(self, start0: int, length: int, hop: int, n_t: int) -> torch.Tensor:
        """View ``(R, n_t, length)``: frame ``t`` holds samples ``start0 + t*hop + [0, length)``.

        Raises:
            ValueError: when a frame reaches beyond the padding.
        """
        off = self.pad + start0
        if off < 0 or off + (n_t - 1) * hop + length > self.xp.shape[-1]:
            raise ValueError("frame outside the padded signal")
        return self.xp[:, off:].unfold(-1, length, hop)[:, :n_t]

    def take(self, row: torch.Tensor, start: torch.Tensor, length: int) -> torch.Tensor:
        """Copies ``(K, length)`` of the windows of samples ``start .. start + length - 1`` of
        rows ``row`` (sample positions of ``x``; clamped into the padded signal)."""
        last = self.xp.shape[-1] - length
        return take_windows(self.xp, row, (start + self.pad).clamp(0, max(last, 0)), length)

    def take_frames(self, row: torch.Tensor, t: torch.Tensor, start0: int, length: int,
                    hop: int) -> torch.Tensor:
        """Copies ``(K, length)`` of frames ``t`` of :meth:`frames` (same ``start0``, ``hop``)
        of rows ``row``."""
        if self.pad + start0 < 0 or length > self.xp.shape[-1]:
            raise ValueError("frame outside the padded signal")
        return take_windows(self.xp, row, t * hop + (self.pad + start0), length)

    def grid(self, frame_length: int, hop_length: int) -> torch.Tensor:
        """The analysis-grid frames of :func:`frame_grid` as a view ``(R, T, frame_length)``."""
        t = grid_frames(self.n, hop_length)
        return self.frames(hop_length // 2 - frame_length // 2, frame_length, hop_length, t)

    def fits_grid(self, frame_length: int, hop_length: int) -> bool:
        """Whether the padding holds every grid frame of ``frame_length`` samples."""
        return (self.pad >= frame_length // 2 - hop_length // 2
                and self.pad >= frame_length - frame_length // 2 + hop_length // 2)


def take_windows(x: torch.Tensor, row: torch.Tensor, start: torch.Tensor,
                 length: int) -> torch.Tensor:
    """Copies of windows of a 2-D signal: ``out[k] = x[row[k], start[k]:start[k] + length]``.

    ``x (R, N)``; ``row`` and ``start`` are 1-D integer tensors with
    ``0 <= start <= N - length``. One ``index_select`` on a stride-1 view of the flattened
    signal: several times faster than advanced indexing of an unfolded view.
    """
    if length <= 0:
        return x.new_zeros((row.numel(), max(length, 0)))
    x = x.contiguous()
    flat = x.reshape(-1).unfold(0, length, 1)
    return flat.index_select(0, row * x.shape[-1] + start)


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


def pad_zeros(x: torch.Tensor, left: int, right: int, *, copy: bool = True) -> torch.Tensor:
    """``x (..., n)`` with ``left`` and ``right`` zeros added on the last axis.

    As ``torch.nn.functional.pad(x, (left, right))`` but only the pads are zeroed (the
    constant-pad kernel fills the whole output first). With ``copy=False`` the middle is
    left uninitialised for the caller to write.
    """
    n = x.shape[-1]
    out = x.new_empty((*x.shape[:-1], left + n + right))
    out[..., :left].zero_()
    out[..., left + n:].zero_()
    if copy:
        out[..., left:left + n].copy_(x)
    return out


def grid_signal(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """``y (..., n_samples)`` cropped and zero-padded so that its plain frames are the grid frames.

    ``frame(grid_signal(y, L, hop), L, hop)[..., :T, :]`` equals ``frame_grid(y, L, hop)``
    (``T = grid_frames(n_samples, hop)``); use it with :func:`frame_sum` to reduce grid frames
    without materialising them.
    """
    n = y.shape[-1]
    t = grid_frames(n, hop_length)
    left = frame_length // 2 - hop_length // 2
    total = (t - 1) * hop_length + frame_length
    if left < 0:  # frames shorter than the hop: drop the head instead of padding
        y = y[..., -left:]
        left = 0
    right = total - y.shape[-1] - left
    if right < 0:
        y = y[..., :y.shape[-1] + right]
    return pad_zeros(y, left, max(right, 0))


def frame_grid(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Frames on the call-level *analysis grid*: ``(..., n_samples) -> (..., T, frame_length)``.

    The grid is what every frame-level track of the extractor shares, so masks from different
    analyses line up: ``T = ceil(n_samples / hop_length)`` and frame ``t`` is centred on
    sample ``t * hop_length + hop_length // 2`` (time ``(t + 0.5) * hop_length / sr``). The
    signal is zero-padded on both sides as needed, whatever ``frame_length``.
    """
    t = grid_frames(y.shape[-1], hop_length)
    return frame(grid_signal(y, frame_length, hop_length), frame_length, hop_length)[..., :t, :]


def frame_sum(x: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Sum of each frame of ``x``: ``(..., n_samples) -> (..., n_frames)``, without framing copies.

    Frames as :func:`frame` (``n_frames = 1 + (n_samples - frame_length) // hop_length``, 0
    when shorter); the sums are in ``x``'s dtype and unit. The reduction runs over the strided
    frame view (no ``(n_frames, frame_length)`` intermediate), so reduce an elementwise
    function of the signal (``y.square()``) rather than of its frames.
    """
    return frame(x, frame_length, hop_length).sum(dim=-1)


def rms(y: torch.Tensor, frame_length: int = 2048, hop_length: int = 512) -> torch.Tensor:
    """Root-mean-square amplitude of each frame: ``(..., n_samples) -> (..., n_frames)``.

    Unit: full scale (a full-scale sine has RMS 1/sqrt(2)).
    """
    if frame_length <= 0 or hop_length <= 0:
        raise ValueError(f"rms: frame_length and hop_length must be > 0, got "
                         f"{frame_length}, {hop_length}")
    return (frame_sum(y.square(), frame_length, hop_length) / frame_length).sqrt()


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
    if frame_length <= 0 or hop_length <= 0:
        raise ValueError(f"zero_crossing_rate: frame_length and hop_length must be > 0, got "
                         f"{frame_length}, {hop_length}")
    return zero_crossings(y, frame_length, hop_length) / frame_length


def zero_crossings(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """Number of sign changes inside each frame: ``(..., n_samples) -> (..., n_frames)``.

    Counted as :func:`zero_crossing_rate` (zero counts as positive), returned in ``y``'s
    floating dtype (exact integers); no framing copies.
    """
    n = y.shape[-1]
    m = n_frames(n, frame_length, hop_length)
    if m == 0 or frame_length < 2:
        return y.new_zeros((*y.shape[:-1], m))
    signs = y >= 0
    change = (signs[..., 1:] != signs[..., :-1]).to(y.dtype)
    return frame_sum(change, frame_length - 1, hop_length)[..., :m]


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


def spectral_centroid_grid(y: torch.Tensor, sr: int, n_fft: int, hop_length: int,
                           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Spectral centroid in Hz of the grid frames: ``(..., n_samples) -> (..., T)``.

    As :func:`spectral_centroid` (Hann window, ``n_fft``-sample frames, magnitude-weighted mean
    frequency, 0 Hz for frames with no energy), but on the analysis grid of
    :func:`frame_grid` (``T = ceil(n_samples / hop_length)``, frame ``t`` centred on sample
    ``t * hop_length + hop_length // 2``) and only for the frames in ``mask`` (``(..., T)``
    bool; default all); the others get 0 Hz. The FFTs run in cache-sized chunks of frames.
    """
    lead, n = y.shape[:-1], y.shape[-1]
    t = grid_frames(n, hop_length)
    out = torch.zeros((*lead, t), dtype=y.dtype, device=y.device)
    if t == 0 or y.numel() == 0:
        return out
    rows = y.reshape(-1, n)
    sel = (torch.ones((rows.shape[0], t), dtype=torch.bool, device=y.device) if mask is None
           else torch.as_tensor(mask, device=y.device).to(torch.bool).expand(*lead, t)
           .reshape(-1, t))
    idx_r, idx_t = torch.nonzero(sel, as_tuple=True)
    padded = grid_signal(rows, n_fft, hop_length)                    # frame t at t * hop
    out.view(-1, t)[idx_r, idx_t] = spectral_centroid_windows(padded, idx_r, idx_t * hop_length,
                                                              sr, n_fft)
    return out


def spectral_centroid_windows(x: torch.Tensor, row: torch.Tensor, start: torch.Tensor, sr: int,
                              n_fft: int) -> torch.Tensor:
    """Spectral centroid in Hz of the windows ``x[row[k], start[k]:start[k] + n_fft]``: ``(K,)``.

    ``x (R, N)`` holds the signal rows (full scale); each window is Hann-weighted (periodic),
    its one-sided magnitude spectrum gives ``sum_k f_k |X_k| / sum_k |X_k|``; 0 Hz for a
    window with no energy. The FFTs run in cache-sized chunks of windows.
    """
    out = x.new_zeros(row.numel())
    hann = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    freqs = torch.fft.rfftfreq(n_fft, d=1.0 / sr, dtype=x.dtype, device=x.device)
    chunk = chunk_frames(x.device)
    for a in range(0, row.numel(), chunk):
        b = min(a + chunk, row.numel())
        frames = take_windows(x, row[a:b], start[a:b], n_fft)
        spec = torch.fft.rfft(frames.mul_(hann), dim=-1)
        mag = (spec.real.square() + spec.imag.square()).sqrt_()     # |X|, cheaper than abs()
        total = mag.sum(dim=-1)
        centroid = (mag * freqs).sum(dim=-1) / total.clamp_min(torch.finfo(x.dtype).tiny)
        out[a:b] = torch.where(total > 0, centroid, torch.zeros_like(centroid))
    return out
