"""PII redaction: replace personal data in free text with tags before the text leaves the process.

:func:`redact` finds four kinds of personal data and replaces each span with a tag:

==========  =========  ===================================================================
kind        tag        what is recognised
==========  =========  ===================================================================
``email``   [EMAIL]    ``name@domain.tld`` and its spoken form ``john dot smith at example
                       dot com`` (as ASR writes it)
``card``    [CARD]     13-19 digits that pass the Luhn checksum, in any grouping
                       (``4111 1111 1111 1111``, ``4111-1111-...``, one digit at a time,
                       digits spoken as words)
``ssn``     [SSN]      US social security numbers written ``123-45-6789`` / ``123 45 6789``
                       (valid area, group and serial), or nine digits right after the words
                       *social security*, *SSN* or *social*
``phone``   [PHONE]    North-American numbers (``(555) 123-4567``, ``555.123.4567``,
                       ``+1 555 123 4567``, ten bare digits, ``555-1234``), international
                       numbers with a leading ``+`` (8-15 digits), national numbers with a
                       leading 0 (10-11 digits, e.g. ``020 7946 0958``), and ten or eleven
                       digits read out one at a time
==========  =========  ===================================================================

How digits are found: every run of digit groups joined by short separators (a space, ``-``,
``.``, ``,``, parentheses, or an ellipsis ``...``/``…``, as transcripts mark a pause) is
collected, including digits spoken as words (``four one one one``, ``oh`` for zero), which is
how speech recognisers often write numbers read aloud. Each
run is then searched for windows of whole groups that form a card number (leftmost, then
longest first; Luhn valid), then an SSN, then a phone number in what remains, so
``my card 4111 1111 1111 1111 and my phone 555 123 4567`` yields both tags. Digits glued to
letters (``5th``, ``A1234``) are not candidates. Amounts, dates, times, ZIP codes, order
numbers of fewer than seven digits and Luhn-invalid 16-digit numbers are left as they are.

The tags contain no digits and no ``@``, so :func:`redact` is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["PII_KINDS", "PIISpan", "find_pii", "luhn_valid", "redact"]

#: Kinds of personal data recognised, in the order in which overlapping matches are resolved.
PII_KINDS: tuple[str, ...] = ("email", "card", "ssn", "phone")

TAGS: dict[str, str] = {"email": "[EMAIL]", "card": "[CARD]", "ssn": "[SSN]",
                        "phone": "[PHONE]"}


@dataclass(frozen=True)
class PIISpan:
    """One recognised span: ``text[start:end]`` is personal data of ``kind``."""

    start: int
    end: int
    kind: str
    text: str

    @property
    def tag(self) -> str:
        return TAGS[self.kind]


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) checksum of payment cards."""
    if not digits or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# --------------------------------------------------------------------------- e-mail

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

_SPOKEN_TLD = r"(?:com|net|org|edu|gov|io|co|uk|us|ca|de|fr|es|it|nl|au|info|biz|me)"
_SPOKEN_EMAIL = re.compile(
    r"\b(?P<local>[a-z0-9][a-z0-9._-]*(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+)*)"
    r"\s+at\s+"
    r"[a-z0-9][a-z0-9-]*(?:\s+dot\s+[a-z0-9-]+)*\s+dot\s+" + _SPOKEN_TLD + r"\b",
    re.IGNORECASE)
# Words that precede "at <site> dot com" in ordinary speech ("I looked at example dot com").
_NOT_LOCAL = frozenset("""
a an the i me my we us our you your he him his she her it its they them their this that
is was are were be been am look looked looking it's go went going stay stayed staying
order ordered buy bought shop shopped online available listed posted found
""".split())


def _emails(text: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _SPOKEN_EMAIL.finditer(text):
        local = m.group("local").lower()
        if local.split()[0] in _NOT_LOCAL:
            continue
        spans.append((m.start(), m.end()))
    return spans


# --------------------------------------------------------------------------- digit runs

_WORD_DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:\d+|(?i:zero|oh|one|two|three|four|five|six|seven|eight|nine))"
    r"(?![A-Za-z0-9])")
# What may stand between two digit groups of one number.
_GAP = re.compile(r"\)?[ \t]{0,2}(?:[-.,]|\.{2,3}|…)?[ \t]{0,2}\(?")
_SSN_CONTEXT = re.compile(r"\b(?:social(?:\s+security)?(?:\s+number)?|ssn|s\s*s\s*n)\b"
                          r"[\s\w:#,'-]{0,20}$", re.IGNORECASE)
