"""Malformed recordings and sidecars: each is refused with its own error class, naming the file.

The table below is the contract of :func:`callquality.load_call` for bad input. Every case
writes one malformed input into ``tmp_path`` and says which exception class (exactly, not a
parent) must come out, which file the message must name and a keyword of the cause.

Decisions recorded here:

* A WAV whose header announces more data than the file holds is *truncated* and raises
  :class:`AudioDecodeError` from the header check (``audio_info``), before any decoding and
  also with ``validate=False``. libsndfile would silently clamp it to what is there; a
  shortfall up to ``TRUNCATION_TOLERANCE_SEC`` (10 ms) is tolerated.
* A header announcing more than ``max_duration_sec`` (10 h here, 4 h limit) is refused as
  :class:`UnsupportedAudioError` before decoding, whether the data is there or not.
* A file with a non-audio extension is :class:`UnsupportedAudioError` even if it holds audio;
  audio bytes that cannot be decoded (random bytes, unknown WAV codec) are
  :class:`AudioDecodeError`.
* A wrong ``channels=`` *argument* is a :class:`ConfigurationError` (bad argument) naming the
  audio file; the same mistake in the *sidecar* is a :class:`SidecarError` naming the sidecar.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import callquality as cq
import callquality.calls as calls_mod
from callquality.exceptions import (
    AudioDecodeError,
    AudioFileNotFoundError,
    CallLoadError,
    CallQualityError,
    ConfigurationError,
    EmptyAudioError,
    InvalidAudioError,
    SidecarError,
    UnsupportedAudioError,
)

SR = 8000

# --------------------------------------------------------------------------- file builders


def _fmt_chunk(sr: int = SR, channels: int = 1, bits: int = 16, tag: int = 1) -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
    return b"fmt " + struct.pack("<I", len(body)) + body


def wav_bytes(data: bytes = b"", *, declared: int | None = None, sr: int = SR,
              channels: int = 1, bits: int = 16, tag: int = 1) -> bytes:
    """A RIFF/WAVE file built by hand; ``declared`` is the data size its header announces."""
    size = len(data) if declared is None else declared
    fmt = _fmt_chunk(sr, channels, bits, tag)
    riff = min(4 + len(fmt) + 8 + size, 0xFFFFFFFF)
    pad = b"\0" if len(data) % 2 else b""
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + fmt
            + b"data" + struct.pack("<I", size) + data + pad)


def rf64_bytes(data: bytes, *, declared: int, sr: int = SR) -> bytes:
    """An RF64 (64-bit WAV) file whose ds64 chunk announces ``declared`` data bytes."""
    ds64 = struct.pack("<QQQI", 4 + 36 + 24 + 8 + declared, declared, declared // 2, 0)
    return (b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
            + b"ds64" + struct.pack("<I", len(ds64)) + ds64 + _fmt_chunk(sr)
            + b"data" + struct.pack("<I", 0xFFFFFFFF) + data)


def pcm16(n: int, channels: int = 1) -> bytes:
    rng = np.random.default_rng(n)
    return (rng.standard_normal(n * channels) * 3000).astype("<i2").tobytes()


def write_tone(path: Path, seconds: float = 1.0, sr: int = SR, channels: int = 1,
               subtype: str | None = None) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    y = np.stack([0.3 * np.sin(2 * np.pi * (200 + 150 * c) * t) for c in range(channels)], 1)
    sf.write(path, y, sr, subtype=subtype)
    return path


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the case table


@dataclass
class Built:
    """What a case builder made: the path to load, extra ``load_call`` arguments, and the file
    the error message must name (the audio, or the sidecar when the sidecar is at fault)."""

    load: Path
    blamed: Path
    kwargs: dict[str, Any] = field(default_factory=dict)


def _audio(p: Path, **kw: Any) -> Built:
    return Built(p, p, kw)


def missing_file(d: Path) -> Built:
    return _audio(d / "nope.wav")


def directory(d: Path) -> Built:
    (d / "folder.wav").mkdir()
    return _audio(d / "folder.wav")


def empty_file(d: Path) -> Built:
    (d / "empty.wav").write_bytes(b"")
    return _audio(d / "empty.wav")


def truncated_header(d: Path) -> Built:
    good = wav_bytes(pcm16(SR))
    (d / "hdr.wav").write_bytes(good[:20])
    return _audio(d / "hdr.wav")


def header_only(d: Path) -> Built:
    """The 44-byte header of a 1 s file, no data: truncated, not 'zero samples'."""
    (d / "hdronly.wav").write_bytes(wav_bytes(pcm16(SR))[:44])
    return _audio(d / "hdronly.wav")


def truncated_data(d: Path) -> Built:
    full = wav_bytes(pcm16(2 * SR))
    (d / "trunc.wav").write_bytes(full[: len(full) // 2])
    return _audio(d / "trunc.wav")


def truncated_data_no_validate(d: Path) -> Built:
    b = truncated_data(d)
    b.kwargs["validate"] = False
    return b


def txt_with_audio(d: Path) -> Built:
    (d / "call.txt").write_bytes(wav_bytes(pcm16(SR)))
    return _audio(d / "call.txt")


def audio_in_xyz(d: Path) -> Built:
    (d / "call.xyz").write_bytes(wav_bytes(pcm16(SR)))
    return _audio(d / "call.xyz")


def no_extension(d: Path) -> Built:
    (d / "call").write_bytes(wav_bytes(pcm16(SR)))
    return _audio(d / "call")


def unknown_wav_codec(d: Path) -> Built:
    (d / "codec.wav").write_bytes(wav_bytes(pcm16(SR), tag=0x1234))
    return _audio(d / "codec.wav")


def random_bytes_mp3(d: Path) -> Built:
    (d / "noise.mp3").write_bytes(np.random.default_rng(1).bytes(4096))
    return _audio(d / "noise.mp3")


def random_bytes_flac(d: Path) -> Built:
    (d / "noise.flac").write_bytes(np.random.default_rng(2).bytes(4096))
    return _audio(d / "noise.flac")


def zero_samples(d: Path) -> Built:
    (d / "zero.wav").write_bytes(wav_bytes(b""))
    return _audio(d / "zero.wav")


def zero_samples_soundfile(d: Path) -> Built:
    sf.write(d / "zero_sf.wav", np.zeros((0, 1), np.float32), SR)
    return _audio(d / "zero_sf.wav")


def _float_wav(d: Path, name: str, value: float, at: int) -> Built:
    y = np.zeros((SR, 2), np.float32)
    y[at, 1] = value
    sf.write(d / name, y, SR, subtype="FLOAT")
    return _audio(d / name)


def nan_samples(d: Path) -> Built:
    return _float_wav(d, "nan.wav", np.nan, 4000)


def inf_samples(d: Path) -> Built:
    return _float_wav(d, "inf.wav", -np.inf, 10)


def nan_in_later_chunk(d: Path) -> Built:
    """A NaN 150 s in: found by the chunked validation (chunks are 120 s)."""
    y = np.zeros((160 * 4000, 1), np.float32)
    y[150 * 4000] = np.nan
    sf.write(d / "late_nan.wav", y, 4000, subtype="FLOAT")
    return _audio(d / "late_nan.wav")


def sample_rate_1hz(d: Path) -> Built:
    (d / "sr1.wav").write_bytes(wav_bytes(pcm16(10), sr=1))
    return _audio(d / "sr1.wav")


def sample_rate_too_high(d: Path) -> Built:
    (d / "sr384k.wav").write_bytes(wav_bytes(pcm16(384), sr=384_000))
    return _audio(d / "sr384k.wav")


def six_channels(d: Path) -> Built:
    (d / "six.wav").write_bytes(wav_bytes(pcm16(800, 6), channels=6))
    return _audio(d / "six.wav")


def ten_hour_header(d: Path) -> Built:
    """One second of data under a header announcing 10 h (576 MB at 8 kHz/16 bit)."""
    (d / "tenh.wav").write_bytes(wav_bytes(pcm16(SR), declared=SR * 2 * 36000))
    return _audio(d / "tenh.wav")


def ten_hour_rf64(d: Path) -> Built:
    (d / "tenh_rf64.wav").write_bytes(rf64_bytes(pcm16(SR), declared=SR * 2 * 36000))
    return _audio(d / "tenh_rf64.wav")


def ten_hour_sparse(d: Path) -> Built:
    """A real 10 h file (4 kHz, 8 bit: 144 MB, a sparse hole that costs no disk)."""
    p = d / "tenh_sparse.wav"
    n = 4000 * 36000
    p.write_bytes(wav_bytes(b"", declared=n, sr=4000, bits=8))
    with p.open("r+b") as f:
        f.truncate(44 + n)
    return _audio(p)


def longer_than_max_duration_arg(d: Path) -> Built:
    return _audio(write_tone(d / "long.wav", seconds=2.0), max_duration_sec=1.0)


def _with_sidecar(d: Path, sidecar: Any, *, raw: bytes | None = None, name: str = "call",
                  seconds: float = 1.0, channels: int = 2, **kw: Any) -> Built:
    audio = write_tone(d / f"{name}.wav", seconds=seconds, channels=channels)
    sc = d / f"{name}.json"
    if raw is not None:
        sc.write_bytes(raw)
    else:
        write_json(sc, sidecar)
    return Built(audio, sc, kw)


def sidecar_invalid_json(d: Path) -> Built:
    return _with_sidecar(d, None, raw=b'{"call_id": "call", "agent_id": }')


def sidecar_not_utf8(d: Path) -> Built:
    return _with_sidecar(d, None, raw=b'{"agent_id": "\xff\xfe"}')


def sidecar_not_object(d: Path) -> Built:
    return _with_sidecar(d, [{"call_id": "call"}])


def sidecar_other_call_id(d: Path) -> Built:
    return _with_sidecar(d, {"call_id": "call_9999"})


def sidecar_other_audio(d: Path) -> Built:
    return _with_sidecar(d, {"call_id": "call", "audio": "other.wav"})


def sidecar_conflicts_with_call_id_arg(d: Path) -> Built:
    return _with_sidecar(d, {"call_id": "call"}, call_id="something_else")


def sidecar_bad_field_type(d: Path) -> Built:
    return _with_sidecar(d, {"channels": "agent"})


def _seg(start: float, end: float, speaker: str = "agent", **kw: Any) -> dict[str, Any]:
    return {"speaker": speaker, "start": start, "end": end, "text": "hello there", **kw}


def segment_end_before_start(d: Path) -> Built:
    return _with_sidecar(d, {"transcript": {"segments": [_seg(0.2, 0.5), _seg(0.8, 0.6)]}})


def word_end_before_start(d: Path) -> Built:
    words = [{"text": "hello", "start": 0.3, "end": 0.1}]
    return _with_sidecar(d, {"transcript": {"segments": [_seg(0.1, 0.5, words=words)]}})


def segment_starts_after_audio(d: Path) -> Built:
    return _with_sidecar(d, {"transcript": {"segments": [_seg(0.1, 0.5), _seg(5.0, 6.0)]}})


def segment_ends_after_audio(d: Path) -> Built:
    return _with_sidecar(d, {"transcript": {"segments": [_seg(0.5, 30.0)]}})


def transcript_unknown_speaker(d: Path) -> Built:
    return _with_sidecar(d, {"transcript": {"segments": [_seg(0.1, 0.5, speaker="bob")]}})


def sidecar_three_channels_for_stereo(d: Path) -> Built:
    return _with_sidecar(d, {"channels": ["agent", "customer", "supervisor"]})


def sidecar_repeated_channel(d: Path) -> Built:
    return _with_sidecar(d, {"channels": ["agent", "agent"]})


def explicit_sidecar_missing(d: Path) -> Built:
    audio = write_tone(d / "call.wav", channels=2)
    return Built(audio, d / "missing.json", {"sidecar": d / "missing.json"})


def transcript_arg_invalid_json(d: Path) -> Built:
    audio = write_tone(d / "call.wav", channels=2)
    tr = d / "transcript.json"
    tr.write_text("[1, 2", encoding="utf-8")
    return Built(audio, tr, {"transcript": tr})


def channels_arg_three_speakers(d: Path) -> Built:
    return _audio(write_tone(d / "stereo.wav", channels=2),
                  channels=("agent", "customer", "supervisor"))


#: (builder, exact error class, keyword of the cause in the message)
CASES: list[tuple[Callable[[Path], Built], type[Exception], str]] = [
    (missing_file, AudioFileNotFoundError, "no such"),
    (directory, AudioFileNotFoundError, "directory"),
    (empty_file, EmptyAudioError, "0 bytes"),
    (truncated_header, AudioDecodeError, "decode"),
    (header_only, AudioDecodeError, "truncated"),
    (truncated_data, AudioDecodeError, "truncated"),
    (truncated_data_no_validate, AudioDecodeError, "truncated"),
    (txt_with_audio, UnsupportedAudioError, "extension"),
    (audio_in_xyz, UnsupportedAudioError, "extension"),
    (no_extension, UnsupportedAudioError, "extension"),
    (unknown_wav_codec, AudioDecodeError, "codec tag 0x1234"),
    (random_bytes_mp3, AudioDecodeError, "decode"),
    (random_bytes_flac, AudioDecodeError, "decode"),
    (zero_samples, EmptyAudioError, "zero samples"),
    (zero_samples_soundfile, EmptyAudioError, "zero samples"),
    (nan_samples, InvalidAudioError, "non-finite"),
    (inf_samples, InvalidAudioError, "non-finite"),
    (nan_in_later_chunk, InvalidAudioError, "150.000 s"),
    (sample_rate_1hz, UnsupportedAudioError, "sample rate 1 Hz"),
    (sample_rate_too_high, UnsupportedAudioError, "sample rate 384000 Hz"),
    (six_channels, UnsupportedAudioError, "6 channels"),
    (ten_hour_header, UnsupportedAudioError, "10.0 h"),
    (ten_hour_rf64, UnsupportedAudioError, "10.0 h"),
    (ten_hour_sparse, UnsupportedAudioError, "10.0 h"),
    (longer_than_max_duration_arg, UnsupportedAudioError, "max_duration_sec"),
    (sidecar_invalid_json, SidecarError, "not valid JSON"),
    (sidecar_not_utf8, SidecarError, "UTF-8"),
    (sidecar_not_object, SidecarError, "JSON object"),
    (sidecar_other_call_id, SidecarError, "call_9999"),
    (sidecar_other_audio, SidecarError, "other.wav"),
    (sidecar_conflicts_with_call_id_arg, SidecarError, "something_else"),
    (sidecar_bad_field_type, SidecarError, "sidecar.channels"),
    (segment_end_before_start, SidecarError, "before start"),
    (word_end_before_start, SidecarError, "before start"),
    (segment_starts_after_audio, SidecarError, "beyond the audio"),
    (segment_ends_after_audio, SidecarError, "beyond the audio"),
    (transcript_unknown_speaker, SidecarError, "bob"),
    (sidecar_three_channels_for_stereo, SidecarError, "3 speakers"),
    (sidecar_repeated_channel, SidecarError, "repeats"),
    (explicit_sidecar_missing, SidecarError, "does not exist"),
    (transcript_arg_invalid_json, SidecarError, "cannot read transcript"),
    (channels_arg_three_speakers, ConfigurationError, "3 speakers"),
]


@pytest.mark.parametrize(("build", "error", "cause"), CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_bad_input_raises_specific_error(tmp_path: Path, build: Callable[[Path], Built],
                                         error: type[Exception], cause: str) -> None:
    built = build(tmp_path)
    with pytest.raises(CallQualityError) as info:
        cq.load_call(built.load, **built.kwargs)
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    assert str(built.blamed) in str(err)
    assert cause.lower() in str(err).lower()
    if isinstance(err, CallLoadError):
        assert err.path == str(built.blamed)
        assert err.reason and err.reason in str(err)


def test_case_table_is_large_enough() -> None:
    assert len(CASES) >= 15
    assert len({c[0] for c in CASES}) == len(CASES)


def test_error_classes_are_catchable_as_builtins(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cq.load_call(tmp_path / "nope.wav")
    with pytest.raises(ValueError):
        cq.load_call(channels_arg_three_speakers(tmp_path).load,
                     channels=("a", "b", "c"))


@pytest.mark.parametrize("build", [ten_hour_header, ten_hour_rf64, ten_hour_sparse,
                                   truncated_data])
def test_refused_from_the_header_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        build: Callable[[Path], Built]) -> None:
    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was decoded")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(calls_mod, "iter_audio_chunks", no_decoding)
    built = build(tmp_path)
    with pytest.raises((UnsupportedAudioError, AudioDecodeError)):
        cq.load_call(built.load)


@pytest.mark.parametrize("placeholder", [0x7FFFF000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_streaming_placeholder_sizes_are_not_truncation(tmp_path: Path,
                                                        placeholder: int) -> None:
    """espeak-ng --stdout and sox to a pipe write 0x7ffff000, ffmpeg 0xffffffff: size unknown."""
    p = tmp_path / "piped.wav"
    p.write_bytes(wav_bytes(pcm16(SR), declared=placeholder))
    call = cq.load_call(p)
    assert call.n_samples == SR
    assert call.audio().shape == (1, SR)


def test_shortfall_within_tolerance_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "short.wav"
    data = pcm16(SR)
    p.write_bytes(wav_bytes(data, declared=len(data) + 2 * 40))  # 40 samples = 5 ms missing
    assert cq.load_call(p).n_samples == SR


def test_ten_hour_header_accepted_when_limit_raised(tmp_path: Path) -> None:
    p = ten_hour_sparse(tmp_path).load
    call = cq.load_call(p, max_duration_sec=11 * 3600, validate=False)
    assert call.duration_sec == pytest.approx(36000.0)


# --------------------------------------------------------------------------- load_calls


def _mixed_folder(d: Path) -> dict[str, type[CallLoadError]]:
    """Good and bad files side by side; returns the bad file names and their error class."""
    write_tone(d / "a_good.wav")
    write_tone(d / "b_good_stereo.flac", channels=2)
    write_json(d / "b_good_stereo.json", {"call_id": "b_good_stereo", "agent_id": "ag1"})
    (d / "c_empty.wav").write_bytes(b"")
    _float_wav(d, "d_nan.wav", np.nan, 100)
    (d / "e_six.wav").write_bytes(wav_bytes(pcm16(800, 6), channels=6))
    write_tone(d / "f_badjson.wav")
    (d / "f_badjson.json").write_text("{oops", encoding="utf-8")
    write_tone(d / "g_sidecar_channels.wav", channels=2)
    write_json(d / "g_sidecar_channels.json", {"channels": ["a", "b", "c"]})
    (d / "h_trunc.wav").write_bytes(wav_bytes(pcm16(SR))[:2000])
    write_tone(d / "i_dup.wav")
    write_json(d / "i_dup.json", {"call_id": "a_good", "audio": "i_dup.wav"})
    (d / "notes.txt").write_text("not audio, ignored", encoding="utf-8")
    (d / "subdir.wav").mkdir()  # a directory with an audio name: ignored
    return {"c_empty.wav": EmptyAudioError, "d_nan.wav": InvalidAudioError,
            "e_six.wav": UnsupportedAudioError, "f_badjson.wav": SidecarError,
            "g_sidecar_channels.wav": SidecarError, "h_trunc.wav": AudioDecodeError,
            "i_dup.wav": SidecarError}


def test_load_calls_collects_bad_files(tmp_path: Path) -> None:
    bad = _mixed_folder(tmp_path)
    calls = cq.load_calls(tmp_path)
    assert [c.call_id for c in calls] == ["a_good", "b_good_stereo"]
    assert calls[1].agent_id == "ag1" and calls[1].channels == ("agent", "customer")
    report = calls.report
    assert report
    got = {p.name: type(e) for p, e in report.failures}
    assert got == bad
    for p, e in report.failures:
        assert str(p) in str(e) or p.with_suffix(".json").name in str(e)
        assert str(e) in str(report)
    assert f"{len(bad)} file(s) could not be loaded" in str(report)


def test_load_calls_raise_stops_at_first_bad_file(tmp_path: Path) -> None:
    _mixed_folder(tmp_path)
    with pytest.raises(EmptyAudioError, match=r"c_empty\.wav"):
        cq.load_calls(tmp_path, errors="raise")


def test_load_calls_all_good_has_empty_report(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav")
    calls = cq.load_calls(tmp_path)
    assert len(calls) == 1 and not calls.report
    assert str(calls.report) == "all files loaded"


def test_load_calls_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(CallLoadError, match="no such folder"):
        cq.load_calls(tmp_path / "missing")
    f = write_tone(tmp_path / "x.wav")
    with pytest.raises(CallLoadError, match="no such folder"):
        cq.load_calls(f)
    with pytest.raises(ConfigurationError, match="errors"):
        cq.load_calls(tmp_path, errors="ignore")


def test_load_calls_recursive(tmp_path: Path) -> None:
    (tmp_path / "day1").mkdir()
    write_tone(tmp_path / "day1" / "r1.wav")
    write_tone(tmp_path / "top.wav")
    assert [c.call_id for c in cq.load_calls(tmp_path)] == ["top"]
    assert sorted(c.call_id for c in cq.load_calls(tmp_path, recursive=True)) == ["r1", "top"]


def test_unreadable_audio_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = write_tone(tmp_path / "locked.wav")
    p.chmod(0)
    try:
        with pytest.raises(AudioDecodeError, match=r"locked\.wav"):
            cq.load_call(p)
    finally:
        p.chmod(0o644)
