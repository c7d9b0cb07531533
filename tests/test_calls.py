"""Calls and transcripts: Transcript/Segment/Word, Call.from_array, sidecar metadata,
load_call's overrides and validate=False."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import callquality as cq
import callquality.calls as calls_mod
from callquality.calls import MIXED, Segment, Transcript, Word
from callquality.exceptions import (
    ConfigurationError,
    EmptyAudioError,
    InvalidAudioError,
    SidecarError,
    UnsupportedAudioError,
)

SR = 8000

TRANSCRIPT: dict[str, Any] = {
    "language": "en",
    "segments": [
        {"speaker": "customer", "start": 2.0, "end": 3.0, "text": "my order is late"},
        {"speaker": "agent", "start": 0.2, "end": 1.5, "text": "Thank you for calling.",
         "words": [{"text": "Thank", "start": 0.2, "end": 0.4, "confidence": 0.9},
                   {"text": "you", "start": 0.4, "end": 0.6},
                   {"text": "for", "start": 0.6, "end": 0.8},
                   {"text": "calling.", "start": 0.8, "end": 1.5, "confidence": 0.75}]},
        {"speaker": "agent", "start": 3.2, "end": 3.8, "text": "Let me check.",
         "ignored_field": 1},
    ],
}


def write_stereo(path: Path, seconds: float = 4.0, sr: int = SR) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    y = np.stack([0.4 * np.sin(2 * np.pi * 300 * t), 0.2 * np.sin(2 * np.pi * 700 * t)], 1)
    sf.write(path, y, sr)
    return path


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Transcript


def test_from_dict_sorts_segments_and_attaches_speakers() -> None:
    tr = Transcript.from_dict(TRANSCRIPT)
    assert tr.source == "sidecar" and tr.language == "en"
    assert [s.start for s in tr.segments] == [0.2, 2.0, 3.2]
    assert tr.speakers == ("agent", "customer")
    first = tr.segments[0]
    assert isinstance(first, Segment) and first.duration == pytest.approx(1.3)
    assert first.words[0] == Word("Thank", 0.2, 0.4, "agent", 0.9)
    assert all(w.speaker == "agent" for w in first.words)
    assert tr.text == "Thank you for calling. my order is late Let me check."


def test_to_dict_from_dict_round_trip() -> None:
    tr = Transcript.from_dict(TRANSCRIPT, source="whisper")
    d = tr.to_dict()
    assert d["source"] == "whisper"
    json.dumps(d)  # plain JSON types only
    again = Transcript.from_dict(d)
    assert again == tr
    assert again.segments[0].words[3].confidence == 0.75  # confidences survive
    assert Transcript.from_dict(again.to_dict()).to_dict() == d


def test_from_dict_source_argument_and_default() -> None:
    assert Transcript.from_dict({"segments": []}, source="asr").source == "asr"
    assert Transcript.from_dict({"segments": [], "source": "manual"}).source == "manual"
    empty = Transcript.from_dict({"segments": []})
    assert empty.segments == () and empty.text == "" and empty.words == []


@pytest.mark.parametrize(("data", "where"), [
    ({}, "transcript.segments"),
    ({"segments": [{"speaker": "agent", "start": 1.0, "end": 0.5}]}, "transcript.segments.0.end"),
    ({"segments": [{"speaker": "", "start": 0, "end": 1}]}, "transcript.segments.0.speaker"),
    ({"segments": [{"speaker": "a", "start": -1, "end": 1}]}, "transcript.segments.0.start"),
    ({"segments": [{"speaker": "a", "start": 0, "end": 1,
                    "words": [{"text": "x", "start": 0.5, "end": 0.2}]}]},
     "transcript.segments.0.words.0.end"),
])
def test_from_dict_names_the_bad_field(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=where.replace(".", r"\.")):
        Transcript.from_dict(data)


def test_words_fallback_spreads_text_over_segment() -> None:
    tr = Transcript.from_dict(TRANSCRIPT)
    customer = [w for w in tr.words if w.speaker == "customer"]
    assert [w.text for w in customer] == ["my", "order", "is", "late"]
    assert [w.start for w in customer] == pytest.approx([2.0, 2.25, 2.5, 2.75])
    assert [w.end for w in customer] == pytest.approx([2.25, 2.5, 2.75, 3.0])
    words = tr.words
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert len(words) == 4 + 4 + 3
    assert words[0] == Word("Thank", 0.2, 0.4, "agent", 0.9)


def test_words_fallback_of_empty_text_and_explicit_word_speaker() -> None:
    seg = Segment("agent", 1.0, 2.0, text="")
    assert Transcript((seg,)).words == []
    own = Segment("agent", 0.0, 1.0, "hi", (Word("hi", 0.0, 0.5, speaker="customer"),))
    bare = Segment("agent", 1.0, 2.0, "yo", (Word("yo", 1.0, 1.5),))
    assert [w.speaker for w in Transcript((own, bare)).words] == ["customer", "agent"]


def test_for_speaker() -> None:
    tr = Transcript.from_dict(TRANSCRIPT, source="whisper")
    agent = tr.for_speaker("agent")
    assert [s.start for s in agent.segments] == [0.2, 3.2]
    assert agent.source == "whisper" and agent.language == "en"
    assert agent.speakers == ("agent",)
    assert tr.for_speaker("customer").text == "my order is late"
    assert tr.for_speaker("nobody").segments == ()


# --------------------------------------------------------------------------- Call.from_array


def test_from_array_mono_and_stereo_defaults() -> None:
    mono = cq.Call.from_array(np.zeros(800), SR, call_id="m")
    assert mono.channels == (MIXED,) and not mono.is_stereo
    assert mono.n_samples == 800 and mono.duration_sec == pytest.approx(0.1)
    assert mono.audio().shape == (1, 800) and mono.audio().dtype == np.float32
    assert mono.path is None

    stereo = cq.Call.from_array(np.zeros((2, 1600)), SR, agent_id="ag")
    assert stereo.channels == ("agent", "customer") and stereo.is_stereo
    assert stereo.n_channels == 2 and stereo.agent_id == "ag"
    assert cq.Call.from_array(np.zeros((2, 10)), SR, channels=("mixed", "x")).is_stereo is False


def test_from_array_transcript_and_metadata() -> None:
    meta = {"ground_truth": {"csat": 4}, "queue": "billing"}
    call = cq.Call.from_array(np.zeros((2, 4 * SR)), SR, transcript=TRANSCRIPT, metadata=meta)
    assert call.transcript == Transcript.from_dict(TRANSCRIPT)
    assert call.metadata == meta and call.metadata is not meta
    assert call.ground_truth == {"csat": 4}
    assert cq.Call.from_array(np.zeros(10), SR, metadata={"ground_truth": 3}).ground_truth is None
    tr = Transcript.from_dict(TRANSCRIPT)
    assert cq.Call.from_array(np.zeros(10), SR, transcript=tr).transcript is tr


@pytest.mark.parametrize(("y", "sr", "kwargs", "error", "match"), [
    (np.zeros((1, 2, 10)), SR, {}, ConfigurationError, "1-D or 2-D"),
    (np.zeros((3, 10)), SR, {}, UnsupportedAudioError, "3 channels"),
    (np.zeros((0, 10)), SR, {}, UnsupportedAudioError, "0 channels"),
    (np.zeros((2, 0)), SR, {}, EmptyAudioError, "zero samples"),
    (np.zeros(0), SR, {}, EmptyAudioError, "zero samples"),
    (np.array([0.0, np.nan]), SR, {}, InvalidAudioError, "non-finite"),
    (np.array([0.0, np.inf]), SR, {}, InvalidAudioError, "non-finite"),
    (np.zeros(10), 0, {}, UnsupportedAudioError, "sample rate"),
    (np.zeros(10), -8000, {}, UnsupportedAudioError, "sample rate"),
    (np.zeros((2, 10)), SR, {"channels": ("agent",)}, ConfigurationError, "1 speakers"),
    (np.zeros((2, 10)), SR, {"channels": ("a", "a")}, ConfigurationError, "repeats"),
    (np.zeros((2, 10)), SR, {"channels": ("", "a")}, ConfigurationError, "empty speaker"),
    (np.zeros(10), SR, {"transcript": {"segments": "x"}}, SidecarError, "invalid transcript"),
    (np.zeros(10), SR, {"transcript": 42}, ConfigurationError, "transcript must be"),
])
def test_from_array_validation(y: np.ndarray, sr: int, kwargs: dict[str, Any],
                               error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        cq.Call.from_array(y, sr, call_id="arr_call", **kwargs)
    assert "arr_call" in str(info.value)


def test_in_memory_audio_resample_and_chunks() -> None:
    y = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32) * 0.1
    call = cq.Call.from_array(y, SR)
    np.testing.assert_array_equal(call.audio(), y)
    assert call.audio(sr=16000).shape == (2, 16000)
    np.testing.assert_allclose(call.audio(mono=True)[0], y.mean(axis=0), atol=1e-7)
    chunks = list(call.iter_chunks(0.3, sr=16000))
    assert [c.shape[1] for c in chunks] == [4800, 4800, 4800, 1600]
    np.testing.assert_array_equal(np.concatenate(chunks, 1), call.audio(sr=16000))


# --------------------------------------------------------------------------- load_call


def test_sidecar_fields_and_metadata(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c1.wav")
    write_json(tmp_path / "c1.json", {
        "call_id": "c1", "audio": "c1.wav", "agent_id": "agent_07",
        "channels": ["customer", "agent"], "transcript": TRANSCRIPT,
        "ground_truth": {"csat": 5, "resolved": True}, "queue": "billing", "tags": ["vip"]})
    call = cq.load_call(audio)
    assert call.call_id == "c1" and call.agent_id == "agent_07"
    assert call.channels == ("customer", "agent")
    assert call.transcript == Transcript.from_dict(TRANSCRIPT)
    assert call.transcript is not None and call.transcript.source == "sidecar"
    assert call.metadata == {"ground_truth": {"csat": 5, "resolved": True},
                             "queue": "billing", "tags": ["vip"]}
    assert call.ground_truth == {"csat": 5, "resolved": True}
    assert call.path == audio and call.sample_rate == SR and call.n_samples == 4 * SR


def test_no_sidecar_defaults(tmp_path: Path) -> None:
    call = cq.load_call(write_stereo(tmp_path / "plain.wav"))
    assert call.call_id == "plain" and call.agent_id is None and call.transcript is None
    assert call.channels == ("agent", "customer") and call.metadata == {}
    sf.write(tmp_path / "mono.flac", np.zeros(SR), SR)
    assert cq.load_call(tmp_path / "mono.flac").channels == (MIXED,)


def test_overrides_win_over_sidecar(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c2.wav")
    write_json(tmp_path / "c2.json", {"audio": "c2.wav", "agent_id": "sidecar_agent",
                                      "channels": ["agent", "customer"],
                                      "transcript": TRANSCRIPT})
    other = {"segments": [{"speaker": "customer", "start": 0.0, "end": 1.0, "text": "hi"}]}
    call = cq.load_call(audio, call_id="override", agent_id="arg_agent",
                        channels=("customer", "agent"), transcript=other)
    assert call.call_id == "override"
    assert call.agent_id == "arg_agent"
    assert call.channels == ("customer", "agent")
    assert call.transcript == Transcript.from_dict(other)

    plain = cq.load_call(audio)
    assert plain.call_id == "c2" and plain.agent_id == "sidecar_agent"
    assert plain.channels == ("agent", "customer")


def test_call_id_argument_must_agree_with_sidecar(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c3.wav")
    write_json(tmp_path / "c3.json", {"call_id": "c3"})
    assert cq.load_call(audio, call_id="c3").call_id == "c3"
    with pytest.raises(SidecarError, match=r"c3\.json"):
        cq.load_call(audio, call_id="c4")
    # sidecar call_id differing from the stem is fine when "audio" names this file
    write_json(tmp_path / "c3.json", {"call_id": "CRM-42", "audio": "c3.wav"})
    assert cq.load_call(audio).call_id == "CRM-42"


def test_transcript_argument_forms(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c5.wav")
    tr = Transcript.from_dict(TRANSCRIPT)
    assert cq.load_call(audio, transcript=tr).transcript is tr
    wrapped = write_json(tmp_path / "sidecar_like.json", {"transcript": TRANSCRIPT})
    bare = write_json(tmp_path / "bare.json", TRANSCRIPT)
    assert cq.load_call(audio, transcript=wrapped).transcript == tr
    assert cq.load_call(audio, transcript=str(bare)).transcript == tr
    late = {"segments": [{"speaker": "agent", "start": 9.0, "end": 9.5}]}
    with pytest.raises(SidecarError, match="beyond the audio"):
        cq.load_call(audio, transcript=late)
    not_obj = write_json(tmp_path / "list.json", [1, 2])
    with pytest.raises(SidecarError, match=r"list\.json"):
        cq.load_call(audio, transcript=not_obj)


def test_segment_end_slightly_past_audio_is_tolerated(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c6.wav", seconds=2.0)
    ok = {"segments": [{"speaker": "agent", "start": 1.0, "end": 2.4}]}
    assert cq.load_call(audio, transcript=ok).transcript is not None


def test_sidecar_argument(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c7.wav")
    (tmp_path / "c7.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(SidecarError):
        cq.load_call(audio)
    assert cq.load_call(audio, sidecar=False).metadata == {}
    elsewhere = write_json(tmp_path / "x.json", {"agent_id": "from_x", "site": "lisbon"})
    call = cq.load_call(audio, sidecar=elsewhere)
    assert call.agent_id == "from_x" and call.metadata == {"site": "lisbon"}


def test_validate_false_skips_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    y = np.zeros((SR, 2), np.float32)
    y[SR // 2, 0] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, SR, subtype="FLOAT")

    with pytest.raises(InvalidAudioError, match=r"0\.500 s"):
        cq.load_call(path)

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded although validate=False")

    with monkeypatch.context() as m:
        m.setattr(calls_mod, "iter_audio_chunks", no_decoding)
        call = cq.load_call(path, validate=False)
    assert call.n_samples == SR and call.channels == ("agent", "customer")
    with pytest.raises(InvalidAudioError, match=r"nan\.wav"):
        call.audio()
    with pytest.raises(InvalidAudioError):
        call.audio(sr=16000, mono=True)
    with pytest.raises(InvalidAudioError):
        list(call.iter_chunks(0.1))


def test_validate_false_still_checks_the_header(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        cq.load_call(tmp_path / "empty.wav", validate=False)


def test_loaded_call_audio_matches_file(tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "c8.wav", seconds=1.0)
    raw, _ = sf.read(audio, dtype="float32", always_2d=True)
    call = cq.load_call(audio)
    np.testing.assert_array_equal(call.audio(), raw.T)
    assert call.audio(sr=16000).shape == (2, 16000)
    assert call.audio(mono=True).shape == (1, SR)
    assert sum(c.shape[1] for c in call.iter_chunks(0.25, sr=4000)) == 4000
