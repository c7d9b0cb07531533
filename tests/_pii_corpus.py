"""A generated corpus of call-center utterances with and without PII, with gold spans.

:func:`generate` builds utterances from varied templates, as an agent or a customer would say
them and as a transcript (typed or ASR) would write them. Each utterance records the exact
character spans of its personal data (kind ``card``, ``ssn``, ``phone``, ``email``). Every
utterance, with PII or without, also carries number-like text that is *not* PII: amounts,
dates, times, ZIP codes, order and ticket numbers, Luhn-invalid 16-digit numbers, card
endings, years, percentages, flight and room numbers.

PII forms: Luhn-valid card numbers of Visa, Mastercard, Amex and Discover (plain, grouped by
spaces or dashes, digit by digit, spoken as words with "oh" for zero); SSNs (dashed, spaced,
or nine digits / spoken digits after "social security"); North-American and international
phone numbers in the usual notations and spoken digit by digit; e-mail addresses written and
spoken ("john dot smith at gmail dot com").

The generator is independent of the redaction code: it never calls it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Span = tuple[int, int, str]

_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass(frozen=True)
class Utterance:
    """A text and its gold PII spans ``(start, end, kind)``."""

    text: str
    spans: tuple[Span, ...]

    @property
    def has_pii(self) -> bool:
        return bool(self.spans)


class _Builder:
    """Concatenates literal text and PII pieces, recording the PII spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.pos = 0

    def lit(self, s: str) -> _Builder:
        self.parts.append(s)
        self.pos += len(s)
        return self

    def pii(self, s: str, kind: str) -> _Builder:
        self.spans.append((self.pos, self.pos + len(s), kind))
        return self.lit(s)

    def build(self) -> Utterance:
        return Utterance("".join(self.parts), tuple(self.spans))


# --------------------------------------------------------------------------- digits


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if _luhn_ok(body + d))


def _spoken(digits: str, rng: random.Random, oh: bool = True) -> str:
    return " ".join("oh" if d == "0" and oh and rng.random() < 0.5 else _WORDS[int(d)]
                    for d in digits)


def _spoken_groups(groups: list[str], rng: random.Random, sep: str) -> str:
    return sep.join(_spoken(g, rng) for g in groups)


# --------------------------------------------------------------------------- PII values


def card(rng: random.Random) -> str:
    network = rng.choice(["visa", "visa", "mc", "mc", "amex", "discover", "visa13"])
    if network == "visa":
        d = _luhn_complete(rng, "4", 16)
    elif network == "visa13":
        d = _luhn_complete(rng, "4", 13)
    elif network == "mc":
        d = _luhn_complete(rng, rng.choice(["51", "52", "53", "54", "55", "2221", "2720"]), 16)
    elif network == "amex":
        d = _luhn_complete(rng, rng.choice(["34", "37"]), 15)
    else:
        d = _luhn_complete(rng, rng.choice(["6011", "65"]), 16)
    groups = ([d[:4], d[4:10], d[10:]] if len(d) == 15 else
              [d[i:i + 4] for i in range(0, len(d), 4)])
    style = rng.choice(["plain", "space", "space", "dash", "single", "spoken", "spoken_groups"])
    if style == "plain":
        return d
    if style == "space":
        return " ".join(groups)
    if style == "dash":
        return "-".join(groups)
    if style == "single":
        return " ".join(d)
    if style == "spoken":
        return _spoken(d, rng)
    return _spoken_groups(groups, rng, rng.choice([", ", " ", "... "]))


def ssn(rng: random.Random) -> tuple[str, str]:
    """``(context, written)``: the words before the number and the number."""
    area = rng.choice([n for n in range(1, 900) if n != 666])
    d = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    style = rng.choice(["dash", "dash", "space", "nine", "spoken", "single"])
    ctx = rng.choice(["my social security number is ", "the SSN is ", "social is ",
                      "my social security number, it's ", "SSN: ", "social security, "])
    if style == "dash":
        return rng.choice([ctx, "it's ", "the number is ", ""]), f"{d[:3]}-{d[3:5]}-{d[5:]}"
    if style == "space":
        return ctx, f"{d[:3]} {d[3:5]} {d[5:]}"
    if style == "nine":
        return ctx, d
    if style == "single":
        return ctx, " ".join(d)
    return ctx, _spoken_groups([d[:3], d[3:5], d[5:]], rng, rng.choice([", ", " "]))


