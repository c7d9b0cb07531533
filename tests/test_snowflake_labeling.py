"""Labeling with Snowflake ``AI_COMPLETE``: the LLM labeler's strict parser, repair and
quarantine apply unchanged; ``AI_COMPLETE`` gets the outcome JSON schema as
``response_format`` (checked on the SQL Snowpark generates) and its failures are classified
for the labeler's retry logic. ``ai_complete`` runs under ``snowflake.snowpark.mock.patch`` on
a local-testing session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest.mock import create_autospec

import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.snowpark import Session
from snowflake.snowpark import functions as F
from snowflake.snowpark._internal.analyzer.analyzer import Analyzer
from snowflake.snowpark.exceptions import SnowparkSQLException
from snowflake.snowpark.mock import ColumnEmulator, ColumnType, patch
from snowflake.snowpark.types import StringType

from callquality.exceptions import ConfigurationError
from callquality.labeling import LLMLabeler, RetryPolicy
from callquality.labeling.clients import (
    CompletionError,
    CompletionTimeoutError,
    SnowflakeAICompleteClient,
)
from callquality.labeling.prompt import judgement_json_schema
from test_snowflake_support import local_session

GOOD = {"call_resolved": 1, "customer_satisfaction_score": 4, "resolution_confidence": 0.9,
        "reasoning": "The agent reset the password and the customer thanked them."}
CALLS = pd.DataFrame({"call_id": ["c1", "c2"], "transcript": [
    "Agent: Hello, how can I help?\nCustomer: I cannot log in.\nAgent: I reset it.\n"
    "Customer: Thanks, it works now.",
    "Agent: Hi.\nCustomer: My bill is wrong again!\nAgent: I will escalate it."]})


class _Cortex:
    """Answers queued per call of AI_COMPLETE, and what each call received."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.calls: list[dict[str, Any]] = []

    def __call__(self, model: Any, prompt: Any, file: Any = None,
                 model_parameters: Any = None, response_format: Any = None,
                 show_details: Any = None, return_error_details: Any = None,
                 **kw: Any) -> ColumnEmulator:
        self.calls.append({"model": model, "prompt": list(prompt),
                           "model_parameters": model_parameters,
                           "response_format": response_format, "show_details": show_details})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        out = ColumnEmulator(data=[answer] * len(prompt))
        out.sf_type = ColumnType(StringType(), True)
        return out


@pytest.fixture
def cortex() -> Iterator[_Cortex]:
    """``snowflake.snowpark.mock.patch(F.ai_complete)`` with a :class:`_Cortex`, undone
    after the test."""
    from snowflake.snowpark.mock._functions import MockedFunctionRegistry

    fake = _Cortex()
    patch(F.ai_complete)(fake)
    try:
        yield fake
    finally:
        MockedFunctionRegistry.get_or_create().unregister(F.ai_complete)


def _details(answer: Any, tokens: int = 30) -> str:
    """AI_COMPLETE's value with show_details => TRUE (structured output as an object)."""
    return json.dumps({"choices": [{"messages": answer}], "created": 1, "model": "m",
                       "usage": {"prompt_tokens": tokens, "completion_tokens": 12,
                                 "total_tokens": tokens + 12}})


def _labeler(client: SnowflakeAICompleteClient, **kw: Any) -> LLMLabeler:
    return LLMLabeler(client, cache=False, max_concurrency=1, progress=False,
                      retry=RetryPolicy(max_attempts=3, sleep=lambda s: None), **kw)


def test_structured_answers_are_labeled_with_the_schema_as_response_format(
        cortex: _Cortex) -> None:
    client = SnowflakeAICompleteClient(local_session(), "claude-sonnet-4-5", max_tokens=512)
    cortex.answers = [_details(GOOD), _details(dict(GOOD, call_resolved=0))]
    labeler = _labeler(client)
    out = labeler.label(CALLS)
    assert list(out["call_id"]) == ["c1", "c2"] and list(out["call_resolved"]) == [1, 0]
    call = cortex.calls[0]
    assert call["model"] == "claude-sonnet-4-5" and call["show_details"] is True
    assert call["response_format"] == {"type": "json", "schema": judgement_json_schema()}
    assert call["model_parameters"] == {"temperature": 0.0, "max_tokens": 512}
    assert "I cannot log in." in call["prompt"][0]
    assert labeler.report_.prompt_tokens == 60 and labeler.report_.total_tokens == 84


