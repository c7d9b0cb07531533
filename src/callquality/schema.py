"""The feature schema: the single source of truth for every call-level feature.

Extraction output, feature-store views, training feature sets, Snowflake DDL and the
documentation table are all generated from :data:`FEATURES`.

The 33 names of the ``acoustic``, ``interaction``, ``emotion`` and ``content`` groups are the
column names of Snowflake's "From Dev to Production" call-quality quickstart, kept so that users
migrating from it keep their tables. The ``extended`` group adds measures found in call-analytics
products. Every feature here is *measured*: its description says exactly what is computed, in
which unit, from which signal.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FEATURES",
    "GROUPS",
    "FeatureSpec",
    "feature_names",
    "feature_spec",
    "feature_table_markdown",
    "schema_hash",
]

Group = Literal["acoustic", "interaction", "emotion", "content", "extended"]
DType = Literal["float64", "int64", "string"]

#: Feature groups in schema order. The first four are the quickstart's.
GROUPS: tuple[Group, ...] = ("acoustic", "interaction", "emotion", "content", "extended")

_INF = math.inf


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column.

    Attributes:
        name: column name (snake_case; upper-cased for Snowflake).
        group: one of :data:`GROUPS`.
        dtype: pandas/Arrow dtype of the column: ``"float64"``, ``"int64"`` or ``"string"``.
        unit: physical unit, ``"1"`` for dimensionless ratios, ``"count"`` or ``"label"``.
        description: what exactly is measured.
        valid_range: closed interval ``(low, high)`` that every non-missing value lies in, or
            ``None`` for categorical features. ``inf`` marks an open end.
    """

    name: str
    group: Group
    dtype: DType
    unit: str
    description: str
    valid_range: tuple[float, float] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.dtype == "string"

    def in_range(self, value: object) -> bool:
        """True when ``value`` is missing or within :attr:`valid_range`."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return True
        if self.valid_range is None:
            return isinstance(value, str)
        lo, hi = self.valid_range
        return lo <= float(value) <= hi  # type: ignore[arg-type]


def _f(name: str, group: Group, unit: str, desc: str, lo: float, hi: float) -> FeatureSpec:
    return FeatureSpec(name, group, "float64", unit, desc, (lo, hi))


def _i(name: str, group: Group, desc: str, hi: float = _INF) -> FeatureSpec:
    return FeatureSpec(name, group, "int64", "count", desc, (0, hi))


def _s(name: str, group: Group, desc: str) -> FeatureSpec:
    return FeatureSpec(name, group, "string", "label", desc, None)


FEATURES: tuple[FeatureSpec, ...] = (
    # ------------------------------------------------------------------ acoustic (17)
    _f("speaking_rate_wpm", "acoustic", "words/min",
       "Words per minute of talk time (all speakers): transcript words divided by voice-active "
       "time; without a transcript, syllable nuclei (voiced intensity peaks) / 1.5 per minute.",
       0, 600),
    _f("speech_rate_variability", "acoustic", "1",
       "Coefficient of variation (std / mean) of the per-utterance speaking rate across "
       "utterances of at least 1 s.", 0, _INF),
    _f("avg_pause_duration_sec", "acoustic", "s",
       "Mean duration of within-speaker pauses: silences of >= 250 ms between two speech "
       "stretches of the same speaker while the other speaker is silent.", 0, _INF),
    _f("pause_frequency_per_min", "acoustic", "1/min",
       "Number of within-speaker pauses (as above) per minute of call duration.", 0, _INF),
    _f("avg_pitch_hz", "acoustic", "Hz",
       "Mean fundamental frequency (YIN, 75-600 Hz) over voiced frames of voice-active speech, "
       "all speakers pooled. NaN when no frame is voiced.", 0, 1000),
    _f("pitch_variance", "acoustic", "Hz^2",
       "Variance of F0 over the same voiced frames.", 0, _INF),
    _f("pitch_range_hz", "acoustic", "Hz",
       "Robust F0 range: 95th minus 5th percentile of F0 over voiced frames.", 0, 1000),
    _f("energy_mean", "acoustic", "1",
       "Mean frame RMS amplitude (full scale = 1) over voice-active frames.", 0, 1),
    _f("energy_variance", "acoustic", "1",
       "Variance of frame RMS amplitude over voice-active frames.", 0, 1),
    _f("dynamic_range_db", "acoustic", "dB",
       "95th minus 5th percentile of frame level in dBFS over voice-active frames.", 0, 200),
    _f("spectral_centroid", "acoustic", "Hz",
       "Mean magnitude-weighted spectral centroid over voice-active frames.", 0, 48000),
    _f("harmonics_to_noise_ratio", "acoustic", "dB",
       "Mean HNR as Praat's 'To Harmonicity (cc)' (10*log10(r/(1-r)) of the normalised "
       "cross-correlation peak, 10 ms step, 75 Hz floor, 1 period/window) over voiced frames.",
       -200, 100),
    _f("jitter", "acoustic", "1",
       "Local jitter as Praat defines it: mean absolute difference of consecutive glottal "
       "periods divided by the mean period (periods 0.1-20 ms, period factor 1.3). A fraction, "
       "not a percent.", 0, 1),
    _f("shimmer", "acoustic", "1",
       "Local shimmer as Praat defines it: mean absolute difference of consecutive period peak "
       "amplitudes divided by the mean amplitude (amplitude factor 1.6). A fraction.", 0, 2),
    _f("zero_crossing_rate", "acoustic", "1",
       "Mean fraction of sign changes per sample pair over voice-active frames.", 0, 1),
    _f("silence_ratio", "acoustic", "1",
       "Fraction of the call during which no speaker is voice-active.", 0, 1),
    _f("speech_to_silence_ratio", "acoustic", "1",
       "Voice-active time of any speaker divided by silent time (inf-safe: silence floored at "
       "one frame).", 0, _INF),
    # ------------------------------------------------------------------ interaction (4)
    _i("interruption_count", "interaction",
       "Number of interruptions, both directions: the other speaker starts while one is "
       "mid-turn, they overlap >= 200 ms and the starter talks >= 1 s (shorter overlaps are "
       "backchannels)."),
    _f("agent_talk_ratio", "interaction", "1",
       "Agent voice-active time divided by the voice-active time of agent plus customer.", 0, 1),
    _f("turn_taking_rate", "interaction", "1/min",
       "Speaker changes (floor transfers) per minute of call duration.", 0, _INF),
    _f("avg_turn_duration_sec", "interaction", "s",
       "Mean duration of a turn: a maximal stretch in which one speaker holds the floor.",
       0, _INF),
    # ------------------------------------------------------------------ emotion (4)
    _f("avg_emotion_score", "emotion", "1",
       "Mean probability of a negative emotion (angry, disgust, fearful, sad) over the "
       "analysis windows of the call.", 0, 1),
    _f("emotion_volatility", "emotion", "1",
       "Standard deviation of the negative-emotion probability across analysis windows.",
       0, 1),
    _f("stress_indicators", "emotion", "1",
       "Mean probability of high-arousal negative emotion (angry + fearful) across windows.",
       0, 1),
    _s("dominant_emotion", "emotion",
       "Emotion label with the highest mean probability over the call's windows."),
    # ------------------------------------------------------------------ content (8)
    _i("word_count", "content", "Number of words in the call transcript (all speakers)."),
    _i("entity_count", "content", "Number of named-entity mentions in the transcript."),
    _i("entities_person", "content", "Person mentions (PERSON / PER)."),
    _i("entities_org", "content", "Organisation mentions (ORG)."),
    _i("entities_loc", "content", "Location mentions (LOC, GPE, FAC)."),
    _i("entities_misc", "content", "All other entity mentions (MISC, NORP, PRODUCT, ...)."),
    _s("sentiment_label", "content", "Overall transcript sentiment: negative, neutral or positive."),
    _f("sentiment_score", "content", "1",
       "Overall sentiment as a polarity in [0, 1]: 0 very negative, 0.5 neutral, 1 very "
       "positive.", 0, 1),
    # ------------------------------------------------------------------ extended
    _f("agent_talk_time_sec", "extended", "s", "Agent voice-active time.", 0, _INF),
    _f("customer_talk_time_sec", "extended", "s", "Customer voice-active time.", 0, _INF),
    _f("agent_speaking_rate_wpm", "extended", "words/min",
       "Agent words (or syllable-estimated words) per minute of agent talk time.", 0, 600),
    _f("customer_speaking_rate_wpm", "extended", "words/min",
       "Customer words (or syllable-estimated words) per minute of customer talk time.", 0, 600),
    _i("agent_interruption_count", "extended", "Interruptions started by the agent."),
    _i("customer_interruption_count", "extended", "Interruptions started by the customer."),
    _f("overtalk_ratio", "extended", "1",
       "Fraction of the call during which both speakers are voice-active.", 0, 1),
    _f("longest_monologue_sec", "extended", "s", "Duration of the longest single turn.", 0, _INF),
    _i("long_silence_count", "extended",
       "Silences in which nobody speaks for more than 5 s (holds, dead air)."),
    _f("call_duration_sec", "extended", "s", "Duration of the recording.", 0, _INF),
    _f("customer_sentiment_start", "extended", "1",
       "Customer sentiment polarity in [0, 1] over the first third of the customer's words.",
       0, 1),
    _f("customer_sentiment_end", "extended", "1",
       "Customer sentiment polarity in [0, 1] over the last third of the customer's words.",
       0, 1),
    _f("customer_sentiment_trend", "extended", "1",
       "customer_sentiment_end minus customer_sentiment_start.", -1, 1),
)

_BY_NAME = {spec.name: spec for spec in FEATURES}


def feature_names(group: str | tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Feature names in schema order, optionally restricted to one or more groups.

    Args:
        group: a group name, a sequence of group names, or ``None`` for all features.

    Raises:
        ValueError: if a group is unknown.
    """
    if group is None:
        return [spec.name for spec in FEATURES]
    groups = (group,) if isinstance(group, str) else tuple(group)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"feature_names: unknown group(s) {unknown}; expected some of {GROUPS}")
    return [spec.name for spec in FEATURES if spec.group in groups]


