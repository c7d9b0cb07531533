"""PII redaction: card numbers (Luhn), SSNs, phone numbers and e-mail addresses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callquality.redaction import PII_KINDS, find_pii, luhn_valid, redact

# (text, expected) — every PII form we promise to catch
REDACTED = [
    # cards: common test numbers of each network, any grouping
    ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
    ("card 4111-1111-1111-1111.", "card [CARD]."),
    ("4111111111111111", "[CARD]"),
    ("mastercard 5500 0000 0000 0004", "mastercard [CARD]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("amex 378282246310005", "[CARD]".join(["amex ", ""])),
    ("discover 6011 1111 1111 1117", "discover [CARD]"),
    ("visa 13 digits 4222222222222", "visa 13 digits [CARD]"),
    ("read out 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 thanks", "read out [CARD] thanks"),
    ("spoken four one one one one one one one one one one one one one one one.", "spoken [CARD]."),
    ("commas 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1", "commas [CARD]"),
    ("card 4111 1111 1111 1111 2 times", "card [CARD] 2 times"),
    # SSNs
    ("SSN 123-45-6789.", "SSN [SSN]."),
    ("ssn is 078 05 1120", "ssn is [SSN]"),
    ("my social security number is 123456789", "my social security number is [SSN]"),
    ("social is 1 2 3 4 5 6 7 8 9", "social is [SSN]"),
    # phones
    ("call (415) 555-0132 now", "call [PHONE] now"),
    ("call 415-555-0132", "call [PHONE]"),
    ("call 415.555.0132", "call [PHONE]"),
    ("call 415 555 0132", "call [PHONE]"),
    ("call 4155550132", "call [PHONE]"),
    ("call +1 415 555 0132", "call [PHONE]"),
    ("call +1 (415) 555-0132", "call [PHONE]"),
    ("call 1-800-555-0199", "call [PHONE]"),
    ("call 555-0132", "call [PHONE]"),
    ("london +44 20 7946 0958", "london [PHONE]"),
    ("london 020 7946 0958", "london [PHONE]"),
    ("berlin +49 30 901820", "berlin [PHONE]"),
    ("mobile 07700 900123", "mobile [PHONE]"),
    ("it is 4 1 5 5 5 5 0 1 3 2", "it is [PHONE]"),
    ("my number is five five five one two three four", "my number is [PHONE]"),
    # e-mail
    ("mail jane.doe@example.com.", "mail [EMAIL]."),
    ("mail J_Smith+cq@mail.example.co.uk now", "mail [EMAIL] now"),
    ("it is john dot smith at gmail dot com", "it is [EMAIL]"),
    ("it is jsmith at example dot co dot uk", "it is [EMAIL]"),
    # several in one text
    ("card 4111 1111 1111 1111, phone (415) 555-0132, mail a@b.io, ssn 123-45-6789",
     "card [CARD], phone [PHONE], mail [EMAIL], ssn [SSN]"),
]

# texts that must come back unchanged
KEPT = [
    "I paid $1,234.56 on 2024-01-15 at 10:30.",
    "Order 123456 was placed on 03/04/2024.",
    "The zip code is 90210 and the ticket is 8 7 3 7 3.",
    "It is 3 2 2 5 0 4.",
    "card ending in 4321",
    "4111 1111 1111 1112 fails the checksum",
    "0000 0000 0000 0000",
    "on the 5th of May, room 12B, flight BA2490",
    "one of the two options, three times",
    "I looked at example dot com yesterday",
    "the 10 items cost 25 dollars and 99 cents",
    "version 1.2.3.4",
    "Invalid SSN 000-12-3456 and 666-12-3456 and 900-12-3456",
    "a 12345678 account",
    "",
]


@pytest.mark.parametrize("text,expected", REDACTED)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_keeps_non_pii(text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("") and not luhn_valid("12a4")


def test_find_pii_spans_and_kinds() -> None:
    text = "card 4111 1111 1111 1111 or mail a@b.io"
    spans = find_pii(text)
    assert [(s.kind, s.text) for s in spans] == [("card", "4111 1111 1111 1111"),
                                                 ("email", "a@b.io")]
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert redact(text, kinds=["email"]) == "card 4111 1111 1111 1111 or mail [EMAIL]"
    with pytest.raises(ValueError, match="unknown kind"):
        find_pii(text, kinds=["name"])
    with pytest.raises(TypeError):
        redact(None)  # type: ignore[arg-type]


def test_long_digit_runs_are_fast() -> None:
    text = " ".join(["1"] * 20_000)
    redact(text)  # windows are bounded by the longest kind (19 digits): linear time


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError


@st.composite
def card_numbers(draw: st.DrawFn) -> tuple[str, str]:
    length = draw(st.sampled_from([15, 16, 16, 16, 19]))
    body = draw(st.text("0123456789", min_size=length - 2, max_size=length - 2))
    digits = _luhn_complete(draw(st.sampled_from("3456")) + body)
    if len(set(digits)) == 1:
        digits = _luhn_complete("4" + "1" * (length - 2))
    style = draw(st.sampled_from(["plain", "4s", "dash", "single"]))
    if style == "plain":
        written = digits
    elif style in ("4s", "dash"):
        sep = " " if style == "4s" else "-"
        written = sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))
    else:
        written = " ".join(digits)
    return digits, written


_filler = st.text(st.sampled_from("abcdefgh ,.!?"), max_size=30).map(lambda s: f" {s} ")


@settings(max_examples=200, deadline=None)
@given(card=card_numbers(), before=_filler, after=_filler)
def test_any_luhn_card_in_text_is_removed(card: tuple[str, str], before: str, after: str) -> None:
    digits, written = card
    out = redact(before + written + after)
    assert "[CARD]" in out
    assert digits not in re.sub(r"\D", "", out)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_redact_never_fails_is_idempotent_and_adds_nothing(text: str) -> None:
    out = redact(text)
    assert redact(out) == out
    assert len(re.sub(r"\D", "", out)) <= len(re.sub(r"\D", "", text))
    for kind_tag in ("[CARD]", "[SSN]", "[PHONE]", "[EMAIL]"):
        assert out.count(kind_tag) >= text.count(kind_tag)


def test_kinds_constant() -> None:
    assert PII_KINDS == ("email", "card", "ssn", "phone")


# --------------------------------------------------------------------------- generated corpus


def _alnum(text: str, start: int, end: int) -> set[int]:
    """Positions of the characters that carry information (letters, digits, ``@``)."""
    return {i for i in range(start, end) if text[i].isalnum() or text[i] == "@"}


def test_generated_corpus_recall_and_precision() -> None:
    """Issue #4: >= 500 generated utterances with and without PII (cards, SSNs, phones,
    e-mails; digits written and spoken) among amounts, dates, times, ZIP codes, order numbers
    and Luhn-invalid 16-digit numbers. Span level: a gold span counts as recalled when all its
    letters and digits are redacted; a predicted span is correct when it overlaps a gold span.
    """
    from _pii_corpus import generate

    corpus = generate(600, seed=7)
    assert len(corpus) >= 500
    with_pii = sum(u.has_pii for u in corpus)
    assert 200 <= with_pii <= 400
    kinds = {k for u in corpus for *_, k in u.spans}
    assert kinds == set(PII_KINDS)

    n_gold = n_recalled = n_pred = n_correct = n_typed = 0
    pred_chars = over_chars = 0
    misses: list[str] = []
    false_pos: list[str] = []
    for u in corpus:
        pred = find_pii(u.text)
        covered = {i for p in pred for i in range(p.start, p.end)}
        gold_chars = {i for a, b, _ in u.spans for i in range(a, b)}
        for a, b, kind in u.spans:
            n_gold += 1
            if _alnum(u.text, a, b) <= covered:
                n_recalled += 1
            else:
                misses.append(f"{kind}: {u.text!r}")
        for p in pred:
            n_pred += 1
            hits = [k for a, b, k in u.spans if p.start < b and p.end > a]
            n_correct += bool(hits)
            n_typed += p.kind in hits
            if not hits:
                false_pos.append(f"{p.kind} {p.text!r} in {u.text!r}")
            chars = _alnum(u.text, p.start, p.end)
            pred_chars += len(chars)
            over_chars += len(chars - gold_chars)

    recall = n_recalled / n_gold
    precision = n_correct / max(n_pred, 1)
    assert n_gold >= 300
    assert recall >= 0.99, (recall, misses[:10])
    assert precision >= 0.95, (precision, false_pos[:10])
    assert n_typed / max(n_pred, 1) >= 0.95  # and the tag names the right kind
    assert over_chars / max(pred_chars, 1) <= 0.02  # spans do not swallow neighbouring text
    # utterances without PII come back unchanged (almost always)
    clean = [u for u in corpus if not u.has_pii]
    changed = [u.text for u in clean if redact(u.text) != u.text]
    assert len(changed) <= 0.02 * len(clean), changed[:5]


def test_spoken_digits_with_pauses_and_reference_numbers() -> None:
    # an ellipsis (pause) between groups of a number read out
    assert redact("card four one one one... one one one one... one one one one... one one "
                  "one one") == "card [CARD]"
    assert redact("call me on four one five... five five five... oh one three two") == \
        "call me on [PHONE]"
    # seven digits read out after "number" are a phone number, but not after "order number",
    # nor seven digits out of eight
    assert redact("my number is five five five one two three four") == "my number is [PHONE]"
    assert redact("my order number is five five five one two three four") == \
        "my order number is five five five one two three four"
    eight = "my number is five five five one two three four five"
    assert redact(eight) == eight
