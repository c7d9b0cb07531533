"""Speech recognition: time-aligned, speaker-attributed transcripts of calls.

A :class:`Transcriber` turns calls into :class:`~callquality.Transcript` objects whose segments
and words carry their speaker and their times in seconds from the start of the call:

:class:`WhisperTranscriber`
    OpenAI Whisper (``openai-whisper``) by model name (``"tiny"``, ``"base"``, ... downloaded
    once into :func:`~callquality.features.models.model_cache_dir` ``/ "whisper"``) or by the
    path of a local checkpoint. Word times from Whisper's cross-attention alignment
    (``word_timestamps=True``). Profile ``full`` (``whisper:base``).
:class:`PocketSphinxTranscriber`
    CMU PocketSphinx 5 with the US-English model its wheel ships: fully offline, fast to load,
    weak (see ``benchmarks/README.md`` for its word error rate on the fixture calls). Profile
    ``offline``.
:class:`SidecarTranscriber`
    The transcript the call brought with it (sidecar JSON, ``load_call(transcript=...)``).

Speakers. Each channel of a call is transcribed on its own and its words get the speaker of
that channel (:attr:`Call.channels <callquality.Call.channels>`): ``"agent"`` / ``"customer"``
for stereo calls, ``"mixed"`` for a mono mix (the extractor gives those words the speakers of
its diarization: :func:`callquality.features.model_groups.assign_speakers`). Stereo telephone recordings carry each party's voice faintly in
the other channel (echo, crosstalk; about -25 dB); a recogniser would transcribe it twice, once
under the wrong speaker. So, by default (``crosstalk_rejection=True``), each channel of a
stereo call is reduced to its *own speech*: :func:`callquality.features.turns.speaker_activity`
(voice activity with crosstalk rejection, 10 ms frames), pauses shorter than ``bridge_sec``
bridged, every region padded by ``pad_sec`` on both sides. PocketSphinx decodes each region as one
utterance (one :class:`~callquality.Segment` per region with words); Whisper gets the channel
with everything outside the regions silenced (10 ms fades) and words whose centre falls in
that silence (hallucinations) are dropped. Mono channels use plain voice activity
(:func:`callquality.features.vad.voice_activity`) for PocketSphinx's utterances and are given
to Whisper whole.

Audio is resampled to 16 kHz (``Call.audio(sr=16000)``), the rate both models expect.

Errors. :meth:`Transcriber.transcribe` raises :class:`TranscriptionError` (an
:class:`~callquality.exceptions.ExtractionError`) naming the first call that fails;
problems of the set-up rather than of a call — a missing package
(:class:`~callquality.exceptions.MissingExtraError`), weights that are neither local nor
downloadable (:class:`~callquality.exceptions.ModelUnavailableError`), bad options
(:class:`~callquality.exceptions.ConfigurationError`) — are raised as they are.
:func:`transcripts_for` is what a batch uses: the call's own transcript wins, recognition runs
on the other calls, and a call that fails yields its :class:`TranscriptionError` in the result
list while the others go on; set-up problems are raised.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._extras import require
from ..calls import Segment, Transcript, Word
from ..exceptions import (
    ConfigurationError,
    ExtractionError,
    MissingExtraError,
    ModelUnavailableError,
)
from .models import (
    ModelRef,
    downloads_allowed,
    load_cached,
    model_cache_dir,
    parse_ref,
    unavailable,
)

if TYPE_CHECKING:
    from ..calls import Call

__all__ = [
    "ASR_SAMPLE_RATE",
    "PocketSphinxTranscriber",
    "SidecarTranscriber",
    "Transcriber",
    "TranscriptionError",
    "WhisperTranscriber",
    "make_transcriber",
    "transcripts_for",
]

#: Sample rate (Hz) at which every recogniser here receives the audio.
ASR_SAMPLE_RATE = 16000

_HOP_SEC = 0.01  # frame step of the voice-activity grid, seconds
_FADE_SEC = 0.01  # fade in/out at the edges of Whisper's own-speech regions, seconds


class TranscriptionError(ExtractionError):
    """A call could not be transcribed. ``call_id`` names it, ``reason`` says why; the
    original exception, if any, is chained as ``__cause__``."""

    def __init__(self, call_id: str, reason: str) -> None:
        self.call_id = call_id
        self.reason = reason
        super().__init__(f"call {call_id!r}: {reason}")


@runtime_checkable
class Transcriber(Protocol):
    """Turns calls into transcripts, one per call, in the order given."""

    def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
        """Transcripts of ``calls`` (same length and order).

        Raises:
            TranscriptionError: naming the first call that could not be transcribed.
            ConfigurationError: a problem of the set-up (missing weights, bad options), not
                of a call.
            MissingExtraError: the recogniser's package is not installed.
        """
        ...


# --------------------------------------------------------------------------- helpers


@dataclass
class _Loaded:
    """A loaded model and the lock that serialises its use (neither PocketSphinx's decoder nor
    Whisper's key-value-cache hooks may be shared by two threads at once)."""

    model: Any
    lock: threading.Lock


def _fail(call: Call, what: str, exc: BaseException) -> TranscriptionError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return TranscriptionError(call.call_id, f"{what} failed ({cause})")


def _speech_regions(y: np.ndarray, sr: int, *, crosstalk_rejection: bool, bridge_sec: float,
                    pad_sec: float, min_speech_sec: float = 0.1
                    ) -> list[list[tuple[float, float]]]:
    """Speech regions of each channel of ``y (n_channels, n_samples)``, in seconds.

    Two channels with ``crosstalk_rejection`` use
    :func:`~callquality.features.turns.speaker_activity` (each channel's own speech only), other
    audio :func:`~callquality.features.vad.voice_activity`. Gaps shorter than ``bridge_sec`` are
    bridged, regions shorter than ``min_speech_sec`` dropped, the rest padded by ``pad_sec`` on
    both sides (clipped to the audio).
    """
    import torch

    from .turns import mask_runs, speaker_activity
    from .vad import voice_activity

    x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    if crosstalk_rejection and y.shape[0] == 2:
        act = speaker_activity(x, sr).cpu().numpy()
    else:
        act = voice_activity(x, sr).cpu().numpy()
    duration = y.shape[1] / sr
    out: list[list[tuple[float, float]]] = []
    for row in act:
        merged: list[list[int]] = []
        for a, b in zip(*mask_runs(np.asarray(row, dtype=bool)), strict=True):
            if merged and (a - merged[-1][1]) * _HOP_SEC < bridge_sec:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        regions: list[tuple[float, float]] = []
        for a, b in merged:
            if (b - a) * _HOP_SEC < min_speech_sec:
                continue
            start, end = max(0.0, a * _HOP_SEC - pad_sec), min(duration, b * _HOP_SEC + pad_sec)
            if regions and start <= regions[-1][1]:  # padding made them touch: one region
                start = regions.pop()[0]
            regions.append((start, end))
        out.append(regions)
    return out


def _clip(t: Any, duration: float) -> float:
    return float(min(max(float(t), 0.0), duration))


def _as_ref(ref: ModelRef | str) -> ModelRef:
    if isinstance(ref, ModelRef):
        if ref.stage != "asr":
            raise ConfigurationError(f"make_transcriber: expected an 'asr' model reference, got "
                                     f"one for stage {ref.stage!r} ({ref})")
        return ref
    return parse_ref("asr", ref)


# --------------------------------------------------------------------------- sidecar


class SidecarTranscriber:
    """The transcript each call brought with it; no speech recognition (``asr="sidecar"``).

    A call without one raises :class:`TranscriptionError` (through :func:`transcripts_for`: an
    error for that call only).
    """

    def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
        out: list[Transcript] = []
        for call in calls:
            if call.transcript is None:
                raise TranscriptionError(
                    call.call_id, "the call has no transcript and asr='sidecar' runs no speech "
                                  "recognition (give it a sidecar JSON with a 'transcript', "
                                  "load_call(..., transcript=...), or use asr='pocketsphinx' / "
                                  "'whisper:<model>')")
            out.append(call.transcript)
        return out

    def __repr__(self) -> str:
        return "SidecarTranscriber()"


# --------------------------------------------------------------------------- pocketsphinx


class PocketSphinxTranscriber:
    """CMU PocketSphinx 5 with its bundled US-English model (fully offline).

    Each channel's speech regions (see the module doc) are decoded as separate utterances, so
    a segment is a stretch of one speaker's speech without pauses longer than ``bridge_sec``;
    words carry their times (10 ms resolution) and PocketSphinx's posterior probability as
    ``confidence``. Fillers (``<sil>``, ``[NOISE]``, ...) are dropped and alternative
    pronunciation marks (``read(2)``) removed.

    Args:
        crosstalk_rejection: decode only each stereo channel's own speech (module doc).
        bridge_sec: pauses shorter than this stay inside one utterance, seconds.
        pad_sec: audio kept before and after each speech region, seconds.
        language: language tag written into the transcripts (the bundled model is ``"en"``).
        **config: PocketSphinx decoder options, e.g. ``hmm=``, ``lm=``, ``dict=`` for another
            model, or ``beam=`` (see ``pocketsphinx.Config``); ``samprate`` is fixed at 16000.
    """

    source = "pocketsphinx"

    def __init__(self, *, crosstalk_rejection: bool = True, bridge_sec: float = 0.3,
                 pad_sec: float = 0.15, language: str | None = "en", **config: Any) -> None:
        self.crosstalk_rejection = crosstalk_rejection
        self.bridge_sec = bridge_sec
        self.pad_sec = pad_sec
        self.language = language
        self.config = config

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in sorted(self.config.items()))
        return (f"PocketSphinxTranscriber(crosstalk_rejection={self.crosstalk_rejection}, "
                f"bridge_sec={self.bridge_sec}, pad_sec={self.pad_sec}{opts})")

    def _decoder(self) -> _Loaded:
        ps = require("pocketsphinx", "asr", "PocketSphinxTranscriber")
        if "samprate" in self.config and int(self.config["samprate"]) != ASR_SAMPLE_RATE:
            raise ConfigurationError(f"PocketSphinxTranscriber: samprate is fixed at "
                                     f"{ASR_SAMPLE_RATE} Hz, got {self.config['samprate']}")
        opts = {"loglevel": "FATAL", **self.config, "samprate": ASR_SAMPLE_RATE}
        key = ("pocketsphinx", tuple(sorted((k, repr(v)) for k, v in opts.items())))

        def load() -> _Loaded:
            try:
                return _Loaded(ps.Decoder(**opts), threading.Lock())
            except (RuntimeError, ValueError, KeyError) as exc:
                given = self.config or "its default options"
                raise ModelUnavailableError(
                    "pocketsphinx", f"the decoder could not be created with {given} ({exc})",
                    "Check the hmm/lm/dict paths and options passed to PocketSphinxTranscriber, "
                    "or reinstall the package that ships the model: pip install "
                    "'callquality[asr]'") from exc
        return load_cached(key, load)

    def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
        """Transcripts of ``calls``, one channel after another (PocketSphinx has no batching).

        Raises:
            TranscriptionError: naming the first call that failed.
            MissingExtraError, ModelUnavailableError: set-up problems.
        """
        if not calls:
            return []
        loaded = self._decoder()
        out: list[Transcript] = []
        for call in calls:
            try:
                out.append(self._one(call, loaded))
            except (ConfigurationError, MissingExtraError):
                raise
            except Exception as exc:
                raise _fail(call, "PocketSphinx speech recognition", exc) from exc
        return out

    def _one(self, call: Call, loaded: _Loaded) -> Transcript:
        sr = ASR_SAMPLE_RATE
        y = call.audio(sr=sr)
        duration = y.shape[1] / sr
        regions = _speech_regions(y, sr, crosstalk_rejection=self.crosstalk_rejection,
                                  bridge_sec=self.bridge_sec, pad_sec=self.pad_sec)
        dec = loaded.model
        segments: list[Segment] = []
        for channel, speaker, regs in zip(y, call.channels, regions, strict=True):
            pcm = (np.clip(channel, -1.0, 1.0) * 32767.0).astype("<i2")
            for a, b in regs:
                i0, i1 = int(round(a * sr)), int(round(b * sr))
                with loaded.lock:
                    frate = float(dec.config["frate"])
                    dec.start_utt()
                    dec.process_raw(pcm[i0:i1].tobytes(), full_utt=True)
                    dec.end_utt()
                    items = [(s.word, s.start_frame, s.end_frame, s.prob) for s in dec.seg()]
                words = []
                for text, f0, f1, prob in items:
                    if not text or text[0] in "<[+" or text.endswith(">"):
                        continue  # <s>, </s>, <sil>, [NOISE], ++GARBAGE++
                    token = text.split("(", 1)[0] if text.endswith(")") else text
                    words.append(Word(token, _clip(a + f0 / frate, duration),
                                      _clip(a + (f1 + 1) / frate, duration), speaker,
                                      min(1.0, max(0.0, float(prob)))))
                if words:
                    segments.append(Segment(speaker, words[0].start, words[-1].end,
                                            " ".join(w.text for w in words), tuple(words)))
        segments.sort(key=lambda s: (s.start, s.end, s.speaker))
        return Transcript(tuple(segments), source=self.source, language=self.language)


