"""HeuristicLabeler: agreement with the fixture corpus, its documented rules, and the table
contract it shares with the LLM labeler."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import callquality as cq
from callquality.labeling import OUTCOME_COLUMNS, HeuristicLabeler
from callquality.labeling.lexicon import sentence_valence, utterance_valences
from callquality.protocols import Labeler

FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


@pytest.fixture(scope="module")
def calls() -> list[cq.Call]:
    return list(cq.load_calls(FIXTURES, validate=False, progress=False))


@pytest.fixture(scope="module")
def blind_calls(calls: list[cq.Call]) -> list[cq.Call]:
    """The fixture calls with their sidecar metadata (ground truth included) removed."""
    return [dataclasses.replace(c, metadata={}) for c in calls]


def agreement(outcomes: pd.DataFrame, calls: list[cq.Call]) -> dict[str, float]:
    truth = {c.call_id: c.ground_truth["outcome"] for c in calls}  # type: ignore[index]
    res = [int(r.call_resolved == truth[r.call_id]["resolved"]) for r in outcomes.itertuples()]
    diff = [abs(r.customer_satisfaction_score - truth[r.call_id]["satisfaction"])
            for r in outcomes.itertuples()]
    return {"n": len(outcomes), "resolved": float(np.mean(res)),
            "satisfaction_within_1": float(np.mean([d <= 1 for d in diff])),
            "satisfaction_exact": float(np.mean([d == 0 for d in diff]))}


def test_agreement_with_the_fixtures_scripted_outcomes(blind_calls: list[cq.Call],
                                                       calls: list[cq.Call]) -> None:
    lab = HeuristicLabeler()
    out = lab.label(blind_calls)
    assert lab.report_.quarantined == 0 and len(out) == len(calls) == 60
    a = agreement(out, calls)
    print(f"\nheuristic agreement on {a['n']} fixture calls: resolved {a['resolved']:.1%}, "
          f"satisfaction within 1 {a['satisfaction_within_1']:.1%}, "
          f"exact {a['satisfaction_exact']:.1%}")
    assert a["resolved"] >= 0.90           # issue 5 target
    assert a["satisfaction_within_1"] >= 0.80  # issue 5 target
    # measured when the rules were written: 100 %, 100 %, 93.3 %; guard against regressions
    assert a["resolved"] >= 0.98 and a["satisfaction_within_1"] >= 0.98
    assert a["satisfaction_exact"] >= 0.85


def test_rules_do_not_read_the_ground_truth(calls: list[cq.Call],
                                            blind_calls: list[cq.Call]) -> None:
    lab = HeuristicLabeler()
    with_meta = lab.label(calls).drop(columns="labeled_at")
    without = lab.label(blind_calls).drop(columns="labeled_at")
    pd.testing.assert_frame_equal(with_meta, without)


def test_confidence_is_higher_when_evidence_agrees(blind_calls: list[cq.Call]) -> None:
    out = HeuristicLabeler().label(blind_calls)
    assert out.resolution_confidence.between(0.5, 1.0).all()
    assert out.resolution_confidence.median() > 0.9


# Out-of-corpus transcripts with other wording: (text, resolved, satisfaction)
HAND_WRITTEN = {
    "praise": ("Agent: Let me look into that for you.\n"
               "Customer: My bill shows a late fee I shouldn't have.\n"
               "Agent: I've waived the late fee and you'll see the credit on your next statement.\n"
               "Customer: Oh fantastic, thank you so much, you've been amazing!", 1, 5),
    "escalated": ("Agent: I'm going to escalate this to our technical team, they'll call you "
                  "back within 48 hours.\n"
                  "Customer: Seriously? This is the third time I've called. Whatever.", 0, 2),
    "refused": ("Customer: I want a refund for the opened headphones.\n"
                "Agent: Unfortunately we can't refund opened items, that's our policy.\n"
                "Customer: That's really disappointing.", 0, 2),
    "hedged": ("Customer: My card never arrived.\n"
               "Agent: Your new card has been dispatched and should arrive in 3 to 5 days.\n"
               "Customer: Okay, I hope it arrives this time.", 1, 3),
    "plain thanks": ("Customer: My service was cut off.\n"
                     "Agent: You're all set, the service is reactivated.\n"
                     "Customer: Great, thanks.", 1, 4),
    "second topic open": ("Agent: I've updated your address.\n"
                          "Customer: Thanks. Also my router is broken.\n"
                          "Agent: I can't fix hardware from here, I'll open a ticket and a "
                          "technician will contact you.\n"
                          "Customer: Fine, I guess.", 0, 3),
    "furious": ("Customer: You charged me twice!\n"
                "Agent: I'm afraid there's nothing I can do, the charge is valid.\n"
                "Customer: This is a disgrace, I'm going to cancel and switch providers.", 0, 1),
}


def test_hand_written_calls_in_other_words() -> None:
    df = pd.DataFrame({"call_id": list(HAND_WRITTEN),
                       "transcript": [v[0] for v in HAND_WRITTEN.values()]})
    lab = HeuristicLabeler()
    out = lab.label(df).set_index("call_id")
    assert lab.report_.quarantined == 0
    for cid, (_, resolved, sat) in HAND_WRITTEN.items():
        assert out.loc[cid, "call_resolved"] == resolved, cid
        assert abs(out.loc[cid, "customer_satisfaction_score"] - sat) <= 1, cid
    exact = [out.loc[k, "customer_satisfaction_score"] == v[2] for k, v in HAND_WRITTEN.items()]
    assert np.mean(exact) >= 0.7


def test_reasoning_names_the_rules_and_is_redacted() -> None:
    text = ("Customer: my card 4111 1111 1111 1111 was charged twice, mail me at a.b@example.com\n"
            "Agent: I have reversed the charge on 4111 1111 1111 1111.\n"
            "Customer: Perfect, thank you so much!")
    lab = HeuristicLabeler()
    out = lab.label(pd.DataFrame({"call_id": ["x"], "transcript": [text]}))
    r = out.iloc[0]
    assert (r.call_resolved, r.customer_satisfaction_score) == (1, 5)
    assert "agent completed the action" in r.reasoning
    assert "4111" not in r.reasoning and "[CARD]" in r.reasoning
    assert r.model is pd.NA and r.prompt_hash is pd.NA and r.labeler == "heuristic"


def test_explain_exposes_the_evidence(blind_calls: list[cq.Call]) -> None:
    lab = HeuristicLabeler()
    by_id = {c.call_id: c for c in blind_calls}
    ev = lab.explain(by_id["call_0002"])  # escalated after a hold, customer interrupts
    assert ev.last_statement is not None and ev.last_statement.sign == -1
    assert len(ev.holds) == 1 and ev.holds[0][1] - ev.holds[0][0] >= 5
    assert ev.judgement is not None and ev.judgement.call_resolved == 0
    assert ev.closing_valence is not None and ev.satisfaction_raw is not None


def test_long_holds_and_stress_lower_satisfaction() -> None:
    text = ("Customer: The app keeps crashing.\n"
            "Agent: I have reset your account, it should be working now.\n"
            "Customer: Okay, thanks.")
    base = pd.DataFrame({"call_id": ["a"], "transcript": [text]})
    lab = HeuristicLabeler()
    plain = lab.label(base).iloc[0].customer_satisfaction_score
    held = lab.label(base.assign(long_silence_count=2, stress_indicators=0.8)).iloc[0]
    assert plain == 4 and held.customer_satisfaction_score == 3
    assert "2 long hold(s) -0.50" in held.reasoning and "acoustic stress" in held.reasoning


def test_features_only_fallback_and_quarantine() -> None:
    feats = pd.DataFrame({"call_id": ["pos", "neg", "none", "bad"],
                          "customer_sentiment_end": [0.9, 0.1, np.nan, 1.7],
                          "long_silence_count": [0, 1, 0, 0]})
    lab = HeuristicLabeler()
    out = lab.label(feats).set_index("call_id")
    assert out.loc["pos", "call_resolved"] == 1 and out.loc["pos", "customer_satisfaction_score"] == 5
    assert out.loc["neg", "call_resolved"] == 0 and out.loc["neg", "customer_satisfaction_score"] == 1
    assert (out.resolution_confidence <= 0.75).all()
    errs = lab.report_.errors.set_index("call_id")
    assert errs.loc["none", "reason"].startswith("nothing to label from")
    assert "outside [0, 1]" in errs.loc["bad", "reason"]
    assert lab.report_.labeled + lab.report_.quarantined == 4


def test_undecidable_call_is_quarantined_not_guessed() -> None:
    df = pd.DataFrame({"call_id": ["q"], "transcript": [
        "Agent: Hello, how can I help?\nCustomer: I have a question about my plan."]})
    lab = HeuristicLabeler()
    out = lab.label(df)
    assert len(out) == 0
    assert lab.report_.errors.reason.iloc[0].startswith("undecidable")


def test_calls_with_features_table_join(blind_calls: list[cq.Call]) -> None:
    calls = blind_calls[:3]
    feats = pd.DataFrame({"call_id": [c.call_id for c in calls], "long_silence_count": [3, 0, 0],
                          "error": [None, None, "decode failed"]})
    out = HeuristicLabeler().label(calls, features=feats)
    assert "long hold" in out.iloc[0].reasoning
    with pytest.raises(cq.CallQualityError):
        HeuristicLabeler().label(calls, features=pd.concat([feats, feats]))


def test_table_contract_and_protocol(blind_calls: list[cq.Call]) -> None:
    lab = HeuristicLabeler(high_quality_min_satisfaction=5)
    assert isinstance(lab, Labeler)
    out = lab.label(blind_calls[:10])
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    assert str(out.labeled_at.dtype) == "datetime64[ns, UTC]"
    assert ((out.high_quality_call == 1) == ((out.call_resolved == 1)
                                             & (out.customer_satisfaction_score >= 5))).all()
    assert out.attrs["labeling"]["labeled"] == 10
    empty = lab.label([])
    assert list(empty.columns) == list(OUTCOME_COLUMNS) and len(empty) == 0
    with pytest.raises(cq.CallQualityError):
        HeuristicLabeler(hold_min_sec=0).label(blind_calls[:1])


@pytest.mark.parametrize("sentence,sign", [
    ("Perfect, you have been really helpful, thank you!", 1),
    ("Okay, that sounds good.", 1),
    ("That is useless, thanks for nothing.", -1),
    ("I am not happy with this.", -1),
    ("Fine, I guess I have no choice.", -1),
    ("My internet has been down since Monday.", 0),
])
def test_lexicon_signs(sentence: str, sign: int) -> None:
    v = sentence_valence(sentence)
    assert (v > 0) - (v < 0) == sign


def test_lexicon_hedge_and_sarcasm() -> None:
    assert sentence_valence("Okay, I hope it works this time.") <= 0.5
    assert sentence_valence("Okay, it works.") > 0.5
    assert utterance_valences("So I have to wait again? Great.")[1] < 0
    assert utterance_valences("It is fixed. Great.")[1] > 0


def test_transcript_without_speaker_labels() -> None:
    text = ("I was charged twice this month. I have reversed the duplicate charge, you will see "
            "it on your next statement. Great, thank you so much!")
    lab = HeuristicLabeler()
    out = lab.label(pd.DataFrame({"call_id": ["u"], "transcript": [text]}))
    assert (out.iloc[0].call_resolved, out.iloc[0].customer_satisfaction_score) == (1, 5)
