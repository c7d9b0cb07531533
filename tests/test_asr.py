"""Speech recognition (callquality.features.asr).

Whisper runs through its real loading (``whisper.load_model`` on a checkpoint file) and
inference code (``whisper.transcribe`` with word timestamps) on a tiny randomly initialised
model this module builds: its text is meaningless, so the tests check structure (speakers,
times, determinism), not content. PocketSphinx runs its real bundled English model on fixture
speech and is scored against the sidecar's ground-truth words.
"""

from __future__ import annotations

import importlib
import re
import urllib.error
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import callquality as cq
from callquality.calls import AGENT, CUSTOMER, MIXED, Call, Segment, Transcript, Word
from callquality.exceptions import (
    ConfigurationError,
    ExtractionError,
    MissingExtraError,
    ModelUnavailableError,
)
from callquality.features import asr
from callquality.features.asr import (
    PocketSphinxTranscriber,
    SidecarTranscriber,
    Transcriber,
    TranscriptionError,
    WhisperTranscriber,
    make_transcriber,
    transcripts_for,
)
from callquality.features.models import ModelRef, clear_model_cache, parse_ref

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


def _crop(name: str, seconds: float, *, call_id: str | None = None,
          channels: tuple[str, ...] | None = None, reverse: bool = False) -> Call:
    """The first ``seconds`` of a fixture call, in memory, without its transcript."""
    src = cq.load_call(FIXTURES / f"{name}.flac", validate=False)
    y = src.audio()[:, :int(seconds * src.sample_rate)]
    chans = channels or src.channels
    if reverse:
        y, chans = y[::-1], tuple(reversed(chans))
    return Call.from_array(np.ascontiguousarray(y), src.sample_rate,
                           call_id=call_id or f"{name}_{seconds:g}s", channels=chans)


