"""Audio decoding, validation, resampling and chunked reading.

Arrays follow one convention everywhere in callquality: ``float32`` samples in [-1, 1] with
shape ``(n_channels, n_samples)`` (channels first, time last), so that tensor functions can
treat every leading axis as a batch axis.

Decoding uses libsndfile through :mod:`soundfile` (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3 with
libsndfile >= 1.1); resampling uses soxr (the SoX resampler, "high quality" by default).
Long recordings are read in chunks (:func:`iter_audio_chunks`) so a two-hour call never needs
to be decoded at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .exceptions import (
    AudioDecodeError,
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidAudioError,
    UnsupportedAudioError,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_CHANNELS",
    "MAX_DURATION_SEC",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioInfo",
    "audio_info",
    "iter_audio_chunks",
    "read_audio",
    "resample",
    "to_mono",
]

#: File extensions :func:`callquality.load_calls` picks up (lower case).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"})
#: Lowest accepted sample rate (Hz); narrow-band telephony is 8 kHz.
MIN_SAMPLE_RATE = 4000
#: Highest accepted sample rate (Hz).
MAX_SAMPLE_RATE = 192_000
#: Calls have one (mixed or diarized) or two (agent/customer) channels.
MAX_CHANNELS = 2
#: Longest accepted recording (s). Longer files are refused rather than processed for hours.
MAX_DURATION_SEC = 4 * 3600.0


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (nothing decoded)."""

    path: str
    sample_rate: int
    n_channels: int
    n_frames: int
    format: str
    subtype: str

    @property
    def duration_sec(self) -> float:
        return self.n_frames / self.sample_rate


