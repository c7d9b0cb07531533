"""Sentiment: VADER (offline, real outputs) and transformers classifiers (tiny random models,
real loading and inference path)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from callquality.exceptions import ConfigurationError, ModelUnavailableError
from callquality.features.sentiment import (
    NEGATIVE_AT_MOST,
    POSITIVE_AT_LEAST,
    SentimentModel,
    TransformersSentiment,
    VaderSentiment,
    label_polarities,
    polarity_label,
    sentiment_from_ref,
)

POSITIVE = ["Thank you so much, that was really helpful!",
            "Great, that sounds good, I appreciate it.",
            "Perfect, you have been wonderful today."]
NEUTRAL = ["The package has a blue label.", "I called on Tuesday.", ""]
NEGATIVE = ["This is the worst service I have ever had!",
            "I am really not happy, you are not listening to me at all!",
            "I am angry and frustrated, this is terrible."]


# --------------------------------------------------------------------------- labels


def test_polarity_label_thresholds() -> None:
    assert polarity_label(0.0) == "negative"
    assert polarity_label(NEGATIVE_AT_MOST) == "negative"
    assert polarity_label(0.49) == polarity_label(0.5) == polarity_label(0.51) == "neutral"
    assert polarity_label(POSITIVE_AT_LEAST) == "positive"
    assert polarity_label(1.0) == "positive"
    assert polarity_label(math.nan) is None
    # VADER's customary +-0.05 compound thresholds, in polarity units
    assert (NEGATIVE_AT_MOST, POSITIVE_AT_LEAST) == ((1 - 0.05) / 2, (1 + 0.05) / 2)


@pytest.mark.parametrize("labels,expected", [
    (["Very Negative", "Negative", "Neutral", "Positive", "Very Positive"],
     [0.0, 0.25, 0.5, 0.75, 1.0]),
    (["negative", "neutral", "positive"], [0.0, 0.5, 1.0]),
    (["NEG", "NEU", "POS"], [0.0, 0.5, 1.0]),
    (["NEGATIVE", "POSITIVE"], [0.0, 1.0]),
    (["1 star", "2 stars", "3 stars", "4 stars", "5 stars"], [0.0, 0.25, 0.5, 0.75, 1.0]),
    (["very_negative", "negative", "neutral", "positive", "very-positive"],
     [0.0, 0.25, 0.5, 0.75, 1.0]),
])
def test_label_polarities(labels: list[str], expected: list[float]) -> None:
    assert label_polarities(labels) == dict(zip(labels, expected, strict=True))


@pytest.mark.parametrize("labels", [["LABEL_0", "LABEL_1"], ["neutral"], ["positive", "joy"],
                                    ["positive", "very positive"], []])
def test_label_polarities_refuses_unclear_labels(labels: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="label_values"):
        label_polarities(labels, model="m")


# --------------------------------------------------------------------------- VADER


def test_vader_orders_positive_above_neutral_above_negative() -> None:
    pytest.importorskip("vaderSentiment")
    vader = VaderSentiment()
    p = vader.polarity(POSITIVE + NEUTRAL + NEGATIVE)
    assert p.dtype == np.float64 and p.shape == (9,)
    assert ((p >= 0) & (p <= 1)).all()
    pos, neu, neg = p[:3], p[3:6], p[6:]
    assert pos.min() > neu.max() >= neu.min() > neg.max()
    assert np.allclose(neu, 0.5)  # no sentiment words: VADER compound 0
    assert [polarity_label(x) for x in p] == ["positive"] * 3 + ["neutral"] * 3 + \
        ["negative"] * 3
    assert vader.polarity([]).shape == (0,)
    assert isinstance(vader, SentimentModel)


def test_vader_is_compound_mapped_to_unit_interval() -> None:
    pytest.importorskip("vaderSentiment")
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    text = "The engineer was helpful but the wait was awful."
    expected = (sia.polarity_scores(text)["compound"] + 1) / 2
    assert VaderSentiment().polarity([text])[0] == pytest.approx(expected)
    with pytest.raises(TypeError, match="one str"):
        VaderSentiment().polarity("one text")


def test_sentiment_from_ref(tmp_path: Path) -> None:
    assert isinstance(sentiment_from_ref("vader"), VaderSentiment)
    m = sentiment_from_ref("transformers:tabularisai/multilingual-sentiment-analysis",
                           cache_dir=tmp_path, device="cpu")
    assert isinstance(m, TransformersSentiment)
    with pytest.raises(ConfigurationError):
        sentiment_from_ref("spacy:en_core_web_sm")


# --------------------------------------------------------------------------- transformers

TEXTS = POSITIVE + NEGATIVE + ["Hello, I have a question about my bill."]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("transformers")
    from _tiny_hf import tiny_sequence_classifier

    root = tmp_path_factory.mktemp("tiny-sentiment")
    return {
        "5": tiny_sequence_classifier(root / "five", TEXTS),
        "3": tiny_sequence_classifier(root / "three", TEXTS,
                                      labels=("negative", "neutral", "positive"), seed=1),
        "anon": tiny_sequence_classifier(root / "anon", TEXTS, labels=("LABEL_0", "LABEL_1"),
                                         seed=2),
    }


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)


def _expected_polarity(path: Path, texts: list[str], values: dict[str, float]) -> np.ndarray:
    """Softmax of the model's logits times the class polarities, computed here by hand."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    v = torch.tensor([values[model.config.id2label[i]] for i in range(model.num_labels)],
                     dtype=torch.float64)
    out = []
    for t in texts:  # one at a time: no padding effects
        with torch.no_grad():
            logits = model(**tok(t, return_tensors="pt")).logits[0].double()
        out.append(float(torch.softmax(logits, -1) @ v))
    return np.array(out)


