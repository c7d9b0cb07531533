"""Speech emotion: per-window emotion probabilities and the ``emotion`` feature group.

Two models implement one protocol, :class:`EmotionModel`: a batch of 16 kHz audio windows
``(n_windows, n_samples)`` in, class probabilities ``(n_windows, n_labels)`` out.

:class:`TransformersEmotion` (``profile="full"``)
    Any ``transformers`` audio-classification checkpoint, by hub id or local folder; the full
    profile names ``ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition`` (wav2vec2-large
    XLSR fine-tuned on RAVDESS; 8 labels). Its labels and their order come from the
    checkpoint's ``config.id2label``.
:class:`ProsodyStress` (``profile="offline"``)
    A **heuristic** arousal estimator from prosody, with no trained weights: it never downloads
    anything and needs no extra. It measures arousal only (how activated the voice is), not
    valence, and turns it into pseudo-probabilities over the same 8 labels by a fixed,
    documented rule (see the class).

:func:`emotion_features` computes the four schema features of a batch of calls;
:func:`emotion_by_speaker` gives the same per speaker (for coaching), :func:`emotion_windows`
the window-level probabilities behind both.

Whose speech
------------
The ``emotion`` group describes the **customer's** speech by default (``speaker="customer"``):
the call-quality model is about the customer's experience, and the agent's emotion is a
coaching signal (:func:`emotion_by_speaker`). The speaker's speech is found as follows:

* **stereo** calls: the speaker's own channel, restricted to the frames where that speaker is
  voice-active after crosstalk rejection
  (:func:`callquality.features.turns.speaker_activity`), so the other party's leak and the
  silences never enter a window (pitch spread measured over silence or crosstalk says nothing
  about the customer);
* **mono** calls: the speaker's segments of the call's transcript when it has one that names
  the speaker (sidecar JSON), intersected with voice activity; otherwise the speaker's frames
  from two-speaker diarization (:func:`callquality.features.turns.diarize`: the agent is the
  first voice); if diarization fails (raises), the whole call's voice-active speech, and the
  row's ``emotion_note`` says so;
* ``speaker="all"``: every voice-active frame of the call (both parties).

Windows
-------
The speaker's voice-active frames (10 ms grid; silences shorter than 0.2 s inside speech are
kept, so words keep their natural joins) are concatenated into one speech stream at 16 kHz
(resampled with soxr), which is cut into windows of ``window_sec`` (3 s) every ``hop_sec``
(1.5 s); the last window ends at the end of the stream, so no speech is left out and no window
is zero-padded. A speaker with less than ``window_sec`` but at least ``min_speech_sec`` (1 s)
of speech gets a single shorter window; with less, the call's emotion features are missing
(``NaN`` / ``<NA>``) and ``emotion_note`` gives the reason. That is also the outcome of digital
silence, a silent customer channel and very short calls: never an error.

Aggregation (per call, over its windows ``w``)
----------------------------------------------
* ``avg_emotion_score`` = mean over windows of ``P(angry) + P(disgust) + P(fearful) + P(sad)``
  (the negative labels the model has), in [0, 1];
* ``emotion_volatility`` = population standard deviation (``ddof=0``) of that per-window
  negative probability; ``NaN`` with fewer than two windows (a spread needs two values);
* ``stress_indicators`` = mean of ``P(angry) + P(fearful)``;
* ``dominant_emotion`` = the label with the highest mean probability over the windows.

Failures
--------
With ``errors="record"`` (default) a call that cannot be analysed (undecodable audio, a model
failure on its windows) gets missing features and an ``error`` string
``"ExtractionError: <call_id>: <cause>"``; the batch goes on. ``errors="raise"`` raises
:class:`~callquality.exceptions.ExtractionError` naming the call instead. A model that cannot
be loaded at all (missing weights, missing extra) raises for the whole batch, since no call
could succeed. In :func:`callquality.extract` the rows are joined on ``call_id``: a call whose
``error`` is set here keeps its audio features, gets missing emotion features, and its row's
``error`` names the emotion failure (appended to any other).

Cost and memory
---------------
A call is decoded whole (float32: 0.23 GB per hour of stereo 8 kHz audio, plus its 16 kHz
speech stream). On a 2-core CPU (``benchmarks/emotion.py``, one torch thread) the prosody
estimator costs about 0.08 s per fixture call (0.15 s per minute of call audio); wav2vec2
classifiers cost 1.1 s (base size) to 3.6 s (large, the full profile's size) per 3 s window,
16-53 s per minute of call audio: use a GPU for the full profile.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from ..audio import resample
from ..calls import AGENT, CUSTOMER, Call
from ..exceptions import (
    ConfigurationError,
    ExtractionError,
    MissingExtraError,
    ModelUnavailableError,
)
from . import pitch as P
from . import turns as TT
from . import vad as V
from .models import (
    ModelRef,
    downloads_allowed,
    load_cached,
    model_cache_dir,
    parse_ref,
    resolve_device,
    unavailable,
)

__all__ = [
    "ANALYSIS_SR",
    "EMOTION_FEATURES",
    "LABELS",
    "MODEL_SR",
    "NEGATIVE_LABELS",
    "STRESS_LABELS",
    "EmotionModel",
    "ProsodyPriors",
    "ProsodyStress",
    "ProsodyWeights",
    "SpeakerWindows",
    "TransformersEmotion",
    "canonical_label",
    "emotion_by_speaker",
    "emotion_features",
    "emotion_model",
    "emotion_windows",
    "speaker_windows",
]

log = logging.getLogger("callquality")

#: The labels of the full profile's model, in its ``config.id2label`` order (ehcalabres/
#: wav2vec2-lg-xlsr-en-speech-emotion-recognition); :class:`ProsodyStress` uses the same order.
#: A transformers model's own order always comes from its config, never from this tuple.
LABELS: tuple[str, ...] = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad",
                           "surprised")
#: Labels whose probabilities add up to the negative-emotion probability (avg_emotion_score).
NEGATIVE_LABELS: frozenset[str] = frozenset({"angry", "disgust", "fearful", "sad"})
#: Labels whose probabilities add up to the stress probability (stress_indicators).
STRESS_LABELS: frozenset[str] = frozenset({"angry", "fearful"})
#: Sample rate of the windows every :class:`EmotionModel` takes, Hz.
MODEL_SR = 16000
#: Rate at which :class:`ProsodyStress` analyses its windows (telephone band), Hz.
ANALYSIS_SR = 8000
#: The schema's emotion group, in schema order.
EMOTION_FEATURES: tuple[str, ...] = ("avg_emotion_score", "emotion_volatility",
                                     "stress_indicators", "dominant_emotion")

#: Other spellings of the 8 labels in public speech-emotion checkpoints (IEMOCAP/SUPERB-style
#: "ang", "hap", "neu"; nouns such as "anger", "fear", "surprise").
_ALIASES: dict[str, str] = {
    "ang": "angry", "anger": "angry", "angry": "angry", "mad": "angry",
    "cal": "calm", "calm": "calm", "calmness": "calm",
    "dis": "disgust", "disgust": "disgust", "disgusted": "disgust",
    "fea": "fearful", "fear": "fearful", "fearful": "fearful", "afraid": "fearful",
    "hap": "happy", "happy": "happy", "happiness": "happy", "joy": "happy", "exc": "happy",
    "neu": "neutral", "neutral": "neutral",
    "sad": "sad", "sadness": "sad",
    "sur": "surprised", "surprise": "surprised", "surprised": "surprised",
}

_HOP_SEC = 0.01
#: Silences shorter than this inside a speaker's speech stay in the speech stream (s).
_BRIDGE_SEC = 0.2


def canonical_label(name: str) -> str:
    """The canonical spelling of an emotion label (``"ang"`` -> ``"angry"``); unknown labels
    are returned lower-cased and stripped."""
    key = str(name).strip().lower()
    return _ALIASES.get(key, key)


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class EmotionModel(Protocol):
    """Maps a batch of 16 kHz audio windows to class probabilities.

    Attributes:
        labels: the class labels (canonical spelling, :func:`canonical_label`) in the order of
            the probability columns.
    """

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict_proba(self, windows: np.ndarray, *,
                      groups: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities of each window.

        Args:
            windows: ``float32`` samples ``(n_windows, n_samples)`` at :data:`MODEL_SR`
                (16 kHz), full scale 1.0, all of one length.
            groups: optional ``(n_windows,)`` integer id of the speaker-in-a-call each window
                comes from; a model that compares a speaker with their own baseline (e.g.
                :class:`ProsodyStress`) uses it, others ignore it. ``None``: every window is its
                own group.

        Returns:
            ``float32`` array ``(n_windows, len(labels))``; each row sums to 1.
        """
        ...


