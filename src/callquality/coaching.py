"""Coaching suggestions: priority rules over a call's features, its prediction and the
features that drove that prediction.

Each rule reads a few features and, when they cross a threshold, produces a
:class:`Suggestion`. Priorities:

* ``high``: stress, very negative customer sentiment, escalation risk;
* ``medium``: speaking pace, interruptions, talk-ratio imbalance, long monologues, long
  pauses or holds, and the model's own drivers when no rule covers them;
* ``positive``: reinforcement when nothing needs attention.

The model's per-call feature contributions (TreeSHAP, see
:meth:`callquality.training.CallQualityModel.explain`) name what pushed the prediction, e.g.
``"low quality because: interruptions, falling customer sentiment"``; suggestions about those
features come first within their priority and are marked as ``driver``.

A rule whose features are absent or missing (e.g. the emotion and content groups in a store
where they were not extracted) is skipped, never an error: it is listed in
:attr:`CoachingReport.skipped`. Thresholds are a :class:`CoachingThresholds`, overridable
field by field::

    engine = CoachingEngine(CoachingThresholds(stress_high=0.5, talk_ratio_high=0.7))
    report = engine.coach(features_row, prediction=pred, contributions=contribs)
    reports = coach_calls(backend, ["call-1", "call-2"])      # PRODUCTION model, online store
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .exceptions import ConfigurationError

__all__ = [
    "DEFAULT_RULES",
    "PRIORITIES",
    "CallPrediction",
    "CoachingEngine",
    "CoachingReport",
    "CoachingThresholds",
    "Driver",
    "Rule",
    "Suggestion",
    "coach_calls",
    "describe_feature",
    "suggestions_table",
]

Priority = Literal["high", "medium", "positive"]
#: Priorities, most urgent first.
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "positive")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


@dataclass(frozen=True)
class CoachingThresholds:
    """Where the rules fire. Units are the features' own (see ``callquality.FEATURES``).

    Attributes:
        stress_high: ``stress_indicators`` at or above this is high stress (probability).
        customer_sentiment_low: ``customer_sentiment_end`` (else the call's
            ``sentiment_score``) at or below this is very negative (polarity in [0, 1]).
        sentiment_drop: a ``customer_sentiment_trend`` at or below ``-sentiment_drop`` is a
            falling customer sentiment (escalation signal).
        customer_interruptions_high: customer interruptions at or above this (escalation
            signal).
        escalation_score_low: a predicted positive-class probability at or below this
            (escalation signal).
        escalation_min_signals: escalation signals needed for the escalation-risk rule.
        speaking_rate_high_wpm, speaking_rate_low_wpm: agent speaking pace bounds
            (words/min; the call's ``speaking_rate_wpm`` when the agent's is absent).
        interruptions_high: agent interruptions (else all interruptions) at or above this.
        talk_ratio_high, talk_ratio_low: agent share of talk time bounds.
        monologue_high_sec: longest single turn at or above this (s).
        avg_pause_high_sec: mean within-speaker pause at or above this (s).
        long_silences_high: silences over 5 s (holds, dead air) at or above this.
        top_drivers: contributing features named in the explanation.
    """

    stress_high: float = 0.6
    customer_sentiment_low: float = 0.3
    sentiment_drop: float = 0.3
    customer_interruptions_high: int = 3
    escalation_score_low: float = 0.2
    escalation_min_signals: int = 2
    speaking_rate_high_wpm: float = 180.0
    speaking_rate_low_wpm: float = 110.0
    interruptions_high: int = 3
    talk_ratio_high: float = 0.65
    talk_ratio_low: float = 0.30
    monologue_high_sec: float = 60.0
    avg_pause_high_sec: float = 2.0
    long_silences_high: int = 2
    top_drivers: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value):
                raise ConfigurationError(f"CoachingThresholds: {f.name}={value!r} is not a "
                                         "finite number")
        if self.speaking_rate_low_wpm >= self.speaking_rate_high_wpm:
            raise ConfigurationError("CoachingThresholds: speaking_rate_low_wpm must be below "
                                     "speaking_rate_high_wpm")
        if self.talk_ratio_low >= self.talk_ratio_high:
            raise ConfigurationError("CoachingThresholds: talk_ratio_low must be below "
                                     "talk_ratio_high")
        if self.escalation_min_signals < 1 or self.top_drivers < 0:
            raise ConfigurationError("CoachingThresholds: escalation_min_signals must be >= 1 "
                                     "and top_drivers >= 0")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CoachingThresholds:
        """Defaults overridden by ``values`` (e.g. parsed from JSON or TOML).

        Raises:
            ConfigurationError: an unknown name or a bad value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(f"CoachingThresholds: unknown threshold(s) {unknown}; "
                                     f"known: {sorted(known)}")
        return replace(cls(), **dict(values))


