"""The batched extractor: table shape, batch independence, chunking, failures, degenerate audio."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

import callquality as cq
from callquality.features.extractor import TorchExtractor
from callquality.protocols import AcousticExtractor
from callquality.schema import feature_spec

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"
GROUPS = ("acoustic", "interaction", "extended")
SR = 8000


def _tone_speech(seconds: float, f0: float, sr: int = SR, seed: int = 0,
                 on: tuple[tuple[float, float], ...] = ()) -> np.ndarray:
    """A crude voiced signal: harmonic complex with a syllabic envelope, on the given spans."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    sig = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    env = 0.5 * (1 - np.cos(2 * np.pi * 4 * t))  # 4 syllables per second
    gate = np.zeros_like(t)
    for a, b in on or ((0.0, seconds),):
        gate[(t >= a) & (t < b)] = 1.0
    y = 0.2 * sig * env * gate + 1e-4 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def fixture_calls() -> list[cq.Call]:
    calls = list(cq.load_calls(FIXTURES))
    if not calls:
        pytest.skip("fixture corpus missing")
    return calls


def test_is_an_acoustic_extractor() -> None:
    assert isinstance(TorchExtractor(), AcousticExtractor)


def test_table_columns_and_dtypes(fixture_calls: list[cq.Call]) -> None:
    df = cq.extract(fixture_calls[:4], groups=GROUPS, device="cpu")
    names = cq.feature_names(GROUPS)
    assert list(df.columns) == ["call_id", "agent_id", "processed_at", *names, "error"]
    assert len(df) == 4 and df["error"].isna().all()
    assert list(df["call_id"]) == [c.call_id for c in fixture_calls[:4]]
    for n in names:
        spec = feature_spec(n)
        assert str(df[n].dtype) == {"float64": "float64", "int64": "Int64",
                                    "string": "string"}[spec.dtype], n
        for v in df[n]:
            if not pd.isna(v):
                assert spec.in_range(v), (n, v)


def test_only_requested_groups(fixture_calls: list[cq.Call]) -> None:
    df = cq.extract(fixture_calls[:1], groups=("interaction",))
    assert list(df.columns) == ["call_id", "agent_id", "processed_at",
                                *cq.feature_names("interaction"), "error"]


def test_bad_groups_refused_clearly() -> None:
    with pytest.raises(cq.CallQualityError, match="groups is empty"):
        cq.extract([], groups=())
    with pytest.raises(cq.CallQualityError, match="unknown group"):
        cq.extract([], groups=("acoustics",))


def test_batch_result_independent_of_batching(fixture_calls: list[cq.Call]) -> None:
    calls = fixture_calls[:6]
    alone = pd.concat([cq.extract([c], groups=GROUPS) for c in calls], ignore_index=True)
    together = cq.extract(calls, groups=GROUPS, batch_size=6)
    names = [n for n in cq.feature_names(GROUPS) if feature_spec(n).dtype != "string"]
    a = alone[names].astype(float).to_numpy()
    b = together[names].astype(float).to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_deterministic(fixture_calls: list[cq.Call]) -> None:
    a = cq.extract(fixture_calls[:3], groups=GROUPS).drop(columns="processed_at")
    b = cq.extract(fixture_calls[:3], groups=GROUPS).drop(columns="processed_at")
    pd.testing.assert_frame_equal(a, b)


def test_chunked_long_call_matches_whole(fixture_calls: list[cq.Call], tmp_path: Path) -> None:
    stereo = [c for c in fixture_calls if c.is_stereo and c.sample_rate == SR][:4]
    y = np.concatenate([c.audio() for c in stereo], axis=1)
    path = tmp_path / "long.flac"
    sf.write(path, y.T, SR, subtype="PCM_16")
    whole = cq.extract([path], groups=GROUPS, chunk_sec=10_000)
    chunked = cq.extract([path], groups=GROUPS, chunk_sec=37.0)
    assert chunked["error"].isna().all(), chunked["error"][0]
    for n in ("agent_talk_ratio", "avg_pitch_hz", "energy_mean", "spectral_centroid",
              "silence_ratio", "harmonics_to_noise_ratio"):
        assert chunked[n][0] == pytest.approx(whole[n][0], rel=0.02), n
    for n in ("jitter", "shimmer"):
        assert chunked[n][0] == pytest.approx(whole[n][0], rel=0.05), n
    assert abs(int(chunked["interruption_count"][0]) - int(whole["interruption_count"][0])) <= 1


def test_work_in_parallel_equals_work_in_turn(fixture_calls: list[cq.Call],
                                                tmp_path: Path) -> None:
    """With two torch threads the chunks of a long call (and the batches of short calls) run
    side by side, one thread each: the same numbers as one after another, in order, and the
    thread setting restored."""
    stereo = [c for c in fixture_calls if c.is_stereo and c.sample_rate == SR][:3]
    path = tmp_path / "long.flac"
    sf.write(path, np.concatenate([c.audio() for c in stereo], axis=1).T, SR, subtype="PCM_16")
    before = torch.get_num_threads()
    try:
        one = cq.extract([path], groups=GROUPS, chunk_sec=20.0, num_threads=1)
        two = cq.extract([path], groups=GROUPS, chunk_sec=20.0, num_threads=2)
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
    assert two["error"].isna().all(), two["error"][0]
    pd.testing.assert_frame_equal(one.drop(columns="processed_at"),
                                  two.drop(columns="processed_at"))
    # short calls: the batches run side by side, in order, with the same numbers
    calls = fixture_calls[:7]
    one = cq.extract(calls, groups=GROUPS, num_threads=1)
    two = cq.extract(calls, groups=GROUPS, num_threads=2, batch_size=2)
    assert torch.get_num_threads() == before
    pd.testing.assert_frame_equal(one.drop(columns="processed_at"),
                                  two.drop(columns="processed_at"))


