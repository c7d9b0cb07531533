"""Calls, transcripts and loading recordings with their sidecar JSON.

A *call* is one recording plus what is known about it. Audio is decoded lazily: a
:class:`Call` holds the file's path and header facts, and :meth:`Call.audio` /
:meth:`Call.iter_chunks` decode on demand, so a list of thousands of calls costs no memory.

The *sidecar* is an optional JSON file next to the audio with the same stem
(``call_0001.flac`` + ``call_0001.json``)::

    {
      "call_id": "call_0001",              # optional; must match the call if given
      "audio": "call_0001.flac",           # optional; must name this audio file if given
      "agent_id": "agent_07",              # optional
      "channels": ["agent", "customer"],   # optional speaker of each channel
      "transcript": {"segments": [         # optional; ASR is skipped when present
          {"speaker": "agent", "start": 0.20, "end": 2.10, "text": "Thank you for calling.",
           "words": [{"text": "Thank", "start": 0.20, "end": 0.41}, ...]}]},
      ...                                  # anything else is kept in Call.metadata
    }
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .audio import (
    AUDIO_EXTENSIONS,
    MAX_DURATION_SEC,
    AudioInfo,
    audio_info,
    iter_audio_chunks,
    read_audio,
    resample,
)
from .exceptions import (
    CallLoadError,
    ConfigurationError,
    EmptyAudioError,
    InvalidAudioError,
    SidecarError,
    UnsupportedAudioError,
)

__all__ = [
    "AGENT",
    "CUSTOMER",
    "MIXED",
    "Call",
    "LoadReport",
    "Segment",
    "Transcript",
    "Word",
    "load_call",
    "load_calls",
]

AGENT = "agent"
CUSTOMER = "customer"
#: Speaker name of a mono channel that carries both parties (to be diarized).
MIXED = "mixed"
DEFAULT_STEREO_CHANNELS: tuple[str, str] = (AGENT, CUSTOMER)


# --------------------------------------------------------------------------- transcript


@dataclass(frozen=True)
class Word:
    """One word with its time span in seconds from the start of the call."""

    text: str
    start: float
    end: float
    speaker: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Segment:
    """A stretch of speech by one speaker (an utterance or a turn), times in seconds."""

    speaker: str
    start: float
    end: float
    text: str = ""
    words: tuple[Word, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Transcript:
    """Time-aligned transcript: segments in time order, each with its speaker.

    ``source`` says where it came from (``"sidecar"``, ``"whisper"``, ``"pocketsphinx"``...).
    """

    segments: tuple[Segment, ...]
    source: str = "sidecar"
    language: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def words(self) -> list[Word]:
        """All words in time order, each carrying its segment's speaker."""
        out: list[Word] = []
        for s in self.segments:
            if s.words:
                out.extend(w if w.speaker else Word(w.text, w.start, w.end, s.speaker,
                                                    w.confidence) for w in s.words)
            else:  # no word timings: spread the text's words over the segment
                toks = s.text.split()
                step = s.duration / max(len(toks), 1)
                out.extend(Word(t, s.start + i * step, s.start + (i + 1) * step, s.speaker)
                           for i, t in enumerate(toks))
        return sorted(out, key=lambda w: w.start)

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.speaker for s in self.segments))

    def for_speaker(self, speaker: str) -> Transcript:
        return Transcript(tuple(s for s in self.segments if s.speaker == speaker),
                          self.source, self.language)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "language": self.language,
            "segments": [
                {"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text,
                 "words": [_word_dict(w) for w in s.words]}
                for s in self.segments
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "sidecar") -> Transcript:
        """Build from the sidecar form; raises ``ValueError`` with the offending field."""
        try:
            model = _TranscriptModel.model_validate(data)
        except ValidationError as exc:
            raise ValueError(_pydantic_reason(exc, prefix="transcript")) from None
        return model.to_transcript(source=data.get("source") or source)


