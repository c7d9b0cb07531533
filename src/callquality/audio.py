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

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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
    "TRUNCATION_TOLERANCE_SEC",
    "AudioInfo",
    "audio_info",
    "iter_audio_chunks",
    "read_audio",
    "resample",
    "resampled_length",
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
#: A WAV data chunk may fall short of its header by this much (s) and still be accepted
#: (writers that round the size); a larger shortfall is a truncated file.
TRUNCATION_TOLERANCE_SEC = 0.01


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


class _WavHeader(NamedTuple):
    """What a RIFF/RF64 WAV header *announces* (libsndfile clamps it to the file's size)."""

    format_tag: int
    byte_rate: int
    block_align: int
    data_offset: int  # file offset of the first data byte
    data_bytes: int | None  # announced size of the data chunk; None when unknown


#: Plain-RIFF data sizes from here up are placeholders of writers that cannot seek back
#: (``espeak-ng --stdout`` and ``sox ... -`` write 0x7ffff000, ffmpeg 0xffffffff): unknown size.
_WAV_PLACEHOLDER_SIZE = 0x7FFFF000
#: WAV codecs whose frames are exactly ``block_align`` bytes (PCM, float, A-law, mu-law, ext.).
_WAV_FIXED_FRAME_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})


def _read_wav_header(p: Path) -> _WavHeader | None:
    """Parse the chunk headers of a little-endian WAV/RF64/BW64 file without reading its data.

    Returns ``None`` for anything else (other containers, RIFX, headers too broken to say):
    libsndfile then has the last word.
    """
    try:
        with p.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64",
                                                                           b"BW64"):
                return None
            rf64 = head[:4] != b"RIFF"
            ds64_data: int | None = None
            fmt: tuple[int, int, int] | None = None
            pos = 12
            for _ in range(64):  # chunks before "data"; more than this is not a real file
                f.seek(pos)
                ck = f.read(8)
                if len(ck) < 8:
                    return None
                cid, size = ck[:4], struct.unpack("<I", ck[4:])[0]
                if cid == b"ds64":
                    body = f.read(16)
                    if len(body) == 16:
                        ds64_data = struct.unpack("<QQ", body)[1]
                elif cid == b"fmt ":
                    body = f.read(16)
                    if len(body) < 16:
                        return None
                    tag, _ch, _sr, byte_rate, block_align, _bits = struct.unpack("<HHIIHH", body)
                    fmt = (tag, byte_rate, block_align)
                elif cid == b"data":
                    if fmt is None:
                        return None
                    if rf64 and size == 0xFFFFFFFF:
                        data_bytes = ds64_data
                    elif size >= _WAV_PLACEHOLDER_SIZE:
                        data_bytes = None  # written to a pipe: size left unknown
                    else:
                        data_bytes = size
                    return _WavHeader(*fmt, data_offset=pos + 8, data_bytes=data_bytes)
                pos += 8 + size + (size & 1)
    except OSError:
        return None
    return None


def _announced_seconds(h: _WavHeader, sample_rate: int) -> float | None:
    if h.data_bytes is None:
        return None
    if h.format_tag in _WAV_FIXED_FRAME_TAGS and h.block_align > 0:
        return (h.data_bytes // h.block_align) / sample_rate
    return h.data_bytes / h.byte_rate if h.byte_rate > 0 else None


def audio_info(path: str | Path, *, max_duration_sec: float = MAX_DURATION_SEC) -> AudioInfo:
    """Read and validate the header of ``path`` (nothing is decoded).

    For WAV (RIFF and RF64) the data size the header *announces* is checked against the file:
    libsndfile silently clamps it to what is there, so a header claiming ten hours on a
    one-second file would otherwise load as one second, and a truncated copy would load as a
    shorter call. The announced duration counts for ``max_duration_sec``; a data chunk
    shorter than announced by more than ``TRUNCATION_TOLERANCE_SEC`` is a truncated file.

    Raises:
        AudioFileNotFoundError: no such file, or the path is a directory.
        EmptyAudioError: zero bytes, or a header announcing zero samples.
        AudioDecodeError: not a decodable audio file (corrupt, truncated, unknown codec).
        UnsupportedAudioError: extension, sample rate, channel count or duration out of range.
    """
    p = Path(path)
    if p.is_dir():
        raise AudioFileNotFoundError(p, "is a directory, not an audio file")
    if not p.is_file():
        raise AudioFileNotFoundError(p, "no such audio file")
    if p.suffix.lower() not in AUDIO_EXTENSIONS:
        raise UnsupportedAudioError(
            p, f"extension {p.suffix or '(none)'!r} is not a supported audio format; "
            f"expected one of {sorted(AUDIO_EXTENSIONS)}")
    size = p.stat().st_size
    if size == 0:
        raise EmptyAudioError(p, "file is empty (0 bytes)")
    wav = _read_wav_header(p)
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        codec = f" (WAV codec tag 0x{wav.format_tag:04x})" if wav is not None else ""
        raise AudioDecodeError(p, f"cannot decode audio header{codec}: {exc}") from exc
    if info.samplerate < MIN_SAMPLE_RATE or info.samplerate > MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            p, f"sample rate {info.samplerate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise UnsupportedAudioError(
            p, f"{info.channels} channels; a call has 1 (mono mix) or 2 (agent, customer)")
    duration = info.frames / info.samplerate
    announced = _announced_seconds(wav, info.samplerate) if wav is not None else None
    longest = max(duration, announced or 0.0)
    if longest > max_duration_sec:
        raise UnsupportedAudioError(
            p, f"header announces {longest / 3600:.1f} h of audio, more than the "
            f"{max_duration_sec / 3600:.1f} h limit (max_duration_sec)")
    if wav is not None and wav.data_bytes is not None and announced is not None:
        present = max(0, size - wav.data_offset)
        missing = wav.data_bytes - present
        tolerance = max(wav.block_align, int(TRUNCATION_TOLERANCE_SEC * wav.byte_rate))
        if missing > tolerance:
            raise AudioDecodeError(
                p, f"truncated: header announces {announced:.2f} s of audio but the file "
                f"holds only {duration:.2f} s ({missing} bytes missing)")
    if info.frames <= 0:
        raise EmptyAudioError(p, "audio has zero samples")
    return AudioInfo(str(p), int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.format), str(info.subtype))


