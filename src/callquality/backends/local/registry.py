"""The local model registry (implements :class:`callquality.protocols.Registry`).

Semantics follow ``snowflake.ml.registry.Registry`` so that code moves between backends:

* Model names, version names and aliases are SQL identifiers and case-insensitive. Model names
  keep the case they were first logged with; version names and aliases are stored upper-case
  (``"v2"`` is ``"V2"``), as Snowflake resolves unquoted identifiers.
* ``log_model`` without ``version_name`` numbers versions ``V1, V2, ...`` per model (numbers
  are never reused, even after a deletion). The first version logged becomes the default.
* Aliases (``PRODUCTION``, ``CHALLENGER``, ...) are unique per model and a version holds at
  most one alias (Snowflake's rule). ``set_alias`` moves an alias in one transaction: no
  reader ever sees it on two versions or on none. ``FIRST``, ``LAST`` and ``DEFAULT`` are
  system aliases: readable, never set.
* A model is stored by its own ``save(directory)``; the registry records the class's import
  path and, at load time, calls that class's ``load(directory)`` classmethod. Only classes in
  trusted modules (``callquality.`` by default) are ever imported. Nothing is unpickled.
* Every artifact file is checksummed (sha256) when logged and verified before it is loaded;
  a mismatch, a missing or an extra file raises :class:`~callquality.exceptions.IntegrityError`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...exceptions import (
    AlreadyExistsError,
    BackendError,
    CallQualityError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
)
from ...protocols import ModelVersionInfo
from ...schema import FEATURES
from ..errors import InvalidNameError
from . import _util
from ._blobs import BlobStore
from ._db import Database
from ._util import check_identifier, dumps, from_ns, now_ns, remove_path, to_jsonable

__all__ = ["DEFAULT_TRUSTED_MODULES", "SYSTEM_ALIASES", "LocalRegistry"]

#: Module prefixes whose classes the registry may import to load a model.
DEFAULT_TRUSTED_MODULES: tuple[str, ...] = ("callquality.",)
#: Snowflake's system aliases: resolvable, never settable.
SYSTEM_ALIASES = ("DEFAULT", "FIRST", "LAST")
_SCHEMA_DTYPES = {s.name: s.dtype for s in FEATURES}
_VERSION_COLS = ("version, created_at, comment, metrics, params, tags, lineage, loader, "
                 "artifact_dir, files, artifact_sha256")


def _signature_of(model: Any) -> list[dict[str, Any]] | None:
    sig = getattr(model, "signature", None)
    if isinstance(sig, list) and all(isinstance(x, Mapping) and "name" in x for x in sig):
        return [dict(x) for x in sig]
    names = getattr(model, "feature_names", None)
    if not names:
        return None
    dtypes = getattr(model, "feature_dtypes", None) or {}
    return [{"name": str(n), "dtype": str(dtypes.get(n, _SCHEMA_DTYPES.get(str(n), "unknown")))}
            for n in names]


class _Model:
    __slots__ = ("created_at", "default_version", "model_id", "name")

    def __init__(self, row: tuple) -> None:
        self.model_id, self.name, self.default_version, self.created_at = row


def versions_frame(infos: Sequence[ModelVersionInfo]) -> pd.DataFrame:
    """The ``show_versions`` table of every registry: one row per version, in the given order,
    with Snowflake's ``Model.show_versions`` column names."""
    return pd.DataFrame({
        "name": [i.version for i in infos],
        "model_name": [i.model_name for i in infos],
        "created_on": pd.to_datetime([i.created_at for i in infos], utc=True),
        "aliases": [list(i.aliases) for i in infos],
        "is_default_version": [i.is_default for i in infos],
        "comment": [i.comment for i in infos],
        "metrics": [dict(i.metrics) for i in infos],
        "params": [dict(i.params) for i in infos],
        "tags": [dict(i.tags) for i in infos],
        "lineage": [dict(i.lineage) for i in infos],
        "model_type": [i.model_type for i in infos],
        "artifact_sha256": [i.artifact_sha256 for i in infos],
    })


