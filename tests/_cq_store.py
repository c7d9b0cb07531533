"""A small persisted store for the serving, coaching and dashboard tests: synthetic calls of
every feature group in the feature store (online), a real CallQualityModel trained on them and
aliased PRODUCTION, and two hand-made calls whose coaching is known."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import callquality as cq
from callquality.backends.local import CALL_ENTITY
from callquality.protocols import FeatureViewSpec
from callquality.schema import feature_names
from callquality.training import XGBTrainer, build_dataset, make_synthetic_calls

LABEL = "high_quality_call"
MODEL = "call_quality"
STRESSED = "call-stressed"
CALM = "call-calm"


@dataclass
class StoreInfo:
    path: Path
    version: str
    features: pd.DataFrame  # every call's features, as ingested


def crafted_calls(template: pd.DataFrame) -> pd.DataFrame:
    """Two calls: one that trips the high-priority rules, one where all is well."""
    base = template.iloc[[0, 0]].reset_index(drop=True).copy()
    base["call_id"] = [STRESSED, CALM]
    base["agent_id"] = ["agent-x", "agent-x"]
    base["processed_at"] = pd.Timestamp("2025-02-01", tz="UTC") + pd.to_timedelta([1, 0], "h")
    values = {
        "stress_indicators": [0.91, 0.05], "customer_sentiment_end": [0.08, 0.86],
        "customer_sentiment_start": [0.60, 0.70], "customer_sentiment_trend": [-0.52, 0.16],
        "sentiment_score": [0.12, 0.84], "sentiment_label": ["negative", "positive"],
        "customer_interruption_count": [6, 0], "agent_interruption_count": [5, 0],
        "interruption_count": [11, 0], "dominant_emotion": ["angry", "happy"],
        "agent_talk_ratio": [0.81, 0.48], "speaking_rate_wpm": [205.0, 150.0],
        "agent_speaking_rate_wpm": [212.0, 148.0], "avg_pause_duration_sec": [0.6, 0.5],
        "long_silence_count": [0, 0], "longest_monologue_sec": [25.0, 20.0],
        "avg_emotion_score": [0.8, 0.1],
    }
    for name, vals in values.items():
        base[name] = pd.Series(vals, dtype=base[name].dtype)
    return base


def build_store(path: Path, *, n_calls: int = 160, seed: int = 0) -> StoreInfo:
    """Build the store at ``path`` (about a second)."""
    feats, outs = make_synthetic_calls(n_calls, n_agents=12, class_sep=1.5, label=LABEL,
                                       seed=seed)
    ds = build_dataset(feats, outs, label=LABEL)
    model = XGBTrainer(n_estimators=20, cv_folds=3, seed=seed).fit(
        ds.frame, label=LABEL, features=ds.features)
    all_calls = pd.concat([feats, crafted_calls(feats)], ignore_index=True)
    with cq.connect("local", path=path) as backend:
        fs = backend.feature_store
        fs.register_feature_view(FeatureViewSpec(
            "extended_features", CALL_ENTITY, tuple(feature_names("extended")),
            description="per-speaker and sentiment-trend measures (test store)"))
        for view in ("acoustic_features", "emotion_sentiment_features", "ner_content_features",
                     "extended_features"):
            fs.ingest(view, all_calls)
        info = backend.registry.log_model(model, model_name=MODEL,
                                          metrics={"test_f1": 0.9}, comment="test store")
        backend.registry.set_alias(MODEL, info.version, "PRODUCTION")
    return StoreInfo(path, info.version, all_calls)


def expected_scores(path: Path, rows: pd.DataFrame) -> np.ndarray:
    """What the PRODUCTION model of the store at ``path`` gives ``rows``."""
    with cq.connect("local", path=path) as backend:
        model = backend.registry.load_model(f"{MODEL}@PRODUCTION")
        return np.asarray(model.predict_proba(rows), dtype=float)
