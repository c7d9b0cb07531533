"""Content features: word counts, entity counts and sentiment of transcripts, PII redacted
before any model sees the text."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from callquality.calls import AGENT, CUSTOMER, MIXED, Segment, Transcript
from callquality.exceptions import ExtractionError
from callquality.features.content import (
    CONTENT_COLUMNS,
    content_features,
    redact_segments,
    sentiment_units,
    speaker_sentiment,
)
from callquality.features.ner import Entity, SpacyNER, entity_category
from callquality.features.sentiment import VaderSentiment
from callquality.schema import feature_names, feature_spec

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


# --------------------------------------------------------------------------- fakes


class RecordingNER:
    """Finds capitalised words after "this is" as persons; records every call."""

    def __init__(self, extra: Sequence[tuple[str, str]] = ()) -> None:
        self.calls: list[list[str]] = []
        self.extra = extra  # (substring, label) reported wherever the substring occurs

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        self.calls.append(list(texts))
        out: list[list[Entity]] = []
        for t in texts:
            ents = [Entity(m.group(1), "PERSON", m.start(1), m.end(1), "person")
                    for m in re.finditer(r"this is ([A-Z]\w+)", t)]
            for sub, label in self.extra:
                for m in re.finditer(re.escape(sub), t):
                    cat = entity_category(label)
                    assert cat is not None
                    ents.append(Entity(sub, label, m.start(), m.end(), cat))
            out.append(ents)
        return out

    def __repr__(self) -> str:
        return "RecordingNER()"


class WordSentiment:
    """Polarity = mean over tokens of good -> 1, bad -> 0, other -> 0.5; records calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        vals = []
        for t in texts:
            toks = re.findall(r"\w+", t.lower())
            vals.append(np.mean([1.0 if w == "good" else 0.0 if w == "bad" else 0.5
                                 for w in toks]) if toks else 0.5)
        return np.array(vals, dtype=np.float64)


def _seg(speaker: str, start: float, text: str) -> Segment:
    return Segment(speaker, start, start + 1.0, text)


def _tr(*segs: tuple[str, str]) -> Transcript:
    return Transcript(tuple(_seg(spk, float(i), text) for i, (spk, text) in enumerate(segs)))


# --------------------------------------------------------------------------- schema, missing


def test_columns_dtypes_and_missing_transcripts() -> None:
    tr = _tr((AGENT, "Hello, this is Sarah, how can I help?"),
             (CUSTOMER, "Hi, this is Kevin, my order is bad."))
    df = content_features([tr, None], ner=RecordingNER(), sentiment=WordSentiment())
    assert tuple(df.columns) == CONTENT_COLUMNS
    assert list(df.columns[:8]) == feature_names("content")
    assert list(df.index) == [0, 1]
    for c in df.columns:
        dtype = feature_spec(c).dtype
        expected = {"int64": "Int64", "string": "string", "float64": "float64"}[dtype]
        assert str(df[c].dtype) == expected, c
        spec = feature_spec(c)
        assert all(spec.in_range(None if pd.isna(v) else v) for v in df[c]), c
    row = df.iloc[0]
    assert row.word_count == 16 and row.entity_count == 2 and row.entities_person == 2
    assert row.entities_org == row.entities_loc == row.entities_misc == 0
    assert df.iloc[1].isna().all()  # no transcript: every value missing, counts too


def test_empty_transcript_and_no_customer() -> None:
    empty = Transcript(())
    mono = _tr((MIXED, "good morning, this is a good day"))
    df = content_features([empty, mono], ner=RecordingNER(), sentiment=WordSentiment())
    assert df.loc[0, "word_count"] == 0 and df.loc[0, "entity_count"] == 0
    assert math.isnan(df.loc[0, "sentiment_score"]) and pd.isna(df.loc[0, "sentiment_label"])
    assert df.loc[1, "word_count"] == 7
    assert df.loc[1, "sentiment_score"] > 0.5 and df.loc[1, "sentiment_label"] == "positive"
    assert np.isnan(df.loc[1, ["customer_sentiment_start", "customer_sentiment_end",
                               "customer_sentiment_trend"]].to_numpy(float)).all()
    with pytest.raises(TypeError, match="transcript 1"):
        content_features([empty, "text"], ner=RecordingNER(),  # type: ignore[list-item]
                         sentiment=WordSentiment())


# --------------------------------------------------------------------------- definitions