def _check_windows(windows: np.ndarray, who: str) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigurationError(f"{who}: windows must have shape (n_windows, n_samples), got "
                                 f"{x.shape}")
    if x.shape[0] and x.shape[1] < MODEL_SR // 100:
        raise ConfigurationError(f"{who}: windows of {x.shape[1]} samples are shorter than "
                                 f"10 ms at {MODEL_SR} Hz")
    if not np.isfinite(x).all():
        raise ConfigurationError(f"{who}: windows hold non-finite samples (NaN or inf)")
    return x


def _check_groups(groups: np.ndarray | None, n: int, who: str) -> np.ndarray:
    if groups is None:
        return np.arange(n)
    g = np.asarray(groups).reshape(-1)
    if g.shape[0] != n:
        raise ConfigurationError(f"{who}: groups has {g.shape[0]} entries for {n} windows")
    return g


# --------------------------------------------------------------------------- transformers


@dataclass(frozen=True)
class _LoadedClassifier:
    feature_extractor: Any
    model: Any
    device: torch.device
    labels: tuple[str, ...]
    raw_labels: tuple[str, ...]
    sampling_rate: int


def _load_classifier(name: str, cache_dir: str | Path | None, device: torch.device,
                     local_files_only: bool) -> _LoadedClassifier:
    tf = _require_transformers()
    ref = ModelRef("emotion", "transformers", name)
    source: str = str(Path(name).expanduser()) if ref.is_path else name
    kwargs: dict[str, Any] = {}
    if not ref.is_path:
        # a copy fetched with `huggingface-cli download <id> --local-dir <cache>/<id with -->`
        # (what the unavailable() hint says) is used as is; else the hub cache in cache_dir
        cache = model_cache_dir(cache_dir)
        local = cache / name.replace("/", "--")
        if local.is_dir():
            source = str(local)
        else:
            kwargs = {"cache_dir": str(cache), "local_files_only": local_files_only}
    try:
        fe = tf.AutoFeatureExtractor.from_pretrained(source, **kwargs)
        model = tf.AutoModelForAudioClassification.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        cause = f"{type(exc).__name__}: {str(exc)[:300]}"
        if kwargs:  # a hub id: neither cached nor downloadable
            where = ("not in the local cache and the hub cannot be reached"
                     + (" (HF_HUB_OFFLINE / local_files_only is set)" if local_files_only
                        else ""))
            raise unavailable(ref, f"{where}: {cause}", cache_dir) from exc
        raise ModelUnavailableError(
            str(ref), f"no loadable checkpoint at {source}: {cause}",
            "The folder must hold what save_pretrained writes (config.json, the weights and "
            "preprocessor_config.json); pass another folder or a hub id") from exc
    id2label = getattr(model.config, "id2label", None) or {}
    n_out = int(getattr(model.config, "num_labels", len(id2label)))
    try:
        raw = tuple(str(id2label[i]) for i in range(n_out))
    except KeyError as exc:
        raise ConfigurationError(f"TransformersEmotion({name!r}): config.id2label {id2label!r} "
                                 f"does not name every one of its {n_out} classes") from exc
    labels = tuple(canonical_label(lab) for lab in raw)
    if len(set(labels)) != len(labels):
        raise ConfigurationError(f"TransformersEmotion({name!r}): config.id2label repeats a "
                                 f"label: {raw}")
    model.eval()
    model.to(device)
    sr = int(getattr(fe, "sampling_rate", MODEL_SR) or MODEL_SR)
    return _LoadedClassifier(fe, model, device, labels, raw, sr)


def _require_transformers() -> Any:
    from .._extras import require

    return require("transformers", "nlp", "TransformersEmotion")