def audio_info(path: str | Path, *, max_duration_sec: float = MAX_DURATION_SEC) -> AudioInfo:
    """Read and validate the header of ``path``.

    Raises:
        AudioFileNotFoundError: no such file.
        EmptyAudioError: zero bytes, or a header announcing zero samples.
        AudioDecodeError: not a decodable audio file (corrupt, truncated, unknown codec).
        UnsupportedAudioError: extension, sample rate, channel count or duration out of range.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioFileNotFoundError(p, "no such audio file")
    if p.suffix.lower() not in AUDIO_EXTENSIONS:
        raise UnsupportedAudioError(
            p, f"extension {p.suffix or '(none)'!r} is not a supported audio format; "
            f"expected one of {sorted(AUDIO_EXTENSIONS)}")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "file is empty (0 bytes)")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(p, f"cannot decode audio header: {exc}") from exc
    if info.samplerate < MIN_SAMPLE_RATE or info.samplerate > MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            p, f"sample rate {info.samplerate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise UnsupportedAudioError(
            p, f"{info.channels} channels; a call has 1 (mono mix) or 2 (agent, customer)")
    if info.frames <= 0:
        raise EmptyAudioError(p, "audio has zero samples")
    duration = info.frames / info.samplerate
    if duration > max_duration_sec:
        raise UnsupportedAudioError(
            p, f"header announces {duration / 3600:.1f} h of audio, more than the "
            f"{max_duration_sec / 3600:.1f} h limit (max_duration_sec)")
    return AudioInfo(str(p), int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.format), str(info.subtype))


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample ``y`` of shape ``(..., n_samples)`` from ``orig_sr`` to ``target_sr`` Hz (soxr).

    The output has ``round(n_samples * target_sr / orig_sr)`` samples, so the duration is kept
    to within one sample. Returns ``y`` itself when the rates are equal.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return y
    y = np.asarray(y, dtype=np.float32)
    lead = y.shape[:-1]
    flat = y.reshape(-1, y.shape[-1])
    # soxr wants (n_samples, n_channels)
    out = soxr.resample(np.ascontiguousarray(flat.T), orig_sr, target_sr, quality=quality)
    out = np.asarray(out, dtype=np.float32).reshape(-1, flat.shape[0]).T
    return np.ascontiguousarray(out.reshape(*lead, out.shape[-1]))


def to_mono(y: np.ndarray) -> np.ndarray:
    """Mix ``(n_channels, n_samples)`` down to ``(1, n_samples)`` by averaging channels."""
    return y.mean(axis=0, keepdims=True, dtype=np.float32)


def _check_finite(path: str | Path, block: np.ndarray, offset: int, sr: int) -> None:
    if not np.isfinite(block).all():
        bad = int(np.argmax(~np.isfinite(block).all(axis=0)))
        raise InvalidAudioError(
            path, f"non-finite sample (NaN or inf) at {(offset + bad) / sr:.3f} s")


def iter_audio_chunks(
    path: str | Path,
    *,
    chunk_sec: float = 60.0,
    sr: int | None = None,
    mono: bool = False,
    info: AudioInfo | None = None,
) -> Iterator[np.ndarray]:
    """Decode ``path`` piece by piece.

    Yields ``float32`` arrays of shape ``(n_channels, n)`` (``n_channels`` = 1 when ``mono``),
    each about ``chunk_sec`` seconds at the output rate ``sr`` (default: the file's rate).
    Resampling is streamed (soxr keeps its filter state across chunks), so the concatenation of
    the chunks equals a whole-file resample up to floating-point rounding. Memory stays bounded
    by one chunk whatever the file's length.

    Raises:
        InvalidAudioError: on the first chunk with a non-finite sample.
        AudioDecodeError: when the data cannot be decoded (e.g. truncated file).
    """
    if chunk_sec <= 0:
        raise ValueError(f"iter_audio_chunks: chunk_sec must be > 0, got {chunk_sec}")
    info = info or audio_info(path)
    in_sr = info.sample_rate
    out_sr = sr or in_sr
    block = max(1, int(round(chunk_sec * in_sr)))
    channels = 1 if mono else info.n_channels
    stream = None if out_sr == in_sr else soxr.ResampleStream(
        in_sr, out_sr, channels, dtype="float32", quality="HQ")
    offset = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)  # (n, ch)
                last = data.shape[0] < block
                if data.shape[0]:
                    _check_finite(path, data.T, offset, in_sr)
                    offset += data.shape[0]
                if mono and data.shape[1] > 1:
                    data = data.mean(axis=1, keepdims=True, dtype=np.float32)
                if stream is not None:
                    data = stream.resample_chunk(data, last=last)
                if data.shape[0]:
                    yield np.ascontiguousarray(data.T, dtype=np.float32)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(path, f"cannot decode audio data: {exc}") from exc
    if offset == 0:
        raise EmptyAudioError(path, "audio has zero samples")
    if stream is None and offset < info.n_frames:
        # A truncated file: the header promises more frames than the data holds.
        missing = (info.n_frames - offset) / in_sr
        if missing > 0.05 * info.duration_sec + 1.0 / in_sr:
            raise AudioDecodeError(
                path, f"truncated: header announces {info.duration_sec:.2f} s but only "
                f"{offset / in_sr:.2f} s could be decoded")


def read_audio(
    path: str | Path,
    *,
    sr: int | None = None,
    mono: bool = False,
    info: AudioInfo | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a whole file: returns ``(y, sr)`` with ``y`` of shape ``(n_channels, n_samples)``.

    ``sr`` resamples to that rate (soxr HQ); ``mono`` averages the channels. The length is
    ``round(n_frames * sr / file_sr)``, i.e. the duration is preserved to within one sample.
    """
    info = info or audio_info(path)
    out_sr = sr or info.sample_rate
    chunks = list(iter_audio_chunks(path, chunk_sec=600.0, mono=mono, info=info))
    y = np.concatenate(chunks, axis=1) if len(chunks) > 1 else chunks[0]
    if out_sr != info.sample_rate:
        y = resample(y, info.sample_rate, out_sr)
    return y, out_sr
