"""Registry models for serving: resolve a reference, load it, follow its alias.

A reference is ``"name@ALIAS"`` (follows the alias), ``"name/VERSION"`` (pinned) or ``"name"``
(the default version). :func:`load_registered` resolves the reference to one version first and
then loads exactly that version, so the version reported (and logged with each prediction) is
always the one that made the prediction, even while the alias moves.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import CallQualityError, ConfigurationError, SchemaError
from ..protocols import Registry, TrainedModel

__all__ = [
    "FeatureField",
    "LoadedModel",
    "ModelRef",
    "ModelWatcher",
    "load_registered",
    "model_signature",
    "parse_model_ref",
]

log = logging.getLogger("callquality.serving")

#: dtype of a categorical feature in a model signature (``CallQualityModel``'s convention).
CATEGORY = "category"
_NUMERIC = ("float64", "int64", "float32", "int32")


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference.

    Attributes:
        name: model name.
        selector: alias or version name; ``None`` for the default version.
        is_alias: ``selector`` is an alias (``name@ALIAS``).
    """

    name: str
    selector: str | None
    is_alias: bool

    def __str__(self) -> str:
        if self.selector is None:
            return self.name
        return f"{self.name}{'@' if self.is_alias else '/'}{self.selector}"


def parse_model_ref(ref: str) -> ModelRef:
    """Parse ``"name@ALIAS"``, ``"name/VERSION"`` or ``"name"``.

    Raises:
        ConfigurationError: malformed reference (empty parts, both separators).
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigurationError(f"model reference {ref!r}: expected 'name', 'name/VERSION' or "
                                 "'name@ALIAS'")
    text = ref.strip()
    if "@" in text and "/" in text:
        raise ConfigurationError(f"model reference {ref!r}: use either 'name/VERSION' or "
                                 "'name@ALIAS', not both")
    for sep, is_alias in (("@", True), ("/", False)):
        if sep in text:
            name, _, selector = text.partition(sep)
            if not name or not selector or sep in selector:
                raise ConfigurationError(f"model reference {ref!r}: expected 'name{sep}"
                                         f"{'ALIAS' if is_alias else 'VERSION'}'")
            return ModelRef(name, selector, is_alias)
    return ModelRef(text, None, False)


@dataclass(frozen=True)
class FeatureField:
    """One input of a model's signature.

    Attributes:
        name: feature column name.
        dtype: ``"float64"`` (any number) or ``"category"`` (a string label).
        categories: the labels seen in training (categorical features); others are treated
            as missing by the model.
    """

    name: str
    dtype: str
    categories: tuple[str, ...] = ()

    @property
    def is_categorical(self) -> bool:
        return self.dtype == CATEGORY

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.is_categorical:
            out["categories"] = list(self.categories)
        return out


def model_signature(model: Any) -> tuple[FeatureField, ...]:
    """The input signature of a model: its ``signature`` (``CallQualityModel``), else its
    ``feature_names`` with ``feature_dtypes`` (numeric when absent)."""
    sig = getattr(model, "signature", None)
    if isinstance(sig, Sequence) and sig and all(isinstance(s, dict) for s in sig):
        return tuple(FeatureField(str(s["name"]), str(s.get("dtype", "float64")),
                                  tuple(str(c) for c in s.get("categories", ()) or ()))
                     for s in sig)
    names = [str(n) for n in getattr(model, "feature_names", ())]
    if not names:
        raise SchemaError(f"{type(model).__name__} has no feature_names; a served model needs "
                          "its input signature")
    dtypes = getattr(model, "feature_dtypes", None) or {}
    return tuple(FeatureField(n, CATEGORY if dtypes.get(n) == CATEGORY else "float64")
                 for n in names)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded from a registry, with the version it resolved to.

    Attributes:
        model: the :class:`~callquality.protocols.TrainedModel`.
        ref: the reference it was loaded by (may name an alias).
        model_name: registered model name.
        version: the version that was loaded.
        artifact_sha256: the registry's checksum of the artifact.
        signature: the input features (:class:`FeatureField`), model order.
        loaded_at: when it was loaded (UTC).
    """

    model: TrainedModel
    ref: ModelRef
    model_name: str
    version: str
    artifact_sha256: str = ""
    signature: tuple[FeatureField, ...] = ()
    loaded_at: datetime = field(default_factory=_utcnow)

    @property
    def threshold(self) -> float:
        """The model's decision threshold on the positive-class probability."""
        return float(self.model.threshold)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.signature]

    @property
    def label(self) -> str:
        """The label the positive class stands for (``"label"`` when the model names none)."""
        return str(getattr(self.model, "label", "label"))

    def predict(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, classes)`` of the rows of ``df``: positive-class probabilities and 0/1
        at :attr:`threshold`.

        Raises:
            SchemaError: a feature column is missing or of the wrong kind.
        """
        missing = [f for f in self.feature_names if f not in df.columns]
        if missing:
            raise SchemaError(f"{self.model_name}/{self.version}: the table lacks feature "
                              f"column(s) {missing}")
        scores = np.asarray(self.model.predict_proba(df), dtype=np.float64).reshape(-1)
        if len(scores) != len(df):
            raise SchemaError(f"{self.model_name}/{self.version}: predict_proba returned "
                              f"{len(scores)} scores for {len(df)} rows")
        return scores, (scores >= self.threshold).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (reference, version, threshold, signature)."""
        return {"ref": str(self.ref), "model_name": self.model_name, "version": self.version,
                "alias": self.ref.selector if self.ref.is_alias else None,
                "artifact_sha256": self.artifact_sha256, "threshold": self.threshold,
                "label": self.label, "loaded_at": self.loaded_at.isoformat(),
                "signature": [f.as_dict() for f in self.signature]}