def _word_dict(w: Word) -> dict[str, Any]:
    d: dict[str, Any] = {"text": w.text, "start": w.start, "end": w.end}
    if w.confidence is not None:
        d["confidence"] = w.confidence
    return d


# --------------------------------------------------------------------------- sidecar model


class _SpanModel(BaseModel):
    """A time span in seconds whose end is not before its start."""

    model_config = ConfigDict(extra="ignore")
    start: float = Field(ge=0)
    end: float = Field(ge=0)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, v: float, info: Any) -> float:
        start = info.data.get("start")
        if start is not None and v < start:
            raise ValueError(f"end {v} is before start {start}")
        return v


class _WordModel(_SpanModel):
    text: str
    confidence: float | None = None


class _SegmentModel(_SpanModel):
    speaker: str = Field(min_length=1)
    text: str = ""
    words: list[_WordModel] = Field(default_factory=list)


class _TranscriptModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    segments: list[_SegmentModel]
    language: str | None = None

    def to_transcript(self, *, source: str) -> Transcript:
        segs = sorted(self.segments, key=lambda s: (s.start, s.end))
        return Transcript(
            tuple(Segment(s.speaker, s.start, s.end, s.text,
                          tuple(Word(w.text, w.start, w.end, s.speaker, w.confidence)
                                for w in s.words)) for s in segs),
            source=source, language=self.language)


class _SidecarModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    call_id: str | None = Field(default=None, min_length=1)
    audio: str | None = None
    agent_id: str | None = None
    channels: list[str] | None = None
    transcript: _TranscriptModel | None = None