def phone(rng: random.Random) -> str:
    area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    exch = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    line = f"{rng.randint(0, 9999):04d}"
    style = rng.choice(["paren", "dash", "dot", "space", "plain", "plus1", "plus1paren",
                        "tollfree", "local", "uk", "uk_national", "intl", "single", "spoken",
                        "spoken"])
    if style == "paren":
        return f"({area}) {exch}-{line}"
    if style == "dash":
        return f"{area}-{exch}-{line}"
    if style == "dot":
        return f"{area}.{exch}.{line}"
    if style == "space":
        return f"{area} {exch} {line}"
    if style == "plain":
        return area + exch + line
    if style == "plus1":
        return f"+1 {area} {exch} {line}"
    if style == "plus1paren":
        return f"+1 ({area}) {exch}-{line}"
    if style == "tollfree":
        return f"1-{rng.choice(['800', '888', '877', '866'])}-{exch}-{line}"
    if style == "local":
        return f"{exch}-{line}"
    if style == "uk":
        return rng.choice([f"+44 20 {rng.randint(3000, 8999)} {rng.randint(0, 9999):04d}",
                           f"+44 7700 {rng.randint(100000, 999999)}",
                           f"+44 161 {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"])
    if style == "uk_national":
        return rng.choice([f"020 {rng.randint(3000, 8999)} {rng.randint(0, 9999):04d}",
                           f"07700 {rng.randint(100000, 999999)}",
                           f"0161 {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"])
    if style == "intl":
        return f"+{rng.choice(['49', '33', '61', '34'])} {rng.randint(10, 99)} " \
               f"{rng.randint(1000, 9999)} {rng.randint(100, 9999)}"
    if style == "single":
        return " ".join(area + exch + line)
    return _spoken_groups([area, exch, line], rng, rng.choice([", ", " ", "... "]))


_FIRST = ["john", "maria", "kevin", "priya", "olivia", "ahmed", "li", "sarah", "tom", "emily"]
_LAST = ["smith", "lopez", "okafor", "chen", "patel", "garcia", "novak", "jones", "kim"]
_DOMAINS = ["gmail.com", "yahoo.com", "example.org", "outlook.com", "mail.example.co.uk",
            "company.io", "hotmail.co.uk", "proton.me"]


def email(rng: random.Random) -> str:
    f, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = rng.choice([f"{f}.{last}", f"{f[0]}{last}", f"{f}_{last}{rng.randint(1, 99)}",
                        f"{f}{rng.randint(70, 99)}", f"{f}+orders"])
    dom = rng.choice(_DOMAINS)
    if rng.random() < 0.6:
        return f"{local}@{dom}" if rng.random() < 0.8 else f"{local.title()}@{dom}"
    spoken_local = local.replace(".", " dot ").replace("_", " underscore ")
    if "+" in spoken_local:  # people rarely spell a plus; drop the tag
        spoken_local = spoken_local.split("+")[0]
    return f"{spoken_local} at {dom.replace('.', ' dot ')}"


# --------------------------------------------------------------------------- distractors


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _bad_luhn16(rng: random.Random) -> str:
    while True:
        d = rng.choice("3456") + "".join(rng.choice("0123456789") for _ in range(15))
        if not _luhn_ok(d):
            return d


