"""Who speaks when: interaction definitions on constructed timelines, crosstalk rejection,
diarization error rate, mono diarization, degenerate input, and agreement with the ground truth
of the fixture corpus (examples/fixtures, sidecar ``ground_truth``)."""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import callquality as cq
from callquality.exceptions import ConfigurationError
from callquality.features.turns import (
    _coupling_and_delay,
    activity_from_tracks,
    analyze_interaction,
    crosstalk_coupling,
    diarization_error_rate,
    diarize,
    interaction_features,
    speaker_activity,
)
from callquality.features.vad import band_level_and_flatness, voice_activity
from callquality.schema import feature_spec

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"
HOP = 0.01
SR = 8000

KEYS = ("interruption_count", "agent_interruption_count", "customer_interruption_count",
        "agent_talk_ratio", "turn_taking_rate", "avg_turn_duration_sec", "overtalk_ratio",
        "longest_monologue_sec", "long_silence_count", "agent_talk_time_sec",
        "customer_talk_time_sec", "avg_pause_duration_sec", "pause_frequency_per_min",
        "silence_ratio", "speech_to_silence_ratio")


def activity(total: float, agent=(), customer=()) -> np.ndarray:
    """(2, T) activity on the 10 ms grid from (start, end) spans in seconds."""
    t = int(round(total / HOP))
    a = np.zeros((2, t), bool)
    for row, spans in enumerate((agent, customer)):
        for s, e in spans:
            a[row, int(round(s / HOP)):int(round(e / HOP))] = True
    return a


# --------------------------------------------------------------------------- definitions


def test_turns_pauses_backchannels_and_long_silences():
    act = activity(
        20.0,
        agent=[(0.5, 3.0), (3.6, 5.0), (8.3, 9.0), (9.1, 10.0), (11.3, 13.0)],
        customer=[(5.4, 8.0), (10.5, 11.0), (12.0, 12.4), (19.0, 19.8)])
    r = analyze_interaction(act, HOP)
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in r.turns] == [
        ("agent", 0.5, 5.0), ("customer", 5.4, 8.0), ("agent", 8.3, 10.0),
        ("customer", 10.5, 11.0), ("agent", 11.3, 13.0), ("customer", 19.0, 19.8)]
    assert [(b.speaker, round(b.start, 2)) for b in r.backchannels] == [("customer", 12.0)]
    assert [(p.speaker, round(p.start, 2), round(p.end, 2)) for p in r.pauses] == [
        ("agent", 3.0, 3.6)]                       # the 0.1 s word gap at 9.0 is no pause
    assert [(round(a, 2), round(b, 2)) for a, b in r.long_silences] == [(13.0, 19.0)]

    f = interaction_features(act, HOP)
    assert set(f) == set(KEYS)
    assert f["interruption_count"] == 0
    assert f["turn_taking_rate"] == pytest.approx(5 / (20 / 60))
    assert f["avg_turn_duration_sec"] == pytest.approx((4.5 + 2.6 + 1.7 + 0.5 + 1.7 + 0.8) / 6)
    assert f["longest_monologue_sec"] == pytest.approx(4.5)
    assert f["agent_talk_time_sec"] == pytest.approx(7.2)
    assert f["customer_talk_time_sec"] == pytest.approx(4.3)
    assert f["agent_talk_ratio"] == pytest.approx(7.2 / 11.5)
    assert f["overtalk_ratio"] == pytest.approx(0.4 / 20)
    assert f["silence_ratio"] == pytest.approx(8.9 / 20)
    assert f["speech_to_silence_ratio"] == pytest.approx(11.1 / 8.9)
    assert f["avg_pause_duration_sec"] == pytest.approx(0.6)
    assert f["pause_frequency_per_min"] == pytest.approx(1 / (20 / 60))
    assert f["long_silence_count"] == 1
    for k, v in f.items():
        assert feature_spec(k).in_range(v), k


