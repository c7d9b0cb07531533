"""Shared fixtures: the fixture corpus and its extracted features, computed once per session."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
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


def _speech_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, np.ndarray]]:
    """``(name, sr, samples)`` clips of single-speaker speech for the Praat comparisons.

    From the fixture corpus when it exists (each stereo channel with everything outside its
    own speaker's utterances set to zero, so both tools analyse exactly the same audio), else
    espeak-ng sentences synthesised here.
    """

    clips: list[tuple[str, int, np.ndarray]] = []
    if FIXTURES.is_dir() and any(FIXTURES.glob("*.flac")):
        calls = [c for c in cq.load_calls(FIXTURES) if c.is_stereo and c.ground_truth]
        for c in calls[:6]:
            y = c.audio()
            sr = c.sample_rate
            for ch, spk in enumerate(c.channels):
                x = np.zeros_like(y[ch])
                for u in c.ground_truth.get("utterances", []):
                    if u["speaker"] == spk:
                        a, b = int(u["start"] * sr), int(math.ceil(u["end"] * sr)) + 1
                        x[a:b] = y[ch, a:b]
                if np.abs(x).max() > 0:
                    clips.append((f"{c.call_id}:{spk}", sr, x))
        if clips:
            return clips
    if shutil.which("espeak-ng") is None:
        pytest.skip("no fixture corpus and no espeak-ng to synthesise speech")
    import soundfile as sf
    import soxr

    text = ("Hello, thank you for calling customer support. My name is Anna, how can I help "
            "you today? I understand your order has not arrived yet, let me check that for you.")
    tmp = tmp_path_factory.mktemp("espeak")
    for i, voice in enumerate(["en-us", "en+f3", "en+m3", "en-gb+f2"]):
        wav = tmp / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True,
                       capture_output=True)
        y, sr0 = sf.read(wav, dtype="float32")
        for sr in (8000, 16000):
            clips.append((f"{voice}@{sr}", sr, soxr.resample(y, sr0, sr).astype(np.float32)))
    return clips


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, np.ndarray]]:
    return _speech_corpus(tmp_path_factory)
