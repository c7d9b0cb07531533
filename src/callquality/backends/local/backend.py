"""The local backend: every component in one embedded store, in memory or in a folder."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...exceptions import ConfigurationError
from ._blobs import BlobStore, FolderBlobStore, MemoryBlobStore
from ._db import Database
from ._util import remove_path
from .feature_store import LocalFeatureStore
from .monitoring import LocalMonitoringStore
from .predictions import LocalPredictionLog
from .registry import DEFAULT_TRUSTED_MODULES, LocalRegistry

__all__ = ["DB_FILE", "IntegrityReport", "LocalBackend"]

DB_FILE = "callquality.db"


@dataclass
class IntegrityReport:
    """What :meth:`LocalBackend.check_integrity` found.

    Attributes:
        ok: no problem (orphans are not problems: they are invisible leftovers).
        problems: damaged database, missing or altered artifacts and segments.
        orphans: stored files no catalog row points at (interrupted writes).
        removed: orphans deleted (with ``repair=True``).
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class LocalBackend:
    """The embedded default backend (implements :class:`callquality.protocols.Backend`).

    ``cq.connect("local")`` keeps everything in this process's memory;
    ``cq.connect("local", path="./cq-store")`` persists it in a folder that several processes
    may open at once (a pipeline writing, a service and a dashboard reading)::

        cq-store/
          callquality.db      SQLite (WAL): catalog, registry metadata, online tables,
                              prediction log
          artifacts/          model versions (the model's own files + registry.json)
          features/           offline feature segments (Parquet, immutable)
          experiments/        the experiment tracker's runs
          .tmp/               staging area of writes in progress

    Args:
        path: the store's folder (created if missing), or ``None`` for memory.
        predefined_views: register the quickstart's ``call`` entity and its three views
            (``acoustic_features``, ``emotion_sentiment_features``, ``ner_content_features``)
            when the store is new.
        trusted_modules: module prefixes whose model classes the registry may import.
        busy_timeout_s: how long a write waits for another process's write to finish.
        compact_every: merge a view's offline segments once it has more than this many.

    Attributes:
        name: ``"local"``.
        path: the folder, or ``None``.
        registry, feature_store, predictions, experiments: the components.
    """

    name = "local"

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 predefined_views: bool = True,
                 trusted_modules: Sequence[str] = DEFAULT_TRUSTED_MODULES,
                 busy_timeout_s: float = 30.0, compact_every: int = 32) -> None:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError(f"connect('local'): path must be a folder path or None, "
                                     f"got {type(path).__name__}")
        self.path = None if path is None else Path(path).expanduser().absolute()
        self._blobs: BlobStore
        if self.path is None:
            self._blobs = MemoryBlobStore()
            self._db = Database(None, busy_timeout_s=busy_timeout_s)
        else:
            if self.path.exists() and not self.path.is_dir():
                raise ConfigurationError(f"connect('local', path={str(path)!r}): not a folder")
            self.path.mkdir(parents=True, exist_ok=True)
            self._blobs = FolderBlobStore(self.path)
            self._db = Database(self.path / DB_FILE, busy_timeout_s=busy_timeout_s)
        self.registry = LocalRegistry(self._db, self._blobs, trusted_modules=trusted_modules)
        self.feature_store = LocalFeatureStore(self._db, self._blobs,
                                               compact_every=compact_every)
        self.predictions = LocalPredictionLog(self._db)
        self._experiments: Any = None
        self._monitoring: LocalMonitoringStore | None = None
        if predefined_views:
            self.feature_store.install_quickstart_views()

    @property
    def experiments(self) -> Any:
        """The experiment tracker (:class:`callquality.training.LocalExperimentTracker`),
        stored in ``<path>/experiments`` or in memory; created on first use."""
        if self._experiments is None:
            from ...training.tracking import LocalExperimentTracker

            self._experiments = LocalExperimentTracker(
                None if self.path is None else self.path / "experiments")
        return self._experiments

    @property
    def monitoring_store(self) -> LocalMonitoringStore:
        """Alert events, retraining-loop state and monitoring baselines
        (:class:`~callquality.backends.local.monitoring.LocalMonitoringStore`), in the same
        database; its tables are created on first use."""
        if self._monitoring is None:
            self._monitoring = LocalMonitoringStore(self._db)
        return self._monitoring

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"LocalBackend({where})"

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections (idempotent). An in-memory store is gone."""
        self._db.close()
        self._blobs.close()

    def check_integrity(self, *, repair: bool = False, grace_s: float = 3600.0
                        ) -> IntegrityReport:
        """Verify the store: SQLite's ``integrity_check``, every model artifact's and feature
        segment's sha256, and look for orphans (files of interrupted writes).

        Args:
            repair: delete orphans older than ``grace_s`` (younger ones may belong to a write
                in progress in another process).
            grace_s: see ``repair``.
        """
        problems: list[str] = []
        rows = self._db.query("PRAGMA integrity_check", what="check_integrity()")
        if [r[0] for r in rows] != ["ok"]:
            problems += [f"database: {r[0]}" for r in rows]
        reg_problems, reg_used = self.registry.check()
        fs_problems, fs_used = self.feature_store.check()
        problems += reg_problems + fs_problems
        used = reg_used | fs_used
        orphans = [loc for loc in self._blobs.locations() if loc not in used]
        staging: list[Path] = []
        if isinstance(self._blobs, FolderBlobStore):
            staging = self._blobs.staging_entries()
            orphans += [f".tmp/{p.name}" for p in staging]
        removed: list[str] = []
        if repair and orphans:
            now = time.time()
            # re-read the catalog: a write may have committed since the scan
            _, reg_used = self.registry.check()
            _, fs_used = self.feature_store.check()
            used = reg_used | fs_used
            for loc in orphans:
                if loc in used:
                    continue
                full = None if self.path is None else self.path / loc
                if full is not None:
                    try:
                        age = now - full.stat().st_mtime
                    except FileNotFoundError:
                        continue
                    if age < grace_s:
                        continue
                    remove_path(full)
                else:
                    self._blobs.delete(loc)
                removed.append(loc)
        return IntegrityReport(ok=not problems, problems=problems, orphans=orphans,
                               removed=removed)
