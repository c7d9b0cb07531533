"""Speech emotion: the transformers classifier through its real loading and inference code
(a tiny randomly initialised wav2vec2 saved here), the prosody stress heuristic against the
fixture corpus' customer moods, windowing, degenerate input and per-call error recording."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.calls import Call
from callquality.exceptions import (
    ConfigurationError,
    ExtractionError,
    MissingExtraError,
    ModelUnavailableError,
)
from callquality.features.emotion import (
    EMOTION_FEATURES,
    LABELS,
    MODEL_SR,
    EmotionModel,
    ProsodyStress,
    TransformersEmotion,
    canonical_label,
    emotion_by_speaker,
    emotion_features,
    emotion_model,
    emotion_windows,
    speaker_windows,
)
from callquality.features.models import resolve_models

FULL_MODEL = "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition"
#: A label order unlike LABELS, so a test fails if the order is assumed instead of read.
TINY_ORDER = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
SPECS = {s.name: s for s in cq.FEATURES}


# --------------------------------------------------------------------------- helpers


def _fixture(corpus: list[Call], call_id: str) -> Call:
    return next(c for c in corpus if c.call_id == call_id)


def _gt(call: Call) -> dict[str, Any]:
    """The fixture ground truth of ``call``."""
    assert call.ground_truth is not None, call.call_id
    return call.ground_truth


def _in_memory(call: Call, y: np.ndarray | None = None, *, call_id: str | None = None,
               keep_transcript: bool = False) -> Call:
    """An in-memory copy of ``call`` (optionally with other samples)."""
    samples = call.audio() if y is None else y
    return Call.from_array(samples, call.sample_rate, call_id=call_id or call.call_id,
                           channels=call.channels if samples.shape[0] == call.n_channels
                           else None,
                           transcript=call.transcript if keep_transcript else None,
                           metadata=call.metadata)


def _n_windows(n_samples: int, win: int, hop: int) -> int:
    """Windows of length ``win`` every ``hop`` plus one ending at the end (independent of the
    implementation's loop)."""
    return 1 if n_samples <= win else math.ceil((n_samples - win) / hop) + 1


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared, busy CPU torch's thread pool spin-waits and these
    small batches run ~10x slower with two threads than with one."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wav2Vec2ForSequenceClassification + feature extractor, saved to disk."""
    transformers = pytest.importorskip("transformers")
    import torch

    cfg = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 8, 4),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=8,
        num_labels=len(TINY_ORDER), id2label=dict(enumerate(TINY_ORDER)),
        label2id={lab: i for i, lab in enumerate(TINY_ORDER)})
    torch.manual_seed(0)
    model = transformers.Wav2Vec2ForSequenceClassification(cfg)
    fe = transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=MODEL_SR,
                                               padding_value=0.0, do_normalize=True,
                                               return_attention_mask=False)
    out = tmp_path_factory.mktemp("tiny-wav2vec2")
    model.save_pretrained(out)
    fe.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> TransformersEmotion:
    return TransformersEmotion(tiny_model_dir, device="cpu", batch_size=4)


# --------------------------------------------------------------------------- transformers


def test_transformers_probabilities_labels_and_batching(tiny: TransformersEmotion,
                                                        tiny_model_dir: Path) -> None:
    assert isinstance(tiny, EmotionModel)
    assert tiny.labels == TINY_ORDER                       # from config.id2label, in its order
    rng = np.random.default_rng(0)
    t = np.arange(MODEL_SR) / MODEL_SR
    x = np.stack([0.1 * rng.standard_normal(MODEL_SR)] * 3
                 + [0.3 * np.sin(2 * np.pi * f * t) for f in (150, 220, 400)]).astype(np.float32)
    p = tiny.predict_proba(x)
    assert p.shape == (6, 8)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p >= 0).all()
    assert np.ptp(p, axis=0).max() > 1e-4                   # inputs do change the output
    # batched (4 per forward) == one forward per window == another batch size
    one = np.concatenate([tiny.predict_proba(x[i:i + 1]) for i in range(6)])
    np.testing.assert_allclose(p, one, atol=1e-5)
    other = TransformersEmotion(tiny_model_dir, device="cpu", batch_size=1).predict_proba(x)
    np.testing.assert_allclose(p, other, atol=1e-5)
    assert tiny.predict_proba(np.zeros((0, MODEL_SR), np.float32)).shape == (0, 8)


def test_transformers_loaded_once_per_process(tiny_model_dir: Path) -> None:
    a = TransformersEmotion(tiny_model_dir, device="cpu")
    b = TransformersEmotion(str(tiny_model_dir), device="cpu", batch_size=2)
    assert a._loaded() is b._loaded()
    assert a._loaded().model is b._loaded().model