# --------------------------------------------------------------------------- whisper


class WhisperTranscriber:
    """OpenAI Whisper, with word timestamps, one channel at a time.

    The model is loaded on first use and shared by every transcriber of the same checkpoint and
    device in the process (:func:`~callquality.features.models.load_cached`). Whisper's
    ``transcribe`` slides over the audio in 30 s windows, each conditioned on the previous one,
    so channels and calls are transcribed one after another (no batching across calls).

    Args:
        model: an official model name (``"tiny"``, ``"base"``, ``"small"``, ``"medium"``,
            ``"large-v3"``, ``"turbo"``, ``"*.en"`` ...; downloaded once into
            ``model_cache_dir(cache_dir) / "whisper"``) or the path of a checkpoint file (a
            ``torch.save`` dict with ``"dims"`` and ``"model_state_dict"``, as Whisper's own).
        device: ``"auto"`` (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
            On CUDA, decoding runs in float16.
        cache_dir: folder for downloaded weights (default ``$CALLQUALITY_MODEL_CACHE``, else
            ``~/.cache/callquality``).
        language: spoken language (``"en"``); ``None`` lets Whisper detect it per channel.
        temperature: decoding temperature. The default 0 (greedy) makes transcripts, and the
            features computed from them, reproducible; pass Whisper's fallback schedule
            ``(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)`` to re-sample windows that fail its checks.
        crosstalk_rejection: transcribe only each stereo channel's own speech (module doc).
        bridge_sec, pad_sec: speech regions for ``crosstalk_rejection``, seconds.
        download: whether an official model missing from the cache may be downloaded;
            default: unless ``$CALLQUALITY_OFFLINE`` / ``$HF_HUB_OFFLINE`` is set.
        **transcribe_options: passed to ``whisper.transcribe`` (e.g. ``beam_size=5``,
            ``condition_on_previous_text=False``, ``initial_prompt=...``, ``sample_len=``);
            ``word_timestamps`` is always on.
    """

    source = "whisper"

    def __init__(self, model: str = "base", *, device: str = "auto",
                 cache_dir: str | Path | None = None, language: str | None = "en",
                 temperature: float | tuple[float, ...] = 0.0,
                 crosstalk_rejection: bool = True, bridge_sec: float = 0.3,
                 pad_sec: float = 0.2, download: bool | None = None,
                 **transcribe_options: Any) -> None:
        self.model = model
        self.device = device
        self.cache_dir = cache_dir
        self.language = language
        self.temperature = temperature
        self.crosstalk_rejection = crosstalk_rejection
        self.bridge_sec = bridge_sec
        self.pad_sec = pad_sec
        self.download = download
        self.transcribe_options = transcribe_options

    def __repr__(self) -> str:
        return (f"WhisperTranscriber({self.model!r}, device={self.device!r}, "
                f"language={self.language!r}, temperature={self.temperature!r})")

    @property
    def ref(self) -> ModelRef:
        """The model reference, ``whisper:<model>``."""
        return ModelRef("asr", "whisper", str(self.model))

    # -- loading

    def _load(self) -> tuple[_Loaded, str]:
        """The shared model and the device it is on; raises set-up errors."""
        whisper = require("whisper", "asr", "WhisperTranscriber")
        from .models import resolve_device

        device = str(resolve_device(self.device, "WhisperTranscriber"))
        ref = self.ref
        path = Path(str(self.model)).expanduser()
        if path.is_file():
            st = path.stat()
            key: tuple[Any, ...] = ("whisper", str(path.resolve()), st.st_mtime_ns, st.st_size,
                                    device)
            return load_cached(key, lambda: self._load_file(whisper, path, device)), device
        if path.exists():
            raise ModelUnavailableError(
                str(ref), f"{str(path)!r} is a folder, not a checkpoint file",
                "Pass the .pt checkpoint file inside it, e.g. 'whisper:/models/base.pt'")
        names = list(whisper.available_models())
        if self.model not in names:
            raise ModelUnavailableError(
                str(ref), f"{self.model!r} is neither an existing checkpoint file nor an "
                          f"official Whisper model name ({', '.join(names)})",
                "Pass an official name, e.g. 'whisper:base', or the path of a checkpoint "
                "file, e.g. 'whisper:/models/base.pt'")
        root = model_cache_dir(self.cache_dir) / "whisper"
        key = ("whisper", self.model, str(root), device)
        return load_cached(key, lambda: self._load_named(whisper, root, device)), device

    def _load_file(self, whisper: Any, path: Path, device: str) -> _Loaded:
        try:
            model = whisper.load_model(str(path), device=device)
        except Exception as exc:  # unpickling, missing keys, shape mismatch, bad device
            raise ModelUnavailableError(
                str(self.ref), f"cannot load the Whisper checkpoint {str(path)!r} "
                               f"({type(exc).__name__}: {exc})",
                "Pass a file saved as torch.save({'dims': asdict(ModelDimensions), "
                "'model_state_dict': model.state_dict()}) (the format of Whisper's own "
                "checkpoints), or an official name such as 'whisper:base'") from exc
        model.eval()
        return _Loaded(model, threading.Lock())

    def _load_named(self, whisper: Any, root: Path, device: str) -> _Loaded:
        url = getattr(whisper, "_MODELS", {}).get(self.model, "")
        cached = root / Path(url).name if url else None
        allowed = downloads_allowed() if self.download is None else self.download
        if not allowed and not (cached and cached.is_file()):
            raise unavailable(self.ref, f"no weights in {root} and downloads are off "
                                        f"(download=False or $CALLQUALITY_OFFLINE / "
                                        f"$HF_HUB_OFFLINE set)", self.cache_dir)
        try:
            model = whisper.load_model(self.model, device=device, download_root=str(root))
        except (OSError, RuntimeError) as exc:  # no network (URLError), checksum mismatch
            raise unavailable(self.ref, f"the weights are not in {root} and could not be "
                                        f"downloaded ({type(exc).__name__}: {exc})",
                              self.cache_dir) from exc
        model.eval()
        return _Loaded(model, threading.Lock())

    # -- transcription

    def transcribe(self, calls: Sequence[Call]) -> list[Transcript]:
        """Transcripts of ``calls``, one channel after another.

        Raises:
            TranscriptionError: naming the first call that failed.
            MissingExtraError, ModelUnavailableError, ConfigurationError: set-up problems.
        """
        if not calls:
            return []
        loaded, device = self._load()
        whisper = require("whisper", "asr", "WhisperTranscriber")
        out: list[Transcript] = []
        for call in calls:
            try:
                out.append(self._one(call, whisper, loaded, device))
            except (ConfigurationError, MissingExtraError):
                raise
            except Exception as exc:
                raise _fail(call, "Whisper speech recognition", exc) from exc
        return out

    def _one(self, call: Call, whisper: Any, loaded: _Loaded, device: str) -> Transcript:
        sr = ASR_SAMPLE_RATE
        y = call.audio(sr=sr)
        duration = y.shape[1] / sr
        gate = self.crosstalk_rejection and y.shape[0] == 2
        regions = (_speech_regions(y, sr, crosstalk_rejection=True, bridge_sec=self.bridge_sec,
                                   pad_sec=self.pad_sec) if gate else None)
        options = {"language": self.language, "temperature": self.temperature,
                   "fp16": device.startswith("cuda"), "verbose": None,
                   **self.transcribe_options, "word_timestamps": True}
        segments: list[Segment] = []
        languages: list[tuple[int, str]] = []
        for c, (channel, speaker) in enumerate(zip(y, call.channels, strict=True)):
            regs = regions[c] if regions is not None else None
            if regs is not None:
                if not regs:
                    continue  # this party never speaks: nothing to transcribe
                channel = _gated(channel, regs, sr)
            with loaded.lock:
                result = whisper.transcribe(loaded.model, np.ascontiguousarray(channel,
                                                                               np.float32),
                                            **options)
            segs = _whisper_segments(result, speaker, duration, regs)
            segments.extend(segs)
            languages.append((sum(len(s.words) for s in segs), str(result.get("language")
                                                                     or self.language or "")))
        segments.sort(key=lambda s: (s.start, s.end, s.speaker))
        language = self.language or (max(languages)[1] if languages else None) or None
        return Transcript(tuple(segments), source=self.source, language=language)


