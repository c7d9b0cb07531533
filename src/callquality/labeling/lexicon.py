"""A small built-in sentiment lexicon for conversational English (no model, no download).

Scores are valences on a -3 (very negative) .. +3 (very positive) scale, written for how
customers talk on service calls. :func:`sentence_valence` scores one sentence:

1. the text is normalised (lower case, contractions expanded: ``can't`` -> ``cannot``);
2. multi-word phrases are matched first (``thanks for nothing`` -3.0, ``no choice`` -1.5,
   ``sounds good`` +2.0) and their words are not scored again;
3. each remaining word in :data:`WORDS` scores its valence, multiplied by 1.3 after an
   intensifier (``really``, ``so``, ``very`` ...), by 0.7 after a softener (``a bit``,
   ``slightly`` ...), and by -0.6 when a negator (``not``, ``never``, ``no`` ...) stands
   within the three words before it (``not happy`` is negative, but less than ``unhappy``);
4. a hedge (``I hope``, ``let us see``, ``I guess``, ``maybe`` ...) halves a positive score
   and caps it at +0.5: hoping that it works is not satisfaction;
5. each ``!`` (at most three) amplifies the score by 10 %.

:func:`utterance_valences` scores the sentences of one utterance and applies one rule across
sentences: a lone positive interjection right after a negative sentence (``So I have to wait
again? Great.``) is sarcasm and counts as negative (at most -1.5: annoyance, not fury).
"""

from __future__ import annotations

import re

__all__ = [
    "HEDGES",
    "PHRASES",
    "WORDS",
    "normalize",
    "sentence_valence",
    "split_sentences",
    "utterance_valences",
]

#: Single words and their valence.
WORDS: dict[str, float] = {
    # --- very positive
    "perfect": 3.0, "wonderful": 3.0, "excellent": 3.0, "amazing": 3.0, "fantastic": 3.0,
    "brilliant": 3.0, "awesome": 3.0, "outstanding": 3.0, "superb": 3.0, "terrific": 3.0,
    "marvelous": 3.0, "marvellous": 3.0, "exceptional": 3.0, "delighted": 3.0,
    "thrilled": 3.0, "lifesaver": 3.0, "incredible": 2.5, "love": 2.5, "grateful": 2.5,
    "fabulous": 3.0, "superstar": 3.0, "legend": 2.5,
    # --- positive
    "great": 2.0, "happy": 2.0, "glad": 2.0, "pleased": 2.0, "helpful": 2.0, "appreciate": 2.0,
    "appreciated": 2.0, "satisfied": 2.0, "relieved": 1.8, "excited": 1.8, "kind": 1.5,
    "good": 1.5, "nice": 1.5, "lovely": 2.0, "thanks": 1.5, "thank": 1.5, "thankful": 2.0,
    "quick": 1.0, "quickly": 0.8, "easy": 1.0, "patient": 1.5, "friendly": 1.5,
    "cool": 1.0, "sweet": 1.2, "excellently": 3.0, "pleasure": 2.0, "fixed": 0.8,
    "solved": 1.0, "sorted": 0.8, "works": 0.8, "worked": 0.8, "helped": 1.2, "helps": 0.8,
    "help": 0.5, "clear": 0.8, "fair": 0.8, "better": 1.2, "best": 2.0, "super": 1.5,
    # --- mildly positive / acceptance
    "okay": 0.5, "ok": 0.5, "alright": 0.5, "fine": 0.6, "sure": 0.4, "yes": 0.3,
    "right": 0.2, "reasonable": 0.8,
    # --- very negative
    "useless": -3.0, "worst": -3.0, "terrible": -3.0, "horrible": -3.0, "awful": -3.0,
    "unacceptable": -3.0, "disgusting": -3.0, "furious": -3.0, "outrageous": -3.0,
    "pathetic": -3.0, "incompetent": -3.0, "hate": -3.0, "disgrace": -3.0, "disgraceful": -3.0,
    "appalling": -3.0, "shocking": -2.5, "ridiculous": -2.5, "unbelievable": -2.0,
    "joke": -1.5, "livid": -3.0, "scam": -3.0, "rubbish": -2.5, "nightmare": -2.5,
    # --- negative
    "angry": -2.0, "annoyed": -2.0, "annoying": -2.0, "frustrated": -2.0, "frustrating": -2.0,
    "upset": -2.0, "disappointed": -2.0, "disappointing": -2.0, "unhappy": -2.0,
    "bad": -2.0, "rude": -2.5, "waste": -2.0, "failed": -1.5, "fail": -1.5, "mess": -2.0,
    "nonsense": -2.0, "poor": -1.5, "wrong": -1.2, "broken": -1.5, "complaint": -1.5,
    "complain": -1.5, "worse": -2.0, "slow": -1.0, "confusing": -1.2, "confused": -1.0,
    "worried": -1.5, "stressed": -1.5, "stressful": -1.5, "problem": -0.8, "issue": -0.5,
    "unfortunately": -1.0, "sadly": -1.0, "whatever": -1.0, "seriously": -0.8,
    "excuse": -0.5, "unhelpful": -2.5, "pointless": -2.5, "hopeless": -2.5,
    "sick": -1.5, "tired": -1.0, "ugh": -1.5, "sigh": -1.0,
}