def distractor(rng: random.Random) -> str:
    """A phrase with numbers that are not PII."""
    kind = rng.randrange(25)
    n = rng.randint
    if kind == 0:
        return f"I paid ${n(1, 9)},{n(100, 999)}.{n(10, 99)} last week"
    if kind == 1:
        return f"the bill says {n(20, 999)} dollars and {n(1, 99)} cents"
    if kind == 2:
        return f"it was charged on {n(1, 12):02d}/{n(1, 28):02d}/{n(2019, 2025)}"
    if kind == 3:
        return f"the invoice date is {n(2019, 2025)}-{n(1, 12):02d}-{n(1, 28):02d}"
    if kind == 4:
        return f"I called on {rng.choice(_MONTHS)} {_ordinal(n(1, 28))} at {n(1, 12)}:{n(0, 59):02d}"
    if kind == 5:
        return f"the technician comes between {n(8, 11)}:00 and {n(12, 17)}:30"
    if kind == 6:
        return f"the zip code is {n(10000, 99999)}"
    if kind == 7:
        return f"my zip is {n(10000, 99999)}-{n(1000, 9999)}"
    if kind == 8:
        return f"order number {n(10000, 999999)}"
    if kind == 9:
        return f"order #{n(1000000, 99999999)}"
    if kind == 10:
        return f"ticket {' '.join(str(n(10000, 99999)))}"
    if kind == 11:
        return f"the reference is {_spoken(str(n(10000, 999999)), rng)}"
    if kind == 12:
        return f"this card {_bad_luhn16(rng)} was declined"
    if kind == 13:
        d = _bad_luhn16(rng)
        return f"the number {' '.join(d[i:i + 4] for i in range(0, 16, 4))} does not work"
    if kind == 14:
        return f"the card ending in {n(1000, 9999)}"
    if kind == 15:
        return f"the last four digits are {' '.join(str(n(1000, 9999)))}"
    if kind == 16:
        return f"I have been a customer since {n(1995, 2023)}"
    if kind == 17:
        return f"you raised the price by {n(2, 40)} percent"
    if kind == 18:
        return f"flight BA{n(100, 9999)} from gate {n(1, 60)}B"
    if kind == 19:
        return f"room {n(100, 999)} on floor {n(1, 20)}"
    if kind == 20:
        return f"I waited {rng.choice(_WORDS[2:])} or {rng.choice(_WORDS[2:])} days"
    if kind == 21:
        return f"the member ID is {n(100000000, 999999999)}"
    if kind == 22:
        return f"my {rng.choice(['order', 'confirmation', 'reference', 'case'])} number is " \
               f"{_spoken(str(n(1000000, 99999999)), rng)}"
    if kind == 23:
        return f"account number {n(10000000, 99999999)}"
    return f"it costs {n(2, 9)} hundred and {n(2, 9)} dollars for {n(2, 12)} months"


# --------------------------------------------------------------------------- utterances


def _pii_utterance(rng: random.Random) -> Utterance:
    b = _Builder()
    kinds = rng.sample(["card", "ssn", "phone", "email"], k=rng.choice([1, 1, 1, 2]))
    lead = rng.choice(["Sure. ", "Okay, ", "", "Yes, ", "Um, ", "Right, so "])
    b.lit(lead)
    for j, kind in enumerate(kinds):
        if j:
            b.lit(rng.choice([" and ", ", and ", ". Also ", "; "]))
        if kind == "card":
            b.lit(rng.choice(["my card number is ", "the card is ", "it's ",
                              "charge it to ", "card number "]))
            b.pii(card(rng), "card")
            if rng.random() < 0.3:
                b.lit(f", expiring {rng.randint(1, 12):02d}/{rng.randint(25, 31)}")
        elif kind == "ssn":
            ctx, number = ssn(rng)
            b.lit(ctx)
            b.pii(number, "ssn")
        elif kind == "phone":
            b.lit(rng.choice(["you can reach me at ", "my phone number is ", "call me on ",
                              "my number is ", "the best number is ", "text ", "my cell is "]))
            b.pii(phone(rng), "phone")
        else:
            b.lit(rng.choice(["my email is ", "send it to ", "email me at ",
                              "the address is "]))
            b.pii(email(rng), "email")
    if rng.random() < 0.6:
        b.lit(rng.choice([", and ", ". Also, ", "; by the way "]) + distractor(rng))
    b.lit(rng.choice([".", "", " please.", ", thanks."]))
    return b.build()


def _clean_utterance(rng: random.Random) -> Utterance:
    b = _Builder()
    b.lit(rng.choice(["So ", "Well, ", "", "Okay, ", "Yes, "]))
    b.lit(distractor(rng))
    if rng.random() < 0.5:
        b.lit(rng.choice([", and ", ". And ", "; "]) + distractor(rng))
    b.lit(rng.choice([".", "!", "", "?"]))
    return b.build()


def generate(n: int = 600, *, seed: int = 7, pii_fraction: float = 0.5) -> list[Utterance]:
    """``n`` utterances, about ``pii_fraction`` of them with PII, reproducible by ``seed``."""
    rng = random.Random(seed)
    make: list[Callable[[random.Random], Utterance]] = [_pii_utterance, _clean_utterance]
    return [make[0 if rng.random() < pii_fraction else 1](rng) for _ in range(n)]