def _gated(channel: np.ndarray, regions: Sequence[tuple[float, float]], sr: int) -> np.ndarray:
    """``channel`` with everything outside ``regions`` (seconds) silenced, 10 ms linear fades."""
    mask = np.zeros(channel.shape[-1], dtype=np.float32)
    for a, b in regions:
        mask[int(a * sr):int(np.ceil(b * sr))] = 1.0
    k = max(1, int(_FADE_SEC * sr))
    mask = np.convolve(mask, np.full(k, 1.0 / k, dtype=np.float32), mode="same")
    return (channel * mask).astype(np.float32)


def _inside(t: float, regions: Sequence[tuple[float, float]] | None) -> bool:
    return regions is None or any(a <= t <= b for a, b in regions)


def _whisper_segments(result: dict[str, Any], speaker: str, duration: float,
                      regions: Sequence[tuple[float, float]] | None) -> list[Segment]:
    """Whisper's result dict -> segments of ``speaker``; times clipped to ``[0, duration]``;
    words centred outside ``regions`` (silenced audio) dropped."""
    out: list[Segment] = []
    for seg in result.get("segments", ()):
        words = []
        raw = []
        for w in seg.get("words") or ():
            text = str(w.get("word", "")).strip()
            start = _clip(w["start"], duration)
            end = max(start, _clip(w["end"], duration))
            if not text or not _inside(0.5 * (start + end), regions):
                continue
            prob = w.get("probability")
            words.append(Word(text, start, end, speaker,
                              None if prob is None else float(prob)))
            raw.append(str(w.get("word", "")))
        if words:
            out.append(Segment(speaker, words[0].start, words[-1].end, "".join(raw).strip(),
                               tuple(words)))
        elif not seg.get("words") and str(seg.get("text", "")).strip() and regions is None:
            start = _clip(seg["start"], duration)  # no word times (should not happen)
            out.append(Segment(speaker, start, max(start, _clip(seg["end"], duration)),
                               str(seg["text"]).strip()))
    return out