class TransformersEmotion:
    """Speech-emotion classifier from a ``transformers`` audio-classification checkpoint.

    Loads ``AutoFeatureExtractor`` + ``AutoModelForAudioClassification`` once per process
    (:func:`callquality.features.models.load_cached`, keyed by id/path, cache folder and
    device) on first use or on :meth:`load`. The constructor only stores its arguments.

    Args:
        model_id_or_path: hub id (e.g. ``"ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-
            recognition"``) or a local folder written by ``save_pretrained``. A hub id is
            looked for first in ``<cache>/<id with / replaced by -->`` (a
            ``huggingface-cli download --local-dir`` copy), then in the hub cache under
            ``<cache>``, then downloaded there when the machine has a network.
        cache_dir: cache folder (default ``$CALLQUALITY_MODEL_CACHE`` or
            ``~/.cache/callquality``).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:n]"``.
        batch_size: windows per forward pass.
        local_files_only: never contact the hub; default: when ``CALLQUALITY_OFFLINE``,
            ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set.

    Raises (on load):
        ModelUnavailableError: the weights are neither local nor downloadable; the message
            names the model and the command that pre-downloads it.
        MissingExtraError: ``transformers`` is not installed (``pip install
            'callquality[nlp]'``).
    """

    def __init__(self, model_id_or_path: str | Path, *, cache_dir: str | Path | None = None,
                 device: str = "auto", batch_size: int = 8,
                 local_files_only: bool | None = None) -> None:
        self.model_id_or_path = str(model_id_or_path)
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self.local_files_only = local_files_only

    def __repr__(self) -> str:
        return f"TransformersEmotion({self.model_id_or_path!r}, device={self.device!r})"

    def _loaded(self) -> _LoadedClassifier:
        if self.batch_size < 1:
            raise ConfigurationError(f"TransformersEmotion: batch_size must be >= 1, got "
                                     f"{self.batch_size}")
        dev = resolve_device(self.device, "TransformersEmotion")
        offline = not downloads_allowed() if self.local_files_only is None \
            else self.local_files_only
        cache = str(Path(self.cache_dir).expanduser()) if self.cache_dir else None
        key = ("emotion", "transformers", self.model_id_or_path, cache, str(dev))
        return load_cached(key, lambda: _load_classifier(self.model_id_or_path, self.cache_dir,
                                                         dev, offline))

    def load(self) -> TransformersEmotion:
        """Load the model now (otherwise on first use); returns ``self``."""
        self._loaded()
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        """Canonical labels in the order of ``config.id2label`` (loads the model)."""
        return self._loaded().labels

    @property
    def raw_labels(self) -> tuple[str, ...]:
        """The labels exactly as the checkpoint's ``config.id2label`` spells them."""
        return self._loaded().raw_labels

    def predict_proba(self, windows: np.ndarray, *,
                      groups: np.ndarray | None = None) -> np.ndarray:
        """Softmax probabilities ``(n_windows, n_labels)`` of 16 kHz windows (see
        :class:`EmotionModel`); ``groups`` is ignored (each window is classified alone). The
        windows are resampled when the checkpoint's feature extractor wants another rate, and
        normalised by it (wav2vec2: zero mean, unit variance per window)."""
        x = _check_windows(windows, "TransformersEmotion")
        m = self._loaded()
        out = np.empty((x.shape[0], len(m.labels)), dtype=np.float32)
        if x.shape[0] == 0:
            return out
        if m.sampling_rate != MODEL_SR:
            x = resample(x, MODEL_SR, m.sampling_rate)
        bs = self.batch_size
        with torch.inference_mode():
            for i in range(0, x.shape[0], bs):
                chunk = list(x[i:i + bs])
                inputs = m.feature_extractor(chunk, sampling_rate=m.sampling_rate,
                                             return_tensors="pt", padding=True)
                inputs = {k: v.to(m.device) for k, v in inputs.items()
                          if isinstance(v, torch.Tensor)}
                logits = m.model(**inputs).logits
                out[i:i + bs] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out


# --------------------------------------------------------------------------- prosody


@dataclass(frozen=True)
class ProsodyPriors:
    """Population priors of the prosodic cues of neutral conversational speech: mean and
    standard deviation of each cue across speakers (used to z-score a window's cues).

    Attributes:
        rate_mean, rate_sd: syllable-nucleus rate, nuclei per second of voice-active speech
            (articulation rate: conversational English about 4.5-5.5 syllables/s; on the
            fixture corpus the detector reads 1.1x the transcripts' syllable rate, r = 0.84).
        spread_mean, spread_sd: F0 spread within a window, semitones (robust standard
            deviation of ``12 log2 F0`` over a 3 s window; neutral speech about 1-3 st).
        level_mean, level_sd: active speech level, dBFS in the 300-3400 Hz band (ITU-T P.56's
            nominal -26 dBov; telephone channels vary by several dB).
        pitch_sd: spread of a speaker's window-median F0 around their own call median,
            semitones (scale of the within-speaker pitch-level cue).
    """

    rate_mean: float = 5.0
    rate_sd: float = 1.0
    spread_mean: float = 2.0
    spread_sd: float = 1.0
    level_mean: float = -26.0
    level_sd: float = 6.0
    pitch_sd: float = 2.0


@dataclass(frozen=True)
class ProsodyWeights:
    """Weights of the cues' z-scores in the arousal score (see :class:`ProsodyStress`)."""

    rate: float = 1.0
    spread: float = 1.0
    level: float = 0.5
    pitch: float = 0.25


#: Columns of :meth:`ProsodyStress.cues`.
CUE_COLUMNS: tuple[str, ...] = ("rate_sps", "f0_spread_st", "level_dbfs", "f0_median_st",
                                "voiced_sec", "z_rate", "z_spread", "z_level", "z_pitch",
                                "arousal", "p_high")