def test_interruptions_handoffs_and_short_overlaps():
    act = activity(
        20.0,
        agent=[(0.0, 4.0), (6.3, 8.0), (9.4, 12.0), (12.6, 14.0), (16.0, 18.0)],
        customer=[(3.5, 6.0),       # starts 0.5 s before the agent stops, talks 2.5 s: interrupts
                  (7.95, 9.0),      # 50 ms overlap: a handoff
                  (10.0, 10.6),     # inside the agent's utterance: a backchannel
                  (11.8, 12.5),     # 0.2 s overlap but only 0.7 s of talk: a turn, no interruption
                  (14.5, 17.0)])    # the agent cuts in at 16.0 for 2 s: agent interrupts
    r = analyze_interaction(act, HOP)
    assert [t.speaker for t in r.turns] == ["agent", "customer"] * 4 + ["agent"]
    assert [(t.speaker, round(t.start, 2)) for t in r.interruptions] == [
        ("customer", 3.5), ("agent", 16.0)]
    f = interaction_features(act, HOP)
    assert (f["interruption_count"], f["agent_interruption_count"],
            f["customer_interruption_count"]) == (2, 1, 1)
    # an overlap of 150 ms is not an interruption, whatever the talk that follows
    g = interaction_features(activity(10.0, agent=[(0.0, 4.0)], customer=[(3.85, 8.0)]), HOP)
    assert g["interruption_count"] == 0 and g["turn_taking_rate"] == pytest.approx(6.0)


def test_pause_excludes_the_other_speakers_speech():
    # the agent interrupts the customer at 2.0, the customer trails on to 3.8; the agent's gap
    # 3.5-4.5 holds 0.7 s in which the customer is silent: one pause of 0.7 s
    act = activity(8.0, agent=[(2.0, 3.5), (4.5, 6.0)], customer=[(0.0, 3.8)])
    r = analyze_interaction(act, HOP)
    assert [t.speaker for t in r.turns] == ["customer", "agent"]
    assert [t.interruption for t in r.turns] == [False, True]
    assert [(round(p.start, 2), round(p.end, 2)) for p in r.pauses] == [(3.8, 4.5)]
    # ... and when only 0.2 s of the gap is silent there is no pause
    act2 = activity(8.0, agent=[(2.0, 3.5), (4.0, 6.0)], customer=[(0.0, 3.8)])
    assert analyze_interaction(act2, HOP).pauses == []


def test_backchannel_recognised_by_its_words():
    act = activity(8.0, agent=[(0.0, 5.0)], customer=[(4.5, 5.3)])
    assert [t.speaker for t in analyze_interaction(act, HOP).turns] == ["agent", "customer"]
    words = [{"speaker": "customer", "start": 4.55, "end": 5.25, "text": "Uh-huh."}]
    r = analyze_interaction(act, HOP, words=words)
    assert [t.speaker for t in r.turns] == ["agent"] and len(r.backchannels) == 1
    words = [cq.Word("sure", 4.55, 5.25, "customer")]
    assert len(analyze_interaction(act, HOP, words=words).turns) == 1


def test_leading_and_trailing_silence_count_as_long_silences():
    act = activity(30.0, agent=[(7.0, 10.0)], customer=[(10.5, 20.0)])
    r = analyze_interaction(act, HOP)
    assert [(round(a, 2), round(b, 2)) for a, b in r.long_silences] == [(0.0, 7.0), (20.0, 30.0)]
    near = activity(20.0, agent=[(4.9, 10.0)], customer=[(10.5, 15.1)])
    assert interaction_features(near, HOP)["long_silence_count"] == 0