@dataclass(frozen=True)
class CallPrediction:
    """A model's prediction for one call (what coaching is driven by).

    Attributes:
        score: positive-class probability.
        predicted_class: 0 or 1.
        threshold: the decision threshold.
        label: what the positive class means (e.g. ``"high_quality_call"``).
        model_name, model_version: where it came from.
    """

    score: float
    predicted_class: int
    threshold: float
    label: str = "label"
    model_name: str = ""
    model_version: str = ""

    @property
    def confidence(self) -> float:
        """How far the score is into the predicted class's side of the threshold, in
        [0.5, 1]: 0.5 at the threshold, 1 at score 0 or 1 (linear in between on each side).

        With a threshold of 0.5 this is the probability of the predicted class; with a tuned
        threshold (say 0.33) the raw probability can be below one half for a predicted
        positive, which this re-centring avoids.
        """
        t = min(max(self.threshold, 1e-12), 1 - 1e-12)
        if self.predicted_class == 1:
            margin = (self.score - t) / (1.0 - t)
        else:
            margin = (t - self.score) / t
        return 0.5 + 0.5 * min(max(margin, 0.0), 1.0)


@dataclass(frozen=True)
class Driver:
    """A feature that pushed the prediction, in log-odds (positive: towards class 1)."""

    feature: str
    value: Any
    contribution: float
    phrase: str


@dataclass(frozen=True)
class Suggestion:
    """One coaching card.

    Attributes:
        rule: the rule's name.
        priority: ``"high"``, ``"medium"`` or ``"positive"``.
        title: a short headline.
        message: what happened and what to do.
        evidence: the feature values that triggered it.
        driver: one of its features is among the prediction's top drivers.
    """

    rule: str
    priority: Priority
    title: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    driver: bool = False


@dataclass(frozen=True)
class Finding:
    """What a rule's check returns when it fires."""

    title: str
    message: str
    evidence: Mapping[str, Any]


