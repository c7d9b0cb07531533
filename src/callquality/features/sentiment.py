"""Sentiment models for the content features: VADER (offline) and transformers classifiers.

Every model implements :class:`SentimentModel`: ``polarity(texts)`` returns, for a batch of
texts, a polarity in ``[0, 1]``: 0 very negative, 0.5 neutral, 1 very positive -- the unit of
the schema's ``sentiment_score`` and ``customer_sentiment_*`` columns.

* :class:`VaderSentiment`: VADER's compound score ``c`` in ``[-1, 1]`` mapped to ``(c + 1) / 2``.
* :class:`TransformersSentiment`: a sequence classifier's class probabilities ``p_k`` give the
  *expected* polarity ``sum_k p_k * v_k``, where ``v_k`` is the polarity of class ``k`` read
  from the model's ``id2label`` (:func:`label_polarities`): classes are placed on an evenly
  spaced scale from the most negative (0) to the most positive (1) class the model has:

  =============================================  =========================================
  model classes                                  polarity of each class
  =============================================  =========================================
  5: very negative, negative, neutral,           0, 0.25, 0.5, 0.75, 1
  positive, very positive (``tabularisai/...``)
  5: 1 star ... 5 stars                          0, 0.25, 0.5, 0.75, 1
  3: negative, neutral, positive                 0, 0.5, 1
  2: negative, positive                          0, 1
  =============================================  =========================================

  Label spelling is forgiving (case, ``_``/``-``/space, ``NEG``/``NEU``/``POS``). Models whose
  labels say nothing about polarity (``LABEL_0``...) need ``label_values=`` explicitly.

Labels (:func:`polarity_label`) use VADER's customary thresholds of a compound score of
+-0.05, i.e. polarity ``<= 0.475`` is *negative*, ``>= 0.525`` *positive*, else *neutral*.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._extras import require
from ..exceptions import ConfigurationError
from .models import ModelRef, load_cached, parse_ref

__all__ = [
    "NEGATIVE_AT_MOST",
    "POSITIVE_AT_LEAST",
    "SENTIMENT_LABELS",
    "SentimentModel",
    "TransformersSentiment",
    "VaderSentiment",
    "label_polarities",
    "polarity_label",
    "sentiment_from_ref",
]

#: Sentiment labels, from negative to positive.
SENTIMENT_LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
#: Polarity at or below which a text is negative (VADER compound <= -0.05).
NEGATIVE_AT_MOST = 0.475
#: Polarity at or above which a text is positive (VADER compound >= +0.05).
POSITIVE_AT_LEAST = 0.525


@runtime_checkable
class SentimentModel(Protocol):
    """Scores the sentiment of a batch of texts."""

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """``float64`` array of shape ``(len(texts),)`` in ``[0, 1]`` (0.5 neutral)."""
        ...


def polarity_label(polarity: float) -> str | None:
    """``"negative"``, ``"neutral"`` or ``"positive"`` (thresholds in the module doc);
    ``None`` for a missing (NaN) polarity."""
    if polarity is None or math.isnan(polarity):
        return None
    if polarity <= NEGATIVE_AT_MOST:
        return "negative"
    if polarity >= POSITIVE_AT_LEAST:
        return "positive"
    return "neutral"


def _check_texts(texts: Sequence[str], where: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{where}: expected a sequence of texts, got one str (wrap it in a list)")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{where}: text {bad[0]} is {type(out[bad[0]]).__name__}, not str")
    return out


# --------------------------------------------------------------------------- VADER


class VaderSentiment:
    """VADER (Hutto & Gilbert, 2014), a lexicon- and rule-based model tuned for short social
    text; ships with ``vaderSentiment`` and needs no download. Polarity ``(compound + 1) / 2``.

    VADER's compound score saturates towards +-1 on long texts (its normalisation grows with
    the sum of valences), so score sentences or utterances, not whole calls (as
    :func:`~callquality.features.content.content_features` does).
    """

    @property
    def analyzer(self) -> Any:
        """The loaded ``SentimentIntensityAnalyzer`` (reads the lexicon on first access)."""

        def load() -> Any:
            mod = require("vaderSentiment.vaderSentiment", "nlp", "VaderSentiment")
            return mod.SentimentIntensityAnalyzer()

        return load_cached(("sentiment", "vader"), load)

    def load(self) -> VaderSentiment:
        """Read the lexicon now."""
        _ = self.analyzer
        return self

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """Polarity in ``[0, 1]`` of each text; see :class:`SentimentModel`."""
        items = _check_texts(texts, "VaderSentiment.polarity")
        sia = self.analyzer
        compound = np.array([sia.polarity_scores(t)["compound"] if t.strip() else 0.0
                             for t in items], dtype=np.float64)
        return np.clip((compound + 1.0) / 2.0, 0.0, 1.0)

    def __repr__(self) -> str:
        return "VaderSentiment()"


# --------------------------------------------------------------------------- transformers

_STARS = re.compile(r"^([1-9])\s*stars?$")
_RANK: dict[str, int] = {
    "very negative": -2, "extremely negative": -2, "strongly negative": -2,
    "negative": -1, "neg": -1,
    "neutral": 0, "neu": 0,
    "positive": 1, "pos": 1,
    "very positive": 2, "extremely positive": 2, "strongly positive": 2,
}


def _norm_label(label: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", str(label)).lower().split())


def label_polarities(labels: Sequence[str], *, model: str = "model") -> dict[str, float]:
    """The polarity of each class label (see the module doc), or ``ConfigurationError``.

    >>> label_polarities(["Negative", "Neutral", "Positive"])
    {'Negative': 0.0, 'Neutral': 0.5, 'Positive': 1.0}
    """
    ranks: dict[str, float] = {}
    unknown: list[str] = []
    stars = [_STARS.match(_norm_label(lab)) for lab in labels]
    if labels and all(stars):
        values = [int(m.group(1)) for m in stars if m]
        lo, hi = min(values), max(values)
        if hi > lo:
            return {lab: (v - lo) / (hi - lo) for lab, v in zip(labels, values, strict=True)}
    for lab in labels:
        r = _RANK.get(_norm_label(lab))
        if r is None:
            unknown.append(lab)
        else:
            ranks[lab] = r
    if unknown or not ranks or min(ranks.values()) >= 0 or max(ranks.values()) <= 0:
        raise ConfigurationError(
            f"{model}: cannot tell the polarity of the classes {list(labels)} (unrecognised: "
            f"{unknown or 'no negative and positive class'}); pass label_values={{label: "
            f"polarity in [0, 1], ...}}")
    scale = max(abs(v) for v in ranks.values())
    return {lab: (r + scale) / (2 * scale) for lab, r in ranks.items()}


class TransformersSentiment:
    """Sentiment from a ``transformers`` sequence classifier (``profile="full"``:
    ``tabularisai/multilingual-sentiment-analysis``, five classes Very Negative ... Very
    Positive). The polarity is the expected class polarity under the model's softmax.

    Texts longer than the model's window are truncated; score sentences or utterances.

    Args:
        model_id_or_path: hub id or local model folder.
        cache_dir: where downloaded weights live (see :mod:`callquality.features._hf`).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``.
        batch_size: texts per forward pass.
        label_values: polarity in ``[0, 1]`` of each class label, for models whose labels are
            not self-explanatory (default: read from ``id2label``, :func:`label_polarities`).

    Raises (on first use or :meth:`load`):
        ModelUnavailableError: the weights are neither local nor downloadable.
        ConfigurationError: the class labels do not say their polarity.
    """

    def __init__(self, model_id_or_path: str | Path, *, cache_dir: str | Path | None = None,
                 device: str = "auto", batch_size: int = 32,
                 label_values: Mapping[str, float] | None = None) -> None:
        self.model_id_or_path = model_id_or_path
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self.label_values = label_values

    @property
    def ref(self) -> ModelRef:
        return ModelRef("sentiment", "transformers", str(self.model_id_or_path))

    @property
    def pipeline(self) -> Any:
        """The loaded ``transformers`` text-classification pipeline (loads on first access)."""
        from ._hf import cached_pipeline

        return cached_pipeline("text-classification", self.ref,
                               "AutoModelForSequenceClassification",
                               feature="TransformersSentiment", cache_dir=self.cache_dir,
                               device=self.device)

    @property
    def class_polarity(self) -> dict[str, float]:
        """Polarity of each class label of the loaded model."""
        labels = [str(v) for _, v in sorted(self.pipeline.model.config.id2label.items())]
        where = f"TransformersSentiment({str(self.model_id_or_path)!r})"
        if self.label_values is None:
            return label_polarities(labels, model=where)
        values = {str(k): float(v) for k, v in self.label_values.items()}
        missing = [lab for lab in labels if lab not in values]
        bad = {k: v for k, v in values.items() if not 0.0 <= v <= 1.0}
        if missing or bad:
            raise ConfigurationError(
                f"{where}: label_values must give a polarity in [0, 1] for every class "
                f"{labels}; missing {missing}, out of range {bad}")
        return values

    def load(self) -> TransformersSentiment:
        """Load the model and check its labels now."""
        _ = self.class_polarity
        return self

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        """Polarity in ``[0, 1]`` of each text; see :class:`SentimentModel`. Empty texts are
        neutral (0.5)."""
        items = _check_texts(texts, "TransformersSentiment.polarity")
        out = np.full(len(items), 0.5, dtype=np.float64)
        todo = [i for i, t in enumerate(items) if t.strip()]
        if not todo:
            return out
        values = self.class_polarity
        results = self.pipeline([items[i] for i in todo], top_k=None, truncation=True,
                                batch_size=self.batch_size)
        for i, scores in zip(todo, results, strict=True):
            if isinstance(scores, dict):  # a single class came back
                scores = [scores]
            p = np.array([float(s["score"]) for s in scores], dtype=np.float64)
            v = np.array([values[str(s["label"])] for s in scores], dtype=np.float64)
            total = p.sum()
            out[i] = float((p * v).sum() / total) if total > 0 else 0.5
        return np.clip(out, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"TransformersSentiment({str(self.model_id_or_path)!r})"


def sentiment_from_ref(ref: str | ModelRef, *, cache_dir: str | Path | None = None,
                       device: str = "auto") -> VaderSentiment | TransformersSentiment:
    """The sentiment model a reference names: ``"vader"`` or ``"transformers:<id or path>"``."""
    r = parse_ref("sentiment", ref) if isinstance(ref, str) else ref
    if r.kind == "vader":
        return VaderSentiment()
    if r.kind == "transformers":
        return TransformersSentiment(r.name, cache_dir=cache_dir, device=device)
    raise ConfigurationError(
        f"sentiment_from_ref: unsupported sentiment kind {r.kind!r} in {str(r)!r}")