def test_degenerate_activity():
    nan = math.isnan
    # nobody speaks
    f = interaction_features(np.zeros((2, 1000), bool), HOP)
    assert nan(f["agent_talk_ratio"]) and nan(f["avg_turn_duration_sec"])
    assert nan(f["avg_pause_duration_sec"])
    assert f["turn_taking_rate"] == 0 and f["interruption_count"] == 0
    assert f["silence_ratio"] == 1.0 and f["speech_to_silence_ratio"] == 0.0
    assert f["long_silence_count"] == 1 and f["longest_monologue_sec"] == 0.0
    assert f["pause_frequency_per_min"] == 0.0 and f["overtalk_ratio"] == 0.0
    # zero frames
    z = interaction_features(np.zeros((2, 0), bool), HOP)
    assert nan(z["turn_taking_rate"]) and nan(z["silence_ratio"]) and z["interruption_count"] == 0
    # one party only
    one = interaction_features(activity(10.0, agent=[(1.0, 9.0)]), HOP)
    assert one["agent_talk_ratio"] == 1.0 and one["turn_taking_rate"] == 0.0
    assert one["avg_turn_duration_sec"] == pytest.approx(8.0)
    # both talk all the time
    both = interaction_features(np.ones((2, 1000), bool), HOP)
    assert both["overtalk_ratio"] == 1.0 and both["silence_ratio"] == 0.0
    assert both["speech_to_silence_ratio"] == pytest.approx(1000.0)   # silence floored at 1 frame
    assert both["agent_talk_ratio"] == 0.5
    # a torch tensor works as well
    t = interaction_features(torch.from_numpy(activity(10.0, agent=[(1.0, 9.0)])), HOP)
    assert t == one
    with pytest.raises(ConfigurationError):
        interaction_features(np.zeros((3, 10), bool), HOP)
    with pytest.raises(ConfigurationError):
        interaction_features(np.zeros((2, 10), bool), 0.0)
    for d in (f, one, both):
        for k, v in d.items():
            assert feature_spec(k).in_range(v), k


# --------------------------------------------------------------------------- DER


def test_der_by_construction():
    ref = activity(4.0, agent=[(0.0, 1.0)], customer=[(2.0, 3.0)])   # 100 + 100 frames
    assert diarization_error_rate(ref, ref) == 0.0
    d = diarization_error_rate(ref, ref[::-1], return_details=True)  # labels are arbitrary
    assert d["der"] == 0.0 and d["mapping"] == {0: 1, 1: 0}
    assert diarization_error_rate(ref, np.zeros_like(ref)) == 1.0  # all missed
    one = np.stack([ref[0] | ref[1], np.zeros_like(ref[0])])
    d = diarization_error_rate(ref, one, return_details=True)       # one speaker for both
    assert (d["missed"], d["false_alarm"], d["confusion"]) == (0, 0, 100) and d["der"] == 0.5
    fa = ref.copy()
    fa[0, 300:350] = True
    assert diarization_error_rate(ref, fa) == pytest.approx(50 / 200)
    ov = activity(4.0, agent=[(0.0, 1.0)], customer=[(0.5, 1.5)])     # overlap scored per speaker
    hyp = activity(4.0, agent=[(0.0, 1.0)], customer=[(1.0, 1.5)])
    assert diarization_error_rate(ov, hyp) == pytest.approx(50 / 200)
    three = np.concatenate([ref, ref[:1]])                          # extra hypothesis speaker
    assert diarization_error_rate(ref, three) == pytest.approx(100 / 200)
    assert math.isnan(diarization_error_rate(np.zeros((2, 5), bool), np.zeros((2, 5), bool)))
    with pytest.raises(ConfigurationError):
        diarization_error_rate(ref, ref[:, :-1])


@pytest.mark.oracle
@pytest.mark.skipif(importlib.util.find_spec("pyannote") is None
                    or importlib.util.find_spec("pyannote.metrics") is None,
                    reason="pyannote.metrics not installed")
def test_der_matches_pyannote_metrics():
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def to_annotation(a: np.ndarray) -> Annotation:
        ann = Annotation()
        for row in range(a.shape[0]):
            d = np.diff(np.concatenate([[0], a[row].astype(np.int8), [0]]))
            for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True):
                ann[Segment(s * HOP, e * HOP), f"track{row}"] = f"spk{row}"
        return ann

    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore", UserWarning)  # its uem approximation notice
    for _ in range(5):
        ref = np.repeat(rng.random((2, 60)) < 0.4, 10, axis=1)
        hyp = np.repeat(rng.random((3, 60)) < 0.3, 10, axis=1)
        ours = diarization_error_rate(ref, hyp)
        theirs = DiarizationErrorRate(collar=0.0, skip_overlap=False)(to_annotation(ref),
                                                                     to_annotation(hyp))
        assert ours == pytest.approx(theirs, abs=1e-9)


# --------------------------------------------------------------------------- stereo activity


def vowel(seconds: float, f0: float, formants, level_dbfs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 2.5 * t
                                                            + rng.uniform(0, 6)))) / SR
    y = sum((sum(np.exp(-0.5 * ((k * f0 - fm) / 130.0) ** 2) for fm in formants) + 0.02)
            * np.sin(k * phase) for k in range(1, int(0.45 * SR / f0)))
    return y * 10 ** (level_dbfs / 20) / np.sqrt(np.mean(y ** 2))


