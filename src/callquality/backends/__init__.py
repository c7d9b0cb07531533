"""Storage backends, chosen by name from a small registry (as fsspec and Feast do).

A backend bundles the four storage components behind :class:`callquality.protocols.Backend`:
``registry`` (models), ``feature_store``, ``experiments`` and ``predictions``::

    import callquality as cq
    store = cq.connect("local")                       # in memory
    store = cq.connect("local", path="./cq-store")    # persisted, shared by processes

Built-in names: ``"local"`` (:class:`callquality.backends.local.LocalBackend`) and
``"snowflake"`` (needs ``pip install 'callquality[snowflake]'``). Other packages add backends
with :func:`register_backend` or an entry point in the group ``callquality.backends`` whose
value is a ``"module:factory"`` string.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ..exceptions import ConfigurationError, MissingExtraError
from .errors import (
    DuplicateKeyError,
    InvalidNameError,
    MissingColumnsError,
    MissingTimestampError,
)

__all__ = [
    "DuplicateKeyError",
    "InvalidNameError",
    "MissingColumnsError",
    "MissingTimestampError",
    "available_backends",
    "connect",
    "register_backend",
]

#: name -> factory, or "module:attribute" imported on first use (keeps imports light).
_BACKENDS: dict[str, Callable[..., Any] | str] = {
    "local": "callquality.backends.local:LocalBackend",
    "snowflake": "callquality.backends.snowflake:SnowflakeBackend",
}
#: name -> extra that installs its dependencies (for the error message).
_EXTRAS = {"snowflake": "snowflake"}
_ENTRY_POINT_GROUP = "callquality.backends"


def register_backend(name: str, factory: Callable[..., Any] | str, *,
                     overwrite: bool = False) -> None:
    """Make ``factory`` available as ``connect(name, **options)``.

    Args:
        name: backend name (case-insensitive).
        factory: a callable taking the options as keyword arguments, or a
            ``"module:attribute"`` string imported on first use.
        overwrite: replace a backend already registered under ``name``.

    Raises:
        ConfigurationError: ``name`` is taken and ``overwrite`` is false.
    """
    key = name.lower()
    if key in _BACKENDS and not overwrite:
        raise ConfigurationError(f"register_backend: a backend named {name!r} is already "
                                 "registered; pass overwrite=True to replace it")
    _BACKENDS[key] = factory


def _entry_point_backends() -> dict[str, str]:
    try:
        eps = entry_points(group=_ENTRY_POINT_GROUP)
    except Exception:  # pragma: no cover - broken metadata of an unrelated package
        return {}
    return {ep.name.lower(): ep.value for ep in eps}


def available_backends() -> list[str]:
    """Names accepted by :func:`connect` (built-in, registered and entry points)."""
    return sorted(set(_BACKENDS) | set(_entry_point_backends()))


def _resolve(name: str) -> Callable[..., Any]:
    key = name.lower()
    target = _BACKENDS.get(key) or _entry_point_backends().get(key)
    if target is None:
        raise ConfigurationError(f"connect: unknown backend {name!r}; available: "
                                 f"{available_backends()}")
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if key in _EXTRAS and exc.name != module_name:
            raise MissingExtraError(_EXTRAS[key], exc.name or module_name,
                                    f"the {key!r} backend") from exc
        raise ConfigurationError(f"connect: backend {name!r} is not available in this version "
                                 f"of callquality ({module_name} cannot be imported: {exc})"
                                 ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigurationError(f"connect: backend {name!r} points at {target!r}, which is "
                                 "not callable")
    return factory


def connect(backend: str = "local", **options: Any) -> Any:
    """Open a store: ``connect("local")``, ``connect("local", path="./cq-store")``.

    Args:
        backend: a name from :func:`available_backends`.
        **options: passed to the backend's factory (for ``"local"``: ``path``,
            ``predefined_views``, ``trusted_modules``, ``busy_timeout_s``).

    Returns:
        An object implementing :class:`callquality.protocols.Backend`.
    """
    if not isinstance(backend, str):
        raise ConfigurationError(f"connect: backend must be a name such as 'local', got "
                                 f"{type(backend).__name__}")
    return _resolve(backend)(**options)