_PHONE_CONTEXT = re.compile(r"\b(?:phone|mobile|cell|number|call|reach|text|fax|extension)\b"
                            r"[\s\w:#,'-]{0,25}$", re.IGNORECASE)
# "number" that names something other than a phone ("my order number is ...").
_OTHER_NUMBER = re.compile(
    r"\b(?:order|confirmation|reference|ref|case|account|ticket|tracking|invoice|member|"
    r"membership|policy|claim|serial|booking|reservation|customer|transaction)"
    r"\s+(?:number|no|#)[\s\w:#,'-]{0,25}$", re.IGNORECASE)
_DIGIT_WORD = r"(?:\d|(?i:zero|oh|one|two|three|four|five|six|seven|eight|nine))"
# A single digit joined by mere whitespace: the digits read out go on.
_DIGIT_AFTER = re.compile(r"[ \t]+" + _DIGIT_WORD + r"(?![A-Za-z0-9])")
_DIGIT_BEFORE = re.compile(r"(?<![A-Za-z0-9])" + _DIGIT_WORD + r"[ \t]+$")


@dataclass(frozen=True)
class _Group:
    start: int
    end: int
    digits: str
    spoken: bool  # a digit word ("four") rather than numerals
    gap_before: str  # separator text between the previous group and this one ("" for first)


def _runs(text: str) -> list[list[_Group]]:
    """Maximal runs of digit groups joined by short separators."""
    runs: list[list[_Group]] = []
    cur: list[_Group] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        spoken = not tok[0].isdigit()
        digits = _WORD_DIGITS[tok.lower()] if spoken else tok
        if cur:
            gap = text[cur[-1].end:m.start()]
            if _GAP.fullmatch(gap) and (gap.strip(" \t") == "" or len(gap) <= 5):
                cur.append(_Group(m.start(), m.end(), digits, spoken, gap))
                continue
            runs.append(cur)
        cur = [_Group(m.start(), m.end(), digits, spoken, "")]
    if cur:
        runs.append(cur)
    return runs


def _span_start(text: str, g: _Group) -> int:
    """Start of a number, including a leading ``+`` or ``(``."""
    s = g.start
    while s > 0 and text[s - 1] in "+(":
        s -= 1
    return s


def _span_end(text: str, g: _Group) -> int:
    e = g.end
    if e < len(text) and text[e] == ")":
        e += 1
    return e


def _all_same(digits: str) -> bool:
    return len(set(digits)) == 1


def _is_card(groups: list[_Group], text: str) -> bool:
    digits = "".join(g.digits for g in groups)
    if not 13 <= len(digits) <= 19 or _all_same(digits) or not luhn_valid(digits):
        return False
    if len(groups) > 1 and any(len(g.digits) > 6 for g in groups):
        return False
    if all(len(g.digits) == 1 for g in groups):  # read out digit by digit: any separator
        return True
    return all(g.gap_before.strip(" \t") in ("", "-") for g in groups[1:])


def _ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (area not in ("000", "666") and area[0] != "9" and group != "00"
            and serial != "0000")


def _is_ssn(groups: list[_Group], text: str) -> bool:
    digits = "".join(g.digits for g in groups)
    if len(digits) != 9 or not _ssn_ok(digits):
        return False
    sizes = [len(g.digits) for g in groups]
    seps = {g.gap_before.strip(" \t") for g in groups[1:]}
    if sizes == [3, 2, 4] and not any(g.spoken for g in groups) and seps <= {"-", ""}:
        same = len({g.gap_before for g in groups[1:]}) == 1
        return same
    # nine digits in one group or read out one by one: only right after "social security"
    if sizes == [9] or all(s == 1 for s in sizes):
        before = text[max(0, _span_start(text, groups[0]) - 60):_span_start(text, groups[0])]
        return bool(_SSN_CONTEXT.search(before))
    return False


def _is_phone(groups: list[_Group], text: str) -> bool:
    digits = "".join(g.digits for g in groups)
    n = len(digits)
    sizes = [len(g.digits) for g in groups]
    plus = text[max(0, _span_start(text, groups[0])):groups[0].start].startswith("+")
    if plus:
        return 8 <= n <= 15 and len(groups) <= 6
    if all(s == 1 for s in sizes) and len(groups) >= 7:  # read out digit by digit
        if n in (10, 11):
            return n == 10 or digits[0] in "01"
        if n == 7:  # a local number read out: only after a phone word, and not 7 digits
            # out of a longer read-out number (an order or reference number)
            before = text[max(0, groups[0].start - 60):groups[0].start]
            return (bool(_PHONE_CONTEXT.search(before)) and not _OTHER_NUMBER.search(before)
                    and not _DIGIT_AFTER.match(text, groups[-1].end)
                    and not _DIGIT_BEFORE.search(before))
        return False
    if any(g.spoken for g in groups):
        return False
    if sizes in ([3, 3, 4], [1, 3, 3, 4]):
        return sizes[0] != 1 or digits[0] == "1"
    if sizes == [10]:
        return True
    if sizes == [11]:
        return digits[0] in "01"
    if sizes == [3, 4]:
        return groups[1].gap_before.strip(" \t") in ("-", ".")
    if digits[0] == "0" and n in (10, 11) and 2 <= len(groups) <= 4 and 2 <= sizes[0] <= 5:
        return True
    return False