# --------------------------------------------------------------------------- factory, batches


def make_transcriber(ref: ModelRef | str, *, device: str = "auto",
                     cache_dir: str | Path | None = None) -> Transcriber | None:
    """The transcriber of an ``asr`` model reference.

    ``whisper:<name or path>`` -> :class:`WhisperTranscriber`, ``pocketsphinx`` ->
    :class:`PocketSphinxTranscriber`, ``sidecar`` -> :class:`SidecarTranscriber`, ``none`` ->
    ``None`` (no transcription). ``ref`` may be the string form. Nothing is loaded yet.

    Raises:
        ConfigurationError: not an ``asr`` reference, or an unknown kind.
    """
    r = _as_ref(ref)
    if r.kind == "whisper":
        return WhisperTranscriber(r.name, device=device, cache_dir=cache_dir)
    if r.kind == "pocketsphinx":
        return PocketSphinxTranscriber()
    if r.kind == "sidecar":
        return SidecarTranscriber()
    if r.kind == "none":
        return None
    raise ConfigurationError(f"make_transcriber: no transcriber for {r}")  # pragma: no cover


def transcripts_for(calls: Sequence[Call], transcriber: Transcriber | None, *,
                    batch_size: int = 1) -> list[Transcript | ExtractionError | None]:
    """The transcript of every call: its own if it has one, else the transcriber's.

    Args:
        calls: the calls.
        transcriber: runs on the calls without a transcript; ``None`` leaves them without
            (``asr="none"``).
        batch_size: calls per :meth:`Transcriber.transcribe` call. When a batch fails, its
            calls are transcribed again one by one, so only the failing call gets an error.

    Returns:
        One entry per call, in order: a :class:`~callquality.Transcript`; a
        :class:`TranscriptionError` (an :class:`~callquality.exceptions.ExtractionError`) for a
        call whose transcription failed, to be recorded for that call; ``None`` when there is
        no transcriber and the call has no transcript.

    Raises:
        ConfigurationError, MissingExtraError: set-up problems (e.g.
            :class:`~callquality.exceptions.ModelUnavailableError`), which no call can escape.
    """
    if batch_size < 1:
        raise ConfigurationError(f"transcripts_for: batch_size must be >= 1, got {batch_size}")
    out: list[Transcript | ExtractionError | None] = [c.transcript for c in calls]
    if transcriber is None:
        return out
    todo = [i for i, c in enumerate(calls) if c.transcript is None]
    for k in range(0, len(todo), batch_size):
        idx = todo[k:k + batch_size]
        results = _run_batch(transcriber, [calls[i] for i in idx])
        for i, result in zip(idx, results, strict=True):
            out[i] = result
    return out


def _run_batch(transcriber: Transcriber, batch: list[Call]
               ) -> list[Transcript | ExtractionError]:
    try:
        got = transcriber.transcribe(batch)
    except (ConfigurationError, MissingExtraError):
        raise
    except Exception as exc:
        if len(batch) > 1:
            return [r for call in batch for r in _run_batch(transcriber, [call])]
        if isinstance(exc, ExtractionError):
            return [exc]
        err = _fail(batch[0], f"transcription by {type(transcriber).__name__}", exc)
        err.__cause__ = exc
        return [err]
    if len(got) != len(batch) or not all(isinstance(t, Transcript) for t in got):
        raise ConfigurationError(
            f"{type(transcriber).__name__}.transcribe returned {len(got)} item(s) for "
            f"{len(batch)} call(s); expected one Transcript per call")
    return list(got)