def test_invalid_answers_are_followed_up_then_quarantined(cortex: _Cortex) -> None:
    client = SnowflakeAICompleteClient(local_session(), "llama3.1-70b")
    wrong = dict(GOOD, customer_satisfaction_score="4")  # a string: the parser refuses it
    cortex.answers = [_details(wrong), _details(GOOD),  # c1: repaired on the follow-up
                      _details(wrong), _details(wrong), _details(wrong)]  # c2: never valid
    labeler = _labeler(client, max_repairs=2)
    out = labeler.label(CALLS)
    assert list(out["call_id"]) == ["c1"]
    errors = labeler.report_.errors
    assert list(errors["call_id"]) == ["c2"] and errors["stage"].iloc[0] == "validation"
    assert "customer_satisfaction_score" in errors["reason"].iloc[0]
    assert json.loads(errors["raw_response"].iloc[0]) == wrong
    follow_up = cortex.calls[1]["prompt"][0]
    assert "[assistant]" in follow_up and "customer_satisfaction_score" in follow_up


def test_the_generated_sql_carries_the_response_format() -> None:
    session = local_session()
    column = F.ai_complete("claude-sonnet-4-5", F.col("PROMPT"),
                           model_parameters={"temperature": 0.0},
                           response_format={"type": "json", "schema": judgement_json_schema()},
                           show_details=True)
    sql = Analyzer(session).analyze(column._expression, {})
    assert sql.startswith("ai_complete(model => 'claude-sonnet-4-5', prompt => \"PROMPT\"")
    assert "response_format => {'type': 'json', 'schema': {'type': 'object'" in sql
    assert "'additionalProperties': false" in sql and "show_details => TRUE" in sql


def _failing_session(error: Exception) -> Any:
    """An autospecced Session whose query raises ``error`` (the local-testing emulator wraps
    exceptions raised inside mocked functions, so failures are injected here instead)."""
    session = create_autospec(Session, instance=True)
    session.create_dataframe.return_value.select.return_value.collect.side_effect = error
    return session


@pytest.mark.parametrize(("error", "kind"), [
    (SnowparkSQLException("Statement reached its statement or warehouse timeout of 30 "
                          "second(s) and was canceled.", sql_error_code=630), "timeout"),
    (SnowparkSQLException("Request failed for external function COMPLETE: 429 Too Many "
                          "Requests", sql_error_code=100351), "retryable"),
    (SnowparkSQLException("unknown model \"gpt-99\"", sql_error_code=100351), "fatal"),
    (SnowparkSQLException("Insufficient privileges to operate on function AI_COMPLETE",
                          sql_error_code=3001), "fatal"),
    (SnowparkSQLException("503 Service Unavailable", sql_error_code=100351), "retryable"),
    (SnowparkSQLException("Invalid argument types for function", sql_error_code=1044), "plain"),
])
def test_snowflake_errors_are_classified_for_the_labeler(error: Exception, kind: str) -> None:
    session = _failing_session(error)
    client = SnowflakeAICompleteClient(session, "llama3.1-70b")
    with pytest.raises(CompletionError) as info:
        client.complete([{"role": "user", "content": "hi"}], response_schema={"type": "object"},
                        timeout=29.5)
    session.create_dataframe.return_value.select.return_value.collect.assert_called_once_with(
        statement_params={"STATEMENT_TIMEOUT_IN_SECONDS": 30})
    err = info.value
    assert isinstance(err, CompletionTimeoutError) is (kind == "timeout")
    assert err.retryable is (kind in ("timeout", "retryable"))
    assert err.fatal is (kind == "fatal")


def test_a_fatal_error_stops_the_batch() -> None:
    session = _failing_session(SnowparkSQLException("unknown model", sql_error_code=100351))
    labeler = _labeler(SnowflakeAICompleteClient(session, "llama3.1-70b"))
    assert labeler.label(CALLS).empty
    assert session.create_dataframe.call_count == 1  # c2 was not sent
    assert list(labeler.report_.errors["stage"]) == ["request", "request"]


def test_plain_answers_and_constructor_checks(cortex: _Cortex) -> None:
    session = local_session()
    cortex.answers = [json.dumps({"choices": [{"messages": "```json\n" + json.dumps(GOOD)
                                               + "\n```"}]})]
    client = SnowflakeAICompleteClient(session, "mistral-large2", use_response_format=False)
    answer = client.complete([{"role": "user", "content": "x"}],
                             response_schema=judgement_json_schema())
    assert answer.text is not None and answer.text.startswith("```json")
    assert cortex.calls[0]["response_format"] is None
    with pytest.raises(ConfigurationError, match="Session"):
        SnowflakeAICompleteClient(object(), "mistral-large2")
    with pytest.raises(ConfigurationError, match="model"):
        SnowflakeAICompleteClient(session, "m'; DROP TABLE x; --")
    with pytest.raises(ConfigurationError, match="max_tokens"):
        SnowflakeAICompleteClient(session, "m", max_tokens=100_000)