class LocalRegistry:
    """Models, versions, metrics, aliases and lineage in the local store.

    Not constructed directly: use ``cq.connect("local", ...).registry``.

    Args:
        db: the store's database.
        blobs: where artifact files live.
        trusted_modules: module prefixes whose classes may be imported to load a model.
    """

    def __init__(self, db: Database, blobs: BlobStore, *,
                 trusted_modules: Sequence[str] = DEFAULT_TRUSTED_MODULES) -> None:
        self._db = db
        self._blobs = blobs
        self.trusted_modules = tuple(trusted_modules)

    def __repr__(self) -> str:
        return f"LocalRegistry(trusted_modules={self.trusted_modules})"

    # ------------------------------------------------------------------ names and lookups

    @staticmethod
    def _version_name(value: Any, call: str, kind: str = "version name") -> str:
        name = check_identifier(value, kind, call).upper()
        if name in SYSTEM_ALIASES:
            raise InvalidNameError(f"{call}: {value!r} is a system alias "
                                   f"({', '.join(SYSTEM_ALIASES)}) and cannot be a {kind}")
        return name

    def _model(self, con: sqlite3.Connection, model_name: str, call: str) -> _Model:
        check_identifier(model_name, "model name", call)
        row = con.execute("SELECT model_id, name, default_version, created_at FROM models "
                          "WHERE name=?", (model_name,)).fetchone()
        if row is None:
            known = [r[0] for r in con.execute("SELECT name FROM models ORDER BY name")]
            raise NotFoundError(f"{call}: unknown model {model_name!r}; the registry holds "
                                f"{known if known else 'no model'}")
        return _Model(row)

    def _resolve(self, con: sqlite3.Connection, model: _Model, selector: str | None,
                 call: str, *, alias_only: bool = False) -> str:
        """The version name that ``selector`` (version, alias, system alias, None) means."""
        if selector is None:
            selector = "DEFAULT"
        if not isinstance(selector, str) or not selector:
            raise InvalidNameError(f"{call}: invalid version or alias {selector!r}")
        key = selector.upper()
        if not alias_only:
            row = con.execute("SELECT version FROM model_versions WHERE model_id=? AND "
                              "version=?", (model.model_id, key)).fetchone()
            if row:
                return str(row[0])
        row = con.execute("SELECT version FROM model_aliases WHERE model_id=? AND alias=?",
                          (model.model_id, key)).fetchone()
        if row:
            return str(row[0])
        if key in SYSTEM_ALIASES:
            if key == "DEFAULT":
                if model.default_version:
                    return model.default_version
            else:
                order = "ASC" if key == "FIRST" else "DESC"
                row = con.execute("SELECT version FROM model_versions WHERE model_id=? ORDER BY "
                                  f"created_at {order}, rowid {order} LIMIT 1",
                                  (model.model_id,)).fetchone()
                if row:
                    return str(row[0])
            raise NotFoundError(f"{call}: model {model.name!r} has no version")
        aliases = dict(con.execute("SELECT alias, version FROM model_aliases WHERE model_id=? "
                                   "ORDER BY alias", (model.model_id,)).fetchall())
        versions = [r[0] for r in con.execute(
            "SELECT version FROM model_versions WHERE model_id=? ORDER BY created_at, rowid",
            (model.model_id,))]
        what = "alias" if alias_only else "version or alias"
        raise NotFoundError(f"{call}: model {model.name!r} has no {what} {selector!r} (aliases: "
                            f"{aliases or 'none'}; versions: {versions})")

    def _info(self, con: sqlite3.Connection, model: _Model, version: str) -> ModelVersionInfo:
        row = con.execute(f"SELECT {_VERSION_COLS} FROM model_versions WHERE model_id=? AND "
                          "version=?", (model.model_id, version)).fetchone()
        if row is None:
            raise NotFoundError(f"model {model.name!r} has no version {version!r}")
        aliases = tuple(r[0] for r in con.execute(
            "SELECT alias FROM model_aliases WHERE model_id=? AND version=? ORDER BY alias",
            (model.model_id, version)))
        return self._row_info(model, row, aliases)

    @staticmethod
    def _row_info(model: _Model, row: tuple, aliases: tuple[str, ...]) -> ModelVersionInfo:
        (version, created_at, comment, metrics, params, tags, lineage, loader, _loc, _files,
         digest) = row
        created = from_ns(created_at)
        assert created is not None
        return ModelVersionInfo(
            model_name=model.name, version=version, created_at=created,
            metrics=json.loads(metrics), params=json.loads(params), tags=json.loads(tags),
            aliases=aliases, comment=comment, lineage=json.loads(lineage),
            is_default=(version == model.default_version), artifact_sha256=digest,
            model_type=loader)

    @staticmethod
    def parse_ref(ref: str, call: str = "load_model") -> tuple[str, str | None, bool]:
        """``(model_name, selector, is_alias)`` of ``"name@ALIAS"``, ``"name/version"`` or
        ``"name"`` (selector ``None``: the default version)."""
        if not isinstance(ref, str) or not ref:
            raise InvalidNameError(f"{call}: invalid model reference {ref!r}; use 'name', "
                                   "'name/VERSION' or 'name@ALIAS'")
        for sep, is_alias in (("@", True), ("/", False)):
            if sep in ref:
                name, _, selector = ref.partition(sep)
                if not name or not selector or "@" in selector or "/" in selector:
                    break
                check_identifier(name, "model name", call)
                check_identifier(selector, "alias" if is_alias else "version name", call)
                return name, selector, is_alias
        else:
            check_identifier(ref, "model name", call)
            return ref, None, False
        raise InvalidNameError(f"{call}: invalid model reference {ref!r}; use 'name', "
                               "'name/VERSION' or 'name@ALIAS'")

    # ------------------------------------------------------------------ loaders

    def _loader_of(self, model: Any, call: str) -> str:
        cls = type(model)
        module, qualname = cls.__module__, cls.__qualname__
        if not callable(getattr(model, "save", None)):
            raise ConfigurationError(
                f"{call}: a {module}.{qualname} has no save(directory) method; the registry "
                "stores models that save themselves (e.g. callquality.training.CallQualityModel)")
        if not callable(getattr(cls, "load", None)):
            raise ConfigurationError(f"{call}: {module}.{qualname} has no load(directory) "
                                     "classmethod to load it back")
        if "<locals>" in qualname:
            raise ConfigurationError(f"{call}: {module}.{qualname} is defined inside a "
                                     "function and cannot be imported to load it back")
        self._check_trusted(module, qualname, call)
        return f"{module}:{qualname}"

    def _check_trusted(self, module: str, qualname: str, call: str) -> None:
        if not any(module == p.rstrip(".") or module.startswith(p if p.endswith(".") else p + ".")
                   for p in self.trusted_modules):
            raise ConfigurationError(
                f"{call}: model class {module}.{qualname} is not in a trusted module "
                f"({', '.join(self.trusted_modules)}); the registry only imports classes from "
                "trusted modules. Pass trusted_modules=(..., "
                f"{module.split('.')[0] + '.'!r}) to cq.connect to allow it")

    def _import_loader(self, loader: str, call: str) -> Any:
        module, _, qualname = loader.partition(":")
        if not module or not qualname:
            raise IntegrityError(f"{call}: stored loader {loader!r} is malformed")
        self._check_trusted(module, qualname, call)
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"{call}: cannot import the model class {loader} ({exc}); "
                               "is the package that defines it installed?") from exc
        if not isinstance(obj, type) or not callable(getattr(obj, "load", None)):
            raise IntegrityError(f"{call}: stored loader {loader!r} is not a class with a "
                                 "load(directory) method")
        return obj

    # ------------------------------------------------------------------ writing

    def log_model(self, model: Any, *, model_name: str, version_name: str | None = None,
                  metrics: Mapping[str, Any] | None = None,
                  params: Mapping[str, Any] | None = None, comment: str = "",
                  lineage: Mapping[str, Any] | None = None,
                  tags: Mapping[str, str] | None = None) -> ModelVersionInfo:
        """Store a new version of ``model_name``.

        The model writes itself with ``model.save(directory)``; the files are checksummed,
        moved into the store atomically, and only then is the version committed to the
        catalog, so no reader sees a half-written version.

        Args:
            model: an object with ``save(directory)`` whose class has a ``load(directory)``
                classmethod and lives in a trusted module.
            model_name: SQL identifier; created on first use.
            version_name: SQL identifier (stored upper-case); ``None`` numbers it ``V<n>``.
            metrics: JSON-serialisable metrics (``set_metric`` adds more later).
            params: JSON-serialisable training parameters.
            comment: free text.
            lineage: JSON-serialisable provenance: ``dataset_snapshot_id``, ``run_id``, ...;
                ``signature`` (feature names and dtypes) and ``features`` are filled from the
                model when absent.
            tags: string tags.

        Raises:
            InvalidNameError: a name is not an identifier.
            AlreadyExistsError: the version exists.
            ConfigurationError: the model cannot be stored (no save/load, untrusted module),
                or metadata is not JSON-serialisable.
        """
        call = f"log_model({model_name!r})"
        check_identifier(model_name, "model name", call)
        version = None if version_name is None else self._version_name(version_name, call)
        meta_metrics = to_jsonable(dict(metrics or {}), what="metrics", call=call)
        meta_params = to_jsonable(dict(params or {}), what="params", call=call)
        meta_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        meta_lineage = to_jsonable(dict(lineage or {}), what="lineage", call=call)
        signature = _signature_of(model)
        if signature is not None:
            meta_lineage.setdefault("signature", signature)
            meta_lineage.setdefault("features", [s["name"] for s in signature])
        if not isinstance(comment, str):
            raise ConfigurationError(f"{call}: comment must be a string")
        loader = self._loader_of(model, call)

        staging = self._blobs.staging_dir()
        try:
            model.save(staging)
        except BaseException:
            remove_path(staging.parent)
            raise
        manifest = {"format": 1, "model_name": model_name, "loader": loader}
        location, files = self._blobs.commit_artifact(
            staging, (dumps(manifest) + "\n").encode(), call)
        file_list = [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files]
        digest = hashlib.sha256(dumps(file_list).encode()).hexdigest()
        _util.fault("after_artifact")
        try:
            with self._db.write(call) as con:
                row = con.execute("SELECT model_id, next_number FROM models WHERE name=?",
                                  (model_name,)).fetchone()
                if row is None:
                    cur = con.execute("INSERT INTO models (name, created_at) VALUES (?, ?)",
                                      (model_name, now_ns()))
                    model_id, number = cur.lastrowid, 1
                else:
                    model_id, number = row
                taken = {r[0] for r in con.execute(
                    "SELECT version FROM model_versions WHERE model_id=? UNION "
                    "SELECT alias FROM model_aliases WHERE model_id=?", (model_id, model_id))}
                if version is None:
                    while f"V{number}" in taken:
                        number += 1
                    version = f"V{number}"
                    con.execute("UPDATE models SET next_number=? WHERE model_id=?",
                                (number + 1, model_id))
                elif version in taken:
                    raise AlreadyExistsError(
                        f"{call}: model {model_name!r} already has a version or alias "
                        f"{version!r}; versions are immutable (omit version_name to number "
                        "a new one)")
                con.execute(
                    f"INSERT INTO model_versions (model_id, {_VERSION_COLS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (model_id, version, now_ns(), comment, dumps(meta_metrics),
                     dumps(meta_params), dumps(meta_tags), dumps(meta_lineage), loader,
                     location, dumps(file_list), digest))
                con.execute("UPDATE models SET default_version=? WHERE model_id=? AND "
                            "default_version IS NULL", (version, model_id))
                _util.fault("before_commit")
                info = self._info(con, self._model(con, model_name, call), version)
        except BaseException:
            self._blobs.delete(location)
            raise
        return info

    def set_alias(self, model_name: str, version: str, alias: str) -> None:
        """Point ``alias`` at ``version`` (moving it from another version atomically).

        Raises:
            InvalidNameError: ``alias`` is not an identifier or is a system alias.
            NotFoundError: unknown model or version.
            ConflictError: ``version`` already holds another alias (a version holds at most
                one: ``unset_alias`` it first) or ``alias`` names a version.
        """
        call = f"set_alias({model_name!r}, {version!r}, {alias!r})"
        key = self._version_name(alias, call, "alias")
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            target = self._resolve(con, model, self._version_name(version, call), call)
            if target != version.upper():
                raise NotFoundError(f"{call}: model {model.name!r} has no version {version!r} "
                                    f"({version!r} is an alias of {target})")
            if con.execute("SELECT 1 FROM model_versions WHERE model_id=? AND version=?",
                           (model.model_id, key)).fetchone():
                raise ConflictError(f"{call}: {key!r} is a version name of {model.name!r} and "
                                    "cannot also be an alias")
            held = con.execute("SELECT alias FROM model_aliases WHERE model_id=? AND version=?",
                               (model.model_id, target)).fetchone()
            if held and held[0] == key:
                return
            if held:
                raise ConflictError(
                    f"{call}: {model.name}/{target} already holds alias {held[0]!r}; a version "
                    f"holds at most one alias (as in Snowflake). Call unset_alias("
                    f"{model.name!r}, {held[0]!r}) first")
            con.execute("DELETE FROM model_aliases WHERE model_id=? AND alias=?",
                        (model.model_id, key))
            con.execute("INSERT INTO model_aliases (model_id, alias, version) VALUES (?, ?, ?)",
                        (model.model_id, key, target))

    def unset_alias(self, model_name: str, alias: str) -> None:
        """Remove ``alias`` from whichever version holds it (NotFoundError if none does)."""
        call = f"unset_alias({model_name!r}, {alias!r})"
        key = self._version_name(alias, call, "alias")
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            self._resolve(con, model, key, call, alias_only=True)
            con.execute("DELETE FROM model_aliases WHERE model_id=? AND alias=?",
                        (model.model_id, key))

    def set_default_version(self, model_name: str, version: str) -> None:
        """Make ``version`` (a version name or alias) the default of ``model_name``."""
        call = f"set_default_version({model_name!r}, {version!r})"
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            target = self._resolve(con, model, version, call)
            con.execute("UPDATE models SET default_version=? WHERE model_id=?",
                        (target, model.model_id))

    def _update_json(self, model_name: str, version: str, column: str, call: str,
                     change: Any) -> None:
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            target = self._resolve(con, model, version, call)
            (text,) = con.execute(f"SELECT {column} FROM model_versions WHERE model_id=? AND "
                                  "version=?", (model.model_id, target)).fetchone()
            value = change(json.loads(text))
            con.execute(f"UPDATE model_versions SET {column}=? WHERE model_id=? AND version=?",
                        (dumps(value), model.model_id, target))

    def set_metric(self, model_name: str, version: str, name: str, value: Any) -> None:
        """Add or replace one metric of a version (atomic read-modify-write)."""
        call = f"set_metric({model_name!r}, {version!r}, {name!r})"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{call}: metric name must be a non-empty string")
        jv = to_jsonable(value, what="metric value", call=call)
        self._update_json(model_name, version, "metrics", call, lambda m: {**m, name: jv})

    def delete_metric(self, model_name: str, version: str, name: str) -> None:
        """Remove one metric (NotFoundError if the version has no such metric)."""
        call = f"delete_metric({model_name!r}, {version!r}, {name!r})"

        def change(m: dict[str, Any]) -> dict[str, Any]:
            if name not in m:
                raise NotFoundError(f"{call}: no metric {name!r} (metrics: {sorted(m)})")
            return {k: v for k, v in m.items() if k != name}

        self._update_json(model_name, version, "metrics", call, change)

    def set_tag(self, model_name: str, version: str, name: str, value: str) -> None:
        """Add or replace one string tag of a version."""
        call = f"set_tag({model_name!r}, {version!r}, {name!r})"
        self._update_json(model_name, version, "tags", call, lambda t: {**t, name: str(value)})

    def set_comment(self, model_name: str, version: str, comment: str) -> None:
        """Replace a version's comment."""
        call = f"set_comment({model_name!r}, {version!r})"
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            target = self._resolve(con, model, version, call)
            con.execute("UPDATE model_versions SET comment=? WHERE model_id=? AND version=?",
                        (str(comment), model.model_id, target))

    def delete_version(self, model_name: str, version: str, *, force: bool = False) -> None:
        """Delete a version and its artifact.

        Refused (:class:`ConflictError`) for a version that holds an alias, or that is the
        default while other versions exist, unless ``force`` (then the alias is removed and the
        newest remaining version becomes the default). Deleting the last version deletes the
        model.
        """
        call = f"delete_version({model_name!r}, {version!r})"
        name = self._version_name(version, call)
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            row = con.execute("SELECT artifact_dir FROM model_versions WHERE model_id=? AND "
                              "version=?", (model.model_id, name)).fetchone()
            if row is None:
                self._resolve(con, model, name, call)  # raises the NotFoundError with context
                raise NotFoundError(f"{call}: {name!r} is an alias; pass a version name")
            location = row[0]
            held = [r[0] for r in con.execute("SELECT alias FROM model_aliases WHERE "
                                              "model_id=? AND version=?", (model.model_id, name))]
            n_versions = con.execute("SELECT COUNT(*) FROM model_versions WHERE model_id=?",
                                     (model.model_id,)).fetchone()[0]
            if held and not force:
                raise ConflictError(f"{call}: {model.name}/{name} holds alias {held[0]!r}; "
                                    "unset the alias first or pass force=True")
            if name == model.default_version and n_versions > 1 and not force:
                raise ConflictError(f"{call}: {model.name}/{name} is the default version; "
                                    "set_default_version to another one first or pass "
                                    "force=True")
            con.execute("DELETE FROM model_aliases WHERE model_id=? AND version=?",
                        (model.model_id, name))
            con.execute("DELETE FROM model_versions WHERE model_id=? AND version=?",
                        (model.model_id, name))
            if n_versions == 1:
                con.execute("DELETE FROM models WHERE model_id=?", (model.model_id,))
            elif name == model.default_version:
                con.execute(
                    "UPDATE models SET default_version=(SELECT version FROM model_versions "
                    "WHERE model_id=? ORDER BY created_at DESC, rowid DESC LIMIT 1) "
                    "WHERE model_id=?", (model.model_id, model.model_id))
        self._blobs.delete(location)

    def delete_model(self, model_name: str, *, force: bool = False) -> None:
        """Delete a model with all its versions (refused while it has aliases unless forced)."""
        call = f"delete_model({model_name!r})"
        with self._db.write(call) as con:
            model = self._model(con, model_name, call)
            aliases = [r[0] for r in con.execute("SELECT alias FROM model_aliases WHERE "
                                                 "model_id=?", (model.model_id,))]
            if aliases and not force:
                raise ConflictError(f"{call}: {model.name} has aliases {aliases}; unset them "
                                    "first or pass force=True")
            locations = [r[0] for r in con.execute("SELECT artifact_dir FROM model_versions "
                                                   "WHERE model_id=?", (model.model_id,))]
            for table in ("model_aliases", "model_versions", "models"):
                con.execute(f"DELETE FROM {table} WHERE model_id=?", (model.model_id,))
        for location in locations:
            self._blobs.delete(location)

    # ------------------------------------------------------------------ reading

    def models(self) -> list[str]:
        """Model names, sorted case-insensitively."""
        return [r[0] for r in self._db.query("SELECT name FROM models ORDER BY name",
                                             what="models()")]

    def get_version(self, model_name: str, version_or_alias: str | None = None
                    ) -> ModelVersionInfo:
        """A version by name or alias (``FIRST``/``LAST``/``DEFAULT`` too); the default
        version when ``None``."""
        call = f"get_version({model_name!r}, {version_or_alias!r})"
        with self._db.read(call) as con:
            model = self._model(con, model_name, call)
            return self._info(con, model, self._resolve(con, model, version_or_alias, call))

    def versions(self, model_name: str) -> list[ModelVersionInfo]:
        """Every version of a model, oldest first."""
        call = f"versions({model_name!r})"
        with self._db.read(call) as con:
            model = self._model(con, model_name, call)
            aliases = dict(con.execute("SELECT version, alias FROM model_aliases WHERE "
                                       "model_id=?", (model.model_id,)).fetchall())
            rows = con.execute(f"SELECT {_VERSION_COLS} FROM model_versions WHERE model_id=? "
                               "ORDER BY created_at, rowid", (model.model_id,)).fetchall()
        return [self._row_info(model, r, (aliases[r[0]],) if r[0] in aliases else ())
                for r in rows]

    def show_models(self) -> pd.DataFrame:
        """One row per model: ``name``, ``created_on``, ``default_version_name``,
        ``versions`` (list), ``aliases`` (dict alias -> version)."""
        with self._db.read("show_models()") as con:
            models = con.execute("SELECT model_id, name, default_version, created_at FROM "
                                 "models ORDER BY name").fetchall()
            versions: dict[int, list[str]] = {}
            for mid, v in con.execute("SELECT model_id, version FROM model_versions ORDER BY "
                                      "created_at, rowid"):
                versions.setdefault(mid, []).append(v)
            aliases: dict[int, dict[str, str]] = {}
            for mid, a, v in con.execute("SELECT model_id, alias, version FROM model_aliases "
                                         "ORDER BY alias"):
                aliases.setdefault(mid, {})[a] = v
        return pd.DataFrame({
            "name": [m[1] for m in models],
            "created_on": pd.to_datetime([m[3] for m in models], unit="ns", utc=True),
            "default_version_name": [m[2] for m in models],
            "versions": [versions.get(m[0], []) for m in models],
            "aliases": [aliases.get(m[0], {}) for m in models],
        })

    def show_versions(self, model_name: str) -> pd.DataFrame:
        """One row per version, oldest first: ``name``, ``created_on``, ``aliases``,
        ``is_default_version``, ``comment``, ``metrics``, ``params``, ``tags``, ``lineage``,
        ``model_type``, ``artifact_sha256`` (as Snowflake's ``Model.show_versions``)."""
        return versions_frame(self.versions(model_name))

    def _artifact(self, model_name: str, selector: str | None, is_alias: bool, call: str
                  ) -> tuple[str, str, str, list[dict[str, Any]], str]:
        with self._db.read(call) as con:
            model = self._model(con, model_name, call)
            version = self._resolve(con, model, selector, call, alias_only=is_alias)
            loader, location, files = con.execute(
                "SELECT loader, artifact_dir, files FROM model_versions WHERE model_id=? AND "
                "version=?", (model.model_id, version)).fetchone()
        return f"{model.name}/{version}", loader, location, json.loads(files), version

    def _verified_files(self, label: str, location: str, expected: list[dict[str, Any]],
                        call: str) -> dict[str, bytes]:
        try:
            content = self._blobs.read_artifact(location)
        except NotFoundError as exc:
            raise IntegrityError(f"{call}: the artifact of {label} is missing ({exc})") from exc
        want = {f["path"]: f for f in expected}
        missing = sorted(set(want) - set(content))
        extra = sorted(set(content) - set(want))
        if missing or extra:
            raise IntegrityError(f"{call}: the artifact of {label} does not match its manifest "
                                 f"(missing files {missing}, unexpected files {extra})")
        for path, data in content.items():
            if len(data) != want[path]["size"] or \
                    hashlib.sha256(data).hexdigest() != want[path]["sha256"]:
                raise IntegrityError(f"{call}: {path} of {label} does not match the sha256 "
                                     "recorded when it was logged (corrupted or swapped "
                                     "artifact); refusing to load it")
        return content

    def verify(self, ref: str) -> None:
        """Check a version's artifact against its checksums without loading it."""
        call = f"verify({ref!r})"
        name, selector, is_alias = self.parse_ref(ref, call)
        label, _loader, location, files, _v = self._artifact(name, selector, is_alias, call)
        self._verified_files(label, location, files, call)

    def load_model(self, ref: str) -> Any:
        """Load ``"name@ALIAS"``, ``"name/VERSION"`` or ``"name"`` (the default version).

        The artifact's files are read once, checked against the sha256 recorded at logging
        time, copied into a private temporary folder and loaded from there by the recorded
        class's ``load(directory)``.

        Raises:
            InvalidNameError: malformed reference.
            NotFoundError: unknown model, version or alias.
            IntegrityError: missing, extra or altered artifact files.
        """
        call = f"load_model({ref!r})"
        name, selector, is_alias = self.parse_ref(ref, call)
        label, loader, location, files, _v = self._artifact(name, selector, is_alias, call)
        content = self._verified_files(label, location, files, call)
        cls = self._import_loader(loader, call)
        with tempfile.TemporaryDirectory(prefix="cq-load-") as tmp:
            root = Path(tmp) / "model"
            for path, data in content.items():
                target = root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            try:
                return cls.load(root)
            except CallQualityError:
                raise
            except Exception as exc:
                raise BackendError(f"{call}: {loader}.load failed on the verified artifact of "
                                   f"{label}: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ integrity

    def _all_artifacts(self) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
        rows = self._db.query("SELECT m.name, v.version, v.artifact_dir, v.files FROM "
                              "model_versions v JOIN models m USING (model_id)",
                              what="check_integrity()")
        return [(f"{n}/{v}", v, loc, json.loads(files)) for n, v, loc, files in rows]

    def check(self) -> tuple[list[str], set[str]]:
        """Problems found in every version's artifact, and the locations in use."""
        problems: list[str] = []
        used: set[str] = set()
        for label, _v, location, files in self._all_artifacts():
            used.add(location)
            try:
                self._verified_files(label, location, files, "check_integrity()")
            except IntegrityError as exc:
                problems.append(str(exc))
        return problems, used