#: Multi-word phrases (matched on normalised text, before single words) and their valence.
PHRASES: dict[str, float] = {
    "thanks for nothing": -3.0, "thank you for nothing": -3.0, "waste of time": -3.0,
    "waste of my time": -3.0, "fed up": -2.5, "sick of": -2.5, "sick and tired": -2.5,
    "had enough": -2.0, "not happy": -2.0, "not good": -1.5, "not helpful": -2.0,
    "not listening": -2.0, "not what i asked": -1.5, "no choice": -1.5, "no other choice": -1.5,
    "have to wait": -1.0, "wait again": -1.5, "all over again": -1.5, "still waiting": -1.5,
    "still not": -1.5, "nobody fixed": -2.0, "never fixed": -2.0, "nothing works": -2.0,
    "going to cancel": -2.5, "cancel everything": -2.5, "close my account": -1.5,
    "switch providers": -2.0, "speak to a manager": -1.5, "what a joke": -2.5,
    "makes no sense": -1.5, "not fair": -1.5, "no help": -2.0, "not the end of the world": 0.5,
    "thank you so much": 2.5, "thanks so much": 2.5, "thank you very much": 2.5,
    "thanks a million": 3.0, "much appreciated": 2.5, "you are a star": 3.0,
    "sounds good": 2.0, "sounds great": 2.5, "that works": 1.0, "that helps": 1.0,
    "no problem": 0.5, "no worries": 0.5, "made my day": 3.0, "above and beyond": 3.0,
    "really helpful": 2.6, "so helpful": 2.6, "very helpful": 2.6,
}

#: Phrases that make a positive statement tentative.
HEDGES: tuple[str, ...] = (
    "i hope", "hope it", "hope that", "hopefully", "let us see", "we will see", "i will see",
    "i guess", "i suppose", "maybe", "perhaps", "if that helps", "if it works", "if that works",
    "this time", "fingers crossed", "i think so", "we shall see", "i doubt",
)

#: A sarcastic interjection counts as moderate annoyance: at most this negative.
SARCASM_CAP = 1.5

_INTENSIFIERS = frozenset("really very so extremely absolutely totally truly super incredibly "
                          "genuinely deeply most quite".split())
_SOFTENERS = frozenset("slightly somewhat bit little fairly partly kinda sorta".split())
_NEGATORS = frozenset("not no never nothing nobody none neither nor cannot without hardly "
                      "barely".split())
_INTERJECTIONS = frozenset("great perfect wonderful fantastic brilliant lovely nice awesome "
                           "super terrific marvelous excellent".split())

_CONTRACTIONS = (
    (r"\bcan't\b", "cannot"), (r"\bwon't\b", "will not"), (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"), (r"\blet's\b", "let us"), (r"'re\b", " are"), (r"'ve\b", " have"),
    (r"'ll\b", " will"), (r"\bi'm\b", "i am"), (r"'d\b", " would"),
    (r"\b(it|that|there|what|he|she|this|who|where|here)'s\b", r"\1 is"),
)
_CONTRACTION_RES = tuple((re.compile(p), r) for p, r in _CONTRACTIONS)
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|!|\?")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")


def normalize(text: str) -> str:
    """Lower case, typographic apostrophes made plain, contractions expanded, spaces collapsed."""
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    for pat, rep in _CONTRACTION_RES:
        t = pat.sub(rep, t)
    return re.sub(r"\s+", " ", t).strip()


def split_sentences(text: str) -> list[str]:
    """Split at ``.``, ``!`` or ``?`` followed by white space; keeps the punctuation."""
    return [s for s in (p.strip() for p in _SENT_SPLIT.split(text.strip())) if s]


def _phrase_tokens() -> list[tuple[tuple[str, ...], float]]:
    items = [(tuple(p.split()), v) for p, v in PHRASES.items()]
    return sorted(items, key=lambda it: -len(it[0]))


_PHRASE_TOKENS = _phrase_tokens()
_HEDGE_RES = tuple(re.compile(r"\b" + re.escape(h) + r"\b") for h in HEDGES)


def _score_tokens(toks: list[str]) -> float:
    words = [t for t in toks if t not in ("!", "?")]
    used = [False] * len(words)
    total = 0.0
    # phrases first, longest first
    for ptoks, val in _PHRASE_TOKENS:
        n = len(ptoks)
        for i in range(len(words) - n + 1):
            if not any(used[i:i + n]) and tuple(words[i:i + n]) == ptoks:
                total += val
                for k in range(i, i + n):
                    used[k] = True
    for i, w in enumerate(words):
        if used[i] or w not in WORDS:
            continue
        v = WORDS[w]
        prev = words[i - 1] if i > 0 else ""
        if prev in _INTENSIFIERS:
            v *= 1.3
        elif prev in _SOFTENERS:
            v *= 0.7
        if any(words[j] in _NEGATORS for j in range(max(0, i - 3), i)):
            v *= -0.6
        total += v
    return total


def sentence_valence(sentence: str) -> float:
    """Valence of one sentence (unbounded sum; roughly -6 .. +6 for ordinary sentences)."""
    norm = normalize(sentence)
    toks = _TOKEN.findall(norm)
    v = _score_tokens(toks)
    if v > 0 and any(h.search(norm) for h in _HEDGE_RES):
        v = min(v * 0.5, 0.5)
    excl = min(3, toks.count("!"))
    return v * (1.0 + 0.1 * excl)


def utterance_valences(text: str) -> list[float]:
    """Valence of each sentence of one speaker's utterance, with the sarcasm rule applied."""
    sents = split_sentences(text)
    out: list[float] = []
    for i, s in enumerate(sents):
        v = sentence_valence(s)
        words = [t for t in _TOKEN.findall(normalize(s)) if t not in ("!", "?")]
        if (i > 0 and v > 0 and 1 <= len(words) <= 2 and words[-1] in _INTERJECTIONS
                and out[-1] < 0):
            v = -min(abs(v), SARCASM_CAP)
        out.append(v)
    return out
