"""Synthetic call tables with a planted signal, for tests, examples and benchmarks.

Built on ``sklearn.datasets.make_classification``: its informative columns are mapped (by
monotone transforms into each feature's valid range) onto features of several schema groups,
so every quickstart experiment has something to find; the remaining columns are noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..schema import FEATURES

__all__ = ["INFORMATIVE", "SIGNAL_FEATURES", "make_synthetic_calls"]

#: Numeric schema features that are ``make_classification``'s informative columns.
INFORMATIVE: tuple[str, ...] = (
    "agent_talk_ratio", "interruption_count", "avg_emotion_score", "sentiment_score",
    "speaking_rate_wpm", "stress_indicators",
)

#: Every feature related to the label: :data:`INFORMATIVE`, ``dominant_emotion`` (drawn with
#: class-dependent probabilities) and ``sentiment_label`` (binned ``sentiment_score``).
SIGNAL_FEATURES: tuple[str, ...] = (*INFORMATIVE, "dominant_emotion", "sentiment_label")


def _to_range(x: np.ndarray, lo: float, hi: float, integer: bool) -> np.ndarray:
    if integer:
        return np.floor(np.exp(0.6 * np.clip(x, -6, 6)) * 4.0)
    if math.isinf(hi) and math.isinf(lo):
        return x
    if math.isinf(hi):
        return lo + np.exp(0.5 * np.clip(x, -8, 8))
    return lo + (hi - lo) / (1.0 + np.exp(-x))


def make_synthetic_calls(
    n_calls: int = 1000,
    *,
    n_agents: int = 40,
    positive_rate: float = 0.3,
    class_sep: float = 1.0,
    label: str = "resolved",
    groups: Sequence[str] | None = None,
    missing_rate: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A features table and an outcomes table that join on ``call_id``.

    Args:
        n_calls: rows.
        n_agents: distinct ``agent_id`` values (calls per agent vary).
        positive_rate: expected share of label 1.
        class_sep: ``make_classification``'s separation; larger is easier.
        label: outcome column name.
        groups: schema groups to include (default: all).
        missing_rate: share of numeric feature cells set to missing (NaN), at random.
        seed: random seed.

    Returns:
        ``(features, outcomes)``: ``features`` has ``call_id, agent_id, processed_at``, the
        features in schema order (with their schema dtypes; categoricals as strings) and
        ``error`` (all ``None``); ``outcomes`` has ``call_id`` and ``label`` (0/1 ``int64``).
    """
    from sklearn.datasets import make_classification

    specs = [s for s in FEATURES if groups is None or s.group in groups]
    numeric = [s for s in specs if not s.is_categorical]
    informative = [s for s in numeric if s.name in INFORMATIVE]
    rest = [s for s in numeric if s.name not in INFORMATIVE]
    ordered = informative + rest
    n_inf = max(1, len(informative))
    X, y = make_classification(
        n_samples=n_calls, n_features=max(len(ordered), n_inf), n_informative=n_inf,
        n_redundant=0, n_repeated=0, n_clusters_per_class=1, weights=[1 - positive_rate],
        class_sep=class_sep, flip_y=0.02, shuffle=False, random_state=seed,
    )
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "call_id": [f"call-{i:06d}" for i in range(n_calls)],
        "agent_id": [f"agent-{a:03d}" for a in
                     rng.choice(n_agents, size=n_calls, p=rng.dirichlet(np.full(n_agents, 3.0)))],
        "processed_at": pd.Timestamp("2025-01-01", tz="UTC")
        + pd.to_timedelta(np.arange(n_calls), unit="min"),
    }
    values: dict[str, np.ndarray] = {}
    for j, spec in enumerate(ordered):
        lo, hi = spec.valid_range or (-math.inf, math.inf)
        v = _to_range(X[:, j], lo, hi, spec.dtype == "int64")
        if missing_rate and spec.dtype == "float64":
            v = v.astype(np.float64)
            v[rng.random(n_calls) < missing_rate] = np.nan
        values[spec.name] = v
    for spec in specs:
        if spec.name == "sentiment_label":
            score = values.get("sentiment_score", rng.random(n_calls))
            lab = np.where(score < 0.4, "negative", np.where(score > 0.6, "positive", "neutral"))
            cols[spec.name] = pd.array(lab, dtype="string")
        elif spec.name == "dominant_emotion":
            emotions = np.array(["angry", "happy", "neutral", "sad"])
            p_pos = np.array([0.1, 0.4, 0.4, 0.1])
            p_neg = np.array([0.35, 0.1, 0.3, 0.25])
            u = rng.random(n_calls)
            cum = np.where(y[:, None] == 1, np.cumsum(p_pos), np.cumsum(p_neg))
            cols[spec.name] = pd.array(emotions[(u[:, None] > cum).sum(axis=1)], dtype="string")
        elif spec.dtype == "int64":
            cols[spec.name] = values[spec.name].astype(np.int64)
        else:
            cols[spec.name] = values[spec.name].astype(np.float64)
    cols["error"] = pd.Series([None] * n_calls, dtype=object)
    features = pd.DataFrame(cols)
    outcomes = pd.DataFrame({"call_id": features["call_id"], label: y.astype(np.int64)})
    return features, outcomes
