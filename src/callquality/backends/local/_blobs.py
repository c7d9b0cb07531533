"""Bytes at rest for the local backend: model artifact folders and feature segments.

Folder layout (``root`` is the store's folder)::

    root/.tmp/<random>/              staging: written here first, then renamed
    root/artifacts/<random>/model/   a model version's files, as the model's save() wrote them
    root/artifacts/<random>/registry.json   the registry's manifest (loader, file checksums)
    root/features/<view_id>/<random>.parquet  one ingestion batch (immutable)

Everything is written into ``.tmp`` and moved into place with one ``os.rename`` (atomic on a
POSIX file system), *before* the catalog row that makes it visible is committed. A crash
between the two leaves an unreferenced folder or file (an orphan) that no reader ever sees and
that :meth:`LocalBackend.check_integrity` can remove. In memory the same interface keeps bytes
and Arrow tables in dicts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ...exceptions import ConfigurationError, IntegrityError, NotFoundError
from ._util import fsync_dir, remove_path, sha256_file, unique_name

__all__ = ["BlobStore", "FileInfo", "FolderBlobStore", "MemoryBlobStore"]

MODEL_SUBDIR = "model"
MANIFEST = "registry.json"


@dataclass(frozen=True)
class FileInfo:
    """Checksum and size of one artifact file (relative POSIX path)."""

    path: str
    sha256: str
    size: int


def _scan(folder: Path, call: str) -> list[FileInfo]:
    """Checksums of every regular file under ``folder``; links and special files refused."""
    out: list[FileInfo] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames):
            if (Path(dirpath) / name).is_symlink():
                raise ConfigurationError(f"{call}: the model's save() wrote a symbolic link "
                                         f"{Path(dirpath) / name}; artifacts must be plain files")
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                raise ConfigurationError(f"{call}: the model's save() wrote {p}, which is not a "
                                         "plain file; artifacts must be plain files")
            digest, size = sha256_file(p)
            out.append(FileInfo(p.relative_to(folder).as_posix(), digest, size))
    out.sort(key=lambda f: f.path)
    return out


class BlobStore(ABC):
    """Where artifacts and feature segments live (a folder, or memory)."""

    @abstractmethod
    def staging_dir(self) -> Path:
        """A new empty folder on disk for a model's ``save()``."""

    @abstractmethod
    def commit_artifact(self, staging: Path, manifest: bytes, call: str
                        ) -> tuple[str, list[FileInfo]]:
        """Checksum the files in ``staging`` and move them into place atomically; returns the
        artifact's location and its files. ``staging`` no longer exists afterwards."""

    @abstractmethod
    def read_artifact(self, location: str) -> dict[str, bytes]:
        """The files of an artifact, ``{relative path: bytes}``; NotFoundError if gone."""

    @abstractmethod
    def put_table(self, prefix: str, table: pa.Table) -> tuple[str, int, str]:
        """Store an immutable table; returns its location, size in bytes and sha256."""

    @abstractmethod
    def get_table(self, location: str) -> pa.Table:
        """A stored table; NotFoundError if it is gone, IntegrityError if unreadable."""

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove an artifact or a table (missing ones are ignored)."""

    @abstractmethod
    def locations(self) -> list[str]:
        """Every stored artifact and table (for orphan detection)."""

    @abstractmethod
    def verify_table(self, location: str, sha256: str, nbytes: int) -> str | None:
        """``None`` when the stored table matches, else what is wrong."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class FolderBlobStore(BlobStore):
    """Artifacts and segments as files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".tmp"
        for sub in (self.tmp, root / "artifacts", root / "features"):
            sub.mkdir(parents=True, exist_ok=True)

    def staging_dir(self) -> Path:
        path = self.tmp / unique_name()
        (path / MODEL_SUBDIR).mkdir(parents=True)
        return path / MODEL_SUBDIR

    def commit_artifact(self, staging: Path, manifest: bytes, call: str
                        ) -> tuple[str, list[FileInfo]]:
        outer = staging.parent
        try:
            files = _scan(staging, call)
            if not files:
                raise ConfigurationError(f"{call}: the model's save() wrote no file")
            for f in files:  # durable before the catalog points at them
                fd = os.open(staging / f.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            (outer / MANIFEST).write_bytes(manifest)
            location = f"artifacts/{outer.name}"
            os.rename(outer, self.root / location)
            fsync_dir(self.root / "artifacts")
        except BaseException:
            remove_path(outer)
            raise
        return location, files

    def read_artifact(self, location: str) -> dict[str, bytes]:
        base = self.root / location / MODEL_SUBDIR
        if not base.is_dir():
            raise NotFoundError(f"artifact folder {base} is missing")
        out: dict[str, bytes] = {}
        for dirpath, _dirnames, filenames in os.walk(base, followlinks=False):
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    raise IntegrityError(f"artifact {base} holds a symbolic link {p}")
                out[p.relative_to(base).as_posix()] = p.read_bytes()
        return out

    def put_table(self, prefix: str, table: pa.Table) -> tuple[str, int, str]:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        location = f"features/{prefix}/{unique_name()}.parquet"
        tmp = self.tmp / f"{unique_name()}.parquet"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            target = self.root / location
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, target)
            fsync_dir(target.parent)
        finally:
            remove_path(tmp)
        return location, len(data), hashlib.sha256(data).hexdigest()

    def get_table(self, location: str) -> pa.Table:
        path = self.root / location
        try:
            return pq.read_table(path)
        except FileNotFoundError as exc:
            raise NotFoundError(f"feature segment {path} is missing") from exc
        except (OSError, pa.ArrowException) as exc:
            raise IntegrityError(f"feature segment {path} is unreadable ({exc})") from exc

    def delete(self, location: str) -> None:
        remove_path(self.root / location)

    def locations(self) -> list[str]:
        out = [f"artifacts/{p.name}" for p in (self.root / "artifacts").iterdir()]
        for view_dir in (self.root / "features").iterdir():
            if view_dir.is_dir():
                out += [f"features/{view_dir.name}/{p.name}" for p in view_dir.iterdir()]
        return sorted(out)

    def staging_entries(self) -> list[Path]:
        """Leftovers in ``.tmp`` (interrupted writes, or writes in progress)."""
        return sorted(self.tmp.iterdir())

    def verify_table(self, location: str, sha256: str, nbytes: int) -> str | None:
        path = self.root / location
        if not path.is_file():
            return f"feature segment {location} is missing"
        digest, size = sha256_file(path)
        if size != nbytes or digest != sha256:
            return f"feature segment {location} does not match its sha256 (corrupted)"
        return None


class MemoryBlobStore(BlobStore):
    """Artifacts as bytes and segments as Arrow tables, in this process's memory."""

    def __init__(self) -> None:
        self._artifacts: dict[str, dict[str, bytes]] = {}
        self._tables: dict[str, pa.Table] = {}
        self._lock = threading.Lock()

    def staging_dir(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="cq-stage-"))
        (path / MODEL_SUBDIR).mkdir()
        return path / MODEL_SUBDIR

    def commit_artifact(self, staging: Path, manifest: bytes, call: str
                        ) -> tuple[str, list[FileInfo]]:
        try:
            files = _scan(staging, call)
            if not files:
                raise ConfigurationError(f"{call}: the model's save() wrote no file")
            content = {f.path: (staging / f.path).read_bytes() for f in files}
        finally:
            shutil.rmtree(staging.parent, ignore_errors=True)
        location = f"artifacts/{unique_name()}"
        with self._lock:
            self._artifacts[location] = content
        return location, files

    def read_artifact(self, location: str) -> dict[str, bytes]:
        with self._lock:
            content = self._artifacts.get(location)
        if content is None:
            raise NotFoundError(f"artifact {location} is missing")
        return dict(content)

    def put_table(self, prefix: str, table: pa.Table) -> tuple[str, int, str]:
        location = f"features/{prefix}/{unique_name()}"
        with self._lock:
            self._tables[location] = table
        return location, int(table.nbytes), ""

    def get_table(self, location: str) -> pa.Table:
        with self._lock:
            table = self._tables.get(location)
        if table is None:
            raise NotFoundError(f"feature segment {location} is missing")
        return table

    def delete(self, location: str) -> None:
        with self._lock:
            self._artifacts.pop(location, None)
            self._tables.pop(location, None)

    def locations(self) -> list[str]:
        with self._lock:
            return sorted([*self._artifacts, *self._tables])

    def verify_table(self, location: str, sha256: str, nbytes: int) -> str | None:
        with self._lock:
            ok = location in self._tables
        return None if ok else f"feature segment {location} is missing"

    def corrupt_artifact_for_tests(self, location: str, path: str, data: bytes) -> None:
        """Replace one file's bytes (used by the integrity tests of the in-memory store)."""
        with self._lock:
            self._artifacts[location][path] = data
