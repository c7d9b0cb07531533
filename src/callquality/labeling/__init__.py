"""Outcome labels for calls: the outcome schema, a rule-based labeler and an LLM labeler.

::

    from callquality.labeling import HeuristicLabeler, LLMLabeler, OpenAICompatibleClient

    outcomes = HeuristicLabeler().label(calls)                 # rules, no model
    llm = LLMLabeler(OpenAICompatibleClient("http://localhost:8000/v1", "qwen2.5-7b-instruct"),
                     cache="./label-cache")
    outcomes = llm.label(calls, features=features)
    llm.report_             # labeled / cached / retried / quarantined, tokens, label_errors

Both implement :class:`callquality.protocols.Labeler`. See ``docs/labeling.md``.
"""

from __future__ import annotations

from .cache import CacheEntry, LabelCache, MemoryCache, SQLiteCache, open_cache
from .clients import (
    CallableClient,
    Completion,
    CompletionClient,
    CompletionError,
    CompletionTimeoutError,
    OpenAICompatibleClient,
    SnowflakeAICompleteClient,
)
from .heuristic import HeuristicEvidence, HeuristicLabeler
from .llm import LLMLabeler, RetryPolicy
from .parsing import InvalidAnswerError, parse_judgement
from .prompt import SYSTEM_PROMPT, build_messages, judgement_json_schema, prompt_hash
from .schema import (
    LABEL_ERROR_COLUMNS,
    OUTCOME_COLUMNS,
    CallOutcome,
    LabelingReport,
    OutcomeJudgement,
    high_quality,
)

__all__ = [
    "LABEL_ERROR_COLUMNS",
    "OUTCOME_COLUMNS",
    "SYSTEM_PROMPT",
    "CacheEntry",
    "CallOutcome",
    "CallableClient",
    "Completion",
    "CompletionClient",
    "CompletionError",
    "CompletionTimeoutError",
    "HeuristicEvidence",
    "HeuristicLabeler",
    "InvalidAnswerError",
    "LLMLabeler",
    "LabelCache",
    "LabelingReport",
    "MemoryCache",
    "OpenAICompatibleClient",
    "OutcomeJudgement",
    "RetryPolicy",
    "SQLiteCache",
    "SnowflakeAICompleteClient",
    "build_messages",
    "high_quality",
    "judgement_json_schema",
    "open_cache",
    "parse_judgement",
    "prompt_hash",
]