def test_transformers_sentiment_five_classes(tiny_models: dict[str, Path], offline: None) -> None:
    model = TransformersSentiment(tiny_models["5"], device="cpu", batch_size=4).load()
    assert model.class_polarity == {"Very Negative": 0.0, "Negative": 0.25, "Neutral": 0.5,
                                    "Positive": 0.75, "Very Positive": 1.0}
    long_text = " ".join(TEXTS * 10)  # beyond the 64-position window: truncated, not failing
    p = model.polarity([*TEXTS, "", long_text])
    assert p.dtype == np.float64 and p.shape == (len(TEXTS) + 2,)
    assert ((p >= 0) & (p <= 1)).all()
    assert p[len(TEXTS)] == 0.5  # empty text: neutral
    expected = _expected_polarity(tiny_models["5"], TEXTS, model.class_polarity)
    np.testing.assert_allclose(p[:len(TEXTS)], expected, atol=1e-5)
    assert isinstance(model, SentimentModel)


def test_transformers_sentiment_three_classes_and_explicit_values(
        tiny_models: dict[str, Path], offline: None) -> None:
    three = TransformersSentiment(tiny_models["3"], device="cpu")
    assert three.class_polarity == {"negative": 0.0, "neutral": 0.5, "positive": 1.0}
    p3 = three.polarity(TEXTS)
    np.testing.assert_allclose(p3, _expected_polarity(tiny_models["3"], TEXTS,
                                                      three.class_polarity), atol=1e-5)

    with pytest.raises(ConfigurationError, match="label_values"):
        TransformersSentiment(tiny_models["anon"], device="cpu").load()
    with pytest.raises(ConfigurationError, match="missing"):
        TransformersSentiment(tiny_models["anon"], device="cpu",
                              label_values={"LABEL_0": 0.0}).load()
    anon = TransformersSentiment(tiny_models["anon"], device="cpu",
                                 label_values={"LABEL_0": 0.0, "LABEL_1": 1.0})
    p = anon.polarity(TEXTS)
    # two classes at 0 and 1: the polarity is the probability of the positive class
    np.testing.assert_allclose(p, _expected_polarity(tiny_models["anon"], TEXTS,
                                                     {"LABEL_0": 0.0, "LABEL_1": 1.0}),
                               atol=1e-5)


def test_transformers_sentiment_unavailable_offline(tmp_path: Path, offline: None) -> None:
    t0 = time.monotonic()
    with pytest.raises(ModelUnavailableError) as ei:
        TransformersSentiment("tabularisai/multilingual-sentiment-analysis",
                              cache_dir=tmp_path, device="cpu").polarity(["hello"])
    assert time.monotonic() - t0 < 30
    assert "huggingface-cli download tabularisai/multilingual-sentiment-analysis" in \
        str(ei.value)


def test_transformers_sentiment_bad_device(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="device"):
        TransformersSentiment("x/y", device="tpu:0", cache_dir=tmp_path).load()
