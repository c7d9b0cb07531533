"""Schema invariants and the generated documentation tables."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import callquality as cq
from callquality.schema import (
    FEATURES,
    GROUPS,
    embed_feature_table,
    feature_spec,
    feature_table_markdown,
    schema_hash,
)

ROOT = Path(__file__).resolve().parents[1]

# The quickstart's 33 columns, by group, in its order (kept so migrating users keep tables).
QUICKSTART = {
    "acoustic": [
        "speaking_rate_wpm", "speech_rate_variability", "avg_pause_duration_sec",
        "pause_frequency_per_min", "avg_pitch_hz", "pitch_variance", "pitch_range_hz",
        "energy_mean", "energy_variance", "dynamic_range_db", "spectral_centroid",
        "harmonics_to_noise_ratio", "jitter", "shimmer", "zero_crossing_rate", "silence_ratio",
        "speech_to_silence_ratio",
    ],
    "interaction": ["interruption_count", "agent_talk_ratio", "turn_taking_rate",
                    "avg_turn_duration_sec"],
    "emotion": ["avg_emotion_score", "emotion_volatility", "stress_indicators",
                "dominant_emotion"],
    "content": ["word_count", "entity_count", "entities_person", "entities_org", "entities_loc",
                "entities_misc", "sentiment_label", "sentiment_score"],
}


def test_quickstart_groups_exact() -> None:
    for group, names in QUICKSTART.items():
        assert cq.feature_names(group) == names
    assert sum(len(v) for v in QUICKSTART.values()) == 33


def test_extended_group_present_and_last() -> None:
    ext = cq.feature_names("extended")
    assert len(ext) >= 8
    for name in ("agent_talk_time_sec", "customer_talk_time_sec", "overtalk_ratio",
                 "longest_monologue_sec", "long_silence_count", "customer_sentiment_start",
                 "customer_sentiment_end", "customer_sentiment_trend"):
        assert name in ext
    assert cq.feature_names()[-len(ext):] == ext


def test_names_unique_snake_case_and_documented() -> None:
    names = [s.name for s in FEATURES]
    assert len(names) == len(set(names))
    for s in FEATURES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", s.name), s.name
        assert s.group in GROUPS
        assert s.dtype in ("float64", "int64", "string")
        assert s.unit and len(s.description) > 20, s.name
        if s.dtype == "string":
            assert s.valid_range is None and s.unit == "label"
        else:
            lo, hi = s.valid_range  # type: ignore[misc]
            assert lo < hi and not math.isnan(lo) and not math.isnan(hi)
        if s.dtype == "int64":
            assert s.unit == "count" and s.valid_range[0] == 0  # type: ignore[index]


def test_sentiment_score_is_polarity_in_unit_interval() -> None:
    assert feature_spec("sentiment_score").valid_range == (0, 1)


def test_feature_names_groups_and_errors() -> None:
    assert cq.feature_names(("acoustic", "interaction")) == QUICKSTART["acoustic"] + QUICKSTART[
        "interaction"]
    assert cq.feature_names() == [s.name for s in cq.FEATURES]
    with pytest.raises(ValueError, match="unknown group"):
        cq.feature_names("acoustics")
    with pytest.raises(KeyError, match="unknown feature"):
        feature_spec("nope")


def test_in_range() -> None:
    spec = feature_spec("agent_talk_ratio")
    assert spec.in_range(0.5) and spec.in_range(float("nan")) and spec.in_range(None)
    assert not spec.in_range(1.5)
    assert feature_spec("dominant_emotion").in_range("angry")


def test_schema_hash_changes_with_meaning() -> None:
    assert schema_hash() == schema_hash()
    assert schema_hash(["jitter"]) != schema_hash(["shimmer"])
    assert len(schema_hash()) == 16


@pytest.mark.parametrize("doc", ["README.md", "docs/features.md"])
def test_docs_feature_table_is_generated_from_schema(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert embed_feature_table(text) == text, (
        f"{doc} is out of date with callquality.FEATURES: run `python -m callquality.schema`")
    for s in FEATURES:
        assert f"`{s.name}`" in text
    assert feature_table_markdown().count("\n") == len(FEATURES) + 2
