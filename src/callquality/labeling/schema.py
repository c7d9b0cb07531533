"""The outcome schema: what a labeler says about a call, and what it could not label.

Two pydantic models:

* :class:`OutcomeJudgement` — the judgement itself (resolved, satisfaction, confidence,
  reasoning). It is exactly the JSON object an LLM must answer with, validated strictly: no
  extra keys, no missing keys, no type coercion (``"4"`` is not 4, ``true`` is not 1, ``4.0``
  is not 4), values in range.
* :class:`CallOutcome` — one row of the outcomes table: the judgement plus the call id,
  provenance (labeler name and version, model, prompt hash, time) and the derived
  ``high_quality_call``.

Tables: :data:`OUTCOME_COLUMNS` (``labeler.label(...)`` returns them) and
:data:`LABEL_ERROR_COLUMNS` (the ``label_errors`` table of quarantined calls, in
:attr:`LabelingReport.errors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_HIGH_QUALITY_MIN_SATISFACTION",
    "LABEL_ERROR_COLUMNS",
    "LOG_COLUMNS",
    "OUTCOME_COLUMNS",
    "CallOutcome",
    "LabelingReport",
    "OutcomeJudgement",
    "high_quality",
    "outcomes_frame",
]

#: ``high_quality_call`` is 1 when the call is resolved and satisfaction is at least this.
DEFAULT_HIGH_QUALITY_MIN_SATISFACTION = 4
#: Longest accepted ``reasoning`` (characters).
MAX_REASONING_CHARS = 2000


class OutcomeJudgement(BaseModel):
    """A labeler's judgement of one call (the JSON object an LLM answers with).

    Attributes:
        call_resolved: 1 if the customer's issue was settled in this call, else 0.
        customer_satisfaction_score: the customer's satisfaction at the end, 1 (very
            dissatisfied) to 5 (very satisfied).
        resolution_confidence: confidence in ``call_resolved``, in [0, 1].
        reasoning: a short justification (1 to 2000 characters).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    call_resolved: int = Field(ge=0, le=1)
    customer_satisfaction_score: int = Field(ge=1, le=5)
    resolution_confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    reasoning: str = Field(min_length=1, max_length=MAX_REASONING_CHARS)

    @field_validator("call_resolved", mode="before")
    @classmethod
    def _exact_int(cls, v: Any) -> Any:
        # a clearer message than pydantic's for true/false and 1.0
        if isinstance(v, bool):
            raise ValueError("must be the integer 0 or 1, not a boolean")
        if not isinstance(v, int):
            raise ValueError("must be the integer 0 or 1")
        return v

    @field_validator("reasoning")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


def high_quality(call_resolved: int, customer_satisfaction_score: int, *,
                 min_satisfaction: int = DEFAULT_HIGH_QUALITY_MIN_SATISFACTION) -> int:
    """``1`` when the call was resolved and satisfaction >= ``min_satisfaction``, else ``0``."""
    return int(call_resolved == 1 and customer_satisfaction_score >= min_satisfaction)


