"""Strict parsing of LLM answers and the outcome schema."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from callquality.labeling import (
    OUTCOME_COLUMNS,
    CallOutcome,
    InvalidAnswerError,
    OutcomeJudgement,
    high_quality,
    judgement_json_schema,
    parse_judgement,
)
from callquality.labeling.parsing import strip_code_fence

VALID = {"call_resolved": 1, "customer_satisfaction_score": 4, "resolution_confidence": 0.85,
         "reasoning": "The agent reversed the charge and the customer thanked them."}
VALID_TEXT = json.dumps(VALID)


def _with(**changes: object) -> str:
    d = dict(VALID)
    for k, v in changes.items():
        if v is _DROP:
            d.pop(k)
        else:
            d[k] = v
    return json.dumps(d)


_DROP = object()


@pytest.mark.parametrize("text", [
    VALID_TEXT,
    "  \n" + VALID_TEXT + "\n\n",
    "```json\n" + VALID_TEXT + "\n```",
    "```\n" + VALID_TEXT + "\n```",
    "```JSON\n" + json.dumps(VALID, indent=2) + "\n```\n",
    json.dumps(VALID, indent=2),
    _with(resolution_confidence=1),      # an integer is a valid number
    _with(resolution_confidence=0),
    _with(call_resolved=0, customer_satisfaction_score=1),
])
def test_valid_answers(text: str) -> None:
    j = parse_judgement(text)
    expect = json.loads(strip_code_fence(text))
    assert j.model_dump() == pytest.approx(expect)


# (case, answer text, fragment the error message must contain)
INVALID = [
    ("prose before", "Here is my assessment: " + VALID_TEXT, "text before the JSON object"),
    ("prose after", VALID_TEXT + "\nI hope this helps!", "text after the JSON object"),
    ("two objects", VALID_TEXT + VALID_TEXT, "text after the JSON object"),
    ("fence with prose", "Sure!\n```json\n" + VALID_TEXT + "\n```", "text before the JSON"),
    ("unclosed fence", "```json\n" + VALID_TEXT, "text before the JSON object"),
    ("malformed", '{"call_resolved": 1, "customer_satisfaction_score": 4,', "not valid JSON"),
    ("single quotes", VALID_TEXT.replace('"', "'"), "not valid JSON"),
    ("trailing comma", VALID_TEXT[:-1] + ",}", "not valid JSON"),
    ("plain prose", "The call was resolved and the customer was happy.",
     "text instead of a JSON object"),
    ("empty", "", "empty"),
    ("whitespace", "   \n ", "empty"),
    ("array", json.dumps([VALID]), "expected a JSON object, got a JSON array"),
    ("string", json.dumps("resolved"), "expected a JSON object"),
    ("number", "4", "expected a JSON object"),
    ("null", "null", "expected a JSON object, got null"),
    ("NaN", _with(resolution_confidence=0.5).replace("0.5", "NaN"), "NaN is not a valid"),
    ("Infinity", _with(resolution_confidence=0.5).replace("0.5", "Infinity"), "Infinity"),
    ("huge exponent", _with(resolution_confidence=0.5).replace("0.5", "1e999"),
     "resolution_confidence: Input should be a finite number"),
    ("duplicate key", VALID_TEXT[:-1] + ', "call_resolved": 0}', "duplicate key 'call_resolved'"),
    ("satisfaction too high", _with(customer_satisfaction_score=7),
     "customer_satisfaction_score: Input should be less than or equal to 5 (got int 7)"),
    ("satisfaction zero", _with(customer_satisfaction_score=0),
     "customer_satisfaction_score: Input should be greater than or equal to 1"),
    ("resolved 2", _with(call_resolved=2), "call_resolved: Input should be less than or equal to 1"),
    ("resolved -1", _with(call_resolved=-1), "call_resolved: Input should be greater than"),
    ("confidence > 1", _with(resolution_confidence=1.5),
     "resolution_confidence: Input should be less than or equal to 1"),
    ("confidence < 0", _with(resolution_confidence=-0.1), "resolution_confidence"),
    ("satisfaction as string", _with(customer_satisfaction_score="4"),
     "customer_satisfaction_score: Input should be a valid integer (got the string '4')"),
    ("satisfaction as float", _with(customer_satisfaction_score=4.0),
     "customer_satisfaction_score: Input should be a valid integer (got float 4.0)"),
    ("satisfaction fractional", _with(customer_satisfaction_score=3.5),
     "customer_satisfaction_score"),
    ("resolved as bool", _with(call_resolved=True), "call_resolved: must be the integer 0 or 1, "
                                                    "not a boolean"),
    ("resolved as string", _with(call_resolved="yes"), "call_resolved: must be the integer 0 or 1"),
    ("resolved as float", _with(call_resolved=1.0), "call_resolved: must be the integer 0 or 1 "
                                                    "(got float 1.0)"),
    ("confidence as string", _with(resolution_confidence="high"), "resolution_confidence"),
    ("reasoning as number", _with(reasoning=5), "reasoning: Input should be a valid string"),
    ("reasoning blank", _with(reasoning="   "), "reasoning: must not be blank"),
    ("reasoning empty", _with(reasoning=""), "reasoning"),
    ("null value", _with(customer_satisfaction_score=None), "customer_satisfaction_score"),
    ("missing field", _with(reasoning=_DROP), "missing key 'reasoning'"),
    ("missing two", _with(reasoning=_DROP, call_resolved=_DROP), "missing key 'call_resolved'"),
    ("extra field", _with(call_id="call_0001"), "unexpected key 'call_id'"),
    ("nested wrapper", json.dumps({"outcome": VALID}), "unexpected key 'outcome'"),
    ("deep nesting", "[" * 15_000, "not valid JSON"),
    ("huge answer", " " * 10 + "x" * 30_000, "characters long"),
]


@pytest.mark.parametrize("case,text,fragment", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_answers_raise_with_reason(case: str, text: str, fragment: str) -> None:
    with pytest.raises(InvalidAnswerError) as info:
        parse_judgement(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)  # one line: it goes into a follow-up message


def test_none_is_invalid() -> None:
    with pytest.raises(InvalidAnswerError, match="empty"):
        parse_judgement(None)


def test_judgement_model_is_strict_and_frozen() -> None:
    j = OutcomeJudgement(**VALID)
    with pytest.raises(ValidationError):
        j.call_resolved = 0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        OutcomeJudgement(**{**VALID, "customer_satisfaction_score": "4"})


@pytest.mark.parametrize("resolved,sat,minimum,expected", [
    (1, 4, 4, 1), (1, 5, 4, 1), (1, 3, 4, 0), (0, 5, 4, 0), (1, 3, 3, 1), (1, 4, 5, 0)])
def test_high_quality(resolved: int, sat: int, minimum: int, expected: int) -> None:
    assert high_quality(resolved, sat, min_satisfaction=minimum) == expected
    out = CallOutcome.from_judgement(
        "c1", OutcomeJudgement(call_resolved=resolved, customer_satisfaction_score=sat,
                               resolution_confidence=0.9, reasoning="r"),
        labeler="t", labeler_version="0", min_satisfaction=minimum)
    assert out.high_quality_call == expected


def test_outcome_columns_and_utc() -> None:
    assert OUTCOME_COLUMNS == (
        "call_id", "call_resolved", "customer_satisfaction_score", "resolution_confidence",
        "high_quality_call", "reasoning", "labeler", "labeler_version", "model", "prompt_hash",
        "labeled_at")
    out = CallOutcome.from_judgement("c1", OutcomeJudgement(**VALID), labeler="t",
                                     labeler_version="0", labeled_at=datetime(2024, 1, 1))
    assert out.labeled_at.tzinfo == timezone.utc


def test_json_schema_matches_the_model() -> None:
    schema = judgement_json_schema()
    assert set(schema["required"]) == set(OutcomeJudgement.model_fields)
    assert schema["additionalProperties"] is False
