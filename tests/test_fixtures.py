"""The committed fixture corpus (``examples/fixtures``) and its generator.

The ground truth of every call is checked for internal consistency against the definitions
in the docstring of ``examples/generate_fixtures.py``; the generator is checked to remake
committed calls byte for byte.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import callquality as cq

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "examples" / "fixtures"
GENERATOR = ROOT / "examples" / "generate_fixtures.py"
MAX_BYTES = 25 * 2**20  # 25 MB as `du -sh` counts them
EPS = 2e-3  # sidecar times are rounded to 0.1 ms; sums of rounded values drift a little

MOODS = {"calm", "frustrated", "angry"}
STYLES = {"good", "rushed", "talkative", "interrupting"}
SCENARIOS = {"billing", "internet_outage", "password_reset", "refund", "delivery", "cancellation"}


@pytest.fixture(scope="module")
def calls() -> list[cq.Call]:
    return cq.load_calls(FIXTURES, progress=False)


def _gt(call: cq.Call) -> dict:
    gt = call.ground_truth
    assert gt is not None, f"{call.call_id}: no ground_truth in the sidecar"
    return gt


def _tokens(text: str) -> list[str]:
    return [w.strip(".,!?;:\"()") for w in text.split() if w.strip(".,!?;:\"()")]


# --------------------------------------------------------------------------- the corpus


def test_corpus_size_and_pairs() -> None:
    audio = sorted(FIXTURES.glob("*.flac"))
    sidecars = sorted(FIXTURES.glob("*.json"))
    assert len(audio) >= 60
    assert [p.stem for p in audio] == [p.stem for p in sidecars]
    assert {p.suffix for p in FIXTURES.iterdir()} == {".flac", ".json"}
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"examples/fixtures holds {total / 2**20:.1f} MB > 25 MB"


def test_every_call_loads_with_ground_truth(calls: list[cq.Call]) -> None:
    assert not calls.report, str(calls.report)  # type: ignore[attr-defined]
    assert len(calls) == len(list(FIXTURES.glob("*.flac")))
    for c in calls:
        gt = _gt(c)
        assert c.transcript is not None and c.transcript.segments, c.call_id
        assert c.agent_id and re.fullmatch(r"agent_\d\d", c.agent_id), c.call_id
        assert gt["mono"] == (c.channels == ("mixed",)), c.call_id
        assert gt["mono"] != (c.channels == ("agent", "customer")), c.call_id
        assert gt["sample_rate"] == c.sample_rate in (8000, 16000), c.call_id
        assert abs(gt["duration_sec"] - c.duration_sec) < 1e-3, c.call_id
        assert 20.0 <= c.duration_sec <= 60.0, f"{c.call_id}: {c.duration_sec:.1f} s"
        assert gt["customer_mood"] in MOODS and gt["agent_style"] in STYLES
        assert gt["scenario"] in SCENARIOS
        assert gt["outcome"]["resolved"] in (0, 1)
        assert gt["outcome"]["satisfaction"] in (1, 2, 3, 4, 5)


def test_audio_format_level_and_noise_floor(calls: list[cq.Call]) -> None:
    for c in calls:
        assert c.path is not None
        info = sf.info(str(c.path))
        assert (info.format, info.subtype) == ("FLAC", "PCM_16"), c.call_id
        y = c.audio()
        assert np.abs(y).max() <= 0.9 + 1e-4, c.call_id
        # the lead-in before the first word is noise, not digital zero, on every channel
        first = min(s.start for s in c.transcript.segments)  # type: ignore[union-attr]
        lead = y[:, : int(first * c.sample_rate) - 1]
        assert lead.shape[1] > 0 and (lead.std(axis=1) > 0).all(), c.call_id


def test_corpus_covers_every_category(calls: list[cq.Call]) -> None:
    gts = [_gt(c) for c in calls]
    assert {g["customer_mood"] for g in gts} == MOODS
    assert {g["agent_style"] for g in gts} == STYLES
    assert {g["scenario"] for g in gts} == SCENARIOS
    kinds = Counter((g["mono"], g["sample_rate"]) for g in gts)
    assert kinds[(False, 8000)] >= 30 and kinds[(False, 16000)] >= 2
    assert kinds[(True, 8000)] >= 1 and kinds[(True, 16000)] >= 1
    assert 3 <= sum(g["mono"] for g in gts) <= 10
    assert sum(bool(g["long_silences"]) for g in gts) >= 3  # holds
    assert sum(g["interruptions"]["agent"] for g in gts) >= 10
    assert sum(g["interruptions"]["customer"] for g in gts) >= 5
    assert sum(len(g["backchannels"]) for g in gts) >= 30
    assert {g["outcome"]["resolved"] for g in gts} == {0, 1}
    assert {g["outcome"]["satisfaction"] for g in gts} == {1, 2, 3, 4, 5}
    assert len({c.agent_id for c in calls}) >= 6
    # each mood and style appears at both rates... at least at 8 kHz, and every
    # mood x style pair is present
    assert len({(g["customer_mood"], g["agent_style"]) for g in gts}) == 12


def test_scripted_behaviour_shows_in_the_ground_truth(calls: list[cq.Call]) -> None:
    def mean(key, value, f):
        vals = [f(_gt(c)) for c in calls if _gt(c)[key] == value]
        return float(np.mean(vals))

    ratio = {s: mean("agent_style", s, lambda g: g["agent_talk_ratio"]) for s in STYLES}
    assert ratio["talkative"] > max(ratio["good"], ratio["rushed"]) + 0.05
    rate = {m: mean("customer_mood", m, lambda g: g["words_per_minute"]["customer"])
            for m in MOODS}
    assert rate["calm"] < rate["frustrated"] < rate["angry"]
    assert (mean("agent_style", "interrupting", lambda g: g["interruptions"]["agent"])
            >= 2 > mean("agent_style", "good", lambda g: g["interruptions"]["agent"]))
    assert (mean("customer_mood", "angry", lambda g: g["interruptions"]["customer"])
            > mean("customer_mood", "calm", lambda g: g["interruptions"]["customer"]))
    sat = {m: mean("customer_mood", m, lambda g: g["outcome"]["satisfaction"]) for m in MOODS}
    assert sat["calm"] > sat["angry"]
    agent_wpm = {s: mean("agent_style", s, lambda g: g["words_per_minute"]["agent"])
                 for s in STYLES}
    assert agent_wpm["rushed"] > agent_wpm["good"]


# --------------------------------------------------------------------------- consistency


def test_transcript_words_lie_inside_their_segments(calls: list[cq.Call]) -> None:
    for c in calls:
        gt = _gt(c)
        segs = c.transcript.segments  # type: ignore[union-attr]
        assert len(segs) == len(gt["utterances"]), c.call_id
        for s, u in zip(segs, sorted(gt["utterances"], key=lambda u: (u["start"], u["end"])),
                        strict=True):
            where = f"{c.call_id} {s.speaker} {s.start:.2f}"
            assert (s.speaker, s.start, s.end, s.text) == (u["speaker"], u["start"], u["end"],
                                                         u["text"]), where
            assert s.words, where
            assert s.words[0].start == s.start and s.words[-1].end == s.end, where
            for w in s.words:
                assert s.start <= w.start < w.end <= s.end <= c.duration_sec, where
            for a, b in zip(s.words, s.words[1:], strict=False):
                assert 0 < b.start - a.end < 0.15, f"{where}: gap before {b.text!r}"
            assert [w.text for w in s.words] == _tokens(s.text), where


def test_turns_talk_time_and_rates_are_consistent(calls: list[cq.Call]) -> None:
    for c in calls:
        gt = _gt(c)
        dur = gt["duration_sec"]
        turns = gt["turns"]
        assert gt["n_turns"] == len(turns) and gt["speaker_changes"] == len(turns) - 1
        for t in turns:
            assert 0 <= t["start"] < t["end"] <= dur, c.call_id
        assert all(a["speaker"] != b["speaker"] for a, b in itertools.pairwise(turns))
        assert turns == sorted(turns, key=lambda t: t["start"])
        # every non-backchannel utterance lies inside a turn of its speaker
        for u in gt["utterances"]:
            if not u["backchannel"]:
                assert any(t["speaker"] == u["speaker"] and t["start"] <= u["start"]
                           and u["end"] <= t["end"] for t in turns), (c.call_id, u)
        words = {k: [w for s in c.transcript.segments if s.speaker == k  # type: ignore[union-attr]
                     for w in s.words] for k in ("agent", "customer")}
        talk, silent = gt["talk_time_sec"], gt["word_silence_sec"]
        for k, ws in words.items():
            # talk time = word spans minus the digital silences inside the words
            spans = sum(w.end - w.start for w in ws)
            assert abs(talk[k] + silent[k] - spans) < EPS * len(ws) + EPS
            assert 0 <= silent[k] < 0.25 * spans, (c.call_id, k)
            assert 0 < talk[k] < dur
            assert gt["n_words"][k] == len(ws)
            assert talk[k] <= gt["utterance_time_sec"][k] + EPS
            assert abs(gt["words_per_minute"][k] - len(ws) / (talk[k] / 60)) < 0.5
        assert abs(gt["agent_talk_ratio"] - talk["agent"] / (talk["agent"] + talk["customer"])
                   ) < 1e-3, c.call_id


def test_overlaps_interruptions_backchannels_are_consistent(calls: list[cq.Call]) -> None:
    for c in calls:
        gt = _gt(c)
        ov = gt["overlaps"]
        assert {o["kind"] for o in ov} <= {"interruption", "backchannel", "handoff"}
        inter = [o for o in ov if o["kind"] == "interruption"]
        assert gt["interruptions"]["total"] == len(inter), c.call_id
        for who in ("agent", "customer"):
            assert gt["interruptions"][who] == sum(o["by"] == who for o in inter), c.call_id
        for o in ov:
            assert 0 <= o["start"] < o["end"] <= gt["duration_sec"]
        for o in inter:
            assert o["end"] - o["start"] >= 0.2, (c.call_id, o)
            # the interrupter starts the overlap and then talks >= 1 s
            starter = [u for u in gt["utterances"] if u["speaker"] == o["by"]
                       and abs(u["start"] - o["start"]) < 1e-6]
            assert starter and starter[0]["end"] - starter[0]["start"] >= 1.0, (c.call_id, o)
        for o in ov:
            if o["kind"] == "handoff":
                assert o["end"] - o["start"] < 0.2, (c.call_id, o)
        bcs = gt["backchannels"]
        assert len(bcs) == sum(u["backchannel"] for u in gt["utterances"])
        assert len(bcs) == sum(o["kind"] == "backchannel" for o in ov), c.call_id
        for b in bcs:
            assert b["end"] - b["start"] < 1.0, (c.call_id, b)
            assert any(o["kind"] == "backchannel" and b["start"] <= o["start"] < o["end"]
                       <= b["end"] for o in ov), (c.call_id, b)
            # backchannels start no turn
            assert not any(t["start"] == b["start"] for t in gt["turns"]), (c.call_id, b)


def test_pauses_and_long_silences_are_consistent(calls: list[cq.Call]) -> None:
    for c in calls:
        gt = _gt(c)
        speech = [(u["start"], u["end"]) for u in gt["utterances"]]
        for p in gt["pauses"]:
            assert p["end"] - p["start"] >= 0.25, (c.call_id, p)
            assert any(t["speaker"] == p["speaker"] and t["start"] <= p["start"]
                       and p["end"] <= t["end"] for t in gt["turns"]), (c.call_id, p)
            assert not any(a < p["end"] and p["start"] < b for a, b in speech), (c.call_id, p)
        for s in gt["long_silences"]:
            assert s["end"] - s["start"] > 5.0, (c.call_id, s)
            assert not any(a < s["end"] and s["start"] < b for a, b in speech), (c.call_id, s)
        holds = gt["holds"]
        assert len(holds) == len(gt["long_silences"]), c.call_id


# --------------------------------------------------------------------------- the generator


def _generated_by(sidecar: Path) -> dict:
    return json.loads(sidecar.read_text(encoding="utf-8"))["generator"]


def test_generator_is_deterministic(tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    recorded = _generated_by(FIXTURES / "call_0001.json")
    version = subprocess.run([espeak, "--version"], capture_output=True, text=True).stdout
    if recorded["espeak_ng"] not in version:
        pytest.skip(f"the corpus was made with espeak-ng {recorded['espeak_ng']}, "
                    f"this is {version.strip()!r}")
    # calls 1-3: wideband stereo, telephone-band stereo, telephone-band mono
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path), "--start-index",
                    "1", "--n-calls", "3", "--seed", str(recorded["seed"]), "--quiet"],
                   check=True, timeout=120)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == [f"call_000{i}.{ext}" for i in (1, 2, 3) for ext in ("flac", "json")]
    # Same seed, same setup -> byte-identical; allow for other builds of the numeric libraries
    # (scipy, soxr, libFLAC) a couple of LSBs of audio and 1 ms of timing.
    for i in (1, 2, 3):
        new, _ = sf.read(tmp_path / f"call_000{i}.flac", dtype="int16")
        old, _ = sf.read(FIXTURES / f"call_000{i}.flac", dtype="int16")
        assert new.shape == old.shape
        assert np.abs(new.astype(int) - old.astype(int)).max() <= 2, i
        _assert_close(json.loads((tmp_path / f"call_000{i}.json").read_text()),
                      json.loads((FIXTURES / f"call_000{i}.json").read_text()), f"call_000{i}")


def _assert_close(a: object, b: object, where: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(float(a) - float(b)) <= 1e-3, (where, a, b)  # type: ignore[arg-type]
    else:
        assert a == b, (where, a, b)