def feature_spec(name: str) -> FeatureSpec:
    """The :class:`FeatureSpec` of ``name``; ``KeyError`` naming the feature if unknown."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"feature_spec: unknown feature {name!r}") from None


def schema_hash(names: list[str] | tuple[str, ...] | None = None) -> str:
    """A short stable hash of the specs (name, group, dtype, unit) of ``names`` (default: all).

    Models record it so that a change of meaning of a feature is detected at load time.
    """
    specs = FEATURES if names is None else tuple(feature_spec(n) for n in names)
    text = "\n".join(f"{s.name}|{s.group}|{s.dtype}|{s.unit}" for s in specs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fmt_range(spec: FeatureSpec) -> str:
    if spec.valid_range is None:
        return "category"

    def fmt(x: float) -> str:
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        return f"{x:g}"

    lo, hi = spec.valid_range
    return f"[{fmt(lo)}, {fmt(hi)}]"


def feature_table_markdown() -> str:
    """The Markdown table of all features, as embedded in README.md and docs/features.md."""
    rows = ["| feature | group | type | unit | range | definition |",
            "| --- | --- | --- | --- | --- | --- |"]
    for s in FEATURES:
        rows.append(f"| `{s.name}` | {s.group} | {s.dtype} | {s.unit} | {_fmt_range(s)} | "
                    f"{s.description} |")
    return "\n".join(rows) + "\n"


TABLE_START = "<!-- feature-table:start (generated by `python -m callquality.schema`) -->"
TABLE_END = "<!-- feature-table:end -->"


def embed_feature_table(text: str) -> str:
    """Replace the block between :data:`TABLE_START` and :data:`TABLE_END` in ``text``."""
    start, end = text.index(TABLE_START), text.index(TABLE_END)
    return text[: start + len(TABLE_START)] + "\n\n" + feature_table_markdown() + "\n" + text[end:]


if __name__ == "__main__":  # regenerate the tables in README.md and docs/features.md
    import sys
    from pathlib import Path

    for doc in sys.argv[1:] or ["README.md", "docs/features.md"]:
        p = Path(doc)
        p.write_text(embed_feature_table(p.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"updated {p}")