def test_customer_thirds_and_trend() -> None:
    tr = _tr((CUSTOMER, "bad bad bad."), (AGENT, "good good good good"),
             (CUSTOMER, "so so so"), (CUSTOMER, "good good good!"))
    df = content_features([tr], ner=RecordingNER(), sentiment=WordSentiment())
    r = df.iloc[0]
    assert r.customer_sentiment_start == 0.0  # "bad bad bad."
    assert r.customer_sentiment_end == 1.0  # "good good good!"
    assert r.customer_sentiment_trend == 1.0
    # overall: word-weighted mean of the sentences of all segments (agent included)
    assert r.sentiment_score == pytest.approx((0 * 3 + 1 * 4 + 0.5 * 3 + 1 * 3) / 13)
    sp = speaker_sentiment([tr, None], sentiment=WordSentiment())
    assert list(sp.columns) == ["agent_sentiment", "customer_sentiment"]
    assert sp.loc[0, "agent_sentiment"] == 1.0
    assert sp.loc[0, "customer_sentiment"] == pytest.approx(0.5)
    assert sp.loc[1].isna().all()


def test_sentiment_units_split_sentences_and_long_runs() -> None:
    assert sentiment_units("Hi there. How are you? Fine!") == [
        ("Hi there.", 2), ("How are you?", 3), ("Fine!", 1)]
    units = sentiment_units(" ".join(["word"] * 120), max_unit_words=50)
    assert [n for _, n in units] == [50, 50, 20]
    assert sentiment_units("   ") == []


def test_models_are_called_once_per_batch() -> None:
    ner, sent = RecordingNER(), WordSentiment()
    trs = [_tr((AGENT, f"Hello, this is Sarah number {i}."), (CUSTOMER, "Good. Thanks."))
           for i in range(5)]
    df = content_features([*trs, None], ner=ner, sentiment=sent)
    assert len(ner.calls) == 1 and len(ner.calls[0]) == 10  # every segment, one call
    assert len(sent.calls) == 1
    assert len(sent.calls[0]) == len(set(sent.calls[0]))  # distinct units only
    assert (df.entities_person[:5] == 1).all()


# --------------------------------------------------------------------------- redaction


def test_pii_is_redacted_before_any_model_sees_it() -> None:
    tr = _tr((CUSTOMER, "my card is 4111 1111"),  # the number goes on in the next segment
             (AGENT, "go on"),
             (CUSTOMER, "1111 1111 and my mail is kevin.lopez@example.com, good"),
             (CUSTOMER, "phone (415) 555-0132, SSN 123-45-6789"))
    ner, sent = RecordingNER(extra=[("CARD", "ORG")]), WordSentiment()
    df = content_features([tr], ner=ner, sentiment=sent)
    seen = " | ".join(ner.calls[0] + sent.calls[0])
    assert "[CARD]" in seen and "[EMAIL]" in seen and "[PHONE]" in seen and "[SSN]" in seen
    assert not re.search(r"\d{3}", seen), seen
    assert "kevin.lopez" not in seen
    # the NER model's "entity" inside the [CARD] tag is not counted
    assert df.loc[0, "entities_org"] == 0
    assert df.loc[0, "word_count"] == 20  # words of the original transcript

    ner2 = RecordingNER()
    content_features([tr], ner=ner2, sentiment=WordSentiment(), redact_first=False)
    assert "4111 1111" in " ".join(ner2.calls[0])


def test_redact_segments_across_boundaries() -> None:
    assert redact_segments(["card 4111 1111", "1111 1111 thanks", "ok"]) == \
        ["card [CARD]", "thanks", "ok"]
    assert redact_segments(["no pii here", ""]) == ["no pii here", ""]
    assert redact_segments([]) == []


# --------------------------------------------------------------------------- errors


class BrokenNER:
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        return []


class OutOfRangeSentiment:
    def polarity(self, texts: Sequence[str]) -> np.ndarray:
        return np.full(len(texts), 1.5)


class WrongCategoryNER:
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        return [[Entity("x", "DATE", 0, 1, "date")] for _ in texts]  # type: ignore[arg-type]


class FailingNER:
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        raise RuntimeError("CUDA out of memory")

    def __repr__(self) -> str:
        return "FailingNER()"


