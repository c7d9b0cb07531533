"""The model groups (content, emotion) inside ``cq.extract``: every schema column filled, mono
ASR words given speakers by the diarization, per-call failures recorded, set-up failures raised
before any call runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.calls import AGENT, CUSTOMER, MIXED, Segment, Transcript, Word
from callquality.features import model_groups
from callquality.features.model_groups import ModelStage, assign_speakers
from callquality.schema import feature_spec

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


@pytest.fixture(scope="module")
def calls() -> list[cq.Call]:
    all_calls = list(cq.load_calls(FIXTURES, progress=False))
    if not all_calls:
        pytest.skip("fixture corpus missing")
    mono = [c for c in all_calls if not c.is_stereo][:1]
    stereo = [c for c in all_calls if c.is_stereo][:3]
    return stereo + mono


@pytest.fixture(scope="module")
def table(calls: list[cq.Call]) -> pd.DataFrame:
    return cq.extract(calls, device="cpu", progress=False)


def test_all_groups_fill_every_schema_column(calls: list[cq.Call], table: pd.DataFrame) -> None:
    names = cq.feature_names()
    assert list(table.columns) == ["call_id", "agent_id", "processed_at", *names, "error"]
    assert table["error"].isna().all(), table["error"].tolist()
    for n in names:
        assert table[n].notna().all(), n
        spec = feature_spec(n)
        for v in table[n]:
            assert spec.in_range(v), (n, v)


def test_content_matches_the_sidecar_transcript(calls: list[cq.Call], table: pd.DataFrame
                                                ) -> None:
    for call, (_, row) in zip(calls, table.iterrows(), strict=True):
        assert call.transcript is not None
        assert row["word_count"] == len(call.transcript.words)
        assert row["entity_count"] == (row["entities_person"] + row["entities_org"]
                                       + row["entities_loc"] + row["entities_misc"])
        assert row["customer_sentiment_trend"] == pytest.approx(
            row["customer_sentiment_end"] - row["customer_sentiment_start"])


def test_audio_groups_unchanged_by_model_groups(calls: list[cq.Call], table: pd.DataFrame
                                                ) -> None:
    audio = cq.extract(calls, groups=("acoustic", "interaction"), device="cpu", progress=False)
    cols = cq.feature_names(("acoustic", "interaction"))
    pd.testing.assert_frame_equal(audio[cols], table[cols])


def test_only_model_groups(calls: list[cq.Call]) -> None:
    df = cq.extract(calls[:1], groups=("content",), device="cpu", progress=False)
    assert list(df.columns) == ["call_id", "agent_id", "processed_at",
                                *cq.feature_names("content"), "error"]
    assert df["error"].isna().all() and df["word_count"].iloc[0] > 0


def _mixed(words: list[tuple[str, float, float]]) -> Transcript:
    ws = tuple(Word(t, a, b, MIXED) for t, a, b in words)
    return Transcript((Segment(MIXED, ws[0].start, ws[-1].end, " ".join(w.text for w in ws),
                               ws),), source="test")


def test_assign_speakers_follows_activity() -> None:
    hop = 0.01
    act = np.zeros((2, 400), dtype=bool)
    act[0, 0:150] = True          # agent 0-1.5 s
    act[1, 160:400] = True        # customer 1.6-4 s
    t = _mixed([("hello", 0.1, 0.4), ("there", 0.5, 0.9), ("hi", 1.7, 1.9),
                ("um", 1.51, 1.55), ("yes", 3.0, 3.5)])
    out = assign_speakers(t, act, hop)
    got = [(w.text, w.speaker) for w in out.words]
    assert got == [("hello", AGENT), ("there", AGENT), ("um", AGENT), ("hi", CUSTOMER),
                   ("yes", CUSTOMER)]
    assert out.speakers == (AGENT, CUSTOMER)
    assert all(s.speaker != MIXED for s in out.segments)
    # a transcript that already has speakers is returned as it is
    t2 = Transcript((Segment(AGENT, 0.0, 1.0, "x", (Word("x", 0.0, 1.0, AGENT),)),))
    assert assign_speakers(t2, act, hop) is t2


class _FailsOnce:
    """An emotion model that refuses batches mixing calls and fails on its first single call."""

    labels = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")

    def __init__(self) -> None:
        self.singles = 0

    def predict_proba(self, windows: np.ndarray, *, groups: Any = None) -> np.ndarray:
        if groups is not None and len(set(np.asarray(groups).tolist())) > 1:
            raise RuntimeError("batch with several calls")
        self.singles += 1
        if self.singles == 1:
            raise RuntimeError("boom")
        return np.full((windows.shape[0], 8), 1 / 8, dtype=np.float32)


def test_failing_call_in_model_stage_is_recorded(calls: list[cq.Call],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stage = ModelStage(("emotion",), device="cpu")
    monkeypatch.setattr(model_groups.ModelStage, "load", lambda self: self)
    stage._loaded["emotion"] = _FailsOnce()
    rows = stage.run(calls, [None] * len(calls), 0.01)
    failed = [r for r in rows if "error" in r]
    assert len(failed) == 1 and "boom" in failed[0]["error"]
    assert failed[0]["error"].startswith("emotion:")
    ok = [r for r in rows if "error" not in r]
    assert len(ok) == len(calls) - 1
    assert all(r["dominant_emotion"] == "angry" for r in ok)  # uniform: the first label wins


def test_unavailable_model_raises_before_any_call(calls: list[cq.Call],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    seen: list[str] = []
    monkeypatch.setattr(cq.Call, "audio", lambda self, *a, **k: seen.append(self.call_id))
    with pytest.raises(cq.exceptions.ModelUnavailableError, match="huggingface-cli download"):
        cq.extract(calls[:1], groups=("content",), cache_dir=tmp_path,
                   models={"ner": "transformers:nobody/no-such-ner-model"})
    assert seen == []


def test_bad_model_option_is_a_configuration_error() -> None:
    with pytest.raises(cq.exceptions.ConfigurationError, match="unknown kind"):
        cq.extract([], models={"asr": "kaldi"})
    with pytest.raises(cq.exceptions.ConfigurationError, match="unknown model stage"):
        cq.extract([], models={"translation": "vader"})
