"""The model-backed feature groups (content, emotion) as one stage of the extractor.

:class:`ModelStage` turns a batch of calls into the ``content`` and ``emotion`` columns, plus
the customer-sentiment columns of the ``extended`` group:

1. transcripts: a call's own (sidecar) transcript, else ASR (:mod:`.asr`); words of a mono
   call, which ASR can only label ``"mixed"``, get the speaker whom the diarization of the
   audio stage found active at the word's midpoint;
2. content: named entities and sentiment over the PII-redacted transcript (:mod:`.content`);
3. emotion: the customer's voice-active speech in windows through the emotion model
   (:mod:`.emotion`).

Models are resolved from the profile and loaded once per process. A failure of one call
(its transcription, its emotion windows) is recorded in that call's ``error`` and the batch
goes on; a set-up failure (a missing model, a missing extra) is raised before any call runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..calls import AGENT, CUSTOMER, MIXED, Call, Segment, Transcript, Word
from ..exceptions import ExtractionError
from .models import ModelRef, resolve_models

__all__ = ["MODEL_COLUMNS", "ModelStage", "assign_speakers"]

#: Extended-group columns that come from the transcript (filled when ``content`` runs).
SENTIMENT_TREND_COLUMNS: tuple[str, ...] = (
    "customer_sentiment_start", "customer_sentiment_end", "customer_sentiment_trend")
CONTENT_COLUMNS: tuple[str, ...] = (
    "word_count", "entity_count", "entities_person", "entities_org", "entities_loc",
    "entities_misc", "sentiment_label", "sentiment_score")
EMOTION_COLUMNS: tuple[str, ...] = (
    "avg_emotion_score", "emotion_volatility", "stress_indicators", "dominant_emotion")
MODEL_COLUMNS: tuple[str, ...] = (*CONTENT_COLUMNS, *EMOTION_COLUMNS, *SENTIMENT_TREND_COLUMNS)


def assign_speakers(transcript: Transcript, activity: np.ndarray, hop_sec: float) -> Transcript:
    """Give every ``"mixed"`` word the speaker active at its midpoint.

    Args:
        transcript: a transcript whose segments may have speaker ``"mixed"`` (mono ASR).
        activity: ``(2, n_frames)`` boolean activity, row 0 the agent, row 1 the customer
            (the diarization of the audio stage).
        hop_sec: frame step of ``activity`` in seconds.

    Returns:
        A transcript whose mixed segments are split into runs of one speaker each. A word
        where both or neither speaker is active goes to the speaker of the nearest active
        frame (agent on a tie).
    """
    if MIXED not in transcript.speakers:
        return transcript
    act = np.asarray(activity, dtype=bool)
    n = act.shape[1]
    solo = np.flatnonzero(act[0] != act[1])      # frames where exactly one speaker talks
    anyone = bool(act.any())

    def who(t: float) -> str:
        if n == 0 or not anyone:
            return MIXED
        k = min(max(int(t / hop_sec), 0), n - 1)
        if act[0, k] != act[1, k]:
            return AGENT if act[0, k] else CUSTOMER
        if solo.size == 0:                       # only overlap: agent on a tie
            return AGENT
        # overlap or silence: the nearest frame where exactly one speaker is active
        pos = int(np.searchsorted(solo, k))
        j = solo[min(pos, solo.size - 1)]
        if pos > 0 and k - solo[pos - 1] <= j - k:   # the earlier frame wins a tie
            j = solo[pos - 1]
        return AGENT if act[0, j] else CUSTOMER

    segments: list[Segment] = []
    for seg in transcript.segments:
        if seg.speaker != MIXED:
            segments.append(seg)
            continue
        words = seg.words or tuple(Transcript((seg,)).words)
        run: list[Word] = []
        run_spk: str | None = None
        for w in words:
            spk = who(0.5 * (w.start + w.end))
            if run and spk != run_spk:
                segments.append(_segment(run, run_spk or MIXED))
                run = []
            run.append(replace(w, speaker=spk))
            run_spk = spk
        if run:
            segments.append(_segment(run, run_spk or MIXED))
    segments.sort(key=lambda s: s.start)
    return Transcript(tuple(segments), transcript.source, transcript.language)


def _segment(words: list[Word], speaker: str) -> Segment:
    return Segment(speaker, words[0].start, words[-1].end, " ".join(w.text for w in words),
                   tuple(words))


class ModelStage:
    """Runs the model-backed groups on batches of calls (used by the extractor).

    Args:
        groups: the groups requested from the extractor; ``content`` and ``emotion`` run
            models, ``extended`` receives the customer-sentiment columns when ``content`` runs.
        profile: ``"offline"`` or ``"full"`` (:data:`~callquality.features.models.PROFILES`).
        models: per-stage overrides, e.g. ``{"asr": "whisper:/models/tiny.pt"}``.
        cache_dir: folder for downloaded weights.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, groups: Sequence[str], *, profile: str = "offline",
                 models: Mapping[str, str] | None = None,
                 cache_dir: str | Path | None = None, device: str = "auto") -> None:
        self.refs: dict[str, ModelRef] = resolve_models(profile, models)
        self.content = "content" in groups
        self.emotion = "emotion" in groups
        self.cache_dir = cache_dir
        self.device = device
        self._loaded: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        return self.content or self.emotion

    def load(self) -> ModelStage:
        """Load every model now (raises set-up errors such as a model that is unavailable)."""
        from .asr import make_transcriber
        from .emotion import emotion_model
        from .ner import ner_from_ref
        from .sentiment import sentiment_from_ref

        if self.content and "ner" not in self._loaded:
            self._loaded["asr"] = make_transcriber(self.refs["asr"], device=self.device,
                                                   cache_dir=self.cache_dir)
            self._loaded["ner"] = ner_from_ref(self.refs["ner"], cache_dir=self.cache_dir,
                                               device=self.device).load()
            self._loaded["sentiment"] = sentiment_from_ref(
                self.refs["sentiment"], cache_dir=self.cache_dir, device=self.device).load()
        if self.emotion and "emotion" not in self._loaded:
            model = emotion_model(self.refs["emotion"], cache_dir=self.cache_dir,
                                  device=self.device)
            load = getattr(model, "load", None)
            if callable(load):
                load()  # missing weights fail here, before any call runs
            self._loaded["emotion"] = model
        return self

    def run(self, calls: Sequence[Call], activity: Sequence[np.ndarray | None],
            hop_sec: float) -> list[dict[str, Any]]:
        """The model columns of each call, in order; a failed call gets an ``error`` entry.

        Args:
            calls: the calls (all succeeded in the audio stage).
            activity: per call the ``(2, n_frames)`` agent/customer activity of the audio
                stage (used to give mono ASR words their speaker), or ``None``.
            hop_sec: frame step of ``activity``.
        """
        from .asr import transcripts_for
        from .content import content_features
        from .emotion import emotion_features

        self.load()
        out: list[dict[str, Any]] = [{} for _ in calls]
        errors: list[list[str]] = [[] for _ in calls]
        if self.content:
            got = transcripts_for(calls, self._loaded["asr"])
            transcripts: list[Transcript | None] = []
            for i, t in enumerate(got):
                if isinstance(t, ExtractionError):
                    errors[i].append(f"transcription: {t}")
                    transcripts.append(None)
                    continue
                act = activity[i]
                if t is not None and act is not None:
                    t = assign_speakers(t, act, hop_sec)
                if t is not None and calls[i].transcript is None:
                    calls[i].transcript = t  # later stages (labeling) read it from the call
                transcripts.append(t)
            for i, row in enumerate(self._content(content_features, transcripts, calls, errors)):
                out[i].update(row)
        if self.emotion:
            ef = emotion_features(calls, self._loaded["emotion"], errors="record")
            for i, rec in enumerate(ef.to_dict("records")):
                out[i].update({c: _py(rec[c]) for c in EMOTION_COLUMNS})
                if _py(rec["error"]) is not None:
                    errors[i].append(f"emotion: {rec['error']}")
        for i, errs in enumerate(errors):
            if errs:
                out[i]["error"] = "; ".join(errs)
        return out

    def _content(self, fn: Any, transcripts: list[Transcript | None], calls: Sequence[Call],
                 errors: list[list[str]]) -> list[dict[str, Any]]:
        """Content rows for a batch; when the batch fails, call by call so only the failing
        call is marked."""
        cols = (*CONTENT_COLUMNS, *SENTIMENT_TREND_COLUMNS)
        try:
            df = fn(transcripts, ner=self._loaded["ner"], sentiment=self._loaded["sentiment"])
            return [{c: _py(rec[c]) for c in cols} for rec in df.to_dict("records")]
        except ExtractionError as exc:
            if len(transcripts) == 1:
                errors[0].append(f"content: {exc}")
                return [{}]
        rows: list[dict[str, Any]] = []
        for i, t in enumerate(transcripts):
            sub_err: list[list[str]] = [[]]
            rows.extend(self._content(fn, [t], [calls[i]], sub_err))
            errors[i].extend(sub_err[0])
        return rows


def _py(v: Any) -> Any:
    """A table cell as a plain value: pandas' missing markers become ``None``."""
    return None if v is None or (np.isscalar(v) and pd.isna(v)) else v