class ProsodyStress:
    """Heuristic arousal/stress estimator from prosody (no trained weights, no network).

    **This is a heuristic.** It measures how *activated* a voice is -- fast, loud, with a wide
    and raised pitch -- and nothing about valence: joyful excitement and anger look alike to
    it, and so do sadness and calm. In a service call high arousal is mostly frustration or
    anger, which is the prior built into its label mapping. Use a trained model
    (:class:`TransformersEmotion`) where valence matters.

    Cues, per window. The 16 kHz window is resampled to 8 kHz (:data:`ANALYSIS_SR`: the
    telephone band, so narrowband and wideband calls are measured alike, at half the cost) and
    analysed in 10 ms frames; only the window's speech counts: frames within 30 dB of the
    window's 95th-percentile speech-band level and at or above -70 dBFS, and for pitch the
    YIN-voiced ones among them (:func:`callquality.features.pitch.yin`, 75-600 Hz):

    ========== ================================================ ===========================
    cue        measure                                          baseline
    ========== ================================================ ===========================
    rate       syllable nuclei per second of speech: voiced     population prior
               peaks of the speech-band level (90 ms moving
               average), >= 2 dB prominence, >= 80 ms apart
               (:func:`_nuclei`)
    spread     robust SD of F0 in semitones, (p90 - p10) / 2.563 population prior
    level      mean speech-band (300-3400 Hz) power, dBFS        population prior
    pitch      median F0 (semitones) minus the speaker's call    the speaker's own median
               median                                           (>= 3 windows, else unused)
    ========== ================================================ ===========================

    Rate, spread and level are in units comparable across speakers, so they are z-scored
    against :class:`ProsodyPriors` (a short call has no baseline of its own); pitch level
    depends on the speaker's sex and voice, so it is only compared with the same speaker's
    median over the call (``groups``), when the speaker has at least ``min_baseline_windows``
    windows. Arousal, in prior SDs::

        a = (w_rate z_rate + w_spread z_spread + w_level z_level) / (sum of those weights)
            + w_pitch z_pitch

    (:class:`ProsodyWeights`; a cue that cannot be measured -- under 0.2 s of speech or of
    voicing -- is left out and the remaining weights renormalised; ``z_pitch`` is 0 without a
    baseline). The within-speaker pitch term has mean ~0 over a speaker's windows, so it moves
    single windows (``emotion_volatility``) and hardly the call's mean. Then ``p_high =
    sigmoid(slope * (a - midpoint))``: by default 1 prior SD above the population is the
    midpoint, so neutral speech (``a = 0``) gets ``p_high`` = 0.12.

    Output: pseudo-probabilities over :data:`LABELS`, rows summing to 1. With ``e =
    sigmoid(z_level)`` (loudness tilts between anger and fear) and ``p_low = 1 - p_high``:

    ========= ============================== ========= =======================
    label     probability                    label     probability
    ========= ============================== ========= =======================
    angry     ``p_high * (0.45 + 0.25 e)``   neutral   ``p_low * 0.60``
    fearful   ``p_high * (0.25 - 0.25 e)``   calm      ``p_low * 0.35``
    disgust   ``p_high * 0.10``              sad       ``p_low * 0.05``
    surprised ``p_high * 0.10``
    happy     ``p_high * 0.10``
    ========= ============================== ========= =======================

    so ``stress = P(angry) + P(fearful) = 0.70 p_high`` and the negative-emotion probability
    is ``0.80 p_high + 0.05 p_low``: both increase monotonically with arousal. A window with
    no measurable speech gets the neutral prior (``p_high`` at ``a = 0``).

    Args:
        priors: population priors of the cues.
        weights: weights of the cues.
        midpoint: arousal (in prior SDs) at which ``p_high = 0.5``.
        slope: steepness of the arousal-to-probability sigmoid, per prior SD.
        min_baseline_windows: windows a speaker needs for the within-speaker pitch baseline.
        batch_size: windows analysed together (bounds memory: ~10 MB per 3 s window).
    """

    labels: tuple[str, ...] = LABELS

    def __init__(self, *, priors: ProsodyPriors | None = None,
                 weights: ProsodyWeights | None = None, midpoint: float = 1.0,
                 slope: float = 2.0, min_baseline_windows: int = 3,
                 batch_size: int = 64) -> None:
        self.priors = priors or ProsodyPriors()
        self.weights = weights or ProsodyWeights()
        self.midpoint = midpoint
        self.slope = slope
        self.min_baseline_windows = min_baseline_windows
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return "ProsodyStress()"

    def load(self) -> ProsodyStress:
        """Nothing to load (no weights); returns ``self``, like :meth:`TransformersEmotion.load`."""
        return self

    # -- cues ---------------------------------------------------------------------------
    def _raw_cues(self, x: np.ndarray) -> np.ndarray:
        """``(n, 5)``: rate (1/s), F0 spread (st), level (dBFS), median F0 (st re 100 Hz),
        voiced seconds; NaN where not measurable."""
        out = np.full((x.shape[0], 5), np.nan)
        hop = ANALYSIS_SR // 100
        bs = max(int(self.batch_size), 1)
        for i in range(0, x.shape[0], bs):
            y = torch.from_numpy(resample(x[i:i + bs], MODEL_SR, ANALYSIS_SR))
            with torch.inference_mode():
                level, _ = V.band_level_and_flatness(y, ANALYSIS_SR, hop_length=hop)
                top = torch.quantile(level, 0.95, dim=-1, keepdim=True)
                active = (level >= top - 30.0) & (level >= -70.0)
                track = P.yin(y, ANALYSIS_SR, hop_length=hop, mask=active)
            out[i:i + y.shape[0]] = _window_cues(level.double().numpy(), active.numpy(),
                                                 (track.voiced & active).numpy(),
                                                 track.f0.double().numpy())
        return out

    def cues(self, windows: np.ndarray, *, groups: np.ndarray | None = None) -> pd.DataFrame:
        """Per-window cues, z-scores, arousal and ``p_high`` (columns :data:`CUE_COLUMNS`;
        units: ``rate_sps`` nuclei/s, ``f0_*_st`` semitones re 100 Hz, ``level_dbfs`` dBFS,
        ``voiced_sec`` s, z-scores and ``arousal`` in prior SDs)."""
        x = _check_windows(windows, "ProsodyStress")
        g = _check_groups(groups, x.shape[0], "ProsodyStress")
        raw = self._raw_cues(x)
        pr, w = self.priors, self.weights
        z_rate = (raw[:, 0] - pr.rate_mean) / pr.rate_sd
        z_spread = (raw[:, 1] - pr.spread_mean) / pr.spread_sd
        z_level = (raw[:, 2] - pr.level_mean) / pr.level_sd
        z_pitch = np.full(x.shape[0], np.nan)
        for grp in np.unique(g):
            sel = np.flatnonzero(g == grp)
            med = raw[sel, 3]
            ok = np.isfinite(med)
            if ok.sum() >= self.min_baseline_windows:
                z_pitch[sel] = (med - np.median(med[ok])) / pr.pitch_sd
        z = np.stack([z_rate, z_spread, z_level], axis=1)
        wv = np.array([w.rate, w.spread, w.level], dtype=np.float64)
        have = np.isfinite(z)
        wsum = (have * wv).sum(axis=1)
        arousal = np.where(wsum > 0, np.where(have, z, 0.0) @ wv / np.where(wsum > 0, wsum, 1.0),
                           0.0) + w.pitch * np.nan_to_num(z_pitch, nan=0.0)
        p_high = 1.0 / (1.0 + np.exp(-self.slope * (arousal - self.midpoint)))
        df = pd.DataFrame({
            "rate_sps": raw[:, 0], "f0_spread_st": raw[:, 1], "level_dbfs": raw[:, 2],
            "f0_median_st": raw[:, 3], "voiced_sec": raw[:, 4], "z_rate": z_rate,
            "z_spread": z_spread, "z_level": z_level, "z_pitch": z_pitch, "arousal": arousal,
            "p_high": p_high})
        return df[list(CUE_COLUMNS)]

    def predict_proba(self, windows: np.ndarray, *,
                      groups: np.ndarray | None = None) -> np.ndarray:
        """Pseudo-probabilities ``(n_windows, 8)`` over :data:`LABELS` (see the class)."""
        c = self.cues(windows, groups=groups)
        return _arousal_to_labels(c["p_high"].to_numpy(), c["z_level"].to_numpy())


