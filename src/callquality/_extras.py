"""Optional dependencies: import them lazily and fail with the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingExtraError

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install 'callquality[extra]'``.

    Args:
        module: importable module name, e.g. ``"whisper"``.
        extra: the callquality extra that installs it, e.g. ``"asr"``.
        feature: what needs it, for the message, e.g. ``"WhisperTranscriber"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, module, feature) from exc