def test_transformers_emotion_features_windows_and_batch_equivalence(
        tiny: TransformersEmotion, corpus: list[Call]) -> None:
    calls = [_fixture(corpus, "call_0002"), _fixture(corpus, "call_0006")]
    df = emotion_features(calls, tiny)
    assert list(df["call_id"]) == ["call_0002", "call_0006"]
    assert df["error"].isna().all()
    for call, (_, row) in zip(calls, df.iterrows(), strict=True):
        sw = speaker_windows(call)
        n = round(sw.speech_sec * MODEL_SR)
        assert row["emotion_windows"] == sw.windows.shape[0] == _n_windows(n, 48000, 24000)
        assert sw.windows.shape[1] == 3 * MODEL_SR
        assert row["dominant_emotion"] in TINY_ORDER
        assert 0.0 <= row["stress_indicators"] <= row["avg_emotion_score"] <= 1.0
    # per window: probabilities sum to 1; the aggregates are their means over windows
    win = emotion_windows(calls, tiny)
    assert len(win) == int(df["emotion_windows"].sum())
    pcols = [f"p_{lab}" for lab in TINY_ORDER]
    np.testing.assert_allclose(win[pcols].sum(axis=1), 1.0, atol=1e-5)
    agg = win.groupby("call_id")[["negative", "stress"]].mean()
    np.testing.assert_allclose(agg.loc[list(df["call_id"]), "negative"],
                               df["avg_emotion_score"], atol=1e-6)
    vol = win.groupby("call_id")["negative"].std(ddof=0)
    np.testing.assert_allclose(vol.loc[list(df["call_id"])], df["emotion_volatility"],
                               atol=1e-6)
    # batched across calls == one call at a time
    alone = pd.concat([emotion_features([c], tiny) for c in calls], ignore_index=True)
    pd.testing.assert_frame_equal(df, alone, check_exact=False, atol=1e-5)
    # a call's windows split over several model calls (max_batch_windows below its count)
    split = emotion_features(calls, tiny, max_batch_windows=3)
    pd.testing.assert_frame_equal(df, split, check_exact=False, atol=1e-5)