def _sliding(x: np.ndarray, before: int, after: int, fill: float) -> np.ndarray:
    """``(B, T, before + after + 1)``: frames ``t - before .. t + after`` of ``x (B, T)``
    (``fill`` outside)."""
    pad = np.pad(x, ((0, 0), (before, after)), constant_values=fill)
    return np.lib.stride_tricks.sliding_window_view(pad, before + after + 1, axis=-1)


def _nuclei(lv: np.ndarray, active: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Syllable nuclei ``(B, T)`` bool from 10 ms speech-band levels ``lv (B, T)`` in dB.

    The level of the speech frames (-120 dB elsewhere) is smoothed by a 90 ms moving average;
    a nucleus is a frame whose smoothed level is the highest within +-70 ms (the first one of
    a plateau), rises >= 2 dB above the lowest level within 100 ms on both sides (the
    higher of the two minima: a dip on each side), is a speech frame and lies within 20 ms of
    a voiced frame (a vowel, not a fricative burst).
    """
    lo = -120.0
    x = np.where(active, lv, lo)
    smooth = _sliding(x, 4, 4, lo).mean(axis=-1)
    left = _sliding(smooth, 7, 0, lo)[..., :-1].max(axis=-1)
    right = _sliding(smooth, 0, 7, lo)[..., 1:].max(axis=-1)
    is_max = (smooth > left) & (smooth >= right)
    dip_l = _sliding(smooth, 10, 0, lo)[..., :-1].min(axis=-1)
    dip_r = _sliding(smooth, 0, 10, lo)[..., 1:].min(axis=-1)
    prominent = smooth - np.maximum(dip_l, dip_r) >= 2.0
    near_voiced = _sliding(voiced, 2, 2, False).any(axis=-1)
    return is_max & prominent & active & near_voiced


def _window_cues(lv: np.ndarray, active: np.ndarray, voiced: np.ndarray,
                 f0: np.ndarray) -> np.ndarray:
    """Cues ``(B, 5)`` of windows from their 10 ms tracks ``(B, T)`` (see
    :meth:`ProsodyStress._raw_cues`)."""
    out = np.full((lv.shape[0], 5), np.nan)
    n_act = active.sum(axis=-1)
    nuclei = _nuclei(lv, active, voiced).sum(axis=-1)
    for j in range(lv.shape[0]):
        if n_act[j] < 20:                                       # < 0.2 s of speech
            continue
        # level: mean power over the speech frames, dBFS
        out[j, 2] = 10.0 * math.log10(float(np.mean(10.0 ** (lv[j, active[j]] / 10.0))))
        out[j, 0] = nuclei[j] / (n_act[j] * _HOP_SEC)
        fv = f0[j, voiced[j] & np.isfinite(f0[j]) & (f0[j] > 0)]
        out[j, 4] = fv.size * _HOP_SEC
        if fv.size >= 20:                                       # >= 0.2 s voiced
            st = 12.0 * np.log2(fv / 100.0)
            p10, p50, p90 = np.percentile(st, [10, 50, 90])
            out[j, 1] = (p90 - p10) / 2.563                     # robust SD (normal: 2 x 1.2816)
            out[j, 3] = p50
    return out


def _arousal_to_labels(p_high: np.ndarray, z_level: np.ndarray) -> np.ndarray:
    """The fixed label mapping of :class:`ProsodyStress` (columns in :data:`LABELS` order)."""
    ph = np.clip(np.asarray(p_high, dtype=np.float64), 0.0, 1.0)
    zl = np.nan_to_num(np.asarray(z_level, dtype=np.float64), nan=0.0)
    e = 1.0 / (1.0 + np.exp(-zl))
    pl = 1.0 - ph
    cols = {
        "angry": ph * (0.45 + 0.25 * e), "calm": pl * 0.35, "disgust": ph * 0.10,
        "fearful": ph * (0.25 - 0.25 * e), "happy": ph * 0.10, "neutral": pl * 0.60,
        "sad": pl * 0.05, "surprised": ph * 0.10,
    }
    out = np.stack([cols[lab] for lab in LABELS], axis=1)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------- factory


def emotion_model(ref: ModelRef | str, *, cache_dir: str | Path | None = None,
                  device: str = "auto", batch_size: int | None = None) -> EmotionModel:
    """The :class:`EmotionModel` a reference names: ``"prosody"`` -> :class:`ProsodyStress`,
    ``"transformers:<id or path>"`` -> :class:`TransformersEmotion` (not loaded yet)."""
    r = parse_ref("emotion", ref) if isinstance(ref, str) else ref
    if r.kind == "prosody":
        return ProsodyStress()
    if r.kind == "transformers":
        return TransformersEmotion(r.name, cache_dir=cache_dir, device=device,
                                   batch_size=batch_size or 8)
    raise ConfigurationError(f"emotion_model: no emotion model of kind {r.kind!r}")


# --------------------------------------------------------------------------- speech windows


@dataclass
class _Speech:
    """One speaker's speech in one call: concatenated 16 kHz samples and where they came from."""

    samples: np.ndarray                 # (n,) float32 at MODEL_SR
    run_src: np.ndarray                 # start sample (call time, MODEL_SR) of each run
    run_dst: np.ndarray                 # start sample in ``samples`` of each run
    source: str                         # how the speaker's frames were found
    note: str | None = None


def _speaker_frames(call: Call, y: np.ndarray, speaker: str) -> tuple[np.ndarray, int, str,
                                                                     str | None]:
    """Frames (10 ms grid at the native rate) of ``speaker``: ``(mask (T,), channel, source,
    note)``; ``channel`` -1 means the mono mix of all channels."""
    sr = call.sample_rate
    yt = torch.from_numpy(np.ascontiguousarray(y))
    with torch.inference_mode():
        if call.is_stereo and y.shape[0] == 2:
            act = TT.speaker_activity(yt, sr).cpu().numpy().astype(bool)     # (2, T)
            if speaker == "all":
                return np.asarray(act.any(axis=0)), -1, "stereo channels", None
            agent_ch = call.channels.index(AGENT) if AGENT in call.channels else 0
            ch = agent_ch if speaker == AGENT else 1 - agent_ch
            return act[ch], ch, f"stereo channel {ch}", None
        mono = yt.mean(dim=0)
        vad = V.voice_activity(mono, sr).cpu().numpy().astype(bool)
        if speaker == "all":
            return vad, -1, "voice activity (whole call)", None
        tr = call.transcript
        if tr is not None and speaker in tr.speakers:
            seg = np.zeros_like(vad)
            hop_s = (sr // 100) / sr                          # frame step, s
            for s in tr.segments:
                if s.speaker == speaker:
                    a = max(int(math.floor(s.start / hop_s)), 0)
                    b = min(int(math.ceil(s.end / hop_s)), seg.shape[0])
                    seg[a:b] = True
            return vad & seg, -1, "transcript segments", None
        try:
            act = TT.diarize(mono, sr, vad=torch.from_numpy(vad)).cpu().numpy().astype(bool)
        except Exception as exc:  # diarization is best effort: fall back to the whole call
            log.warning("emotion: diarization of %s failed (%s); using the whole call",
                        call.call_id, exc)
            return vad, -1, "voice activity (whole call)", (
                f"mono call: diarization failed ({type(exc).__name__}: {exc}); whole call used")
        row = 0 if speaker == AGENT else 1
        return act[row], -1, "diarization", None


def _speaker_speech(call: Call, speaker: str) -> _Speech:
    y = call.audio()
    mask, ch, source, note = _speaker_frames(call, y, speaker)
    mask = TT.bridge_gaps(mask, int(round(_BRIDGE_SEC / _HOP_SEC)) + 1)  # gaps <= 0.2 s
    sig = y.mean(axis=0) if ch < 0 else y[ch]
    sig16 = resample(np.ascontiguousarray(sig, dtype=np.float32), call.sample_rate, MODEL_SR)
    # frame t spans native samples [t hop, (t + 1) hop), hop = sr // 100 (exactly 10 ms only
    # when sr is a multiple of 100): map its edges to 16 kHz samples without drift
    scale = (call.sample_rate // 100) * MODEL_SR / call.sample_rate
    s, e = TT.mask_runs(mask)
    src = np.minimum(np.round(s * scale).astype(np.int64), sig16.shape[0])
    end = np.minimum(np.round(e * scale).astype(np.int64), sig16.shape[0])
    keep = end > src
    src, end = src[keep], end[keep]
    lens = end - src
    dst = np.concatenate([[0], np.cumsum(lens)[:-1]]) if lens.size else np.zeros(0, np.int64)
    pieces = [sig16[a:b] for a, b in zip(src.tolist(), end.tolist(), strict=True)]
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return _Speech(samples.astype(np.float32, copy=False), src.astype(np.int64),
                   dst.astype(np.int64), source, note)


def _window_starts(n: int, win: int, hop: int) -> list[int]:
    if n <= win:
        return [0]
    starts = list(range(0, n - win + 1, hop))
    if starts[-1] != n - win:
        starts.append(n - win)
    return starts


def _to_call_time(sp: _Speech, pos: int) -> float:
    """Seconds from call start of stream sample ``pos`` (``pos < len(samples)``)."""
    k = int(np.searchsorted(sp.run_dst, pos, side="right")) - 1
    return float(sp.run_src[k] + (pos - sp.run_dst[k])) / MODEL_SR


class SpeakerWindows(NamedTuple):
    """The analysis windows of one speaker of one call (see :func:`speaker_windows`).

    Attributes:
        windows: ``float32`` ``(n_windows, n_samples)`` at :data:`MODEL_SR`; ``(0, 0)`` when
            the speaker has less than ``min_speech_sec`` of speech.
        spans: ``(start_sec, end_sec)`` in call time of each window's first sample and just
            after its last (the window holds only the speaker's speech in between).
        speech_sec: seconds of the speaker's speech found.
        source: how it was found (``"stereo channel 1"``, ``"transcript segments"``,
            ``"diarization"``, ``"voice activity (whole call)"``, ...).
        note: why there are no windows, or what fallback was used; ``None`` otherwise.
    """

    windows: np.ndarray
    spans: list[tuple[float, float]]
    speech_sec: float
    source: str
    note: str | None


def speaker_windows(call: Call, speaker: str = CUSTOMER, *, window_sec: float = 3.0,
                    hop_sec: float = 1.5, min_speech_sec: float = 1.0) -> SpeakerWindows:
    """The windows of ``speaker``'s voice-active speech that :func:`emotion_features`
    classifies (module docstring: *Whose speech*, *Windows*).

    Raises:
        CallLoadError: the call's audio cannot be decoded.
        ConfigurationError: invalid arguments.
    """
    _validate([call], window_sec, hop_sec, min_speech_sec, 1, "record")
    _check_speaker(speaker)
    sp = _speaker_speech(call, speaker)
    n = sp.samples.shape[0]
    speech_sec = n / MODEL_SR
    who = "speech" if speaker == "all" else f"{speaker} speech"
    if n < min_speech_sec * MODEL_SR:
        note = _join(sp.note, f"no emotion features: {speech_sec:.2f} s of {who} "
                              f"({sp.source}), less than min_speech_sec={min_speech_sec:g} s")
        return SpeakerWindows(np.zeros((0, 0), np.float32), [], speech_sec, sp.source, note)
    win = int(round(window_sec * MODEL_SR))
    hop = int(round(hop_sec * MODEL_SR))
    starts = _window_starts(n, win, hop)
    length = min(win, n)
    windows = np.stack([sp.samples[a:a + length] for a in starts])
    spans = [(_to_call_time(sp, a), _to_call_time(sp, a + length - 1) + 1.0 / MODEL_SR)
             for a in starts]
    return SpeakerWindows(windows, spans, speech_sec, sp.source, sp.note)


def _check_speaker(speaker: str) -> None:
    if speaker not in (AGENT, CUSTOMER, "all"):
        raise ConfigurationError(f"emotion_features: speaker must be 'customer', 'agent' or "
                                 f"'all', got {speaker!r}")


@dataclass
class _Unit:
    """One speaker of one call: its windows and bookkeeping."""

    index: int                       # position of the call in the input
    call: Call
    speaker: str
    speech_sec: float = 0.0
    windows: np.ndarray | None = None
    spans: list[tuple[float, float]] = field(default_factory=list)
    source: str = ""
    note: str | None = None
    error: str | None = None
    proba: np.ndarray | None = None


def _prepare_unit(unit: _Unit, window_sec: float, hop_sec: float,
                  min_speech_sec: float) -> None:
    sw = speaker_windows(unit.call, unit.speaker, window_sec=window_sec, hop_sec=hop_sec,
                         min_speech_sec=min_speech_sec)
    unit.speech_sec, unit.source, unit.note = sw.speech_sec, sw.source, sw.note
    if sw.windows.shape[0]:
        unit.windows, unit.spans = sw.windows, sw.spans


def _join(a: str | None, b: str) -> str:
    return f"{a}; {b}" if a else b


def _predict_units(model: EmotionModel, units: Sequence[_Unit], n_labels: int) -> None:
    """Run ``model`` on the windows of ``units`` (batched: one call per window length)."""
    by_len: dict[int, list[tuple[int, _Unit]]] = {}
    for g, u in enumerate(units):
        assert u.windows is not None
        by_len.setdefault(u.windows.shape[1], []).append((g, u))
    for members in by_len.values():
        x = np.concatenate([u.windows for _, u in members if u.windows is not None])
        groups = np.concatenate([np.full(u.windows.shape[0], g) for g, u in members
                                 if u.windows is not None])
        p = np.asarray(model.predict_proba(x, groups=groups), dtype=np.float64)
        if p.shape != (x.shape[0], n_labels):
            raise ExtractionError(f"emotion model {model!r} returned probabilities of shape "
                                  f"{p.shape}, expected {(x.shape[0], n_labels)}")
        if not np.isfinite(p).all():
            raise ExtractionError(f"emotion model {model!r} returned non-finite probabilities")
        k = 0
        for _, u in members:
            assert u.windows is not None
            u.proba = p[k:k + u.windows.shape[0]]
            k += u.windows.shape[0]


def _run_units(model: EmotionModel, units: Sequence[_Unit], n_labels: int,
               max_batch_windows: int) -> None:
    """Predict every prepared unit, ``max_batch_windows`` windows at a time (a unit is never
    split unless it alone has more); a failing batch is retried unit by unit."""
    pending: list[_Unit] = []
    count = 0

    def flush() -> None:
        nonlocal count
        if not pending:
            return
        try:
            _predict_units(model, pending, n_labels)
        except (MissingExtraError, ModelUnavailableError):
            raise
        except Exception as exc:
            if len(pending) == 1:
                u = pending[0]
                log.warning("emotion: call %s failed: %s", u.call.call_id, exc)
                u.error = _error_text(u.call, f"emotion model failed: {type(exc).__name__}: "
                                              f"{exc}")
                u.proba = None
            else:
                for u in list(pending):
                    _run_units(model, [u], n_labels, max_batch_windows)
        pending.clear()
        count = 0

    for u in units:
        if u.windows is None or u.error is not None:
            continue
        n = u.windows.shape[0]
        if n > max_batch_windows:
            flush()
            parts = []
            for a in range(0, n, max_batch_windows):
                part = _Unit(u.index, u.call, u.speaker, windows=u.windows[a:a + max_batch_windows])
                pending.append(part)
                flush()
                if part.error is not None:
                    u.error = part.error
                    break
                parts.append(part)
            if u.error is None:
                u.proba = np.concatenate([pp.proba for pp in parts if pp.proba is not None])
            continue
        if count + n > max_batch_windows:
            flush()
        pending.append(u)
        count += n
    flush()


def _error_text(call: Call, cause: str) -> str:
    return f"ExtractionError: {call.call_id}: {cause}"


def _validate(calls: Sequence[Call], window_sec: float, hop_sec: float,
              min_speech_sec: float, max_batch_windows: int, errors: str) -> None:
    if isinstance(calls, Call):
        raise ConfigurationError("emotion_features: pass a sequence of calls, e.g. [call]")
    if not window_sec > 0 or not hop_sec > 0:
        raise ConfigurationError(f"emotion_features: window_sec and hop_sec must be > 0, got "
                                 f"{window_sec}, {hop_sec}")
    if hop_sec > window_sec:
        raise ConfigurationError(f"emotion_features: hop_sec ({hop_sec}) larger than "
                                 f"window_sec ({window_sec}) would skip speech")
    if not 0.05 <= min_speech_sec <= window_sec:
        raise ConfigurationError(f"emotion_features: min_speech_sec must lie in [0.05, "
                                 f"window_sec], got {min_speech_sec}")
    if max_batch_windows < 1:
        raise ConfigurationError(f"emotion_features: max_batch_windows must be >= 1, got "
                                 f"{max_batch_windows}")
    if errors not in ("record", "raise"):
        raise ConfigurationError(f"emotion_features: errors must be 'record' or 'raise', got "
                                 f"{errors!r}")


def _analyse(calls: Sequence[Call], model: EmotionModel, speakers: Sequence[str], *,
             window_sec: float, hop_sec: float, min_speech_sec: float,
             max_batch_windows: int, errors: str) -> list[_Unit]:
    _validate(calls, window_sec, hop_sec, min_speech_sec, max_batch_windows, errors)
    for s in speakers:
        _check_speaker(s)
    labels = tuple(model.labels)
    units: list[_Unit] = []
    for i, call in enumerate(calls):
        if not isinstance(call, Call):
            raise ConfigurationError(f"emotion_features: item {i} is a {type(call).__name__}, "
                                     f"not a Call (load it with callquality.load_call)")
        for spk in speakers:
            u = _Unit(i, call, spk)
            try:
                _prepare_unit(u, window_sec, hop_sec, min_speech_sec)
            except Exception as exc:
                if errors == "raise":
                    raise ExtractionError(f"{call.call_id}: cannot find the {spk}'s speech: "
                                          f"{type(exc).__name__}: {exc}") from exc
                log.warning("emotion: call %s failed: %s", call.call_id, exc)
                u.error = _error_text(call, f"cannot find the {spk}'s speech: "
                                            f"{type(exc).__name__}: {exc}")
            units.append(u)
    _run_units(model, units, len(labels), max_batch_windows)
    if errors == "raise":
        for u in units:
            if u.error is not None:
                raise ExtractionError(u.error.removeprefix("ExtractionError: "))
    return units


def _summary(u: _Unit, labels: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {"avg_emotion_score": math.nan, "emotion_volatility": math.nan,
                           "stress_indicators": math.nan, "dominant_emotion": None}
    if u.proba is not None and u.proba.shape[0] and u.error is None:
        p = u.proba
        neg = p[:, [j for j, lab in enumerate(labels) if lab in NEGATIVE_LABELS]].sum(axis=1)
        stress = p[:, [j for j, lab in enumerate(labels) if lab in STRESS_LABELS]].sum(axis=1)
        mean = p.mean(axis=0)
        row["avg_emotion_score"] = float(np.clip(neg.mean(), 0.0, 1.0))
        row["emotion_volatility"] = float(neg.std()) if p.shape[0] >= 2 else math.nan
        row["stress_indicators"] = float(np.clip(stress.mean(), 0.0, 1.0))
        row["dominant_emotion"] = labels[int(np.argmax(mean))]
    n_win = 0 if u.windows is None else int(u.windows.shape[0])
    note = u.note
    if u.windows is not None and n_win == 1 and u.error is None:
        note = _join(note, "one window: emotion_volatility undefined")
    row.update({"emotion_windows": n_win, "emotion_speech_sec": u.speech_sec,
                "emotion_source": u.source or None, "emotion_note": note, "error": u.error})
    return row


_SUMMARY_DTYPES: dict[str, str] = {
    "avg_emotion_score": "float64", "emotion_volatility": "float64",
    "stress_indicators": "float64", "dominant_emotion": "string", "emotion_windows": "Int64",
    "emotion_speech_sec": "float64", "emotion_source": "string", "emotion_note": "string",
    "error": "string",
}


def _frame(rows: list[dict[str, Any]], lead: Sequence[str]) -> pd.DataFrame:
    cols = [*lead, *_SUMMARY_DTYPES]
    df = pd.DataFrame(rows, columns=cols)
    df["call_id"] = df["call_id"].astype("string")
    if "speaker" in df.columns:
        df["speaker"] = df["speaker"].astype("string")
    for c, dt in _SUMMARY_DTYPES.items():
        df[c] = (pd.to_numeric(df[c], errors="coerce").astype(dt) if dt in ("float64", "Int64")
                 else df[c].astype(dt))
    return df


def emotion_features(
    calls: Sequence[Call],
    model: EmotionModel,
    *,
    window_sec: float = 3.0,
    hop_sec: float = 1.5,
    speaker: str = CUSTOMER,
    min_speech_sec: float = 1.0,
    max_batch_windows: int = 256,
    errors: str = "record",
) -> pd.DataFrame:
    """The emotion feature group of each call: one row per call, in input order.

    Windows of the chosen speaker's voice-active speech (module docstring: *Whose speech*,
    *Windows*) from all calls are classified by ``model`` in batches of up to
    ``max_batch_windows`` windows (a call's windows stay in one batch when they fit, so a
    model's per-speaker baseline sees them all), then aggregated per call (*Aggregation*).

    Args:
        calls: the calls.
        model: an :class:`EmotionModel` (:class:`ProsodyStress`, :class:`TransformersEmotion`,
            or :func:`emotion_model` of a reference).
        window_sec: window length, seconds of speech.
        hop_sec: window step, seconds of speech (<= ``window_sec``).
        speaker: ``"customer"`` (default), ``"agent"`` or ``"all"`` (both parties' speech).
        min_speech_sec: the least speech (s) that gets features; less gives missing values.
        max_batch_windows: windows per model call (memory: ~0.2 MB per 3 s window plus the
            model's activations).
        errors: ``"record"`` (a failing call gets an ``error`` string, the rest go on) or
            ``"raise"`` (:class:`~callquality.exceptions.ExtractionError` naming the call).

    Returns:
        DataFrame with ``call_id``; the schema's ``avg_emotion_score``,
        ``emotion_volatility``, ``stress_indicators`` (float64, in [0, 1]) and
        ``dominant_emotion`` (string); ``emotion_windows`` (Int64, windows analysed),
        ``emotion_speech_sec`` (float64, seconds of the speaker's speech found),
        ``emotion_source`` (how the speaker's speech was found), ``emotion_note`` (why features
        are missing or partial, else ``<NA>``) and ``error`` (``<NA>`` if the call succeeded).
    """
    units = _analyse(calls, model, (speaker,), window_sec=window_sec, hop_sec=hop_sec,
                     min_speech_sec=min_speech_sec, max_batch_windows=max_batch_windows,
                     errors=errors)
    labels = tuple(model.labels)
    rows = [{"call_id": u.call.call_id, **_summary(u, labels)} for u in units]
    return _frame(rows, ("call_id",))


def emotion_by_speaker(
    calls: Sequence[Call],
    model: EmotionModel,
    *,
    speakers: Sequence[str] = (AGENT, CUSTOMER),
    window_sec: float = 3.0,
    hop_sec: float = 1.5,
    min_speech_sec: float = 1.0,
    max_batch_windows: int = 256,
    errors: str = "record",
) -> pd.DataFrame:
    """The emotion features of each speaker of each call (for coaching): one row per call and
    speaker, columns ``call_id``, ``speaker`` and those of :func:`emotion_features`."""
    units = _analyse(calls, model, tuple(speakers), window_sec=window_sec, hop_sec=hop_sec,
                     min_speech_sec=min_speech_sec, max_batch_windows=max_batch_windows,
                     errors=errors)
    labels = tuple(model.labels)
    rows = [{"call_id": u.call.call_id, "speaker": u.speaker, **_summary(u, labels)}
            for u in units]
    return _frame(rows, ("call_id", "speaker"))


def emotion_windows(
    calls: Sequence[Call],
    model: EmotionModel,
    *,
    speakers: Sequence[str] = (CUSTOMER,),
    window_sec: float = 3.0,
    hop_sec: float = 1.5,
    min_speech_sec: float = 1.0,
    max_batch_windows: int = 256,
    errors: str = "record",
) -> pd.DataFrame:
    """Window-level probabilities (e.g. the customer's emotion trajectory for coaching).

    Returns:
        One row per window: ``call_id``, ``speaker``, ``window`` (index within the speaker's
        speech), ``start_sec`` / ``end_sec`` (call time, s, of the window's first sample and
        just after its last; the window spans only that speaker's speech in between),
        ``p_<label>`` for each of ``model.labels``, ``negative`` and ``stress`` (the
        per-window sums behind ``avg_emotion_score`` and ``stress_indicators``). Calls without
        windows contribute no rows.
    """
    units = _analyse(calls, model, tuple(speakers), window_sec=window_sec, hop_sec=hop_sec,
                     min_speech_sec=min_speech_sec, max_batch_windows=max_batch_windows,
                     errors=errors)
    labels = tuple(model.labels)
    neg_idx = [j for j, lab in enumerate(labels) if lab in NEGATIVE_LABELS]
    str_idx = [j for j, lab in enumerate(labels) if lab in STRESS_LABELS]
    parts: list[pd.DataFrame] = []
    for u in units:
        if u.proba is None or u.error is not None:
            continue
        p = u.proba
        d: dict[str, Any] = {
            "call_id": u.call.call_id, "speaker": u.speaker,
            "window": np.arange(p.shape[0], dtype=np.int64),
            "start_sec": [s for s, _ in u.spans], "end_sec": [e for _, e in u.spans]}
        for j, lab in enumerate(labels):
            d[f"p_{lab}"] = p[:, j]
        d["negative"] = p[:, neg_idx].sum(axis=1)
        d["stress"] = p[:, str_idx].sum(axis=1)
        parts.append(pd.DataFrame(d))
    cols = ["call_id", "speaker", "window", "start_sec", "end_sec",
            *(f"p_{lab}" for lab in labels), "negative", "stress"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}).astype(
            {"call_id": "string", "speaker": "string", "window": "int64"})
    df = pd.concat(parts, ignore_index=True)[cols]
    return df.astype({"call_id": "string", "speaker": "string"})