VOICES = {"agent": (120.0, (700, 1200, 2600)), "customer": (210.0, (400, 2000, 2900))}


def two_party(total: float, agent, customer, *, bleed_db: float = -25.0,
              levels=(-20.0, -20.0), noise_dbfs: float = -60.0, delay_sec: float = 0.0,
              gaps=()):
    """Stereo call: each party's vowels on its channel, the other's bleeding in at bleed_db
    and delay_sec later; ``gaps`` are (start, end) spans of digital silence cut into both
    parties' speech (a stop closure inside a word)."""
    rng = np.random.default_rng(11)
    n = int(round(total * SR))
    tracks = np.zeros((2, n))
    for row, (name, spans) in enumerate((("agent", agent), ("customer", customer))):
        f0, formants = VOICES[name]
        for j, (s, e) in enumerate(spans):
            a, b = int(round(s * SR)), int(round(e * SR))
            tracks[row, a:b] += vowel((b - a) / SR, f0, formants, levels[row], seed=10 * row + j)
    for s, e in gaps:
        tracks[:, int(round(s * SR)):int(round(e * SR))] = 0.0
    g = 10 ** (bleed_db / 20)
    k = int(round(delay_sec * SR))
    leak = np.concatenate([np.zeros((2, k)), tracks[:, :n - k]], axis=1) * g
    y = np.stack([tracks[0] + leak[1], tracks[1] + leak[0]])
    y += rng.standard_normal((2, n)) * 10 ** (noise_dbfs / 20)
    return y.astype(np.float32)


def test_crosstalk_is_rejected_and_real_overlap_kept():
    agent, customer = [(0.5, 3.0), (5.0, 7.0)], [(3.4, 5.6), (8.0, 9.5)]
    # a loud agent, a quiet customer: the agent's bleed is only 10 dB under the customer
    y = two_party(10.0, agent, customer, bleed_db=-25.0, levels=(-15.0, -30.0))
    plain = torch.from_numpy(y)
    assert voice_activity(plain, SR)[1].float().mean() > 0.5      # the VAD alone hears bleed
    act = speaker_activity(plain, SR).numpy()
    truth = activity(10.0, agent, customer)
    for row in (0, 1):
        assert (act[row] == truth[row]).mean() >= 0.97, row
    both = act[0] & act[1]
    # the real overlap 5.0-5.6 is kept
    assert both[505:555].all() and both.sum() <= 70
    # the coupling estimate finds the bleed of each party into the other channel
    level, _ = band_level_and_flatness(plain, SR)
    coupling = crosstalk_coupling(level, voice_activity(plain, SR))
    assert torch.allclose(coupling, torch.full((2,), -25.0), atol=2.0), coupling


def test_crosstalk_noise_floor_inside_the_other_speakers_pause():
    # The agent's words hold 80 ms stop closures of digital silence; both VADs bridge them
    # (min_silence_sec=0.1), so the customer's VAD stays on across the closures although the
    # customer channel holds nothing but noise there. The customer's level is then at its
    # noise floor and the agent's at its own: the leak alone explains nothing, and a rule
    # that compares with the leak only (not leak + noise) takes those frames for customer
    # speech when the delay tolerance is short (delay_frames <= 1). They must stay silent.
    agent = [(0.5, 4.0)]
    customer = [(5.0, 6.5)]
    closures = [(0.8 + 0.3 * i, 0.88 + 0.3 * i) for i in range(10)]
    y = torch.from_numpy(two_party(7.0, agent, customer, bleed_db=-25.0, levels=(-15.0, -20.0),
                                   gaps=closures))
    for d in (0, 1, 3):
        act = speaker_activity(y, SR, delay_frames=d, min_silence_sec=0.1).numpy()
        assert not act[1, 40:420].any(), (d, np.flatnonzero(act[1, 40:420]) + 40)
        assert act[1, 505:645].all(), d                      # the customer's own speech
        assert act[0, 55:395].mean() >= 0.6, d               # the agent (closures excluded)
        assert not act[0, 490:660].any(), d


