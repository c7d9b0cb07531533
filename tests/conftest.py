"""Shared fixtures: the fixture corpus and its extracted features, computed once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import callquality as cq

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"
AUDIO_GROUPS = ("acoustic", "interaction", "extended")


@pytest.fixture(scope="session")
def corpus() -> list[cq.Call]:
    """Every call of examples/fixtures (audio + sidecar with ground truth)."""
    calls = list(cq.load_calls(FIXTURES, progress=False))
    if not calls:
        pytest.skip("fixture corpus missing: run `make fixtures`")
    return calls


@pytest.fixture(scope="session")
def corpus_features(corpus: list[cq.Call]) -> pd.DataFrame:
    """The audio feature groups of every fixture call (one extraction per test session)."""
    return cq.extract(corpus, groups=AUDIO_GROUPS, device="cpu", progress=False)
