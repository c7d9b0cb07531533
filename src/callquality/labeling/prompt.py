"""The labeling prompt: instructions, acoustic context and the redacted transcript.

Every piece of call text passes through :func:`callquality.redaction.redact` before it is put
in a message, and the finished user message is redacted once more, so card numbers, SSNs,
phone numbers and e-mail addresses never leave the process. The call id is not sent.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..calls import AGENT, CUSTOMER, Transcript
from ..redaction import redact
from ..schema import feature_spec
from .schema import MAX_REASONING_CHARS, OutcomeJudgement

__all__ = [
    "DEFAULT_CONTEXT_FEATURES",
    "PROMPT_VERSION",
    "REPAIR_TEMPLATE",
    "SYSTEM_PROMPT",
    "build_messages",
    "judgement_json_schema",
    "prompt_hash",
    "render_transcript",
]

PROMPT_VERSION = "1"

SYSTEM_PROMPT = """\
You assess recorded customer-service phone calls for a quality team. For each call you get a \
few measurements taken from the audio and the transcript. Personal data in the transcript has \
been replaced by tags such as [CARD], [PHONE], [EMAIL] and [SSN].

Judge the outcome from the customer's side:

call_resolved
  1 when the customer's problem or request was settled during this call: the agent completed \
the fix, change, refund or cancellation, or gave a definite answer the customer accepted.
  0 when it was not: passed to a supervisor or another team, left to a ticket or a callback, \
refused, or left open. When the call covers several issues, judge the last one discussed.

customer_satisfaction_score (integer 1 to 5): how satisfied the customer most likely is when \
the call ends.
  1 very dissatisfied: contempt or anger at the end, threatens to leave or complain.
  2 dissatisfied: resigned, sarcastic, complains that nothing changed.
  3 neutral or unsure: hopes it will work, no clear opinion.
  4 satisfied: accepts the outcome and thanks the agent.
  5 very satisfied: warm, explicit praise.
  Weigh how the customer sounds at the end more than at the start. Long holds, frequent \
interruptions and signs of stress in the voice lower satisfaction.

resolution_confidence (number from 0 to 1): how sure you are about call_resolved.

reasoning: one or two sentences naming what in the call supports your judgement. Do not \
repeat personal data.

