"""Coaching rules on constructed feature rows; model-driven explanations; a real store."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.coaching import (
    DEFAULT_RULES,
    CallPrediction,
    CoachingEngine,
    CoachingThresholds,
    Rule,
    coach_calls,
    describe_feature,
    suggestions_table,
)
from callquality.exceptions import ConfigurationError

#: A call where nothing needs attention (every rule can read its features).
GOOD: dict[str, Any] = {
    "call_id": "good", "stress_indicators": 0.1, "customer_sentiment_end": 0.8,
    "customer_sentiment_trend": 0.1, "customer_interruption_count": 0,
    "dominant_emotion": "neutral", "agent_speaking_rate_wpm": 150.0,
    "agent_interruption_count": 0, "interruption_count": 1, "agent_talk_ratio": 0.5,
    "longest_monologue_sec": 20.0, "avg_pause_duration_sec": 0.6, "long_silence_count": 0,
    "sentiment_score": 0.7,
}
LOW = CallPrediction(score=0.1, predicted_class=0, threshold=0.5, label="high_quality_call")
HIGH = CallPrediction(score=0.9, predicted_class=1, threshold=0.5, label="high_quality_call")


def rules_fired(report: Any) -> list[str]:
    return [s.rule for s in report.suggestions]


def test_a_good_call_gets_positive_reinforcement_only() -> None:
    report = CoachingEngine().coach(GOOD, prediction=HIGH)
    assert rules_fired(report) == ["positive_reinforcement"]
    (card,) = report.suggestions
    assert card.priority == "positive" and "90% confidence" in card.message
    assert "balanced talk time (50% agent)" in card.message
    assert report.skipped == ()


@pytest.mark.parametrize("change, rule, priority", [
    ({"stress_indicators": 0.75}, "stress", "high"),
    ({"customer_sentiment_end": 0.2}, "negative_customer_sentiment", "high"),
    ({"customer_sentiment_trend": -0.5, "dominant_emotion": "angry"}, "escalation_risk",
     "high"),
    ({"agent_speaking_rate_wpm": 200.0}, "speaking_pace", "medium"),
    ({"agent_speaking_rate_wpm": 90.0}, "speaking_pace", "medium"),
    ({"agent_interruption_count": 4}, "interruptions", "medium"),
    ({"agent_talk_ratio": 0.8}, "talk_ratio", "medium"),
    ({"agent_talk_ratio": 0.2}, "talk_ratio", "medium"),
    ({"longest_monologue_sec": 95.0}, "long_monologue", "medium"),
    ({"avg_pause_duration_sec": 3.5}, "long_pauses", "medium"),
    ({"long_silence_count": 3}, "long_pauses", "medium"),
])
def test_each_rule_fires_on_its_feature(change: dict[str, Any], rule: str,
                                        priority: str) -> None:
    report = CoachingEngine().coach({**GOOD, **change})
    assert rules_fired(report) == [rule]
    (card,) = report.suggestions
    assert card.priority == priority
    assert set(change) <= set(card.evidence)
    assert "positive_reinforcement" not in rules_fired(report)


@pytest.mark.parametrize("score, klass, threshold, confidence", [
    (0.9, 1, 0.5, 0.9), (0.1, 0, 0.5, 0.9), (0.5, 1, 0.5, 0.5),
    (0.453, 1, 0.326, 0.5 + 0.5 * (0.453 - 0.326) / 0.674), (0.0, 0, 0.326, 1.0),
    (1.0, 1, 0.326, 1.0),
])
def test_confidence_is_recentred_on_the_threshold(score: float, klass: int, threshold: float,
                                                  confidence: float) -> None:
    assert CallPrediction(score, klass, threshold).confidence == pytest.approx(confidence)


def test_priorities_are_ordered_and_drivers_first() -> None:
    row = {**GOOD, "agent_talk_ratio": 0.85, "agent_interruption_count": 6,
           "stress_indicators": 0.9, "customer_sentiment_end": 0.1}
    contributions = {"agent_interruption_count": -1.5, "customer_sentiment_end": -0.9,
                     "agent_talk_ratio": -0.1, "stress_indicators": 0.05, "bias": -1.0}
    report = CoachingEngine().coach(row, prediction=LOW, contributions=contributions)
    assert [s.priority for s in report.suggestions] == ["high", "high", "medium", "medium"]
    # within a priority, the rules about the prediction's drivers come first
    assert rules_fired(report) == ["negative_customer_sentiment", "stress", "interruptions",
                                   "talk_ratio"]
    assert [s.driver for s in report.suggestions] == [True, False, True, True]


def test_explanation_names_the_top_contributing_features() -> None:
    row = {**GOOD, "interruption_count": 7, "customer_sentiment_trend": -0.25}
    contributions = pd.Series({"interruption_count": -1.2, "customer_sentiment_trend": -0.8,
                               "agent_talk_ratio": 0.3, "jitter": -0.01, "bias": -3.0})
    report = CoachingEngine().coach(row, prediction=LOW, contributions=contributions)
    assert report.explanation == ("low quality because: interruptions, falling customer "
                                  "sentiment, jitter")
    assert [d.feature for d in report.drivers] == ["interruption_count",
                                                   "customer_sentiment_trend", "jitter"]
    # no rule covers these drivers (agent interruptions are fine, the trend is above -0.3):
    # the model's reasons become a card of their own
    (card,) = report.suggestions
    assert card.rule == "model_drivers" and card.priority == "medium" and card.driver
    assert "interruptions, falling customer sentiment" in card.message
    high = CoachingEngine(CoachingThresholds(top_drivers=1)).coach(
        row, prediction=HIGH, contributions=contributions)
    assert high.explanation == "high quality because: balanced talk time"
    assert rules_fired(high) == ["positive_reinforcement"]


def test_a_model_predicting_the_bad_outcome() -> None:
    engine = CoachingEngine(positive_is_good=False, good_name="no escalation",
                            bad_name="escalation")
    escalated = CallPrediction(0.8, 1, 0.5, label="escalated")
    report = engine.coach(GOOD, prediction=escalated,
                          contributions={"agent_talk_ratio": 0.9, "bias": 0.0})
    assert report.explanation is not None
    assert report.explanation.startswith("escalation because: ")
    assert "positive_reinforcement" not in rules_fired(report)
    assert rules_fired(report) == ["model_drivers"]


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NA, "absent"])
def test_absent_emotion_and_content_features_skip_their_rules(missing: Any) -> None:
    emotion_content = ["stress_indicators", "customer_sentiment_end", "sentiment_score",
                       "customer_sentiment_trend", "customer_interruption_count",
                       "dominant_emotion"]
    row = dict(GOOD)
    for f in emotion_content:
        if isinstance(missing, str):
            del row[f]
        else:
            row[f] = missing
    row["agent_talk_ratio"] = 0.9
    report = CoachingEngine().coach(row)
    assert report.skipped == ("stress", "negative_customer_sentiment", "escalation_risk")
    assert rules_fired(report) == ["talk_ratio"]


def test_escalation_needs_enough_signals_and_counts_the_prediction() -> None:
    one = {**GOOD, "customer_sentiment_trend": -0.6}
    assert "escalation_risk" not in rules_fired(CoachingEngine().coach(one))
    report = CoachingEngine().coach(one, prediction=LOW)
    (card,) = [s for s in report.suggestions if s.rule == "escalation_risk"]
    assert "fell by 0.60" in card.message and "10% chance" in card.message
    lenient = CoachingEngine({"escalation_min_signals": 1})
    assert "escalation_risk" in rules_fired(lenient.coach(one))


def test_thresholds_are_configurable_and_validated() -> None:
    row = {**GOOD, "stress_indicators": 0.5}
    assert "stress" not in rules_fired(CoachingEngine().coach(row))
    assert "stress" in rules_fired(CoachingEngine(CoachingThresholds(stress_high=0.45)
                                                  ).coach(row))
    assert CoachingThresholds.from_mapping({"talk_ratio_high": 0.7}).talk_ratio_high == 0.7
    with pytest.raises(ConfigurationError, match=r"unknown threshold.*stres_high"):
        CoachingThresholds.from_mapping({"stres_high": 0.5})
    with pytest.raises(ConfigurationError, match="talk_ratio_low"):
        CoachingThresholds(talk_ratio_low=0.8)
    with pytest.raises(ConfigurationError, match="stress_high"):
        CoachingThresholds(stress_high=float("nan"))


def test_custom_rules() -> None:
    def overtalk(row: Any, t: Any, p: Any) -> Any:
        from callquality.coaching import Finding

        x = row.num("overtalk_ratio")
        return Finding("Overtalk", f"overtalk {x:.0%}", {"overtalk_ratio": x}) \
            if x is not None and x > 0.1 else None

    engine = CoachingEngine(rules=[*DEFAULT_RULES, Rule("overtalk", "medium",
                                                        ("overtalk_ratio",), overtalk)])
    assert rules_fired(engine.coach({**GOOD, "overtalk_ratio": 0.2})) == ["overtalk"]
    with pytest.raises(ConfigurationError, match="duplicate"):
        CoachingEngine(rules=[*DEFAULT_RULES, DEFAULT_RULES[0]])


def test_no_features_no_coaching() -> None:
    report = CoachingEngine().coach({"call_id": "x"})
    assert report.suggestions == () and len(report.skipped) == len(DEFAULT_RULES)
    assert report.call_id == "x"


@pytest.mark.parametrize("name, value, phrase", [
    ("customer_sentiment_trend", -0.3, "falling customer sentiment"),
    ("customer_sentiment_trend", 0.3, "rising customer sentiment"),
    ("interruption_count", 4, "interruptions"),
    ("dominant_emotion", "angry", "angry emotion"),
    ("agent_talk_time_sec", 100.0, "agent talk time"),
    ("jitter", 0.01, "jitter"),
    ("agent_talk_ratio", 0.8, "agent talking most of the time"),
    ("agent_talk_ratio", 0.5, "balanced talk time"),
])
def test_describe_feature(name: str, value: Any, phrase: str) -> None:
    assert describe_feature(name, value) == phrase


def test_coach_calls_on_a_store_with_the_production_model(tmp_path: Any) -> None:
    from _cq_store import CALM, STRESSED, build_store, expected_scores

    info = build_store(tmp_path / "store", n_calls=120)
    with cq.connect("local", path=info.path) as backend:
        reports = coach_calls(backend, [STRESSED, CALM, "unknown-call"])
    stressed, calm, unknown = reports
    rows = info.features.set_index("call_id").loc[[STRESSED, CALM]].reset_index()
    want = expected_scores(info.path, rows)
    assert stressed.prediction is not None and calm.prediction is not None
    assert stressed.prediction.score == pytest.approx(want[0], rel=1e-6)
    assert calm.prediction.score == pytest.approx(want[1], rel=1e-6)
    assert stressed.prediction.model_version == info.version
    assert {s.rule for s in stressed.by_priority("high")} == {
        "stress", "negative_customer_sentiment", "escalation_risk"}
    assert {"interruptions", "talk_ratio", "speaking_pace"} <= set(rules_fired(stressed))
    sign = 1 if stressed.prediction.predicted_class == 1 else -1
    assert stressed.drivers and all(d.contribution * sign > 0 for d in stressed.drivers)
    assert stressed.explanation is not None and " because: " in stressed.explanation
    assert not calm.by_priority("high")
    assert unknown.prediction is None and unknown.suggestions == ()
    table = suggestions_table(reports)
    assert set(table["call_id"]) <= {STRESSED, CALM}
    assert list(table.columns) == ["call_id", "priority", "rule", "title", "message", "driver",
                                   "explanation"]