def _registry_of(backend_or_registry: Any) -> Registry:
    registry = getattr(backend_or_registry, "registry", backend_or_registry)
    if not callable(getattr(registry, "load_model", None)) or \
            not callable(getattr(registry, "get_version", None)):
        raise ConfigurationError(f"expected a backend or a registry, got "
                                 f"{type(backend_or_registry).__name__}")
    return registry


def set_threads(model: Any, n_threads: int) -> None:
    """Make ``model`` predict with ``n_threads`` threads (its ``n_jobs`` and, for an XGBoost
    booster, ``nthread``). A booster loaded without it uses every core, which costs tens of
    milliseconds per small prediction on a busy machine (OpenMP threads waiting on each
    other)."""
    if hasattr(model, "n_jobs"):
        model.n_jobs = n_threads
    booster = getattr(model, "booster", None)
    if booster is not None and callable(getattr(booster, "set_param", None)):
        booster.set_param({"nthread": n_threads})


def load_registered(backend_or_registry: Any, ref: str | ModelRef, *,
                    n_threads: int | None = 1) -> LoadedModel:
    """Resolve ``ref`` to one version and load that version (checksum verified).

    Args:
        backend_or_registry: a backend (its ``registry`` is used) or a registry.
        ref: ``"name@ALIAS"``, ``"name/VERSION"`` or ``"name"``.
        n_threads: prediction threads (:func:`set_threads`); ``None`` leaves the model as
            loaded. One thread is fastest for the small batches of a service.

    Raises:
        ConfigurationError: malformed reference.
        NotFoundError: unknown model, version or alias.
        IntegrityError: the artifact fails verification.
    """
    registry = _registry_of(backend_or_registry)
    parsed = ref if isinstance(ref, ModelRef) else parse_model_ref(ref)
    info = registry.get_version(parsed.name, parsed.selector)
    model = registry.load_model(f"{info.model_name}/{info.version}")
    if n_threads is not None:
        set_threads(model, n_threads)
    return LoadedModel(model=model, ref=parsed, model_name=info.model_name,
                       version=info.version, artifact_sha256=info.artifact_sha256,
                       signature=model_signature(model))