def _pydantic_reason(exc: ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in (prefix, *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _read_sidecar(path: Path) -> _SidecarModel:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SidecarError(path, f"sidecar is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SidecarError(path, f"sidecar is not valid JSON: {exc.msg} at line {exc.lineno} "
                                 f"column {exc.colno}") from exc
    except OSError as exc:
        raise SidecarError(path, f"cannot read sidecar: {exc}") from exc
    if not isinstance(raw, dict):
        raise SidecarError(path, f"sidecar must be a JSON object, got {type(raw).__name__}")
    try:
        return _SidecarModel.model_validate(raw)
    except ValidationError as exc:
        raise SidecarError(path, f"invalid sidecar: {_pydantic_reason(exc, 'sidecar')}") from None


# --------------------------------------------------------------------------- Call


@dataclass
class Call:
    """One recorded call.

    Attributes:
        call_id: unique id of the call.
        sample_rate: native sample rate of the recording (Hz).
        n_samples: number of samples per channel at ``sample_rate``.
        channels: speaker of each channel, e.g. ``("agent", "customer")`` for stereo or
            ``("mixed",)`` for a mono mix that must be diarized.
        agent_id: the agent who took the call, if known.
        transcript: time-aligned transcript, if known (then ASR is skipped).
        path: the audio file, or ``None`` for an in-memory call (:meth:`from_array`).
        metadata: everything else from the sidecar (fixtures keep ``ground_truth`` here).
    """

    call_id: str
    sample_rate: int
    n_samples: int
    channels: tuple[str, ...]
    agent_id: str | None = None
    transcript: Transcript | None = None
    path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _samples: np.ndarray | None = field(default=None, repr=False)
    _info: AudioInfo | None = field(default=None, repr=False)

    @property
    def duration_sec(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def is_stereo(self) -> bool:
        """True when each channel is one known speaker (no diarization needed)."""
        return self.n_channels >= 2 and MIXED not in self.channels

    @property
    def ground_truth(self) -> dict[str, Any] | None:
        """The fixture ground truth from the sidecar, if any."""
        gt = self.metadata.get("ground_truth")
        return gt if isinstance(gt, dict) else None

    def audio(self, sr: int | None = None, *, mono: bool = False) -> np.ndarray:
        """Decode the whole call: ``float32`` array of shape ``(n_channels, n_samples)``.

        Args:
            sr: output sample rate in Hz (default: the native rate); resampled with soxr.
            mono: average the channels into one (``(1, n_samples)``).
        """
        if self._samples is not None:
            y = self._samples
            if mono and y.shape[0] > 1:
                y = y.mean(axis=0, keepdims=True, dtype=np.float32)
            return resample(y, self.sample_rate, sr) if sr and sr != self.sample_rate else y
        assert self.path is not None
        y, _ = read_audio(self.path, sr=sr, mono=mono, info=self._info)
        return y

    def iter_chunks(self, chunk_sec: float = 60.0, sr: int | None = None, *,
                    mono: bool = False) -> Iterator[np.ndarray]:
        """Decode piece by piece (bounded memory); see :func:`callquality.audio.iter_audio_chunks`."""
        if self._samples is not None:
            y = self.audio(sr, mono=mono)
            step = max(1, round(chunk_sec * (sr or self.sample_rate)))
            for i in range(0, y.shape[1], step):
                yield y[:, i:i + step]
            return
        assert self.path is not None
        yield from iter_audio_chunks(self.path, chunk_sec=chunk_sec, sr=sr, mono=mono,
                                     info=self._info)

    @classmethod
    def from_array(
        cls,
        y: np.ndarray,
        sr: int,
        *,
        call_id: str = "call",
        channels: Sequence[str] | None = None,
        agent_id: str | None = None,
        transcript: Transcript | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call:
        """An in-memory call from samples of shape ``(n_samples,)`` or ``(n_channels, n_samples)``."""
        arr = np.asarray(y, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ConfigurationError(f"Call.from_array({call_id!r}): expected 1-D or 2-D "
                                     f"samples, got shape {arr.shape}")
        if not 1 <= arr.shape[0] <= 2:
            raise UnsupportedAudioError(call_id, f"{arr.shape[0]} channels; a call has 1 or 2")
        if arr.shape[1] == 0:
            raise EmptyAudioError(call_id, "audio has zero samples")
        if not np.isfinite(arr).all():
            raise InvalidAudioError(call_id, "non-finite sample (NaN or inf)")
        if sr <= 0:
            raise UnsupportedAudioError(call_id, f"sample rate must be positive, got {sr}")
        chans = _resolve_channels(call_id, channels, arr.shape[0])
        return cls(call_id=call_id, sample_rate=int(sr), n_samples=int(arr.shape[1]),
                   channels=chans, agent_id=agent_id,
                   transcript=_coerce_transcript(call_id, transcript), path=None,
                   metadata=dict(metadata or {}), _samples=arr)


def _channels_problem(chans: tuple[str, ...], n_channels: int) -> str | None:
    if len(chans) != n_channels:
        return (f"channels={list(chans)} names {len(chans)} speakers but the audio has "
                f"{n_channels} channel(s)")
    if len(set(chans)) != len(chans):
        return f"channels={list(chans)} repeats a speaker"
    if any(not c for c in chans):
        return f"channels={list(chans)} has an empty speaker name"
    return None


def _resolve_channels(where: str | Path, channels: Sequence[str] | None,
                      n_channels: int) -> tuple[str, ...]:
    """Speaker of each channel; a wrong ``channels=`` argument is a ConfigurationError."""
    if channels is None:
        return DEFAULT_STEREO_CHANNELS if n_channels == 2 else (MIXED,)
    chans = tuple(str(c) for c in channels)
    problem = _channels_problem(chans, n_channels)
    if problem:
        raise ConfigurationError(f"{where}: {problem}")
    return chans


def _coerce_transcript(where: str | Path, t: Transcript | dict[str, Any] | str | Path | None
                       ) -> Transcript | None:
    if t is None or isinstance(t, Transcript):
        return t
    if isinstance(t, (str, Path)):
        tpath = Path(t)
        try:
            t = json.loads(tpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SidecarError(tpath, f"cannot read transcript JSON: {exc}") from exc
        if isinstance(t, dict) and "transcript" in t and "segments" not in t:
            t = t["transcript"]
        if not isinstance(t, dict):
            raise SidecarError(tpath, f"transcript JSON must be an object, got "
                                      f"{type(t).__name__}")
        where = tpath
    if not isinstance(t, dict):
        raise ConfigurationError(f"{where}: transcript must be a Transcript, dict or path")
    try:
        return Transcript.from_dict(t)
    except ValueError as exc:
        raise SidecarError(where, f"invalid transcript: {exc}") from None


def load_call(
    path: str | Path,
    *,
    call_id: str | None = None,
    agent_id: str | None = None,
    channels: Sequence[str] | None = None,
    transcript: Transcript | dict[str, Any] | str | Path | None = None,
    sidecar: str | Path | bool = True,
    validate: bool = True,
    max_duration_sec: float = MAX_DURATION_SEC,
) -> Call:
    """Load one call: validate the audio and read its sidecar JSON.

    Args:
        path: audio file (WAV, FLAC, OGG, MP3).
        call_id: id of the call; default: the sidecar's ``call_id``, else the file stem.
        agent_id: overrides the sidecar's ``agent_id``.
        channels: speaker of each channel; default: the sidecar's ``channels``, else
            ``("agent", "customer")`` for stereo and ``("mixed",)`` for mono.
        transcript: a :class:`Transcript`, its dict form or a JSON path; overrides the
            sidecar's transcript.
        sidecar: ``True`` looks for ``<stem>.json`` beside the audio; a path names it;
            ``False`` ignores sidecars.
        validate: decode the file once in chunks (bounded memory) to check that it holds
            samples and that every sample is finite. ``False`` checks the header only.
        max_duration_sec: refuse longer recordings.

    Raises:
        CallLoadError: a subclass naming the file and the cause (see :mod:`callquality.exceptions`).
    """
    p = Path(path)
    info = audio_info(p, max_duration_sec=max_duration_sec)

    meta: dict[str, Any] = {}
    sc: _SidecarModel | None = None
    sc_path: Path | None = None
    if sidecar is True:
        cand = p.with_suffix(".json")
        sc_path = cand if cand.is_file() else None
    elif sidecar not in (False, None):
        sc_path = Path(sidecar)  # type: ignore[arg-type]
        if not sc_path.is_file():
            raise SidecarError(sc_path, "sidecar file does not exist")
    if sc_path is not None:
        sc = _read_sidecar(sc_path)
        if sc.audio is not None and Path(sc.audio).name != p.name:
            raise SidecarError(sc_path, f"sidecar is for audio {sc.audio!r}, not {p.name!r}")
        if sc.call_id is not None and call_id is not None and sc.call_id != call_id:
            raise SidecarError(sc_path, f"sidecar is for call {sc.call_id!r}, not {call_id!r}")
        if sc.audio is None and sc.call_id is not None and call_id is None and \
                sc.call_id != p.stem:
            raise SidecarError(sc_path, f"sidecar is for call {sc.call_id!r}, but the audio "
                                        f"file is {p.name!r} (add \"audio\" to the sidecar)")
        meta = {k: v for k, v in (sc.model_extra or {}).items()}

    cid = call_id or (sc.call_id if sc and sc.call_id else p.stem)
    if channels is None and sc is not None and sc.channels is not None:
        # The sidecar's channels are data, not arguments: a mismatch is the sidecar's fault.
        sc_chans = tuple(sc.channels)
        problem = _channels_problem(sc_chans, info.n_channels)
        if problem:
            raise SidecarError(sc_path or p, f"sidecar {problem}")
        chans = sc_chans
    else:
        chans = _resolve_channels(p, channels, info.n_channels)
    tr: Transcript | None
    tr_where: Path = p  # the file to blame for an inconsistent transcript
    if transcript is not None:
        tr = _coerce_transcript(p, transcript)
        if isinstance(transcript, (str, Path)):
            tr_where = Path(transcript)
    elif sc is not None and sc.transcript is not None:
        tr = sc.transcript.to_transcript(source="sidecar")
        tr_where = sc_path or p
    else:
        tr = None
    if tr is not None:
        # Segment (and word) ends may overshoot the audio by up to 0.5 s (ASR rounding).
        limit = info.duration_sec + 0.5
        late = [s for s in tr.segments
                if s.end > limit or any(w.end > limit for w in s.words)]
        if late:
            raise SidecarError(tr_where, f"transcript segment {late[0].start:.2f}-"
                                         f"{late[0].end:.2f} s lies beyond the audio's "
                                         f"duration of {info.duration_sec:.2f} s")
        unknown = sorted(set(tr.speakers) - set(chans) - {AGENT, CUSTOMER})
        if unknown:
            raise SidecarError(tr_where, f"transcript speakers {unknown} are not among the "
                                         f"channels {list(chans)}")

    if validate:
        for _ in iter_audio_chunks(p, chunk_sec=120.0, info=info):
            pass

    return Call(call_id=cid, sample_rate=info.sample_rate, n_samples=info.n_frames,
                channels=chans, agent_id=agent_id or (sc.agent_id if sc else None),
                transcript=tr, path=p, metadata=meta, _info=info)


@dataclass
class LoadReport:
    """What :func:`load_calls` could not load: one ``(path, error)`` per bad file."""

    failures: list[tuple[Path, CallLoadError]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.failures)

    def __str__(self) -> str:
        if not self.failures:
            return "all files loaded"
        lines = [f"{len(self.failures)} file(s) could not be loaded:"]
        lines += [f"  {err}" for _, err in self.failures]
        return "\n".join(lines)


class CallList(list[Call]):
    """A list of calls that also carries the :class:`LoadReport` of the files it skipped."""

    report: LoadReport

    def __init__(self, calls: list[Call], report: LoadReport) -> None:
        super().__init__(calls)
        self.report = report


def load_calls(
    folder: str | Path,
    *,
    recursive: bool = False,
    errors: str = "collect",
    validate: bool = True,
    progress: bool | None = None,
) -> CallList:
    """Load every audio file in ``folder`` (sorted by name) with its sidecar.

    Bad files do not stop the batch: with ``errors="collect"`` (default) they are skipped,
    recorded in the returned list's ``.report`` and logged as warnings; ``errors="raise"``
    raises the first error instead.

    Returns:
        :class:`CallList`: a ``list`` of :class:`Call` with a ``.report`` attribute.
    """
    import logging

    from tqdm.auto import tqdm

    if errors not in ("collect", "raise"):
        raise ConfigurationError(f"load_calls: errors must be 'collect' or 'raise', got {errors!r}")
    root = Path(folder)
    if not root.is_dir():
        raise CallLoadError(root, "no such folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(f for f in root.glob(pattern)
                   if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
    log = logging.getLogger("callquality")
    calls: list[Call] = []
    report = LoadReport()
    show = progress if progress is not None else len(files) > 50
    for f in tqdm(files, desc="load_calls", unit="call", disable=not show):
        try:
            calls.append(load_call(f, validate=validate))
        except CallLoadError as exc:
            if errors == "raise":
                raise
            log.warning("load_calls: skipped %s", exc)
            report.failures.append((f, exc))
    seen: dict[str, Path] = {}
    for c in calls:
        if c.call_id in seen:
            err = SidecarError(c.path or c.call_id, f"duplicate call_id {c.call_id!r} (also "
                                                    f"{seen[c.call_id].name})")
            if errors == "raise":
                raise err
            report.failures.append((c.path or Path(c.call_id), err))
        else:
            seen[c.call_id] = c.path or Path(c.call_id)
    kept = [c for c in calls if seen.get(c.call_id) == (c.path or Path(c.call_id))]
    return CallList(kept, report)