class Row:
    """Read access to one call's features: absent, missing and non-finite values are
    ``None``."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def num(self, name: str) -> float | None:
        """The feature as a float, or ``None`` when absent/missing/non-numeric."""
        value = self._values.get(name)
        if value is None or value is pd.NA or isinstance(value, (str, bool)):
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        return x if math.isfinite(x) else None

    def text(self, name: str) -> str | None:
        """The feature as a string label, or ``None``."""
        value = self._values.get(name)
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return str(value)

    def first(self, *names: str) -> tuple[str, float] | None:
        """The first of ``names`` that has a numeric value, with that value."""
        for n in names:
            x = self.num(n)
            if x is not None:
                return n, x
        return None


Check = Callable[[Row, CoachingThresholds, "CallPrediction | None"], "Finding | None"]


@dataclass(frozen=True)
class Rule:
    """A coaching rule.

    Attributes:
        name: identifier (unique in an engine).
        priority: of the suggestions it makes.
        features: the features it reads; the rule is skipped when none has a value (and,
            for ``uses_prediction`` rules, no prediction is given).
        check: ``(row, thresholds, prediction) -> Finding | None``.
        uses_prediction: the rule can fire on the prediction alone.
    """

    name: str
    priority: Priority
    features: tuple[str, ...]
    check: Check
    uses_prediction: bool = False

    def applicable(self, row: Row, prediction: CallPrediction | None) -> bool:
        """Whether the rule has anything to read."""
        if self.uses_prediction and prediction is not None:
            return True
        return any(row.num(f) is not None or row.text(f) is not None for f in self.features)


# --------------------------------------------------------------------------- rules


def _stress(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    x = row.num("stress_indicators")
    if x is None or x < t.stress_high:
        return None
    return Finding("High stress in the call",
                   f"Stress indicators at {x:.2f} (threshold {t.stress_high:.2f}). Slow down, "
                   "acknowledge the customer's concern in your own words and keep a calm, "
                   "steady tone before moving to the solution.",
                   {"stress_indicators": x})


def _negative_sentiment(row: Row, t: CoachingThresholds, p: CallPrediction | None
                        ) -> Finding | None:
    hit = row.first("customer_sentiment_end", "sentiment_score")
    if hit is None or hit[1] > t.customer_sentiment_low:
        return None
    name, x = hit
    where = "at the end of the call" if name == "customer_sentiment_end" else "over the call"
    return Finding("Customer sentiment very negative",
                   f"Customer sentiment {where} is {x:.2f} on a 0-1 scale (threshold "
                   f"{t.customer_sentiment_low:.2f}). Confirm what was agreed, apologise for "
                   "the trouble and schedule a follow-up so the customer leaves with a next "
                   "step.", {name: x})


def _escalation(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    signals: list[str] = []
    evidence: dict[str, Any] = {}
    trend = row.num("customer_sentiment_trend")
    if trend is not None and trend <= -t.sentiment_drop:
        signals.append(f"customer sentiment fell by {-trend:.2f}")
        evidence["customer_sentiment_trend"] = trend
    cust = row.num("customer_interruption_count")
    if cust is not None and cust >= t.customer_interruptions_high:
        signals.append(f"the customer interrupted {cust:.0f} times")
        evidence["customer_interruption_count"] = cust
    emotion = row.text("dominant_emotion")
    if emotion is not None and emotion.lower() in ("angry", "anger"):
        signals.append("anger was the dominant emotion")
        evidence["dominant_emotion"] = emotion
    if p is not None and p.score <= t.escalation_score_low:
        signals.append(f"the model gives it {p.score:.0%} chance of a good outcome")
        evidence["score"] = p.score
    if len(signals) < t.escalation_min_signals:
        return None
    return Finding("Escalation risk",
                   f"Signs of escalation: {'; '.join(signals)}. Offer a concrete resolution or "
                   "a supervisor callback now, and follow up within a day.", evidence)


def _pace(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    hit = row.first("agent_speaking_rate_wpm", "speaking_rate_wpm")
    if hit is None:
        return None
    name, x = hit
    if x >= t.speaking_rate_high_wpm:
        return Finding("Speaking fast",
                       f"Speaking pace {x:.0f} words/min (comfortable up to "
                       f"{t.speaking_rate_high_wpm:.0f}). Slow down and pause after key "
                       "information so the customer can follow.", {name: x})
    if x <= t.speaking_rate_low_wpm:
        return Finding("Speaking slowly",
                       f"Speaking pace {x:.0f} words/min (below {t.speaking_rate_low_wpm:.0f})"
                       ". Keep the conversation moving; prepare the next step while the "
                       "customer talks.", {name: x})
    return None


def _interruptions(row: Row, t: CoachingThresholds, p: CallPrediction | None
                   ) -> Finding | None:
    hit = row.first("agent_interruption_count", "interruption_count")
    if hit is None or hit[1] < t.interruptions_high:
        return None
    name, x = hit
    who = "You interrupted the customer" if name == "agent_interruption_count" else \
        "Speakers interrupted each other"
    return Finding("Frequent interruptions",
                   f"{who} {x:.0f} times (threshold {t.interruptions_high}). Let the customer "
                   "finish, then summarise what you heard before answering.", {name: x})


def _talk_ratio(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    x = row.num("agent_talk_ratio")
    if x is None:
        return None
    if x >= t.talk_ratio_high:
        return Finding("Talk-ratio imbalance",
                       f"You spoke {x:.0%} of the talk time (aim below "
                       f"{t.talk_ratio_high:.0%}). Ask open questions and let the customer "
                       "explain.", {"agent_talk_ratio": x})
    if x <= t.talk_ratio_low:
        return Finding("Talk-ratio imbalance",
                       f"You spoke only {x:.0%} of the talk time (aim above "
                       f"{t.talk_ratio_low:.0%}). Guide the conversation: summarise, propose "
                       "next steps.", {"agent_talk_ratio": x})
    return None


def _monologue(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    x = row.num("longest_monologue_sec")
    if x is None or x < t.monologue_high_sec:
        return None
    return Finding("Long monologue",
                   f"The longest single turn lasted {x:.0f} s (threshold "
                   f"{t.monologue_high_sec:.0f} s). Break long explanations into steps and "
                   "check understanding in between.", {"longest_monologue_sec": x})


def _pauses(row: Row, t: CoachingThresholds, p: CallPrediction | None) -> Finding | None:
    evidence: dict[str, Any] = {}
    parts: list[str] = []
    pause = row.num("avg_pause_duration_sec")
    if pause is not None and pause >= t.avg_pause_high_sec:
        parts.append(f"pauses average {pause:.1f} s")
        evidence["avg_pause_duration_sec"] = pause
    holds = row.num("long_silence_count")
    if holds is not None and holds >= t.long_silences_high:
        parts.append(f"{holds:.0f} silences over 5 s")
        evidence["long_silence_count"] = holds
    if not parts:
        return None
    return Finding("Long pauses or holds",
                   f"{'; '.join(parts).capitalize()}. Tell the customer what you are doing "
                   "and how long it takes before going quiet or placing them on hold.",
                   evidence)


#: The built-in rules, in evaluation order.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("stress", "high", ("stress_indicators",), _stress),
    Rule("negative_customer_sentiment", "high",
         ("customer_sentiment_end", "sentiment_score"), _negative_sentiment),
    Rule("escalation_risk", "high",
         ("customer_sentiment_trend", "customer_interruption_count", "dominant_emotion"),
         _escalation, uses_prediction=True),
    Rule("speaking_pace", "medium", ("agent_speaking_rate_wpm", "speaking_rate_wpm"), _pace),
    Rule("interruptions", "medium", ("agent_interruption_count", "interruption_count"),
         _interruptions),
    Rule("talk_ratio", "medium", ("agent_talk_ratio",), _talk_ratio),
    Rule("long_monologue", "medium", ("longest_monologue_sec",), _monologue),
    Rule("long_pauses", "medium", ("avg_pause_duration_sec", "long_silence_count"), _pauses),
)

# --------------------------------------------------------------------------- explanations

_PHRASES: dict[str, Callable[[float | None], str]] = {
    "interruption_count": lambda v: "no interruptions" if v == 0 else "interruptions",
    "agent_interruption_count": lambda v: "agent interruptions",
    "customer_interruption_count": lambda v: "customer interruptions",
    "customer_sentiment_trend": lambda v: "falling customer sentiment"
    if v is not None and v < 0 else "rising customer sentiment",
    "customer_sentiment_end": lambda v: "negative customer sentiment at the end"
    if v is not None and v < 0.5 else "positive customer sentiment at the end",
    "customer_sentiment_start": lambda v: "customer sentiment at the start",
    "sentiment_score": lambda v: "negative sentiment" if v is not None and v < 0.5
    else "positive sentiment",
    "stress_indicators": lambda v: "stress",
    "avg_emotion_score": lambda v: "negative emotion",
    "agent_talk_ratio": lambda v: "talk ratio" if v is None else
    "agent talking most of the time" if v > 0.6 else
    "customer talking most of the time" if v < 0.4 else "balanced talk time",
    "speaking_rate_wpm": lambda v: "speaking pace",
    "agent_speaking_rate_wpm": lambda v: "agent speaking pace",
    "avg_pause_duration_sec": lambda v: "pause length",
    "long_silence_count": lambda v: "no long silences" if v == 0 else "long silences or holds",
    "longest_monologue_sec": lambda v: "monologue length",
    "overtalk_ratio": lambda v: "overtalk",
    "silence_ratio": lambda v: "silence",
}


_UNIT_SUFFIXES = ("_sec", "_hz", "_wpm", "_db", "_per_min")


def describe_feature(name: str, value: Any = None) -> str:
    """A short human phrase for a feature at a value, e.g. ``customer_sentiment_trend`` at
    -0.4 -> ``"falling customer sentiment"``, ``dominant_emotion`` ``"angry"`` ->
    ``"angry emotion"``."""
    phrase = _PHRASES.get(name)
    if phrase is not None:
        return phrase(Row({name: value}).num(name))
    if isinstance(value, str):
        if name == "dominant_emotion":
            return f"{value} emotion"
        if name == "sentiment_label":
            return f"{value} sentiment"
        return f"{name.replace('_', ' ')} {value}"
    base = name
    for suffix in _UNIT_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("_", " ")


@dataclass(frozen=True)
class CoachingReport:
    """The coaching of one call.

    Attributes:
        call_id: the call (``None`` if unknown).
        suggestions: by priority (high, medium, positive), drivers first within a priority.
        prediction: the prediction coaching was driven by, if any.
        drivers: the features that pushed the prediction most towards its class.
        explanation: e.g. ``"low quality because: interruptions, falling customer
            sentiment"`` (``None`` without a prediction and contributions).
        skipped: rules that had no feature to read.
    """

    call_id: str | None
    suggestions: tuple[Suggestion, ...]
    prediction: CallPrediction | None = None
    drivers: tuple[Driver, ...] = ()
    explanation: str | None = None
    skipped: tuple[str, ...] = ()

    def by_priority(self, priority: Priority) -> list[Suggestion]:
        """The suggestions of one priority."""
        return [s for s in self.suggestions if s.priority == priority]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class CoachingEngine:
    """Evaluates coaching rules on calls.

    Args:
        thresholds: a :class:`CoachingThresholds`, or a mapping of overrides.
        rules: the rules (default :data:`DEFAULT_RULES`); add your own :class:`Rule`.
        positive_is_good: the model's positive class is the good outcome (e.g.
            ``high_quality_call``, ``resolved``); set ``False`` for a model predicting a bad
            one (e.g. ``escalated``).
        good_name, bad_name: how the two outcomes read in explanations.
    """

    def __init__(self, thresholds: CoachingThresholds | Mapping[str, Any] | None = None,
                 rules: Sequence[Rule] | None = None, *, positive_is_good: bool = True,
                 good_name: str = "high quality", bad_name: str = "low quality") -> None:
        if thresholds is None:
            thresholds = CoachingThresholds()
        elif not isinstance(thresholds, CoachingThresholds):
            thresholds = CoachingThresholds.from_mapping(thresholds)
        self.thresholds = thresholds
        self.rules = tuple(DEFAULT_RULES if rules is None else rules)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"CoachingEngine: duplicate rule names in {names}")
        bad = [r.name for r in self.rules if r.priority not in _RANK]
        if bad:
            raise ConfigurationError(f"CoachingEngine: rule(s) {bad} have a priority outside "
                                     f"{PRIORITIES}")
        self.positive_is_good = positive_is_good
        self.good_name = good_name
        self.bad_name = bad_name

    def _is_good(self, prediction: CallPrediction) -> bool:
        return (prediction.predicted_class == 1) == self.positive_is_good

    def drivers(self, row: Mapping[str, Any], prediction: CallPrediction,
                contributions: Mapping[str, float] | pd.Series) -> list[Driver]:
        """The features that pushed ``prediction`` towards its class most, largest first
        (at most ``thresholds.top_drivers``; the ``bias`` term is not a feature)."""
        contrib = pd.Series(contributions, dtype=float).drop(labels=["bias"], errors="ignore")
        contrib = contrib[np.isfinite(contrib.to_numpy())]
        sign = 1.0 if prediction.predicted_class == 1 else -1.0
        toward = (contrib * sign)
        toward = toward[toward > 0].sort_values(ascending=False, kind="mergesort")
        out = []
        for name in toward.index[: self.thresholds.top_drivers]:
            value = row.get(str(name))
            out.append(Driver(str(name), plain_value(value), float(contrib[name]),
                              describe_feature(str(name), value)))
        return out

    def coach(self, features: Mapping[str, Any] | pd.Series, *, call_id: str | None = None,
              prediction: CallPrediction | None = None,
              contributions: Mapping[str, float] | pd.Series | None = None) -> CoachingReport:
        """Coaching for one call.

        Args:
            features: the call's features (a table row or a mapping); absent or missing
                features skip the rules that need them.
            call_id: the call's id (defaults to ``features["call_id"]`` when present).
            prediction: the model's prediction for the call.
            contributions: per-feature contributions of that prediction (log-odds towards
                class 1), e.g. a row of ``CallQualityModel.explain``.
        """
        values: Mapping[str, Any] = features.to_dict() if isinstance(features, pd.Series) \
            else features
        if call_id is None and values.get("call_id") is not None:
            call_id = str(values["call_id"])
        row = Row(values)
        t = self.thresholds
        drivers: list[Driver] = []
        explanation = None
        if prediction is not None and contributions is not None:
            drivers = self.drivers(values, prediction, contributions)
            outcome = self.good_name if self._is_good(prediction) else self.bad_name
            explanation = f"{outcome} because: " + ", ".join(d.phrase for d in drivers) \
                if drivers else f"{outcome} (no single feature stands out)"
        bad_drivers = {d.feature for d in drivers} if prediction is not None and \
            not self._is_good(prediction) else set()
        found: list[Suggestion] = []
        skipped: list[str] = []
        covered: set[str] = set()
        for rule in self.rules:
            if not rule.applicable(row, prediction):
                skipped.append(rule.name)
                continue
            hit = rule.check(row, t, prediction)
            if hit is None:
                continue
            is_driver = bool(bad_drivers & (set(rule.features) | set(hit.evidence)))
            covered |= set(rule.features)
            found.append(Suggestion(rule.name, rule.priority, hit.title, hit.message,
                                    dict(hit.evidence), is_driver))
        if prediction is not None and not self._is_good(prediction):
            uncovered = [d for d in drivers if d.feature not in covered]
            if uncovered:
                found.append(Suggestion(
                    "model_drivers", "medium", f"Why the model rates this call {self.bad_name}",
                    f"The model rates this call {self.bad_name} ({prediction.confidence:.0%} "
                    f"confidence) mainly because of: "
                    f"{', '.join(d.phrase for d in uncovered)}. Review these moments of the "
                    "recording.", {d.feature: d.value for d in uncovered}, True))
        considered = len(skipped) < len(self.rules)
        if considered and not any(s.priority in ("high", "medium") for s in found) and (
                prediction is None or self._is_good(prediction)):
            found.append(self._reinforce(row, prediction))
        found.sort(key=lambda s: (_RANK[s.priority], not s.driver))
        return CoachingReport(call_id, tuple(found), prediction, tuple(drivers), explanation,
                              tuple(skipped))

    def _reinforce(self, row: Row, prediction: CallPrediction | None) -> Suggestion:
        t = self.thresholds
        strengths: list[str] = []
        evidence: dict[str, Any] = {}
        ratio = row.num("agent_talk_ratio")
        if ratio is not None:
            strengths.append(f"balanced talk time ({ratio:.0%} agent)")
            evidence["agent_talk_ratio"] = ratio
        hit = row.first("agent_interruption_count", "interruption_count")
        if hit is not None and hit[1] < t.interruptions_high:
            strengths.append("few interruptions" if hit[1] else "no interruptions")
            evidence[hit[0]] = hit[1]
        senti = row.first("customer_sentiment_end", "sentiment_score")
        if senti is not None and senti[1] >= 0.6:
            strengths.append(f"the customer ended positive ({senti[1]:.2f})")
            evidence[senti[0]] = senti[1]
        if prediction is not None:
            evidence["score"] = prediction.score
        what = ", ".join(strengths) if strengths else "no issue found by the coaching rules"
        lead = f"Rated {self.good_name} ({prediction.confidence:.0%} confidence). " \
            if prediction is not None else ""
        return Suggestion("positive_reinforcement", "positive", "Well done",
                          f"{lead}Strengths: {what}. Keep doing this.", evidence)

    def coach_frame(self, features: pd.DataFrame, *,
                    predictions: Sequence[CallPrediction | None] | None = None,
                    contributions: pd.DataFrame | None = None) -> list[CoachingReport]:
        """:meth:`coach` for every row of ``features`` (``predictions`` and
        ``contributions`` aligned with its rows)."""
        if predictions is not None and len(predictions) != len(features):
            raise ConfigurationError(f"coach_frame: {len(predictions)} predictions for "
                                     f"{len(features)} rows")
        if contributions is not None and len(contributions) != len(features):
            raise ConfigurationError(f"coach_frame: {len(contributions)} contribution rows "
                                     f"for {len(features)} rows")
        out = []
        for i, rec in enumerate(features.to_dict("records")):
            out.append(self.coach(
                rec, prediction=None if predictions is None else predictions[i],
                contributions=None if contributions is None else contributions.iloc[i]))
        return out


def plain_value(value: Any) -> Any:
    """A table cell as a plain Python value; missing markers (None, NA, NaT, NaN) -> ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def coach_calls(backend: Any, call_ids: Sequence[str], *,
                model: Any = "call_quality@PRODUCTION",
                engine: CoachingEngine | None = None) -> list[CoachingReport]:
    """Coaching of calls in a store: their features from the online store, the prediction
    of the model ``model`` points at, and that prediction's contributions.

    Args:
        backend: a :class:`~callquality.protocols.Backend`.
        call_ids: the calls.
        model: a registry reference or a loaded :class:`callquality.serving.LoadedModel`.
        engine: the rules and thresholds (default :class:`CoachingEngine`).

    Returns:
        One report per call id, in order. A call the store does not hold gets no prediction
        and only the rules its (absent) features allow.

    Raises:
        NotFoundError, IntegrityError: the model cannot be loaded.
    """
    from .serving import LoadedModel, OnlineFeatures, load_registered

    engine = engine or CoachingEngine()
    lm = model if isinstance(model, LoadedModel) else load_registered(backend, model)
    online = OnlineFeatures(backend.feature_store, _wanted_features(lm.feature_names))
    frame, found = online.fetch(list(call_ids))
    return coach_rows(engine, lm, frame, found)


