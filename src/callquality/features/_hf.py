"""Loading Hugging Face ``transformers`` pipelines by hub id or local path (shared helper).

Where the weights come from, in this order:

1. ``ModelRef.name`` is an existing folder: loaded from there, nothing is downloaded;
2. ``<cache>/<owner>--<name>`` exists, where ``<cache>`` is :func:`model_cache_dir`
   (``cache_dir``, else ``$CALLQUALITY_MODEL_CACHE``, else ``~/.cache/callquality``): the
   folder that ``huggingface-cli download <id> --local-dir <cache>/<owner>--<name>`` fills, as
   the error of a missing model suggests;
3. the hub id itself, through the Hugging Face cache: ``<cache>/hub`` when ``cache_dir`` or
   ``$CALLQUALITY_MODEL_CACHE`` is set, else Hugging Face's own default cache (so weights
   that are already there are reused). With ``$CALLQUALITY_OFFLINE``, ``$HF_HUB_OFFLINE`` or
   ``$TRANSFORMERS_OFFLINE`` set only local weights are used
   (:func:`~callquality.features.models.downloads_allowed`).

Weights that are in none of these places raise :class:`~callquality.exceptions.ModelUnavailableError`
(built by :func:`~callquality.features.models.unavailable`) saying how to pre-download them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._extras import require
from ..exceptions import ModelUnavailableError
from .models import (
    CACHE_ENV,
    ModelRef,
    downloads_allowed,
    load_cached,
    model_cache_dir,
    resolve_device,
    unavailable,
)

__all__ = ["cached_pipeline", "hf_source", "load_pipeline"]

#: Tokenizers saved without a length limit report this "infinite" value (or more).
_UNBOUNDED_LENGTH = 1_000_000


def _looks_like_path(name: str) -> bool:
    """A name that can only be a folder: absolute, ``./``, ``~``, or more than one ``/``."""
    return (name.startswith((".", "~", "/", "\\")) or "\\" in name or name.count("/") > 1
            or Path(name).is_absolute())


def hf_source(ref: ModelRef, cache_dir: str | Path | None = None) -> tuple[str, str | None]:
    """Where to load ``ref`` from: ``(path_or_hub_id, hub_cache_dir_or_None)`` (see module doc).

    Raises:
        ModelUnavailableError: ``ref.name`` is a path (not a hub id) that does not exist.
    """
    if ref.is_path:
        return str(Path(ref.name).expanduser()), None
    if _looks_like_path(ref.name):
        raise ModelUnavailableError(
            str(ref), f"no such folder {ref.name!r}",
            "Pass the folder of a saved model (config.json, weights and tokenizer files, as "
            "save_pretrained writes them) or a hub id such as 'owner/name'")
    root = model_cache_dir(cache_dir)
    local = root / ref.name.replace("/", "--")
    if local.is_dir():
        return str(local), None
    explicit = cache_dir is not None or bool(os.environ.get(CACHE_ENV))
    return ref.name, (str(root / "hub") if explicit else None)


def load_pipeline(task: str, ref: ModelRef, auto_class: str, *, feature: str,
                  cache_dir: str | Path | None = None, device: str = "auto") -> Any:
    """A ``transformers.pipeline(task)`` whose tokenizer and model come from ``ref``.

    Args:
        task: pipeline task, e.g. ``"token-classification"``.
        ref: the model reference (hub id or local path in ``ref.name``).
        auto_class: the ``transformers`` auto class of the model, e.g.
            ``"AutoModelForTokenClassification"``.
        feature: who asks, for error messages (``"TransformersNER"``).
        cache_dir: see :func:`hf_source`.
        device: see :func:`callquality.features.models.resolve_device`.

    Raises:
        MissingExtraError: ``transformers`` is not installed.
        ModelUnavailableError: the weights are neither local nor downloadable.
    """
    transformers = require("transformers", "nlp", feature)
    dev = str(resolve_device(device, feature))
    source, hub_cache = hf_source(ref, cache_dir)
    local_only = not downloads_allowed()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            source, cache_dir=hub_cache, local_files_only=local_only)
        model = getattr(transformers, auto_class).from_pretrained(
            source, cache_dir=hub_cache, local_files_only=local_only)
    except (OSError, ValueError) as exc:  # not cached + offline, unknown repo, not a model dir
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise unavailable(ref, f"{feature} could not load {source!r} ({reason})",
                          cache_dir) from exc
    # Tokenizers saved without a limit would let long texts overflow the position embeddings.
    if getattr(tokenizer, "model_max_length", 0) >= _UNBOUNDED_LENGTH:
        n_pos = int(getattr(model.config, "max_position_embeddings", 512) or 512)
        if "roberta" in str(getattr(model.config, "model_type", "")):
            n_pos -= 2  # RoBERTa-style position ids start after the padding index
        tokenizer.model_max_length = n_pos
    model.eval()
    return transformers.pipeline(task, model=model, tokenizer=tokenizer, device=dev)


def cached_pipeline(task: str, ref: ModelRef, auto_class: str, *, feature: str,
                    cache_dir: str | Path | None = None, device: str = "auto") -> Any:
    """:func:`load_pipeline`, once per process for each model source and device."""
    source = hf_source(ref, cache_dir)
    return load_cached((ref.stage, ref.kind, source, str(device)),
                       lambda: load_pipeline(task, ref, auto_class, feature=feature,
                                             cache_dir=cache_dir, device=device))