class ModelWatcher:
    """Holds the model a reference points at and swaps it when the reference moves.

    A background thread polls the registry every ``poll_interval_s``; when the alias points
    at another version (or the artifact changed), the new version is loaded *beside* the old
    one and then swapped in with one reference assignment. A request reads :attr:`current`
    once and keeps that model for its whole life, so requests in flight during a swap finish
    on the old model and none is dropped. A failed reload keeps the old model serving and is
    reported in :meth:`status`.

    Args:
        backend_or_registry: where the model lives.
        ref: the model reference; a pinned ``name/VERSION`` never moves but is still checked.
        poll_interval_s: seconds between checks (``<= 0``: no background thread; call
            :meth:`check` yourself).
        on_swap: called with ``(old, new)`` after each swap (from the polling thread).
        on_check: called after every background check (e.g. to refresh other caches).
    """

    def __init__(self, backend_or_registry: Any, ref: str, *, poll_interval_s: float = 5.0,
                 on_swap: Callable[[LoadedModel, LoadedModel], None] | None = None,
                 on_check: Callable[[], None] | None = None) -> None:
        if not isinstance(poll_interval_s, (int, float)) or math.isnan(poll_interval_s):
            raise ConfigurationError(f"ModelWatcher: poll_interval_s={poll_interval_s!r} is "
                                     "not a number")
        self.registry = _registry_of(backend_or_registry)
        self.ref = parse_model_ref(ref)
        self.poll_interval_s = float(poll_interval_s)
        self.on_swap = on_swap
        self.on_check = on_check
        self._current = load_registered(self.registry, self.ref)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.last_check_at: datetime | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedModel:
        """The model serving now (read it once per request)."""
        return self._current

    def check(self) -> bool:
        """Look the reference up now; load and swap in a new version if it moved.

        Returns:
            Whether the model was swapped. Errors are recorded in :attr:`last_error` and the
            current model is kept.
        """
        with self._lock:
            self.last_check_at = _utcnow()
            try:
                info = self.registry.get_version(self.ref.name, self.ref.selector)
                cur = self._current
                if info.version.upper() == cur.version.upper() and \
                        info.artifact_sha256 == cur.artifact_sha256:
                    self.last_error = None
                    return False
                new = load_registered(self.registry, ModelRef(self.ref.name, info.version,
                                                              False))
                new = LoadedModel(model=new.model, ref=self.ref, model_name=new.model_name,
                                  version=new.version, artifact_sha256=new.artifact_sha256,
                                  signature=new.signature)
            except CallQualityError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model %s: reload failed, still serving %s/%s: %s", self.ref,
                            self._current.model_name, self._current.version, exc)
                return False
            old, self._current = self._current, new
            self.swaps += 1
            self.last_error = None
        log.info("model %s: swapped %s -> %s", self.ref, old.version, new.version)
        if self.on_swap is not None:
            try:
                self.on_swap(old, new)
            except Exception:  # a callback never stops the watcher
                log.exception("model %s: on_swap callback failed", self.ref)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.check()
                if self.on_check is not None:
                    self.on_check()
            except Exception:  # never let the polling thread die
                log.exception("model %s: unexpected error while polling", self.ref)

    def start(self) -> ModelWatcher:
        """Start polling in a daemon thread (no-op if running or ``poll_interval_s <= 0``)."""
        if self.poll_interval_s > 0 and (self._thread is None or not self._thread.is_alive()):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"cq-watch-{self.ref}",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (waits for a check in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        """JSON-ready state: current version, swaps, last check, last error."""
        cur = self._current
        return {"ref": str(self.ref), "model_name": cur.model_name, "version": cur.version,
                "loaded_at": cur.loaded_at.isoformat(), "swaps": self.swaps,
                "poll_interval_s": self.poll_interval_s,
                "last_check_at": None if self.last_check_at is None
                else self.last_check_at.isoformat(),
                "last_error": self.last_error}