def test_unavailable_hub_id_offline_is_fast_and_says_how(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        TransformersEmotion(FULL_MODEL, cache_dir=tmp_path, device="cpu").load()
    assert time.perf_counter() - t0 < 30.0
    msg = str(info.value)
    assert FULL_MODEL in msg
    assert f"huggingface-cli download {FULL_MODEL}" in msg
    assert info.value.model == f"transformers:{FULL_MODEL}"


def test_unavailable_local_folder_and_missing_extra(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match="no loadable checkpoint"):
        TransformersEmotion(empty, device="cpu").load()
    monkeypatch.setitem(sys.modules, "transformers", None)   # "not installed"
    with pytest.raises(MissingExtraError, match=re.escape("callquality[nlp]")):
        TransformersEmotion(tmp_path / "other", device="cpu").load()


def test_emotion_model_factory_and_labels(tiny_model_dir: Path) -> None:
    assert isinstance(emotion_model("prosody"), ProsodyStress)
    m = emotion_model(f"transformers:{tiny_model_dir}", device="cpu")
    assert isinstance(m, TransformersEmotion)
    assert m.model_id_or_path == str(tiny_model_dir)
    assert isinstance(emotion_model(resolve_models("full")["emotion"]),
                      TransformersEmotion)
    with pytest.raises(ConfigurationError):
        emotion_model("nonsense:thing")
    assert ProsodyStress().labels == LABELS
    assert [canonical_label(s) for s in ("ang", "Happiness", " neu ", "fear", "sur")] == [
        "angry", "happy", "neutral", "fearful", "surprised"]


# --------------------------------------------------------------------------- prosody on fixtures


@pytest.fixture(scope="module")
def prosody_features(corpus: list[Call]) -> pd.DataFrame:
    df = emotion_features(corpus, ProsodyStress())
    df["mood"] = [_gt(c)["customer_mood"] for c in corpus]
    return df


def test_prosody_separates_angry_from_calm_customers(prosody_features: pd.DataFrame) -> None:
    from sklearn.metrics import roc_auc_score

    df = prosody_features
    assert df["error"].isna().all()
    assert df["avg_emotion_score"].notna().all()
    sub = df[df["mood"].isin(["angry", "calm"])]
    y = (sub["mood"] == "angry").to_numpy()
    n_angry, n_calm = int(y.sum()), int((~y).sum())
    assert n_angry >= 10 and n_calm >= 10
    auc_stress = roc_auc_score(y, sub["stress_indicators"])
    auc_negative = roc_auc_score(y, sub["avg_emotion_score"])
    print(f"\nProsodyStress ROC AUC angry vs calm (n={n_angry} angry, {n_calm} calm): "
          f"stress_indicators {auc_stress:.3f}, avg_emotion_score {auc_negative:.3f}")
    assert auc_stress >= 0.9
    assert auc_negative >= 0.9
    # frustrated customers lie in between
    means = df.groupby("mood")["stress_indicators"].mean()
    assert means["calm"] < means["frustrated"] < means["angry"]
    # calm customers are never "angry"; most angry customers have a high-arousal label
    assert not (df.loc[df["mood"] == "calm", "dominant_emotion"] == "angry").any()
    # dtypes and ranges per schema
    for name in EMOTION_FEATURES:
        assert str(df[name].dtype) == SPECS[name].dtype, name
        assert all(SPECS[name].in_range(v) for v in df[name].dropna()), name


def test_prosody_mono_calls_by_diarization(corpus: list[Call]) -> None:
    mono = [dataclasses.replace(c, transcript=None) for c in corpus
            if not c.is_stereo and _gt(c)["customer_mood"] in ("angry", "calm")]
    assert mono
    df = emotion_features(mono, ProsodyStress())
    assert (df["emotion_source"] == "diarization").all()
    moods = np.array([_gt(c)["customer_mood"] for c in mono])
    stress = df["stress_indicators"].to_numpy()
    assert stress[moods == "angry"].min() > stress[moods == "calm"].max()


def test_rate_cue_tracks_transcript_syllable_rate(corpus: list[Call]) -> None:
    """The syllable-nucleus rate follows the customers' scripted syllable rate."""

    def syllables(word: str) -> int:
        groups = re.findall(r"[aeiouy]+", word.lower())
        return max(len(groups) - (word.lower().endswith("e") and len(groups) > 1), 1)

    model = ProsodyStress()
    est, truth = [], []
    for call in [c for c in corpus if c.is_stereo][::2]:
        sw = speaker_windows(call)
        est.append(float(np.median(model.cues(sw.windows)["rate_sps"])))
        assert call.transcript is not None
        words = [w.text for w in call.transcript.words if w.speaker == "customer"]
        truth.append(sum(map(syllables, words)) / _gt(call)["talk_time_sec"]["customer"])
    r = np.corrcoef(est, truth)[0, 1]
    ratio = float(np.median(np.asarray(est) / np.asarray(truth)))
    assert r > 0.7, r
    assert 0.8 < ratio < 1.4, ratio


def test_customer_windows_hold_only_customer_speech(corpus: list[Call]) -> None:
    call = _fixture(corpus, "call_0002")
    utts = [(u["start"], u["end"]) for u in _gt(call)["utterances"]
            if u["speaker"] == "customer"]
    win = emotion_windows([call], ProsodyStress())
    assert len(win) > 0
    for t in [*win["start_sec"], *(win["end_sec"] - 1e-3)]:
        assert any(a - 0.15 <= t <= b + 0.15 for a, b in utts), t


def test_per_speaker_and_batch_equivalence(corpus: list[Call]) -> None:
    calls = [_fixture(corpus, i) for i in ("call_0002", "call_0003", "call_0006")]
    model = ProsodyStress()
    df = emotion_features(calls, model)
    alone = pd.concat([emotion_features([c], model) for c in calls], ignore_index=True)
    pd.testing.assert_frame_equal(df, alone)
    by = emotion_by_speaker(calls, model)
    assert list(by["speaker"]) == ["agent", "customer"] * 3
    cust = by[by["speaker"] == "customer"].drop(columns="speaker").reset_index(drop=True)
    pd.testing.assert_frame_equal(cust, df)
    assert by.loc[by["speaker"] == "agent", "emotion_source"].iloc[0] == "stereo channel 0"
    both = emotion_features(calls, model, speaker="all")
    assert (both["emotion_speech_sec"] > df["emotion_speech_sec"]).all()


# --------------------------------------------------------------------------- degenerate input


def test_silence_and_silent_channels_give_missing_values_with_a_reason(
        corpus: list[Call]) -> None:
    base = _fixture(corpus, "call_0002")
    y = base.audio()
    sr = base.sample_rate
    silent = Call.from_array(np.zeros((2, 10 * sr), np.float32), sr, call_id="silence")
    mono_silent = Call.from_array(np.zeros(5 * sr, np.float32), sr, call_id="mono-silence")
    no_customer = _in_memory(base, np.stack([y[0], np.zeros_like(y[1])]),
                             call_id="no-customer")
    no_agent = _in_memory(base, np.stack([np.zeros_like(y[0]), y[1]]), call_id="no-agent")
    df = emotion_features([silent, mono_silent, no_customer, no_agent], ProsodyStress())
    assert df["error"].isna().all()
    for i in range(3):
        row = df.iloc[i]
        assert all(pd.isna(row[n]) for n in EMOTION_FEATURES), row["call_id"]
        assert row["emotion_windows"] == 0
        assert "less than min_speech_sec" in row["emotion_note"]
    ok = df.iloc[3]      # (the agent's bleed in the customer channel now counts as speech)
    assert ok["emotion_windows"] > 1
    assert all(pd.notna(ok[n]) for n in EMOTION_FEATURES)
    assert all(SPECS[n].in_range(ok[n]) for n in EMOTION_FEATURES)


def test_one_second_calls_have_defined_values(corpus: list[Call]) -> None:
    base = _fixture(corpus, "call_0002")
    sr = base.sample_rate
    u = next(u for u in _gt(base)["utterances"]
             if u["speaker"] == "customer" and u["end"] - u["start"] > 1.5)
    a = int(u["start"] * sr)
    clip = base.audio()[:, a:a + sr]
    stereo = _in_memory(base, clip, call_id="one-second")
    mono = Call.from_array(clip.mean(axis=0), sr, call_id="one-second-mono")
    for min_speech in (1.0, 0.3):
        df = emotion_features([stereo, mono], ProsodyStress(), min_speech_sec=min_speech)
        assert df["error"].isna().all()
        for _, row in df.iterrows():
            if row["emotion_windows"] == 0:
                assert all(pd.isna(row[n]) for n in EMOTION_FEATURES)
                assert "less than min_speech_sec" in row["emotion_note"]
            else:
                assert row["emotion_windows"] == 1
                assert math.isnan(row["emotion_volatility"])
                assert "one window" in row["emotion_note"]
                assert 0.0 <= row["stress_indicators"] <= 1.0
                assert row["dominant_emotion"] in LABELS
    df = emotion_features([stereo], ProsodyStress(), min_speech_sec=0.3)
    assert df["emotion_windows"].iloc[0] == 1               # ~1 s of customer speech


def test_bad_arguments_raise() -> None:
    call = Call.from_array(np.zeros(8000, np.float32), 8000)
    with pytest.raises(ConfigurationError, match="speaker"):
        emotion_features([call], ProsodyStress(), speaker="caller")
    with pytest.raises(ConfigurationError, match="hop_sec"):
        emotion_features([call], ProsodyStress(), hop_sec=4.0)
    with pytest.raises(ConfigurationError, match="sequence"):
        emotion_features(call, ProsodyStress())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="shape"):
        ProsodyStress().predict_proba(np.zeros(16000, np.float32))