def _wanted_features(model_features: Iterable[str]) -> list[str]:
    """The model's features plus every feature a built-in rule reads."""
    wanted = list(dict.fromkeys(model_features))
    for rule in DEFAULT_RULES:
        wanted += [f for f in rule.features if f not in wanted]
    return wanted


def coach_rows(engine: CoachingEngine, lm: Any, frame: pd.DataFrame,
               found: np.ndarray | None = None) -> list[CoachingReport]:
    """Coaching of the rows of a feature table with a loaded model (``found[i]`` false:
    the row has no features, so no prediction)."""
    ok = np.ones(len(frame), dtype=bool) if found is None else np.asarray(found, dtype=bool)
    predictions: list[CallPrediction | None] = [None] * len(frame)
    contribs: list[pd.Series | None] = [None] * len(frame)
    if ok.any():
        rows = frame[ok]
        scores, classes = lm.predict(rows)
        explain = getattr(lm.model, "explain", None)
        table = explain(rows) if callable(explain) else None
        for j, pos in enumerate(np.flatnonzero(ok).tolist()):
            predictions[pos] = CallPrediction(float(scores[j]), int(classes[j]), lm.threshold,
                                              lm.label, lm.model_name, lm.version)
            if table is not None:
                contribs[pos] = table.iloc[j]
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        out.append(engine.coach(rec, prediction=predictions[i], contributions=contribs[i]))
    return out


def suggestions_table(reports: Iterable[CoachingReport]) -> pd.DataFrame:
    """One row per suggestion: ``call_id``, ``priority``, ``rule``, ``title``, ``message``,
    ``driver``, ``explanation``."""
    records = [{"call_id": r.call_id, "priority": s.priority, "rule": s.rule,
                "title": s.title, "message": s.message, "driver": s.driver,
                "explanation": r.explanation}
               for r in reports for s in r.suggestions]
    return pd.DataFrame.from_records(records, columns=["call_id", "priority", "rule", "title",
                                                       "message", "driver", "explanation"])
