"""Rule-based outcome labels from the transcript (and, where given, the features table).

Every rule is written down here and in ``docs/labeling.md``; :meth:`HeuristicLabeler.explain`
returns the evidence each rule found for a call, and the ``reasoning`` column says which rules
decided. Nothing is learned and nothing is downloaded.

**call_resolved** — outcome statements and the customer's reaction:

1. Every agent sentence is matched against :data:`RESOLUTION_RULES` (the agent completed the
   fix, change, refund or cancellation: *I have reversed the charge*, *your account is
   unlocked now*, *it should be back within ten minutes*, *you are all set*) and
   :data:`ESCALATION_RULES` (handed over, ticket or callback, or refused: *I am passing it to
   my supervisor*, *I opened a ticket, our team will call you*, *there is nothing more I can
   do*, *I cannot change it*). A sentence with cues of both kinds counts as neither.
2. The **last** agent outcome statement decides (weight 2): later statements supersede
   earlier ones (a second topic, or a fix that is then retracted).
3. The customer's reaction after that statement adds weight 1 when it contains
   :data:`CUSTOMER_RESOLVED_RULES` (*that works*, *thank you for sorting that out*) or
   :data:`CUSTOMER_UNRESOLVED_RULES` (*so I have to wait again*, *thanks for nothing*,
   *another ticket*), and the sign of the customer's closing sentiment adds ±0.5.
4. Earlier agent outcome statements add ±0.25 (their net sign).
5. ``call_resolved = score > 0``; ``resolution_confidence = 1 / (1 + exp(-|score|))``, so a
   clear statement with a matching reaction gives ~0.95 and sentiment alone ~0.6. A score of
   exactly 0 (no evidence either way) is not guessed: the call is quarantined.

**customer_satisfaction_score** — the customer's closing sentiment, adjusted:

1. The closing window is the customer's speech from the last agent outcome statement on
   (without one: the customer's last two utterances). Each sentence is scored with the
   built-in lexicon (:mod:`callquality.labeling.lexicon`); the last utterance counts fully,
   earlier ones in the window half.
2. The closing valence ``v`` maps piecewise linearly onto 1..5 through the anchors
   :data:`SATISFACTION_ANCHORS` (``v <= -5`` -> 1, ``-2`` -> 2, ``+0.25`` -> 3, ``+3`` -> 4,
   ``>= +6`` -> 5): one clear sentiment word (about ±2) moves one step from neutral, several
   strong ones two steps. Strong praise is 5, plain thanks 4, a hedge (*I hope it works this
   time*) 3, resignation (*I guess I have no choice*) 2, contempt (*thanks for nothing*) 1.
3. Adjustments: unresolved -0.25 (a resolved call earns no bonus: meeting the expectation
   is not delight, a 5 needs explicit praise); customer distress earlier in the call
   (two or more strongly negative sentences, valence <= -1.5) -0.25; each long hold (nobody
   speaks for at least ``hold_min_sec``; or the ``long_silence_count`` feature) -0.25, at most
   -0.5; acoustic stress (feature ``stress_indicators`` >= 0.5) -0.25.
4. Round half up and clip to 1..5.

**Without speaker labels** (a mono call that was not diarized, or plain text without
``Agent:``/``Customer:`` lines) the agent rules apply to every sentence and the closing window
is everything said after the last outcome statement; less reliable, but still transparent.

**Without a transcript** the features table alone is used when it has
``customer_sentiment_end`` (polarity in [0, 1]): resolved when it is >= 0.5 (confidence
0.5 + |polarity - 0.5|, at most 0.75), satisfaction ``1 + 4 * polarity`` with the same hold and
stress adjustments. Otherwise the call is quarantined ("nothing to label from").
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ..calls import AGENT, CUSTOMER, Call, Transcript
from ..exceptions import ConfigurationError
from ..redaction import redact
from ._inputs import LabelItem, label_items
from .lexicon import normalize, split_sentences, utterance_valences
from .schema import (
    DEFAULT_HIGH_QUALITY_MIN_SATISFACTION,
    CallOutcome,
    LabelingReport,
    OutcomeJudgement,
    _errors_frame,
    _log_frame,
    outcomes_frame,
)

__all__ = [
    "CUSTOMER_RESOLVED_RULES",
    "CUSTOMER_UNRESOLVED_RULES",
    "ESCALATION_RULES",
    "RESOLUTION_RULES",
    "SATISFACTION_ANCHORS",
    "HeuristicEvidence",
    "HeuristicLabeler",
]

Rule = tuple[str, "re.Pattern[str]"]


def _rules(*pairs: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple((name, re.compile(p)) for name, p in pairs)


_DONE_VERBS = (r"fixed|resolved|solved|sorted|reset|unlocked|restored|reconnected|reactivated|"
               r"activated|processed|issued|refunded|credited|reversed|removed|waived|"
               r"cancell?ed|changed|updated|corrected|rescheduled|replaced|pushed|applied|"
               r"approved|shipped|dispatched|booked|cleared|adjusted|reinstated|unblocked|"
               r"upgraded|downgraded|refunded|switched")

#: Agent sentences saying the issue has been settled (matched on normalised text).
RESOLUTION_RULES: tuple[Rule, ...] = _rules(
    ("agent completed the action",
     r"\b(?:i|we)(?: have| had)?(?: just| now| already| successfully)? (?:" + _DONE_VERBS
     + r")\b"),
    ("issue stated as fixed",
     r"\b(?:is|are|has been|have been|was|were|got)(?: now| all| already| finally| "
     r"successfully)? (?:fixed|resolved|solved|sorted(?: out)?|unlocked|restored|reconnected|"
     r"back (?:up|online|on)|working(?: again)?(?! on)|cancell?ed|refunded|credited|reversed|"
     r"updated|corrected|reactivated|active again|processed|approved|waived|removed|unblocked|"
     r"reinstated|dispatched|shipped|sent out|mailed|"
     r"taken care of|on (?:its|the) way)\b"),
    ("fix just made", r"\b(?:just|now|successfully) (?:fixed|resolved|restored|unlocked|reset|"
                      r"processed|reconnected|cleared)\b"),
    ("result promised",
     r"\b(?:should|will) be (?:back|working|delivered|credited|refunded|restored|fixed|active|"
     r"reactivated|processed|shipped|arriving|reconnected|unlocked)\b|"
     r"\b(?:should|will) (?:arrive|reach you|show up|come through)\b"),
    ("customer can use it now",
     r"\byou (?:can|will be able to|are able to) (?:now )?(?:log ?in|sign in|access|use|"
     r"connect|get online|make calls)\b"),
    ("customer will receive the result",
     r"\byou will (?:see|receive|get) (?:it|the (?:refund|credit|money|parcel|package|"
     r"replacement|new card|confirmation)|a (?:refund|credit|confirmation|final bill|"
     r"replacement|new card))\b"),
    ("result on its way", r"\b(?:it|the (?:refund|money|credit|parcel|package|replacement)) "
                          r"will (?:reach|arrive|show up|appear|be with)\b"),
    ("all set", r"\b(?:you are all set|all set now|good to go|taken care of|that should do it|"
                r"problem solved|that is (?:done|sorted)|it is (?:done|sorted))\b"),
)

#: Agent sentences saying the issue was handed on, deferred or refused.
ESCALATION_RULES: tuple[Rule, ...] = _rules(
    ("handed to someone else",
     r"\b(?:supervisor|manager|escalat\w*|specialist team|another (?:department|team)|"
     r"(?:second|third|next)[- ]level|back ?office|transfer(?:ring)? you|"
     r"pass(?:ing)? (?:it|this|you|your (?:case|call|request)) (?:on )?(?:to|over)|"
     r"hand(?:ing)? (?:it|this|you) (?:over|off))\b"),
    ("ticket opened", r"\b(?:open(?:ed)?|rais(?:e|ed)|creat(?:e|ed)|logg?(?:ed)?|fil(?:e|ed)|"
                      r"submit(?:ted)?|put in) (?:a |an |the |your )?(?:new )?(?:ticket|case|"
                      r"complaint|claim|investigation)\b"),
    ("callback promised",
     r"\b(?:(?:our |the |a )?(?:team|someone|somebody|they|technician|engineer|specialist|"
     r"colleague)s?|we) will (?:call|contact|get back to|reach out to|email|text|"
     r"follow up with) you\b|\b(?:call|ring) you back\b"),
    ("agent unable", r"\b(?:i|we) (?:cannot|can not|am unable to|are unable to|am not able to|"
                     r"are not able to|do not have the (?:access|ability|permission))\b"),
    ("nothing more to do", r"\bnothing (?:more |else )?(?:i|we) can do\b|\bthere is nothing "
                           r"(?:more |else )?(?:i|we) can\b|\bout of my hands\b|\bnot possible\b"),
    ("agent regrets", r"\bi am afraid (?:that |there |it |we |i )"),
)

#: Customer sentences (after the outcome statement) confirming that it is settled.
CUSTOMER_RESOLVED_RULES: tuple[Rule, ...] = _rules(
    ("customer confirms it works",
     r"(?<!if )(?<!whether )\b(?:it|that|this) (?:works|worked|is working|fixed it|did it|"
     r"did the trick|solved it)\b"),
    ("customer thanks for the fix",
     r"\bthank(?:s| you) for (?:sorting|fixing|solving|resolving|taking care|your help|"
     r"helping|the help|all your help|all the help)\b"),
    ("customer says solved", r"\b(?:problem|issue) (?:is )?(?:solved|fixed|resolved)\b"),
)

#: Customer sentences (after the outcome statement) saying it is not settled.
CUSTOMER_UNRESOLVED_RULES: tuple[Rule, ...] = _rules(
    ("customer says still broken",
     r"\b(?:still|again) (?:not working|broken|down|nothing)\b|\b(?:not|never|nobody|no one) "
     r"(?:fixed|solved|resolved)\b"),
    ("customer must wait or call again",
     r"\b(?:have|need) to (?:wait|call) (?:again|back)\b|\bwait again\b|\bcall (?:back )?again\b"),
    ("customer rejects the outcome",
     r"\banother (?:ticket|reference|case) number\b|\bno choice\b|\bthanks for nothing\b|"
     r"\bthank you for nothing\b|\bwaste of (?:my )?time\b|\buseless\b|"
     r"\bgoing to (?:cancel|switch|leave|complain)\b|\bnot what i asked\b"),
)

#: Closing valence -> satisfaction anchors (piecewise linear, clipped at both ends).
SATISFACTION_ANCHORS: tuple[tuple[float, float], ...] = (
    (-5.0, 1.0), (-2.0, 2.0), (0.25, 3.0), (3.0, 4.0), (6.0, 5.0))

_HOLD_CUES = re.compile(r"\b(?:put you on (?:a )?(?:short |brief |quick )?hold|hold on a "
                        r"(?:second|moment|minute|sec)|bear with me|thank(?:s| you) for "
                        r"(?:holding|waiting)|sorry for the wait)\b")
_DISTRESS_VALENCE = -1.5
_BACKCHANNEL_MAX_WORDS = 2


@dataclass(frozen=True)
class Cue:
    """One rule that fired: at ``time`` seconds, ``speaker`` said ``text`` (redacted)."""

    time: float
    speaker: str
    rule: str
    sign: int  # +1 resolution, -1 escalation / not settled
    text: str


@dataclass
class HeuristicEvidence:
    """What the rules found in one call (see :meth:`HeuristicLabeler.explain`)."""

    call_id: str
    outcome_statements: list[Cue] = field(default_factory=list)
    reaction_cues: list[Cue] = field(default_factory=list)
    closing_text: str = ""
    closing_valence: float | None = None
    distress_sentences: int = 0
    holds: list[tuple[float, float]] = field(default_factory=list)
    long_silence_feature: int | None = None
    stress: float | None = None
    resolution_score: float = 0.0
    satisfaction_raw: float | None = None
    source: str = "transcript"  # "transcript" | "features" | "none"
    timed: bool = True  # False for plain-text transcripts (times are line numbers)
    judgement: OutcomeJudgement | None = None
    problem: str | None = None

    @property
    def last_statement(self) -> Cue | None:
        return self.outcome_statements[-1] if self.outcome_statements else None


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _match(rules: Sequence[Rule], text: str) -> str | None:
    for name, pat in rules:
        if pat.search(text):
            return name
    return None


def _snippet(text: str, n: int = 80) -> str:
    t = redact(text.strip())
    return t if len(t) <= n else t[: n - 3].rstrip() + "..."


def _fmt_time(t: float) -> str:
    return f"{int(t // 60)}:{int(t % 60):02d}"


def _word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9']+", text))


class HeuristicLabeler:
    """Transparent rule-based labeler (implements :class:`callquality.protocols.Labeler`).

    Args:
        hold_min_sec: a stretch in which nobody speaks for at least this long (s) counts as a
            hold (matches the ``long_silence_count`` feature's 5 s).
        high_quality_min_satisfaction: ``high_quality_call`` needs satisfaction >= this.
        progress: show a progress bar (``None``: only for batches of 200 calls or more).

    The rules are documented in this module's docstring and ``docs/labeling.md``. A call is
    quarantined, never defaulted, when the rules find nothing to decide from; after
    :meth:`label`, :attr:`report_` holds the :class:`LabelingReport` (``errors`` is the
    ``label_errors`` table).
    """

    name = "heuristic"
    version = "1.0"

    def __init__(self, *, hold_min_sec: float = 5.0,
                 high_quality_min_satisfaction: int = DEFAULT_HIGH_QUALITY_MIN_SATISFACTION,
                 progress: bool | None = None) -> None:
        self.hold_min_sec = hold_min_sec
        self.high_quality_min_satisfaction = high_quality_min_satisfaction
        self.progress = progress

    # ------------------------------------------------------------------ evidence

    def _check_params(self) -> None:
        if not (isinstance(self.hold_min_sec, (int, float)) and self.hold_min_sec > 0):
            raise ConfigurationError(f"HeuristicLabeler: hold_min_sec must be > 0, got "
                                     f"{self.hold_min_sec!r}")
        if self.high_quality_min_satisfaction not in (1, 2, 3, 4, 5):
            raise ConfigurationError("HeuristicLabeler: high_quality_min_satisfaction must be "
                                     f"an integer 1..5, got {self.high_quality_min_satisfaction!r}")

    def explain(self, call: Call | LabelItem) -> HeuristicEvidence:
        """The evidence every rule found in one call, with the decision: ``judgement`` (or
        ``problem`` when the call would be quarantined), ``resolution_score`` and
        ``satisfaction_raw``."""
        self._check_params()
        item = call if isinstance(call, LabelItem) else label_items([call])[0]
        self._judge(item)
        return self._last_evidence

    def _judge(self, item: LabelItem) -> OutcomeJudgement | str:
        ev = self._evidence(item)
        result = self._decide(ev)
        if result == "features-only":
            result = self._decide_features(item, ev)
        if isinstance(result, str):
            ev.problem = result
        else:
            ev.judgement = result
        self._last_evidence = ev
        return result

    def _evidence(self, item: LabelItem) -> HeuristicEvidence:
        ev = HeuristicEvidence(item.call_id)
        feats = item.features
        if "long_silence_count" in feats:
            ev.long_silence_feature = int(feats["long_silence_count"])
        if "stress_indicators" in feats:
            ev.stress = float(feats["stress_indicators"])
        tr = item.transcript
        if tr is None or not any(s.text.strip() for s in tr.segments):
            ev.source = "features" if "customer_sentiment_end" in feats else "none"
            return ev
        ev.timed = tr.source != "text"
        ev.holds = self._holds(tr)
        self._outcome_cues(tr, ev)
        self._closing(tr, ev)
        return ev

    def _holds(self, tr: Transcript) -> list[tuple[float, float]]:
        if tr.source == "text":
            return []
        holds: list[tuple[float, float]] = []
        last_end: float | None = None
        for s in tr.segments:  # segments are in time order
            if last_end is not None and s.start - last_end >= self.hold_min_sec:
                holds.append((last_end, s.start))
            last_end = s.end if last_end is None else max(last_end, s.end)
        return holds

    @staticmethod
    def _attributed(tr: Transcript) -> bool:
        """Whether the transcript says who is the agent and who the customer."""
        return any(s.speaker in (AGENT, CUSTOMER) for s in tr.segments)

    def _outcome_cues(self, tr: Transcript, ev: HeuristicEvidence) -> None:
        attributed = self._attributed(tr)
        for seg in tr.segments:
            if attributed and seg.speaker != AGENT:
                continue
            for sent in split_sentences(seg.text):
                norm = normalize(sent)
                res = _match(RESOLUTION_RULES, norm)
                esc = _match(ESCALATION_RULES, norm)
                if res and esc:
                    continue
                if res or esc:
                    ev.outcome_statements.append(
                        Cue(seg.start, AGENT, res or esc or "", 1 if res else -1,
                            _snippet(sent)))

    def _closing(self, tr: Transcript, ev: HeuristicEvidence) -> None:
        if self._attributed(tr):
            cust = [s for s in tr.segments if s.speaker == CUSTOMER and s.text.strip()]
        else:  # nobody is labeled agent or customer: every segment may be either
            cust = [s for s in tr.segments if s.text.strip()]
        last = ev.last_statement
        if last is not None:
            window = [s for s in cust if s.start >= last.time
                      and _word_count(s.text) > _BACKCHANNEL_MAX_WORDS]
            if not window:  # only short replies after the statement: take them too
                window = [s for s in cust if s.start >= last.time]
        else:
            window = [s for s in cust if _word_count(s.text) > _BACKCHANNEL_MAX_WORDS][-2:]
        before = [s for s in cust if not window or s.start < window[0].start]
        ev.distress_sentences = sum(1 for s in before for v in utterance_valences(s.text)
                                    if v <= _DISTRESS_VALENCE)
        if not window:
            return
        total = 0.0
        for i, seg in enumerate(window):
            w = 1.0 if i == len(window) - 1 else 0.5
            total += w * sum(utterance_valences(seg.text))
            if last is not None:
                for sent in split_sentences(seg.text):
                    norm = normalize(sent)
                    pos = _match(CUSTOMER_RESOLVED_RULES, norm)
                    neg = _match(CUSTOMER_UNRESOLVED_RULES, norm)
                    if bool(pos) != bool(neg):
                        ev.reaction_cues.append(Cue(seg.start, CUSTOMER, pos or neg or "",
                                                    1 if pos else -1, _snippet(sent)))
        ev.closing_valence = total
        ev.closing_text = " ".join(_snippet(s.text, 120) for s in window)

    # ------------------------------------------------------------------ decision

    def _decide(self, ev: HeuristicEvidence) -> OutcomeJudgement | str:
        """The judgement, or the reason why the rules cannot decide."""
        n_holds = len(ev.holds)
        if ev.long_silence_feature is not None:
            n_holds = max(n_holds, ev.long_silence_feature)
        hold_adj = -min(0.5, 0.25 * n_holds)
        stress_adj = -0.25 if ev.stress is not None and ev.stress >= 0.5 else 0.0
        if ev.source == "none":
            return ("nothing to label from: no transcript text and no customer_sentiment_end "
                    "feature")
        if ev.source == "features":
            return "features-only"  # handled by the caller, which has the features
        last = ev.last_statement
        score = 0.0
        parts: list[str] = []
        if last is not None:
            score += 2.0 * last.sign
            kind = "a resolution" if last.sign > 0 else "an escalation or refusal"
            where = f"at {_fmt_time(last.time)}" if ev.timed else f"in line {int(last.time) + 1}"
            parts.append(f"last agent outcome statement {where} is {kind} "
                         f"({last.rule}: \"{last.text}\")")
            earlier = sum(c.sign for c in ev.outcome_statements[:-1])
            score += 0.25 * _sign(earlier)
        else:
            parts.append("no agent outcome statement")
        react = sum(c.sign for c in ev.reaction_cues)
        if react:
            score += _sign(react)
            c = ev.reaction_cues[-1]
            parts.append(f"customer reaction {'confirms' if react > 0 else 'rejects'} it "
                         f"({c.rule}: \"{c.text}\")")
        if ev.closing_valence is not None and ev.closing_valence != 0:
            score += 0.5 * _sign(ev.closing_valence)
        if score == 0:
            return ("undecidable: no resolution or escalation statement and no customer "
                    "reaction to decide from")
        resolved = int(score > 0)
        confidence = 1.0 / (1.0 + math.exp(-abs(score)))
        if ev.closing_valence is None:
            return "no customer speech to judge satisfaction from"
        anchors_x = [a[0] for a in SATISFACTION_ANCHORS]
        anchors_y = [a[1] for a in SATISFACTION_ANCHORS]
        base = float(np.interp(ev.closing_valence, anchors_x, anchors_y))
        adj = 0.0 if resolved else -0.25
        distress_adj = -0.25 if ev.distress_sentences >= 2 else 0.0
        raw = base + adj + distress_adj + hold_adj + stress_adj
        ev.resolution_score = score
        ev.satisfaction_raw = raw
        sat = int(min(5, max(1, math.floor(raw + 0.5))))
        parts.append(f"customer closing sentiment {ev.closing_valence:+.1f} "
                     f"(\"{_snippet(ev.closing_text, 100)}\") -> {base:.2f}")
        extras = ["resolved +0.00" if resolved else "unresolved -0.25"]
        if distress_adj:
            extras.append(f"earlier distress ({ev.distress_sentences} sentences) -0.25")
        if hold_adj:
            extras.append(f"{n_holds} long hold(s) {hold_adj:+.2f}")
        if stress_adj:
            extras.append(f"acoustic stress {ev.stress:.2f} -0.25")
        parts.append(", ".join(extras) + f" -> satisfaction {sat}")
        reasoning = "; ".join(parts)
        return OutcomeJudgement(call_resolved=resolved, customer_satisfaction_score=sat,
                                resolution_confidence=round(confidence, 4),
                                reasoning=reasoning[:2000])

    def _decide_features(self, item: LabelItem, ev: HeuristicEvidence) -> OutcomeJudgement | str:
        pol = item.features.get("customer_sentiment_end")
        try:
            p = float(pol)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return f"customer_sentiment_end is not a number: {pol!r}"
        if not 0.0 <= p <= 1.0:
            return f"customer_sentiment_end {p} is outside [0, 1]"
        n_holds = ev.long_silence_feature or 0
        hold_adj = -min(0.5, 0.25 * n_holds)
        stress_adj = -0.25 if ev.stress is not None and ev.stress >= 0.5 else 0.0
        resolved = int(p >= 0.5)
        conf = min(0.75, 0.5 + abs(p - 0.5))
        raw = 1.0 + 4.0 * p + hold_adj + stress_adj
        sat = int(min(5, max(1, math.floor(raw + 0.5))))
        ev.resolution_score = p - 0.5
        ev.satisfaction_raw = raw
        reasoning = (f"no transcript; customer_sentiment_end {p:.2f} -> "
                     f"{'resolved' if resolved else 'unresolved'} (low confidence), "
                     f"satisfaction 1 + 4 x {p:.2f}{hold_adj:+.2f} (holds){stress_adj:+.2f} "
                     f"(stress) -> {sat}")
        return OutcomeJudgement(call_resolved=resolved, customer_satisfaction_score=sat,
                                resolution_confidence=round(conf, 4), reasoning=reasoning)

    # ------------------------------------------------------------------ API

    def label(self, features_or_calls: pd.DataFrame | Sequence[Call], *,
              features: pd.DataFrame | None = None) -> pd.DataFrame:
        """Label calls (with transcripts) or a table (``call_id``, optional ``transcript``
        column, feature columns).

        Args:
            features_or_calls: calls, or a DataFrame with one row per call.
            features: optional features table (``call_id`` + feature columns) joined to the
                calls by ``call_id`` (holds, stress, and the fallback without transcript).

        Returns:
            The outcomes table (:data:`~callquality.labeling.schema.OUTCOME_COLUMNS`), one row
            per labeled call in input order. ``df.attrs["labeling"]`` holds the report's
            counts; :attr:`report_` the full :class:`LabelingReport` with the
            ``label_errors`` table of the quarantined calls.
        """
        from tqdm.auto import tqdm

        self._check_params()
        t0 = time.perf_counter()
        items = label_items(features_or_calls, features=features, who="HeuristicLabeler.label")
        rows: list[CallOutcome] = []
        errors: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        show = self.progress if self.progress is not None else len(items) >= 200
        for item in tqdm(items, desc="label (heuristic)", unit="call", disable=not show):
            t1 = time.perf_counter()
            result: OutcomeJudgement | str
            if item.problem is not None:
                result, stage = item.problem, "input"
            else:
                result, stage = self._judge(item), "rules"
            now = datetime.now(timezone.utc)
            if isinstance(result, str):
                errors.append({"call_id": item.call_id, "labeler": self.name,
                               "labeler_version": self.version, "model": None,
                               "prompt_hash": None, "stage": stage, "reason": result,
                               "raw_response": None, "attempts": 0, "errored_at": now})
                status = "quarantined"
            else:
                rows.append(CallOutcome.from_judgement(
                    item.call_id, result, labeler=self.name, labeler_version=self.version,
                    labeled_at=now, min_satisfaction=self.high_quality_min_satisfaction))
                status = "labeled"
            log.append({"call_id": item.call_id, "status": status, "requests": 0,
                        "transport_retries": 0, "repair_attempts": 0, "prompt_tokens": 0,
                        "completion_tokens": 0, "total_tokens": 0,
                        "seconds": time.perf_counter() - t1})
        report = LabelingReport(labeler=self.name, labeler_version=self.version, model=None,
                                n_input=len(items), labeled=len(rows),
                                quarantined=len(errors), seconds=time.perf_counter() - t0,
                                errors=_errors_frame(errors), log=_log_frame(log))
        self.report_ = report
        df = outcomes_frame(rows)
        df.attrs["labeling"] = report.counts()
        return df
