"""Content features of transcripts: words, named entities and sentiment.

:func:`content_features` computes, for a batch of transcripts, the schema's ``content`` group
(``word_count``, ``entity_count``, ``entities_person/org/loc/misc``, ``sentiment_label``,
``sentiment_score``) and the customer-sentiment columns of the ``extended`` group
(``customer_sentiment_start``, ``customer_sentiment_end``, ``customer_sentiment_trend``).

Definitions:

* **Redaction first.** With ``redact_first=True`` (the default) each speaker's text is passed
  through :func:`callquality.redaction.find_pii` -- all of one speaker's segments together, so
  a card number split across two segments is still found -- and personal data is replaced by
  ``[CARD]``, ``[SSN]``, ``[PHONE]``, ``[EMAIL]`` before any text reaches a model. Entities that
  a model finds inside such a tag are ignored.
* **Words** are those of :attr:`Transcript.words <callquality.Transcript.words>` (ASR or
  sidecar words; whitespace tokens of a segment's text when it has no word timings), counted
  before redaction.
* **Entities** are named-entity *mentions* found segment by segment (numeric types such as
  dates and amounts excluded; categories as in :mod:`callquality.features.ner`).
* **Sentiment** is scored on *units*: the sentences of each segment (split after ``.``, ``!``,
  ``?``), long sentences cut into pieces of at most ``max_unit_words`` words. The polarity of
  a stretch of text is the word-weighted mean of the polarities of its units, which keeps
  lexicon models such as VADER from saturating on long texts and keeps transformer models
  within their window. ``sentiment_score`` is that mean over all segments of all speakers;
  ``sentiment_label`` is :func:`~callquality.features.sentiment.polarity_label` of it.
* **Customer sentiment start / end** is the polarity of the first / last third
  (``ceil(n / 3)`` words) of the customer's ``n`` words (whitespace tokens of the customer
  segments' redacted texts, in time order); the trend is end minus start.

Missing values: a ``None`` transcript (no ASR, failed ASR) gives a row of missing values
(``<NA>`` counts and label, ``NaN`` floats), since an unknown count is not zero. A transcript
without words gives zero counts and missing sentiment; one without customer words (e.g. an
undiarized mono call, speaker ``"mixed"``) gives missing customer sentiment.

Batching: the NER model is called once with every segment of every transcript, the sentiment
model once with every distinct unit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..calls import AGENT, CUSTOMER, Transcript
from ..exceptions import ExtractionError
from ..redaction import TAGS, find_pii
from ..schema import feature_names, feature_spec
from .ner import CATEGORIES, EntityRecognizer
from .sentiment import SentimentModel, polarity_label

__all__ = [
    "CONTENT_COLUMNS",
    "content_features",
    "redact_segments",
    "sentiment_units",
    "speaker_sentiment",
]

#: Columns of :func:`content_features`, in schema order.
CONTENT_COLUMNS: tuple[str, ...] = (
    *feature_names("content"),
    "customer_sentiment_start", "customer_sentiment_end", "customer_sentiment_trend",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_TAG = re.compile("|".join(re.escape(t) for t in TAGS.values()))


def redact_segments(texts: Sequence[str]) -> list[str]:
    """Redact the consecutive texts of one speaker as if they were one text.

    A PII span that crosses from one text into the next is replaced by its tag in the text
    where it starts; the rest of it is removed from the next.
    """
    joined_parts: list[str] = []
    bounds: list[tuple[int, int]] = []
    pos = 0
    for t in texts:
        bounds.append((pos, pos + len(t)))
        joined_parts.append(t)
        pos += len(t) + 1
    spans = find_pii(" ".join(joined_parts))
    out: list[str] = []
    for (a, b), t in zip(bounds, texts, strict=True):
        parts: list[str] = []
        cur = a
        for sp in spans:
            if sp.end <= a or sp.start >= b:
                continue
            if sp.start > cur:
                parts.append(t[cur - a:sp.start - a])
            if sp.start >= a:
                parts.append(sp.tag)
            cur = max(cur, min(sp.end, b))
        parts.append(t[cur - a:])
        out.append("".join(parts).strip() if parts != [t] else t)
    return out


def sentiment_units(text: str, max_unit_words: int = 50) -> list[tuple[str, int]]:
    """The scoring units of a text: ``(unit_text, n_words)`` per sentence piece (see the
    module doc)."""
    units: list[tuple[str, int]] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        toks = sentence.split()
        for i in range(0, len(toks), max_unit_words):
            piece = toks[i:i + max_unit_words]
            units.append((" ".join(piece), len(piece)))
    return units


@dataclass
class _Parsed:
    """Texts of one transcript, ready for the models."""

    n_words: int
    seg_speakers: list[str]
    seg_texts: list[str]  # redacted (or not), one per segment
    units: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # stretch -> units


def _segment_texts(t: Transcript, redact_first: bool) -> tuple[list[str], list[str]]:
    speakers = [s.speaker for s in t.segments]
    texts = [s.text if s.text.strip() else " ".join(w.text for w in s.words)
             for s in t.segments]
    texts = [" ".join(x.split()) for x in texts]
    if redact_first:
        for spk in dict.fromkeys(speakers):
            idx = [i for i, s in enumerate(speakers) if s == spk]
            for i, red in zip(idx, redact_segments([texts[i] for i in idx]), strict=True):
                texts[i] = red
    return speakers, texts


def _parse(t: Transcript, *, redact_first: bool, max_unit_words: int,
           speakers: Sequence[str] = ()) -> _Parsed:
    seg_speakers, seg_texts = _segment_texts(t, redact_first)
    p = _Parsed(len(t.words), seg_speakers, seg_texts)
    p.units["all"] = [u for x in seg_texts for u in sentiment_units(x, max_unit_words)]
    cust = [tok for spk, x in zip(seg_speakers, seg_texts, strict=True) if spk == CUSTOMER
            for tok in x.split()]
    if cust:
        k = math.ceil(len(cust) / 3)
        p.units["start"] = sentiment_units(" ".join(cust[:k]), max_unit_words)
        p.units["end"] = sentiment_units(" ".join(cust[-k:]), max_unit_words)
    for spk in speakers:
        p.units[f"speaker:{spk}"] = [
            u for s, x in zip(seg_speakers, seg_texts, strict=True) if s == spk
            for u in sentiment_units(x, max_unit_words)]
    return p


def _check_transcripts(transcripts: Sequence[Transcript | None], where: str
                       ) -> list[Transcript | None]:
    items = list(transcripts)
    for i, t in enumerate(items):
        if t is not None and not isinstance(t, Transcript):
            raise TypeError(f"{where}: transcript {i} is {type(t).__name__}, expected a "
                            f"Transcript or None")
    return items


def _score_units(parsed: Sequence[_Parsed | None], sentiment: SentimentModel,
                 where: str) -> dict[str, float]:
    """Polarity of every distinct unit text, from one call of the sentiment model."""
    texts = list(dict.fromkeys(u for p in parsed if p is not None
                               for units in p.units.values() for u, _ in units))
    if not texts:
        return {}
    try:
        pol = np.asarray(sentiment.polarity(texts), dtype=np.float64)
    except ExtractionError:
        raise
    except Exception as exc:
        raise ExtractionError(f"{where}: sentiment model {sentiment!r} failed on "
                              f"{len(texts)} texts: {type(exc).__name__}: {exc}") from exc
    if pol.shape != (len(texts),):
        raise ExtractionError(f"{where}: sentiment model {sentiment!r} returned shape "
                              f"{pol.shape} for {len(texts)} texts")
    if not np.all(np.isfinite(pol)) or pol.min() < 0.0 or pol.max() > 1.0:
        raise ExtractionError(f"{where}: sentiment model {sentiment!r} returned polarities "
                              f"outside [0, 1]")
    return dict(zip(texts, pol.tolist(), strict=True))


def _weighted(units: list[tuple[str, int]], scores: dict[str, float]) -> float:
    total = sum(n for _, n in units)
    if total == 0:
        return math.nan
    return sum(scores[u] * n for u, n in units) / total


def content_features(
    transcripts: Sequence[Transcript | None],
    *,
    ner: EntityRecognizer,
    sentiment: SentimentModel,
    redact_first: bool = True,
    max_unit_words: int = 50,
) -> pd.DataFrame:
    """Content features of each transcript (definitions in the module doc).

    Args:
        transcripts: one :class:`~callquality.Transcript` (or ``None`` when there is none) per
            call.
        ner: named-entity recogniser, e.g. :class:`~callquality.features.ner.SpacyNER`.
        sentiment: sentiment model, e.g. :class:`~callquality.features.sentiment.VaderSentiment`.
        redact_first: replace personal data by tags before any text reaches a model.
        max_unit_words: longest sentiment unit, in words.

    Returns:
        DataFrame with one row per transcript (same order, ``RangeIndex``) and the columns
        :data:`CONTENT_COLUMNS`: counts as nullable ``Int64``, the label as ``string``,
        polarities as ``float64``.

    Raises:
        TypeError: an item is neither a ``Transcript`` nor ``None``.
        ExtractionError: a model failed or broke its protocol (wrong number of results,
            polarity outside ``[0, 1]``); the message names the model and the cause.
    """
    where = "content_features"
    items = _check_transcripts(transcripts, where)
    if max_unit_words < 1:
        raise ValueError(f"{where}: max_unit_words must be >= 1, got {max_unit_words}")
    parsed = [None if t is None else _parse(t, redact_first=redact_first,
                                            max_unit_words=max_unit_words) for t in items]

    # --- named entities: one call over every non-empty segment of every transcript
    seg_refs = [(i, x) for i, p in enumerate(parsed) if p is not None
                for x in p.seg_texts if x]
    counts = [dict.fromkeys(CATEGORIES, 0) for _ in items]
    if seg_refs:
        texts = [x for _, x in seg_refs]
        try:
            found = ner.entities(texts)
        except Exception as exc:
            raise ExtractionError(f"{where}: NER model {ner!r} failed on {len(texts)} "
                                  f"segments: {type(exc).__name__}: {exc}") from exc
        if len(found) != len(texts):
            raise ExtractionError(f"{where}: NER model {ner!r} returned {len(found)} results "
                                  f"for {len(texts)} texts")
        for (i, text), ents in zip(seg_refs, found, strict=True):
            tags = [(m.start(), m.end()) for m in _TAG.finditer(text)]
            for e in ents:
                if e.category not in counts[i]:
                    raise ExtractionError(f"{where}: NER model {ner!r} returned category "
                                          f"{e.category!r}; expected one of {CATEGORIES}")
                if any(e.start < b and e.end > a for a, b in tags):
                    continue  # the model saw a redaction tag, not a name
                counts[i][e.category] += 1

    # --- sentiment: one call over every distinct unit
    scores = _score_units(parsed, sentiment, where)

    rows: list[dict[str, object]] = []
    for i, p in enumerate(parsed):
        if p is None:
            rows.append({})
            continue
        overall = _weighted(p.units["all"], scores)
        start = _weighted(p.units["start"], scores) if "start" in p.units else math.nan
        end = _weighted(p.units["end"], scores) if "end" in p.units else math.nan
        rows.append({
            "word_count": p.n_words,
            "entity_count": sum(counts[i].values()),
            **{f"entities_{c}": counts[i][c] for c in CATEGORIES},
            "sentiment_label": polarity_label(overall),
            "sentiment_score": overall,
            "customer_sentiment_start": start,
            "customer_sentiment_end": end,
            "customer_sentiment_trend": end - start,
        })
    return _frame(rows, CONTENT_COLUMNS)


def speaker_sentiment(
    transcripts: Sequence[Transcript | None],
    *,
    sentiment: SentimentModel,
    speakers: Sequence[str] = (AGENT, CUSTOMER),
    redact_first: bool = True,
    max_unit_words: int = 50,
) -> pd.DataFrame:
    """Sentiment polarity of each speaker over the whole call, for coaching.

    Returns:
        DataFrame with one row per transcript and a ``float64`` column ``<speaker>_sentiment``
        per speaker: the word-weighted polarity in ``[0, 1]`` of that speaker's sentiment
        units (as in :func:`content_features`), ``NaN`` when the speaker said nothing or the
        transcript is ``None``. One sentiment-model call for the whole batch.
    """
    where = "speaker_sentiment"
    items = _check_transcripts(transcripts, where)
    if max_unit_words < 1:
        raise ValueError(f"{where}: max_unit_words must be >= 1, got {max_unit_words}")
    spk = tuple(dict.fromkeys(speakers))
    parsed = [None if t is None else _parse(t, redact_first=redact_first,
                                            max_unit_words=max_unit_words, speakers=spk)
              for t in items]
    for p in parsed:  # only the per-speaker stretches are needed here
        if p is not None:
            p.units = {k: v for k, v in p.units.items() if k.startswith("speaker:")}
    scores = _score_units(parsed, sentiment, where)
    cols = [f"{s}_sentiment" for s in spk]
    rows = [{} if p is None else
            {f"{s}_sentiment": _weighted(p.units[f"speaker:{s}"], scores) for s in spk}
            for p in parsed]
    df = pd.DataFrame(rows, columns=cols, index=pd.RangeIndex(len(rows)))
    return df.astype("float64")


def _frame(rows: list[dict[str, object]], columns: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns), index=pd.RangeIndex(len(rows)))
    for c in columns:
        dtype = feature_spec(c).dtype
        if dtype == "int64":
            df[c] = pd.array(df[c].tolist(), dtype="Int64")
        elif dtype == "string":
            df[c] = df[c].astype("string")
        else:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df