def test_model_protocol_violations_are_clear_errors() -> None:
    tr = _tr((AGENT, "hello there"))
    with pytest.raises(ExtractionError, match="returned 0 results for 1 texts"):
        content_features([tr], ner=BrokenNER(), sentiment=WordSentiment())
    with pytest.raises(ExtractionError, match="category 'date'"):
        content_features([tr], ner=WrongCategoryNER(), sentiment=WordSentiment())
    with pytest.raises(ExtractionError, match=r"FailingNER\(\) failed .*CUDA out of memory"):
        content_features([tr], ner=FailingNER(), sentiment=WordSentiment())
    with pytest.raises(ExtractionError, match=r"outside \[0, 1\]"):
        content_features([tr], ner=RecordingNER(), sentiment=OutOfRangeSentiment())


# --------------------------------------------------------------------------- fixture corpus


@pytest.fixture(scope="module")
def fixture_rows() -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    pytest.importorskip("spacy")
    pytest.importorskip("vaderSentiment")
    files = sorted(FIXTURES.glob("*.json"))
    if not files:
        pytest.skip("fixture corpus missing: run `make fixtures`")
    sidecars = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    trs = [Transcript.from_dict(sc["transcript"]) for sc in sidecars]
    try:
        ner = SpacyNER("en_core_web_sm").load()
    except Exception as exc:  # no English pipeline installed
        pytest.skip(f"spaCy pipeline unavailable: {exc}")
    vader = VaderSentiment()
    return (sidecars, content_features(trs, ner=ner, sentiment=vader),
            speaker_sentiment(trs, sentiment=vader))


def _auc(low: np.ndarray, high: np.ndarray) -> float:
    """P(a random 'high' value exceeds a random 'low' one); ties count one half."""
    diff = high[:, None] - low[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def test_fixture_word_counts_match_sidecar(
        fixture_rows: tuple[list[dict], pd.DataFrame, pd.DataFrame]) -> None:
    sidecars, df, _ = fixture_rows
    expected = [sum(sc["ground_truth"]["n_words"].values()) for sc in sidecars]
    assert df.word_count.tolist() == expected
    # every scripted call names at least the agent and the company
    assert (df.entity_count >= 2).all()
    assert (df.entity_count == df[[f"entities_{c}" for c in
                                   ("person", "org", "loc", "misc")]].sum(axis=1)).all()
    assert set(df.sentiment_label) <= {"negative", "neutral", "positive"}
    assert df.sentiment_score.between(0, 1).all()


def test_fixture_angry_customers_score_below_calm_ones(
        fixture_rows: tuple[list[dict], pd.DataFrame, pd.DataFrame]) -> None:
    sidecars, df, sp = fixture_rows
    mood = np.array([sc["ground_truth"]["customer_mood"] for sc in sidecars])
    angry, calm = mood == "angry", mood == "calm"
    assert angry.sum() >= 10 and calm.sum() >= 10
    cust = sp.customer_sentiment.to_numpy()
    end = df.customer_sentiment_end.to_numpy()
    start = df.customer_sentiment_start.to_numpy()
    assert cust[angry].mean() < cust[calm].mean()
    assert start[angry].mean() < start[calm].mean()
    # measured (VADER, 60-call corpus): AUC calm-over-angry 0.82 whole call, 0.85 last third
    assert _auc(cust[angry], cust[calm]) >= 0.7
    assert _auc(end[angry], end[calm]) >= 0.7


# --------------------------------------------------------------------------- transformers


def test_content_features_with_tiny_transformers(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from _tiny_hf import tiny_sequence_classifier, tiny_token_classifier
    from callquality.features.ner import TransformersNER
    from callquality.features.sentiment import TransformersSentiment

    texts = ["Hello, this is Sarah from Harbor Credit Union.",
             "Hi, my card is [CARD] and I am not happy.", "Thanks, that is good."]
    ner = TransformersNER(tiny_token_classifier(tmp_path / "ner", texts), device="cpu")
    sent = TransformersSentiment(tiny_sequence_classifier(tmp_path / "sent", texts),
                                 device="cpu")
    tr = _tr((AGENT, texts[0]), (CUSTOMER, "Hi, my card is 4111 1111 1111 1111 and I am not "
                                           "happy."), (CUSTOMER, texts[2]))
    df = content_features([tr, None], ner=ner, sentiment=sent)
    r = df.iloc[0]
    assert r.word_count == 25
    assert r.entity_count == sum(r[f"entities_{c}"] for c in ("person", "org", "loc", "misc"))
    for c in ("sentiment_score", "customer_sentiment_start", "customer_sentiment_end"):
        assert 0 <= r[c] <= 1
    assert -1 <= r.customer_sentiment_trend <= 1
    assert r.sentiment_label in {"negative", "neutral", "positive"}
    assert df.iloc[1].isna().all()