def resampled_length(n_samples: int, orig_sr: int, target_sr: int) -> int:
    """Number of samples :func:`resample` returns for ``n_samples`` at ``orig_sr``.

    ``floor(n_samples * target_sr / orig_sr + 1/2)``, computed exactly in integers: the
    nearest integer, halves rounded up (soxr's convention; Python's ``round`` would round
    halves to even). The duration is therefore kept to within half a sample.
    """
    return (2 * int(n_samples) * int(target_sr) + int(orig_sr)) // (2 * int(orig_sr))


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis of ``y`` to ``n`` samples."""
    if y.shape[-1] > n:
        return y[..., :n]
    if y.shape[-1] < n:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])]
        return np.pad(y, pad)
    return y


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample ``y`` of shape ``(..., n_samples)`` from ``orig_sr`` to ``target_sr`` Hz (soxr).

    The output has exactly :func:`resampled_length` ``(n_samples, orig_sr, target_sr)``
    samples (the nearest integer to ``n_samples * target_sr / orig_sr``, halves up), so the
    duration is kept to within half a sample. Returns ``y`` itself when the rates are equal.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return y
    y = np.asarray(y, dtype=np.float32)
    lead = y.shape[:-1]
    n_out = resampled_length(y.shape[-1], orig_sr, target_sr)
    if y.shape[-1] == 0 or y.size == 0:
        return np.zeros((*lead, n_out), dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    # soxr wants (n_samples, n_channels)
    out = soxr.resample(np.ascontiguousarray(flat.T), orig_sr, target_sr, quality=quality)
    out = _fit_length(np.asarray(out, dtype=np.float32).reshape(-1, flat.shape[0]).T, n_out)
    return np.ascontiguousarray(out.reshape(*lead, n_out))


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
    the chunks equals a whole-file resample up to floating-point rounding, and has the same
    length, :func:`resampled_length` ``(n_frames, file_sr, sr)``. Memory stays bounded by one
    chunk whatever the file's length.

    Raises:
        InvalidAudioError: on the first chunk with a non-finite sample.
        AudioDecodeError: when the data cannot be decoded (e.g. truncated file).
    """
    if chunk_sec <= 0:
        raise ValueError(f"iter_audio_chunks: chunk_sec must be > 0, got {chunk_sec}")
    info = info or audio_info(path)
    in_sr = info.sample_rate
    out_sr = sr or in_sr
    block = max(1, round(chunk_sec * in_sr))
    channels = 1 if mono else info.n_channels
    stream = None if out_sr == in_sr else soxr.ResampleStream(
        in_sr, out_sr, channels, dtype="float32", quality="HQ")
    offset = 0  # input frames read
    produced = 0  # output frames yielded
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
                    if last:  # make the total exactly resampled_length(offset, ...)
                        want = resampled_length(offset, in_sr, out_sr) - produced
                        data = _fit_length(data.T, max(want, 0)).T
                    produced += data.shape[0]
                if data.shape[0]:
                    yield np.ascontiguousarray(data.T, dtype=np.float32)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(path, f"cannot decode audio data: {exc}") from exc
    if offset == 0:
        raise EmptyAudioError(path, "audio has zero samples")
    if offset < info.n_frames:
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