def test_bad_file_in_batch_gets_error_row(fixture_calls: list[cq.Call], tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    df = cq.extract([fixture_calls[0], bad, fixture_calls[1]], groups=GROUPS)
    assert len(df) == 3
    assert df["error"].isna().tolist() == [True, False, True]
    assert "broken" in df["call_id"][1] and "AudioDecodeError" in df["error"][1]
    assert not math.isnan(df["agent_talk_ratio"][0])


def _stereo(agent: np.ndarray, customer: np.ndarray) -> cq.Call:
    return cq.Call.from_array(np.stack([agent, customer]), SR, call_id="synthetic")


DEGENERATE = {
    "silence": lambda: _stereo(np.zeros(SR * 5, np.float32), np.zeros(SR * 5, np.float32)),
    "white_noise": lambda: _stereo(
        (0.1 * np.random.default_rng(1).standard_normal(SR * 5)).astype(np.float32),
        (0.1 * np.random.default_rng(2).standard_normal(SR * 5)).astype(np.float32)),
    "clipped": lambda: _stereo(np.clip(_tone_speech(5, 140) * 20, -1, 1),
                               np.clip(_tone_speech(5, 220, on=((1, 3),)) * 20, -1, 1)),
    "dc_offset": lambda: _stereo(_tone_speech(5, 140) + 0.3, _tone_speech(5, 220) * 0 + 0.3),
    "one_silent_channel": lambda: _stereo(_tone_speech(5, 140), np.zeros(SR * 5, np.float32)),
    "one_second": lambda: _stereo(_tone_speech(1, 140), _tone_speech(1, 220)),
    "very_short": lambda: _stereo(_tone_speech(0.05, 140), _tone_speech(0.05, 220)),
    "unvoiced_only": lambda: _stereo(
        (0.05 * np.random.default_rng(3).standard_normal(SR * 3)
         * (np.arange(SR * 3) % SR < SR // 2)).astype(np.float32),
        np.zeros(SR * 3, np.float32)),
    "mono_silence": lambda: cq.Call.from_array(np.zeros(SR * 3, np.float32), SR),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_audio_defined_values(case: str) -> None:
    df = cq.extract([DEGENERATE[case]()], groups=GROUPS)
    row = df.iloc[0]
    assert pd.isna(row["error"]), row["error"]
    for n in cq.feature_names(GROUPS):
        v = row[n]
        assert pd.isna(v) or feature_spec(n).in_range(v), (case, n, v)
    if case in ("silence", "mono_silence"):
        assert row["silence_ratio"] == 1.0
        assert math.isnan(row["avg_pitch_hz"])  # no voiced frame: pitch undefined
        assert row["interruption_count"] == 0
    if case == "one_silent_channel":
        assert row["agent_talk_ratio"] == pytest.approx(1.0)
        assert row["avg_pitch_hz"] == pytest.approx(140, rel=0.03)
    if case == "unvoiced_only":
        assert math.isnan(row["avg_pitch_hz"]) and math.isnan(row["jitter"])


def test_synthetic_pitch_and_talk_ratio() -> None:
    agent = _tone_speech(6, 120, on=((0.0, 3.0),))
    customer = _tone_speech(6, 210, seed=1, on=((3.2, 4.7),))
    row = cq.extract([_stereo(agent, customer)], groups=GROUPS).iloc[0]
    assert row["agent_talk_ratio"] == pytest.approx(3.0 / 4.5, abs=0.03)
    # pooled F0 mean: frame-weighted mean of the two speakers' F0
    assert row["avg_pitch_hz"] == pytest.approx((120 * 3.0 + 210 * 1.5) / 4.5, rel=0.03)
    assert row["agent_talk_time_sec"] == pytest.approx(3.0, abs=0.15)


def test_device_validation() -> None:
    with pytest.raises(cq.CallQualityError, match="device"):
        cq.extract([], device="tpu")


def test_cpu_threads_set_for_the_core_and_restored(fixture_calls: list[cq.Call],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``num_threads=1`` runs the core on the caller's thread with one torch thread;
    ``num_threads=None`` takes torch's setting (2 here) as the number of worker threads, each
    with one torch thread; the process setting is restored either way."""
    import threading

    from callquality.features import extractor as X

    seen: list[tuple[bool, int]] = []
    real = X.TorchExtractor._run_batch

    def spy(self: X.TorchExtractor, batch: Any, device: Any) -> Any:
        worker = threading.current_thread() is not threading.main_thread()
        seen.append((worker, torch.get_num_threads()))
        return real(self, batch, device)

    monkeypatch.setattr(X.TorchExtractor, "_run_batch", spy)
    monkeypatch.setattr(X.os, "cpu_count", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cq.extract(fixture_calls[:1], groups=GROUPS, device="cpu", num_threads=1)
        assert seen == [(False, 1)] and torch.get_num_threads() == 2
        seen.clear()
        cq.extract(fixture_calls[:3], groups=GROUPS, device="cpu", num_threads=None)
        assert seen == [(True, 1)] * 3 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(cq.CallQualityError, match="num_threads"):
        cq.extract([], num_threads=0)