def test_crosstalk_with_an_echo_delay():
    # the other party comes back 30 ms late at -20 dB; the customer answers 80 ms after the
    # agent stops: the delayed leak tail must not count, the quick answer must
    agent, customer = [(0.5, 3.0), (6.0, 8.0)], [(3.08, 5.5)]
    y = torch.from_numpy(two_party(9.0, agent, customer, bleed_db=-20.0, levels=(-15.0, -18.0),
                                   delay_sec=0.03))
    truth = activity(9.0, agent, customer)
    level, _ = band_level_and_flatness(y, SR)
    vad = voice_activity(y, SR)
    g, delay = _coupling_and_delay(level[None].float(), vad[None], 3)
    assert delay.tolist() == [[3, 3]] and torch.allclose(g, torch.full((1, 2), -20.0), atol=2.0)
    act = speaker_activity(y, SR).numpy()
    for row in (0, 1):
        assert (act[row] == truth[row]).mean() >= 0.98, row
    assert not act[1, 300:308].any() and not act[0, 550:558].any()   # the leak tails
    assert act[1, 311:320].all()                                     # the quick answer


def test_stereo_degenerate_and_batched():
    y = two_party(6.0, [(0.5, 2.5)], [(3.0, 5.0)])
    # one silent channel
    silent = y.copy()
    silent[1] = 0.0
    act = speaker_activity(silent, SR).numpy()
    assert not act[1].any() and act[0][60:240].all()
    # identical channels (a mono call stored as stereo): recognisable by a coupling of 0 dB
    # both ways, and no speaker activity is claimed for either channel
    same = torch.from_numpy(np.stack([y[0], y[0]]))
    act_same = speaker_activity(same, SR)
    assert act_same.shape == (2, 600) and not act_same.any()
    level, _ = band_level_and_flatness(same, SR)
    coupling = crosstalk_coupling(level, voice_activity(same, SR))
    assert torch.allclose(coupling, torch.zeros(2), atol=0.5)
    # batched with padding equals one by one
    short = two_party(4.0, [(0.2, 1.5)], [(2.0, 3.5)])
    batch = np.zeros((2, 2, y.shape[1]), np.float32)
    batch[0], batch[1, :, :short.shape[1]] = y, short
    b = speaker_activity(torch.from_numpy(batch), SR, lengths=[y.shape[1], short.shape[1]])
    assert torch.equal(b[0], speaker_activity(y, SR))
    assert torch.equal(b[1, :, :400], speaker_activity(short, SR)) and not b[1, :, 400:].any()
    # white noise only, clipped, DC offset, 1-second call
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal((2, SR * 5)) * 0.1).astype(np.float32)
    assert not speaker_activity(noise, SR).any()
    ref = speaker_activity(y, SR)
    assert (speaker_activity(y + 0.2, SR) == ref).float().mean() >= 0.99
    clipped = np.clip(y, -0.02, 0.02)
    assert (speaker_activity(clipped, SR) == ref).float().mean() >= 0.97
    assert speaker_activity(y[:, :SR], SR).shape == (2, 100)
    with pytest.raises(ConfigurationError):
        speaker_activity(y[:1], SR)
    with pytest.raises(ConfigurationError):
        activity_from_tracks(torch.zeros(3, 10), torch.zeros(3, 10, dtype=torch.bool))


def test_mono_diarization_of_two_synthetic_voices():
    agent = [(0.5, 3.0), (6.5, 9.0), (12.0, 14.5)]
    customer = [(3.5, 6.0), (9.5, 11.5), (15.0, 17.5)]
    y = two_party(18.0, agent, customer, bleed_db=-120.0).sum(0)
    hyp = diarize(torch.from_numpy(y), SR)
    assert hyp.shape == (2, 1800) and hyp.dtype == torch.bool
    truth = activity(18.0, agent, customer)
    d = diarization_error_rate(truth, hyp.numpy(), return_details=True)
    assert d["der"] <= 0.05
    assert d["mapping"] == {0: 0, 1: 1}                          # the first speaker is the agent
    assert not diarize(np.zeros(SR * 2, np.float32), SR).any()
    assert diarize(np.zeros(0, np.float32), SR).shape == (2, 0)
    with pytest.raises(ConfigurationError):
        diarize(np.zeros((2, 100), np.float32), SR)