Reply with a single JSON object and nothing else: no code fence, no text before or after it. \
It must have exactly these four keys:
{"call_resolved": 0 or 1, "customer_satisfaction_score": 1-5, "resolution_confidence": \
0.0-1.0, "reasoning": "..."}"""

#: The follow-up sent after an invalid answer; ``{error}`` is the validation error.
REPAIR_TEMPLATE = (
    "Your previous reply could not be used: {error}. Reply again with only the JSON object: "
    "exactly the keys call_resolved (0 or 1), customer_satisfaction_score (an integer from 1 to "
    "5), resolution_confidence (a number from 0 to 1) and reasoning (a short string), and no "
    "other text.")

#: Features described to the model when the features table has them (schema names).
DEFAULT_CONTEXT_FEATURES: tuple[str, ...] = (
    "call_duration_sec", "agent_talk_ratio", "silence_ratio", "long_silence_count",
    "longest_monologue_sec", "interruption_count", "agent_interruption_count",
    "customer_interruption_count", "overtalk_ratio", "customer_speaking_rate_wpm",
    "agent_speaking_rate_wpm", "stress_indicators", "avg_emotion_score", "dominant_emotion",
    "customer_sentiment_start", "customer_sentiment_end", "sentiment_label",
)

_SHORT: dict[str, str] = {
    "call_duration_sec": "length of the call",
    "agent_talk_ratio": "agent's share of the talk time",
    "silence_ratio": "share of the call in which nobody speaks",
    "long_silence_count": "silences longer than 5 s (holds, dead air)",
    "longest_monologue_sec": "longest uninterrupted turn",
    "interruption_count": "interruptions, both directions",
    "agent_interruption_count": "times the agent interrupted the customer",
    "customer_interruption_count": "times the customer interrupted the agent",
    "overtalk_ratio": "share of the call with both talking at once",
    "customer_speaking_rate_wpm": "customer's speaking rate",
    "agent_speaking_rate_wpm": "agent's speaking rate",
    "stress_indicators": "probability of stressed, high-arousal negative speech (0-1)",
    "avg_emotion_score": "probability of negative emotion (0-1)",
    "dominant_emotion": "most frequent emotion in the voice",
    "customer_sentiment_start": "customer's sentiment early in the call (0 negative, 1 positive)",
    "customer_sentiment_end": "customer's sentiment late in the call (0 negative, 1 positive)",
    "sentiment_label": "overall sentiment of the transcript",
}

_SPEAKER_LABEL = {AGENT: "AGENT", CUSTOMER: "CUSTOMER"}


def judgement_json_schema() -> dict[str, Any]:
    """JSON schema of the answer (for endpoints with structured output)."""
    return {
        "type": "object",
        "properties": {
            "call_resolved": {"type": "integer", "enum": [0, 1]},
            "customer_satisfaction_score": {"type": "integer", "minimum": 1, "maximum": 5},
            "resolution_confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reasoning": {"type": "string", "minLength": 1, "maxLength": MAX_REASONING_CHARS},
        },
        "required": list(OutcomeJudgement.model_fields),
        "additionalProperties": False,
    }


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return redact(str(v))


def _unit(name: str) -> str:
    try:
        unit = feature_spec(name).unit
    except KeyError:
        return ""
    return "" if unit in ("1", "label", "count") else f" {unit}"


def render_context(features: Mapping[str, Any], names: Sequence[str],
                   duration_sec: float | None) -> str:
    lines: list[str] = []
    if duration_sec is not None and "call_duration_sec" not in features:
        lines.append(f"- call_duration_sec: {_fmt_value(float(duration_sec))} s — "
                     f"{_SHORT['call_duration_sec']}")
    for name in names:
        v = features.get(name)
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            continue
        desc = _SHORT.get(name)
        if desc is None:
            try:
                desc = feature_spec(name).description.split(". ")[0]
            except KeyError:
                desc = ""
        lines.append(f"- {name}: {_fmt_value(v)}{_unit(name)}" + (f" — {desc}" if desc else ""))
    return "\n".join(lines) if lines else "(not available)"


def _mmss(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


def render_transcript(tr: Transcript, *, max_chars: int = 24_000) -> str:
    """One line per segment, ``[mm:ss] SPEAKER: text``, redacted. When longer than
    ``max_chars`` the middle is left out (the opening third and closing two thirds of the
    budget are kept: the end of a call says most about its outcome)."""
    timed = tr.source != "text"
    lines = []
    for s in tr.segments:
        text = " ".join(redact(s.text).split())
        if not text:
            continue
        who = _SPEAKER_LABEL.get(s.speaker, "SPEAKER" if s.speaker in ("mixed", "unknown")
                                 else s.speaker.upper())
        lines.append(f"[{_mmss(s.start)}] {who}: {text}" if timed else f"{who}: {text}")
    full = "\n".join(lines)
    if len(full) <= max_chars:
        return full
    head_budget, tail_budget = max_chars // 3, max_chars - max_chars // 3
    head: list[str] = []
    used = 0
    for ln in lines:
        if used + len(ln) + 1 > head_budget:
            break
        head.append(ln)
        used += len(ln) + 1
    tail: list[str] = []
    used = 0
    for ln in reversed(lines[len(head):]):
        if used + len(ln) + 1 > tail_budget:
            break
        tail.append(ln)
        used += len(ln) + 1
    tail.reverse()
    omitted = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"[... {omitted} lines omitted ...]", *tail])


def build_messages(transcript: Transcript, *, features: Mapping[str, Any] | None = None,
                   duration_sec: float | None = None,
                   context_features: Sequence[str] = DEFAULT_CONTEXT_FEATURES,
                   max_transcript_chars: int = 24_000) -> list[dict[str, str]]:
    """The system and user messages for one call."""
    context = render_context(features or {}, context_features, duration_sec)
    user = (
        "Measurements from the audio:\n" + context + "\n\n"
        "Transcript (time mm:ss, speaker, text; personal data replaced by tags):\n"
        + render_transcript(transcript, max_chars=max_transcript_chars)
        + "\n\nReturn the JSON object for this call.")
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": redact(user)}]


def prompt_hash(messages: Sequence[Mapping[str, str]], *,
                response_schema: Mapping[str, Any] | None, labeler_version: str) -> str:
    """SHA-256 (hex) of the exact first request: messages, answer schema, labeler version."""
    payload = {"messages": [{"role": m["role"], "content": m["content"]} for m in messages],
               "schema": response_schema, "labeler_version": labeler_version}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
