"""Strict parsing of an LLM's answer into an :class:`OutcomeJudgement`.

The answer must be one JSON object with exactly the judgement's keys, optionally wrapped in a
single Markdown code fence. Nothing is guessed: prose around the object, a second object,
``NaN``, duplicate keys, strings for numbers, booleans for 0/1, values out of range, missing or
extra keys are all errors. :func:`parse_judgement` raises :class:`InvalidAnswerError` whose
message says exactly what was wrong; the LLM labeler quotes that message in its follow-up
request and quarantines the call when the answers stay invalid. No default is ever
substituted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from ..exceptions import LabelingError
from .schema import OutcomeJudgement

__all__ = ["InvalidAnswerError", "parse_judgement", "strip_code_fence"]

_FENCE = re.compile(r"\A```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\r?\n(?P<body>.*?)\r?\n?```\Z",
                    re.DOTALL)
_MAX_CHARS = 20_000


class InvalidAnswerError(LabelingError, ValueError):
    """An answer is not a valid outcome; the message says why (one line, no raw text)."""


def strip_code_fence(text: str) -> str:
    """The body of ``text`` when it is one fenced block (```` ```json ... ``` ````), else
    ``text`` stripped of surrounding whitespace."""
    t = text.strip()
    m = _FENCE.match(t)
    return m.group("body").strip() if m else t


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _describe(v: Any) -> str:
    if isinstance(v, str):
        return f"the string {v[:40]!r}" + ("..." if len(v) > 40 else "")
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return f"{type(v).__name__} {v!r}"
    return "a JSON array" if isinstance(v, list) else "a JSON object"


def _pydantic_reason(exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "answer"
        typ = err["type"]
        if typ == "missing":
            parts.append(f"missing key {loc!r}")
        elif typ == "extra_forbidden":
            parts.append(f"unexpected key {loc!r}")
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            parts.append(f"{loc}: {msg} (got {_describe(err.get('input'))})")
    return "; ".join(parts)


def parse_judgement(text: str | None) -> OutcomeJudgement:
    """Parse an answer strictly.

    Args:
        text: the model's raw answer.

    Returns:
        The validated :class:`OutcomeJudgement`.

    Raises:
        InvalidAnswerError: anything else; the message names the first problems found.
    """
    if text is None or not isinstance(text, str):
        raise InvalidAnswerError("the answer is empty (no text content)")
    if not text.strip():
        raise InvalidAnswerError("the answer is empty")
    if len(text) > _MAX_CHARS:
        raise InvalidAnswerError(f"the answer is {len(text)} characters long; expected one "
                                 f"small JSON object")
    body = strip_code_fence(text)
    try:
        obj = json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise InvalidAnswerError(
                f"text after the JSON object (at character {exc.pos}); answer with the JSON "
                f"object only") from None
        if body[:1] not in "{[":
            at = body.find("{")
            where = "before the JSON object" if at > 0 else "instead of a JSON object"
            raise InvalidAnswerError(f"the answer has text {where}; answer with the JSON "
                                     f"object only") from None
        raise InvalidAnswerError(f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                                 f"{exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, duplicate key, huge ints, deep nesting
        raise InvalidAnswerError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise InvalidAnswerError(f"expected a JSON object, got {_describe(obj)}")
    try:
        return OutcomeJudgement.model_validate(obj)
    except ValidationError as exc:
        raise InvalidAnswerError(_pydantic_reason(exc)) from None