def _norm(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _wer(ref: list[str], hyp: list[str]) -> float:
    """Word error rate: Levenshtein distance over words / reference length."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1] / max(len(ref), 1)


def _check_structure(t: Transcript, call: Call) -> None:
    """Segments and words well-formed: times inside the call, words inside their segment and
    carrying its speaker, segments in time order, speakers among the call's channels."""
    assert isinstance(t, Transcript)
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    for s in t.segments:
        assert isinstance(s, Segment)
        assert s.speaker in call.channels
        assert 0.0 <= s.start <= s.end <= call.duration_sec
        assert s.text.strip() == s.text and s.text
        assert s.words, "every recognised segment has word times"
        for w in s.words:
            assert isinstance(w, Word)
            assert w.speaker == s.speaker
            assert w.text and w.text == w.text.strip()
            assert s.start <= w.start <= w.end <= s.end
            assert w.confidence is None or 0.0 <= w.confidence <= 1.0
        assert [w.start for w in s.words] == sorted(w.start for w in s.words)


# --------------------------------------------------------------------------- whisper


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A randomly initialised 1-layer Whisper with the multilingual vocabulary, saved as a
    checkpoint in Whisper's own format.

    Two costs that only random weights incur are avoided while the fixture is active:
    Whisper moves its 30 s window to the end of the last aligned word, which for random
    attention is anywhere, so it would re-decode overlapping windows several times
    (``whisper.transcribe``'s ``get_end`` returns ``None`` here: consecutive windows, as a
    trained model's windows ending on a timestamp); and the word alignment's DTW is a numba
    kernel compiled on first use (5-10 s of CPU per process), while for the few tokens decoded
    here its interpreted Python source (``py_func``, the same code) takes milliseconds.
    """
    pytest.importorskip("whisper")
    import torch
    import whisper.timing
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                           n_audio_layer=1, n_vocab=51865, n_text_ctx=448, n_text_state=64,
                           n_text_head=2, n_text_layer=1)
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():  # Whisper leaves this one uninitialised (torch.empty)
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importlib.import_module("whisper.transcribe"), "get_end", lambda segs: None)
        for name in ("dtw_cpu", "backtrace"):
            kernel = getattr(whisper.timing, name)
            mp.setattr(whisper.timing, name, getattr(kernel, "py_func", kernel))
        yield path


def _whisper(path: Path, **kw: Any) -> WhisperTranscriber:
    # sample_len bounds the tokens decoded per 30 s window: random weights never emit
    # end-of-text, and 224 steps per window would only cost time.
    return WhisperTranscriber(str(path), device="cpu", sample_len=12, **kw)


def test_whisper_stereo_words_carry_their_channels_speaker(
        tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real load + transcribe: well-formed segments, each word labelled with the speaker of the
    channel it came from. The same call with its channels (and their names) swapped gives the
    same transcript: the speaker follows the channel, and the same audio decodes the same way
    at temperature 0 (deterministic)."""
    import whisper

    clear_model_cache()
    loads: list[str] = []
    real_load = whisper.load_model

    def spy(name: str, *a: object, **k: object) -> object:
        loads.append(name)
        return real_load(name, *a, **k)

    monkeypatch.setattr(whisper, "load_model", spy)
    # 8 kHz stereo; without crosstalk rejection both channels are transcribed in full (the
    # opening has only the agent; the customer channel holds her echo)
    call = _crop("call_0002", 3.0, channels=("alice", "bob"))
    swapped = _crop("call_0002", 3.0, channels=("alice", "bob"), reverse=True)
    t1, t2 = _whisper(tiny_whisper, crosstalk_rejection=False).transcribe([call, swapped])
    _whisper(tiny_whisper)._load()  # a second transcriber of the same file shares the model
    assert loads == [str(tiny_whisper)]

    assert t1.source == "whisper" and t1.language == "en"
    assert t1.words, "the random model decodes something"
    _check_structure(t1, call)
    _check_structure(t2, swapped)
    assert set(t1.speakers) == {"alice", "bob"}
    assert t2.to_dict() == t1.to_dict()


def test_whisper_mono_call_is_mixed(tiny_whisper: Path) -> None:
    call = _crop("call_0003", 3.0)  # 8 kHz mono mix
    assert call.channels == (MIXED,)
    (t,) = _whisper(tiny_whisper).transcribe([call])
    assert t.words
    _check_structure(t, call)
    assert t.speakers == (MIXED,)
    assert {w.speaker for w in t.words} == {MIXED}


def test_whisper_transcribes_only_each_partys_own_speech(tiny_whisper: Path) -> None:
    """Crosstalk rejection (default): a party who never speaks gets no words, and every word
    lies where its speaker actually talks (ground truth +- 0.3 s), not in the silenced rest
    of the channel, where the random model would place words too."""
    src = _crop("call_0002", 3.0)
    y = src.audio().copy()
    y[1] = 0.0
    silent = Call.from_array(y, src.sample_rate, call_id="silent_customer")
    call = _crop("call_0002", 7.0)  # agent greets until 4.9 s, customer from 5.3 s
    t_silent, t = _whisper(tiny_whisper).transcribe([silent, call])
    _check_structure(t_silent, silent)
    assert t_silent.words and {w.speaker for w in t_silent.words} == {AGENT}

    _check_structure(t, call)
    truth = cq.load_call(FIXTURES / "call_0002.flac", validate=False).transcript
    assert truth is not None and t.words
    for w in t.words:
        mid = 0.5 * (w.start + w.end)
        spans = [(s.start, s.end) for s in truth.segments if s.speaker == w.speaker]
        assert any(a - 0.3 <= mid <= b + 0.3 for a, b in spans), w


def test_whisper_official_name_without_network_says_how_to_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whisper = pytest.importorskip("whisper")
    clear_model_cache()

    def no_network(url: str, root: str, in_memory: bool) -> str:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(whisper, "_download", no_network)
    monkeypatch.delenv("CALLQUALITY_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    call = _crop("call_0002", 1.0)
    with pytest.raises(ModelUnavailableError) as err:
        WhisperTranscriber("tiny", device="cpu", cache_dir=tmp_path).transcribe([call])
    msg = str(err.value)
    assert err.value.model == "whisper:tiny"
    assert "name resolution" in msg
    assert f"load_model('tiny', download_root='{tmp_path / 'whisper'}')" in msg

    # Offline mode: no download attempt at all.
    def must_not_download(*a: object, **k: object) -> str:
        raise AssertionError("tried to download while offline")

    monkeypatch.setattr(whisper, "_download", must_not_download)
    monkeypatch.setenv("CALLQUALITY_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="downloads are off"):
        WhisperTranscriber("base", device="cpu", cache_dir=tmp_path).transcribe([call])
    # A set-up error is raised by a batch, not recorded against every call.
    with pytest.raises(ModelUnavailableError):
        transcripts_for([call], WhisperTranscriber("base", device="cpu", cache_dir=tmp_path))


def test_whisper_bad_paths_and_names(tmp_path: Path) -> None:
    pytest.importorskip("whisper")
    call = _crop("call_0002", 1.0)
    missing = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(ModelUnavailableError, match="neither an existing checkpoint") as err:
        WhisperTranscriber(str(missing), device="cpu").transcribe([call])
    assert str(missing) in str(err.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="cannot load the Whisper checkpoint"):
        WhisperTranscriber(str(junk), device="cpu").transcribe([call])
    with pytest.raises(ModelUnavailableError, match="is a folder"):
        WhisperTranscriber(str(tmp_path), device="cpu").transcribe([call])
    with pytest.raises(ConfigurationError, match="device"):
        WhisperTranscriber("tiny", device="tpu").transcribe([call])


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "whisper", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'callquality\[asr\]'"):
        WhisperTranscriber("tiny").transcribe([_crop("call_0002", 1.0)])


# --------------------------------------------------------------------------- pocketsphinx


def test_pocketsphinx_recognises_fixture_speech_per_channel() -> None:
    """Real recognition of the opening of a 16 kHz stereo fixture call, scored against the
    sidecar's words; a call whose audio has gone missing is recorded, not raised."""
    pytest.importorskip("pocketsphinx")
    seconds = 6.0
    full = cq.load_call(FIXTURES / "call_0001.flac")
    assert full.transcript is not None
    call = _crop("call_0001", seconds)
    broken = _crop("call_0001", 1.0, call_id="vanished")
    broken.path, broken._samples = Path("/nonexistent/vanished.flac"), None

    results = transcripts_for([broken, call], PocketSphinxTranscriber(), batch_size=2)
    assert isinstance(results[0], TranscriptionError) and results[0].call_id == "vanished"
    t = results[1]
    assert isinstance(t, Transcript) and t.source == "pocketsphinx"
    _check_structure(t, call)
    assert set(t.speakers) == {AGENT, CUSTOMER}

    truth = [s for s in full.transcript.segments if s.start < seconds]
    for speaker in (AGENT, CUSTOMER):
        spans = [(s.start, s.end) for s in truth if s.speaker == speaker]
        for w in t.words:
            if w.speaker == speaker:  # crosstalk rejected: words only while this party talks
                mid = 0.5 * (w.start + w.end)
                assert any(a - 0.3 <= mid <= b + 0.3 for a, b in spans), (speaker, w)
    ref = _norm(" ".join(s.text for s in truth if s.speaker == AGENT and s.end <= seconds))
    hyp = _norm(t.for_speaker(AGENT).text)
    # The agent's greeting ("Good morning, you have reached Skyline Broadband, this is
    # Michael speaking."): measured WER 0.64 (7 of 11 words wrong or missing).
    assert _wer(ref, hyp) <= 0.75
    assert {"good", "morning", "broadband", "michael"} <= set(hyp)


# --------------------------------------------------------------------------- sidecar, batches


def _with_transcript(call_id: str) -> Call:
    tr = Transcript((Segment(AGENT, 0.1, 0.5, "hello there",
                             (Word("hello", 0.1, 0.3, AGENT), Word("there", 0.3, 0.5, AGENT))),),
                    source="sidecar", language="en")
    return Call.from_array(np.zeros((2, 8000), np.float32), 8000, call_id=call_id,
                           transcript=tr)


def _without(call_id: str) -> Call:
    return Call.from_array(np.zeros((2, 8000), np.float32), 8000, call_id=call_id)


class _Fake:
    """A transcriber that records what it was asked and fails on chosen calls."""

    def __init__(self, fail: set[str] | None = None, exc: type[Exception] = RuntimeError
                 ) -> None:
        self.fail = fail or set()
        self.exc = exc
        self.batches: list[list[str]] = []

    def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
        self.batches.append([c.call_id for c in calls])
        out = []
        for c in calls:
            if c.call_id in self.fail:
                raise self.exc(f"decoder exploded on {c.call_id}")
            out.append(Transcript((Segment(MIXED, 0.0, 0.2, c.call_id),), source="fake"))
        return out


def test_sidecar_transcriber_returns_the_calls_own_transcript() -> None:
    own = _with_transcript("a")
    assert SidecarTranscriber().transcribe([own]) == [own.transcript]
    with pytest.raises(TranscriptionError, match=r"call 'b'.*no transcript") as err:
        SidecarTranscriber().transcribe([own, _without("b")])
    assert err.value.call_id == "b" and isinstance(err.value, ExtractionError)


def test_sidecar_wins_and_asr_runs_only_on_the_rest() -> None:
    calls = [_with_transcript("a"), _without("b"), _with_transcript("c"), _without("d")]
    fake = _Fake()
    out = transcripts_for(calls, fake, batch_size=8)
    assert fake.batches == [["b", "d"]]
    assert out[0] is calls[0].transcript and out[2] is calls[2].transcript
    assert isinstance(out[1], Transcript) and out[1].text == "b"
    assert isinstance(out[3], Transcript) and out[3].text == "d"
    # no transcriber (asr="none"): own transcripts kept, the rest None
    assert transcripts_for(calls, None) == [calls[0].transcript, None, calls[2].transcript, None]
    # asr="sidecar": calls without one get an error each, the others are unaffected
    out = transcripts_for(calls, SidecarTranscriber(), batch_size=4)
    assert out[0] is calls[0].transcript
    assert isinstance(out[1], TranscriptionError) and out[1].call_id == "b"
    assert isinstance(out[3], TranscriptionError) and out[3].call_id == "d"


def test_one_failed_call_is_recorded_and_the_batch_goes_on() -> None:
    calls = [_without("a"), _without("b"), _without("c")]
    fake = _Fake(fail={"b"})
    out = transcripts_for(calls, fake, batch_size=3)
    assert fake.batches == [["a", "b", "c"], ["a"], ["b"], ["c"]]  # retried one by one
    assert isinstance(out[0], Transcript) and isinstance(out[2], Transcript)
    err = out[1]
    assert isinstance(err, TranscriptionError) and err.call_id == "b"
    assert "decoder exploded on b" in str(err) and isinstance(err.__cause__, RuntimeError)
    # set-up problems are not a call's fault: raised
    with pytest.raises(ConfigurationError):
        transcripts_for(calls, _Fake(fail={"a"}, exc=ConfigurationError))
    with pytest.raises(ConfigurationError, match="batch_size"):
        transcripts_for(calls, fake, batch_size=0)


def test_a_transcriber_must_return_one_transcript_per_call() -> None:
    class Short:
        def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
            return []

    with pytest.raises(ConfigurationError, match="returned 0 item"):
        transcripts_for([_without("a")], Short())


def test_make_transcriber_maps_references(tmp_path: Path) -> None:
    w = make_transcriber("whisper:tiny", device="cpu", cache_dir=tmp_path)
    assert isinstance(w, WhisperTranscriber)
    assert (w.model, w.device, w.cache_dir) == ("tiny", "cpu", tmp_path)
    w2 = make_transcriber(parse_ref("asr", "whisper:/models/base.pt"))
    assert isinstance(w2, WhisperTranscriber) and w2.model == "/models/base.pt"
    assert isinstance(make_transcriber("pocketsphinx"), PocketSphinxTranscriber)
    assert isinstance(make_transcriber(ModelRef("asr", "sidecar")), SidecarTranscriber)
    assert make_transcriber("none") is None
    for t in (w, make_transcriber("pocketsphinx"), SidecarTranscriber(), _Fake()):
        assert isinstance(t, Transcriber)
    with pytest.raises(ConfigurationError, match="'asr'"):
        make_transcriber(ModelRef("ner", "spacy", "en_core_web_sm"))
    with pytest.raises(ConfigurationError, match="unknown kind"):
        make_transcriber("vosk")
    assert "ASR_SAMPLE_RATE" in asr.__all__ and asr.ASR_SAMPLE_RATE == 16000



def test_pocketsphinx_bad_options_are_a_setup_error() -> None:
    pytest.importorskip("pocketsphinx")
    with pytest.raises(ModelUnavailableError, match="Unknown key"):
        transcripts_for([_without("a")], PocketSphinxTranscriber(no_such_option=1))
    with pytest.raises(ConfigurationError, match="samprate is fixed"):
        PocketSphinxTranscriber(samprate=8000).transcribe([_without("a")])