_Check = Callable[[list[_Group], str], bool]
#: No kind has more digits than this, so longer windows are never tried.
_MAX_DIGITS = 19


_CHECKS: tuple[tuple[str, _Check], ...] = (
    ("card", _is_card), ("ssn", _is_ssn), ("phone", _is_phone))


def _scan_run(run: list[_Group], text: str, kind: str, check: _Check,
              out: list[tuple[int, int, str]]) -> list[list[_Group]]:
    """Find windows of ``kind`` in ``run``, leftmost first and, at one start, longest first;
    return the pieces of the run between them (searched for the next kind)."""
    n = len(run)
    ends = [0]
    for g in run:
        ends.append(ends[-1] + len(g.digits))
    pieces: list[list[_Group]] = []
    start = i = 0
    while i < n:
        hit = 0
        for length in range(min(n - i, _MAX_DIGITS), 0, -1):
            if ends[i + length] - ends[i] > _MAX_DIGITS:
                continue
            if check(run[i:i + length], text):
                hit = length
                break
        if hit:
            out.append((_span_start(text, run[i]), _span_end(text, run[i + hit - 1]), kind))
            if i > start:
                pieces.append(run[start:i])
            i += hit
            start = i
        else:
            i += 1
    if start < n:
        pieces.append(run[start:])
    return pieces


def _digit_spans(text: str, kinds: set[str]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for run in _runs(text):
        if sum(len(g.digits) for g in run) < 7:
            continue
        pieces = [run]
        for kind, check in _CHECKS:
            if kind not in kinds:
                continue
            nxt: list[list[_Group]] = []
            for p in pieces:
                nxt.extend(_scan_run(p, text, kind, check, out))
            pieces = nxt
    return out


# --------------------------------------------------------------------------- public API


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS) -> list[PIISpan]:
    """All PII spans in ``text``, in text order, without overlaps.

    Args:
        text: any text (a transcript, a prompt).
        kinds: which kinds to look for, a subset of :data:`PII_KINDS`.
    """
    wanted = set(kinds)
    unknown = wanted - set(PII_KINDS)
    if unknown:
        raise ValueError(f"find_pii: unknown kind(s) {sorted(unknown)}; expected some of "
                         f"{PII_KINDS}")
    cands: list[tuple[int, int, str]] = []
    if "email" in wanted:
        cands.extend((s, e, "email") for s, e in _emails(text))
    cands.extend(_digit_spans(text, wanted))
    # resolve overlaps: earlier kind in PII_KINDS wins, then the longer span
    order = {k: i for i, k in enumerate(PII_KINDS)}
    cands.sort(key=lambda c: (order[c[2]], -(c[1] - c[0]), c[0]))
    taken: list[tuple[int, int, str]] = []
    for s, e, k in cands:
        if all(e <= ts or s >= te for ts, te, _ in taken):
            taken.append((s, e, k))
    taken.sort()
    return [PIISpan(s, e, k, text[s:e]) for s, e, k in taken]


def redact(text: str, kinds: Iterable[str] = PII_KINDS) -> str:
    """``text`` with every PII span replaced by its tag: ``[CARD]``, ``[SSN]``, ``[PHONE]``,
    ``[EMAIL]``.

    >>> redact("card 4111 1111 1111 1111, call me on (555) 123-4567 or mail jo@example.com")
    'card [CARD], call me on [PHONE] or mail [EMAIL]'

    Args:
        text: any text.
        kinds: which kinds to redact (default: all of :data:`PII_KINDS`).
    """
    if not isinstance(text, str):
        raise TypeError(f"redact: expected str, got {type(text).__name__}")
    spans = find_pii(text, kinds)
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for sp in spans:
        parts.append(text[pos:sp.start])
        parts.append(sp.tag)
        pos = sp.end
    parts.append(text[pos:])
    return "".join(parts)