class CallOutcome(BaseModel):
    """One row of the outcomes table.

    Attributes:
        call_id: the call.
        call_resolved, customer_satisfaction_score, resolution_confidence, reasoning: the
            judgement (see :class:`OutcomeJudgement`).
        high_quality_call: derived: resolved and satisfaction >= the labeler's
            ``high_quality_min_satisfaction`` (default 4).
        labeler: labeler name (``"heuristic"``, ``"llm"``).
        labeler_version: version of the labeler's rules or prompt.
        model: the LLM that answered (``None`` for rule-based labels).
        prompt_hash: SHA-256 of the exact request (``None`` for rule-based labels).
        labeled_at: when the label was produced (UTC; a cached label keeps its original time).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str = Field(min_length=1)
    call_resolved: int = Field(ge=0, le=1)
    customer_satisfaction_score: int = Field(ge=1, le=5)
    resolution_confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    high_quality_call: int = Field(ge=0, le=1)
    reasoning: str = Field(min_length=1, max_length=MAX_REASONING_CHARS)
    labeler: str
    labeler_version: str
    model: str | None = None
    prompt_hash: str | None = None
    labeled_at: datetime

    @field_validator("labeled_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)

    @classmethod
    def from_judgement(cls, call_id: str, j: OutcomeJudgement, *, labeler: str,
                       labeler_version: str, model: str | None = None,
                       prompt_hash: str | None = None, labeled_at: datetime | None = None,
                       min_satisfaction: int = DEFAULT_HIGH_QUALITY_MIN_SATISFACTION
                       ) -> CallOutcome:
        return cls(
            call_id=call_id, call_resolved=j.call_resolved,
            customer_satisfaction_score=j.customer_satisfaction_score,
            resolution_confidence=j.resolution_confidence,
            high_quality_call=high_quality(j.call_resolved, j.customer_satisfaction_score,
                                           min_satisfaction=min_satisfaction),
            reasoning=j.reasoning, labeler=labeler, labeler_version=labeler_version,
            model=model, prompt_hash=prompt_hash,
            labeled_at=labeled_at or datetime.now(timezone.utc))


#: Columns of the outcomes table, in order.
OUTCOME_COLUMNS: tuple[str, ...] = tuple(CallOutcome.model_fields)

_OUTCOME_DTYPES: dict[str, str] = {
    "call_id": "string", "call_resolved": "int64", "customer_satisfaction_score": "int64",
    "resolution_confidence": "float64", "high_quality_call": "int64", "reasoning": "string",
    "labeler": "string", "labeler_version": "string", "model": "string",
    "prompt_hash": "string", "labeled_at": "datetime64[ns, UTC]",
}

#: Columns of the ``label_errors`` table (one row per quarantined call).
LABEL_ERROR_COLUMNS: tuple[str, ...] = (
    "call_id", "labeler", "labeler_version", "model", "prompt_hash", "stage", "reason",
    "raw_response", "attempts", "errored_at",
)

#: Columns of :attr:`LabelingReport.log` (one row per input call).
LOG_COLUMNS: tuple[str, ...] = (
    "call_id", "status", "requests", "transport_retries", "repair_attempts",
    "prompt_tokens", "completion_tokens", "total_tokens", "seconds",
)


def outcomes_frame(rows: list[CallOutcome]) -> pd.DataFrame:
    """The outcomes table of ``rows`` with :data:`OUTCOME_COLUMNS` and fixed dtypes."""
    data: dict[str, list[Any]] = {c: [getattr(r, c) for r in rows] for c in OUTCOME_COLUMNS}
    df = pd.DataFrame(data, columns=list(OUTCOME_COLUMNS))
    return df.astype(_OUTCOME_DTYPES)


def _errors_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(LABEL_ERROR_COLUMNS))
    return df.astype({"attempts": "int64", "errored_at": "datetime64[ns, UTC]"})


def _log_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
    ints = ("requests", "transport_retries", "repair_attempts", "prompt_tokens",
            "completion_tokens", "total_tokens")
    return df.astype({**{c: "int64" for c in ints}, "seconds": "float64"})


@dataclass
class LabelingReport:
    """What one ``label()`` batch did. Counts always add up:
    ``n_input == labeled + quarantined`` and ``cached <= labeled``.

    Attributes:
        labeler, labeler_version, model: who labeled.
        n_input: calls given.
        labeled: calls with a valid outcome (including those served from the cache).
        cached: outcomes served from the cache (no request).
        retried: calls that needed more than one request (a transport retry or a repair
            follow-up), whatever their final status.
        quarantined: calls without a valid outcome; one row each in :attr:`errors`.
        requests: completion requests sent (all attempts).
        transport_retries: requests repeated after a timeout, 429 or 5xx.
        repair_attempts: follow-up requests that quoted a validation error.
        prompt_tokens, completion_tokens, total_tokens: summed from the responses' ``usage``.
        requests_without_usage: responses that reported no token usage.
        seconds: wall time of the batch.
        errors: the ``label_errors`` table (:data:`LABEL_ERROR_COLUMNS`): call id, stage
            (``input``: unusable input; ``request``: the endpoint failed; ``validation``: the
            answers stayed invalid; ``rules``: the heuristic found nothing to decide from),
            reason, the raw response, requests sent.
        log: one row per call (:data:`LOG_COLUMNS`): status (``labeled``, ``cached``,
            ``quarantined``), requests, retries, tokens, seconds.
    """

    labeler: str
    labeler_version: str
    model: str | None = None
    n_input: int = 0
    labeled: int = 0
    cached: int = 0
    retried: int = 0
    quarantined: int = 0
    requests: int = 0
    transport_retries: int = 0
    repair_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    requests_without_usage: int = 0
    seconds: float = 0.0
    errors: pd.DataFrame = field(default_factory=lambda: _errors_frame([]))
    log: pd.DataFrame = field(default_factory=lambda: _log_frame([]))

    def counts(self) -> dict[str, Any]:
        """The scalar fields as a plain dict (what ``df.attrs["labeling"]`` holds)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, pd.DataFrame):
                continue
            out[k] = round(v, 3) if isinstance(v, float) and math.isfinite(v) else v
        return out

    def __str__(self) -> str:
        s = (f"{self.labeler} {self.labeler_version}: {self.n_input} calls, "
             f"{self.labeled} labeled ({self.cached} cached), {self.retried} retried, "
             f"{self.quarantined} quarantined")
        if self.requests:
            s += f"; {self.requests} requests, {self.total_tokens} tokens"
        return s + f" in {self.seconds:.1f} s"