# --------------------------------------------------------------------------- failures


class _Exploding:
    """A model that fails on loud windows (peak above 0.5) and is uniform otherwise."""

    labels = LABELS

    def predict_proba(self, windows: np.ndarray, *,
                      groups: np.ndarray | None = None) -> np.ndarray:
        if (np.abs(windows).max(axis=1) > 0.5).any():
            raise RuntimeError("boom on a loud window")
        return np.full((windows.shape[0], len(LABELS)), 1.0 / len(LABELS), np.float32)


def test_failing_calls_are_recorded_and_the_batch_goes_on(corpus: list[Call],
                                                          tmp_path: Path) -> None:
    good = _fixture(corpus, "call_0006")
    y = good.audio()
    loud = _in_memory(good, y * (0.8 / np.abs(y[1]).max()), call_id="loud")
    ghost = Call(call_id="ghost", sample_rate=8000, n_samples=8000, channels=("mixed",),
                 path=tmp_path / "ghost.flac")
    df = emotion_features([good, loud, ghost], _Exploding())
    assert df["error"].iloc[0] is pd.NA
    assert df["avg_emotion_score"].iloc[0] == pytest.approx(4 / 8)
    assert df["stress_indicators"].iloc[0] == pytest.approx(2 / 8)
    assert df["emotion_volatility"].iloc[0] == pytest.approx(0.0)
    assert df["error"].iloc[1].startswith("ExtractionError: loud: emotion model failed")
    assert "boom" in df["error"].iloc[1]
    assert df["error"].iloc[2].startswith("ExtractionError: ghost: ")
    assert df.iloc[1:][list(EMOTION_FEATURES)].isna().all().all()
    with pytest.raises(ExtractionError, match="loud"):
        emotion_features([good, loud], _Exploding(), errors="raise")
    with pytest.raises(ExtractionError, match="ghost"):
        emotion_features([ghost], _Exploding(), errors="raise")
