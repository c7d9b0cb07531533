"""Turn what ``label()`` accepts (calls, or a table) into uniform work items."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..calls import AGENT, CUSTOMER, Call, Segment, Transcript
from ..exceptions import ConfigurationError

__all__ = ["LabelItem", "label_items"]

#: Columns of a features table that are not features.
_NON_FEATURES = frozenset({"call_id", "agent_id", "processed_at", "error", "transcript"})
_LINE = re.compile(r"^\s*(agent|customer|caller|client|rep|representative|operator)\s*:\s*(.*)$",
                   re.IGNORECASE)
_SPEAKER_ALIASES = {"agent": AGENT, "rep": AGENT, "representative": AGENT, "operator": AGENT,
                    "customer": CUSTOMER, "caller": CUSTOMER, "client": CUSTOMER}


@dataclass(frozen=True)
class LabelItem:
    """One call to label: its transcript (if any), its features (non-missing values only), and
    an input problem that makes it unlabelable (then it is quarantined at stage ``input``)."""

    call_id: str
    transcript: Transcript | None = None
    features: Mapping[str, Any] = field(default_factory=dict)
    duration_sec: float | None = None
    problem: str | None = None


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _clean_features(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in _NON_FEATURES or _missing(v):
            continue
        if hasattr(v, "item") and callable(v.item):  # numpy scalar -> Python
            v = v.item()
        out[str(k)] = v
    return out


def transcript_from_text(text: str) -> Transcript:
    """A transcript without timings from plain text.

    Lines ``Agent: ...`` / ``Customer: ...`` (also ``Caller``, ``Rep`` ...) become segments of
    those speakers; any other text becomes one segment of speaker ``"unknown"``. Segments get
    their line number as start and end, so timing-based rules (holds) do not apply
    (``source == "text"``).
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    matches = [_LINE.match(ln) for ln in lines]
    segs: list[Segment] = []
    if lines and all(matches):
        for i, m in enumerate(matches):
            assert m is not None
            segs.append(Segment(_SPEAKER_ALIASES[m.group(1).lower()], float(i), float(i),
                                m.group(2).strip()))
    elif text.strip():
        segs.append(Segment("unknown", 0.0, 0.0, " ".join(ln.strip() for ln in lines)))
    return Transcript(tuple(segs), source="text")


def _coerce_transcript(call_id: str, v: Any) -> tuple[Transcript | None, str | None]:
    if _missing(v):
        return None, None
    if isinstance(v, Transcript):
        return v, None
    if isinstance(v, str):
        return transcript_from_text(v), None
    if isinstance(v, Mapping):
        try:
            return Transcript.from_dict(dict(v)), None
        except ValueError as exc:
            return None, f"invalid transcript: {exc}"
    return None, f"transcript must be a Transcript, dict or str, got {type(v).__name__}"


def _features_index(features: pd.DataFrame | None, who: str) -> dict[str, dict[str, Any]]:
    if features is None:
        return {}
    if not isinstance(features, pd.DataFrame):
        raise ConfigurationError(f"{who}: features must be a pandas DataFrame, got "
                                 f"{type(features).__name__}")
    if "call_id" not in features.columns:
        raise ConfigurationError(f"{who}: the features table has no 'call_id' column")
    dup = features["call_id"][features["call_id"].duplicated()].unique().tolist()
    if dup:
        raise ConfigurationError(f"{who}: the features table has several rows for call_id(s) "
                                 f"{dup[:5]}; pass one row per call")
    out: dict[str, dict[str, Any]] = {}
    for row in features.to_dict("records"):
        ok = "error" not in row or _missing(row.get("error"))
        out[str(row["call_id"])] = _clean_features(row) if ok else {}
    return out


def label_items(features_or_calls: pd.DataFrame | Sequence[Call], *,
                features: pd.DataFrame | None = None, who: str = "label") -> list[LabelItem]:
    """Work items in input order. Duplicate call ids after the first become input problems.

    Raises:
        ConfigurationError: the argument is neither calls nor a table with ``call_id``.
    """
    items: list[LabelItem] = []
    if isinstance(features_or_calls, pd.DataFrame):
        df = features_or_calls
        if "call_id" not in df.columns:
            raise ConfigurationError(f"{who}: the table has no 'call_id' column")
        extra = _features_index(features, who)
        for row in df.to_dict("records"):
            cid = str(row["call_id"])
            tr, problem = _coerce_transcript(cid, row.get("transcript"))
            ok = "error" not in row or _missing(row.get("error"))
            feats = {**extra.get(cid, {}), **(_clean_features(row) if ok else {})}
            dur = feats.get("call_duration_sec")
            items.append(LabelItem(cid, tr, feats, float(dur) if dur is not None else None,
                                   problem))
    else:
        if isinstance(features_or_calls, (str, bytes)) or not isinstance(
                features_or_calls, Sequence):
            try:
                features_or_calls = list(features_or_calls)
            except TypeError:
                raise ConfigurationError(
                    f"{who}: expected a sequence of Call or a DataFrame, got "
                    f"{type(features_or_calls).__name__}") from None
        extra = _features_index(features, who)
        for i, c in enumerate(features_or_calls):
            if not isinstance(c, Call):
                raise ConfigurationError(f"{who}: item {i} is a {type(c).__name__}, not a Call; "
                                         f"pass calls or a DataFrame")
            feats = extra.get(c.call_id, {})
            items.append(LabelItem(c.call_id, c.transcript, feats, c.duration_sec))
    seen: dict[str, int] = {}
    out: list[LabelItem] = []
    for i, it in enumerate(items):
        if it.call_id in seen and it.problem is None:
            it = LabelItem(it.call_id, it.transcript, it.features, it.duration_sec,
                           f"duplicate call_id in the input (first at position {seen[it.call_id]})")
        seen.setdefault(it.call_id, i)
        out.append(it)
    return out