# --------------------------------------------------------------------------- fixture corpus


@pytest.fixture(scope="module")
def corpus():
    calls = [c for c in cq.load_calls(FIXTURES) if c.ground_truth]
    if not calls:
        pytest.skip("fixture corpus missing")
    return calls


@pytest.fixture(scope="module")
def stereo_results(corpus):
    out = []
    for call in corpus:
        if call.ground_truth["mono"]:
            continue
        act = speaker_activity(torch.from_numpy(call.audio()), call.sample_rate).numpy()
        out.append((call, analyze_interaction(act, HOP), interaction_features(act, HOP)))
    if not out:
        pytest.skip("no stereo fixtures")
    return out


def utterance_frames(call: cq.Call, t_frames: int) -> np.ndarray:
    """(2, T) reference activity: the ground-truth utterances (word gaps < 250 ms included)."""
    ref = np.zeros((2, t_frames), bool)
    for u in call.ground_truth["utterances"]:
        row = 0 if u["speaker"] == "agent" else 1
        ref[row, int(round(u["start"] / HOP)):int(round(u["end"] / HOP))] = True
    return ref


def test_fixture_agent_talk_ratio(stereo_results):
    # every stereo call within 0.02 of the sidecar ratio; the sidecar's talk time is the
    # voice-active time (word spans minus the digital silences inside words, which reach
    # 17 % of an angry customer's word time)
    err = np.array([f["agent_talk_ratio"] - c.ground_truth["agent_talk_ratio"]
                    for c, _, f in stereo_results])
    assert (np.abs(err) <= 0.02).all(), err
    # talk time itself: within 10 % of the sidecar's for every speaker of every call
    for c, _, f in stereo_results:
        for who in ("agent", "customer"):
            truth = c.ground_truth["talk_time_sec"][who]
            assert abs(f[f"{who}_talk_time_sec"] - truth) <= 0.1 * truth, (c.call_id, who)


def test_fixture_interruptions_and_turns(stereo_results):
    inter = [(f["agent_interruption_count"], f["customer_interruption_count"])
             == (c.ground_truth["interruptions"]["agent"], c.ground_truth["interruptions"]["customer"])
             for c, _, f in stereo_results]
    turns = [len(r.turns) == c.ground_truth["n_turns"] for c, r, _ in stereo_results]
    assert np.mean(inter) >= 0.9
    assert np.mean(turns) >= 0.9
    # turn boundaries of the calls whose count matches: within 150 ms for 90 % of them
    starts = [abs(t.start - g["start"]) for c, r, _ in stereo_results
              if len(r.turns) == c.ground_truth["n_turns"]
              for t, g in zip(r.turns, c.ground_truth["turns"], strict=True)]
    assert np.mean(np.asarray(starts) <= 0.15) >= 0.9


def test_fixture_pauses_and_long_silences(stereo_results):
    errs = []
    for c, _, f in stereo_results:
        gt = [p["end"] - p["start"] for p in c.ground_truth["pauses"]]
        if gt and not math.isnan(f["avg_pause_duration_sec"]):
            errs.append(f["avg_pause_duration_sec"] - np.mean(gt))
    errs = np.abs(errs)
    assert np.median(errs) <= 0.05 and np.mean(errs <= 0.05) >= 0.6, errs
    ls = [f["long_silence_count"] == len(c.ground_truth["long_silences"])
          for c, _, f in stereo_results]
    assert np.mean(ls) >= 0.95


def test_fixture_mono_diarization_error_rate(corpus):
    from callquality.features.turns import bridge_gaps

    def der(call):
        hyp = diarize(torch.from_numpy(call.audio(mono=True)[0]), call.sample_rate).numpy()
        hyp = np.stack([bridge_gaps(h, 25) for h in hyp])   # utterance-level, as the reference
        return diarization_error_rate(utterance_frames(call, hyp.shape[1]), hyp)

    mono = [der(c) for c in corpus if c.ground_truth["mono"]]
    downmix = [der(c) for c in [c for c in corpus if not c.ground_truth["mono"]][:12]]
    if mono:
        assert np.mean(mono) <= 0.15, mono
    assert np.mean(downmix) <= 0.15, downmix
