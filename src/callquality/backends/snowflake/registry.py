"""The Snowflake model registry (implements :class:`callquality.protocols.Registry`).

It drives ``snowflake.ml.registry.Registry`` and keeps the semantics of the local registry:

* **What is logged.** A :class:`~callquality.training.CallQualityModel` is logged as an
  ``xgboost.XGBClassifier`` holding the same booster, so Snowflake runs it natively in a
  warehouse (``PREDICT``, ``PREDICT_PROBA``) and, for numeric features, explains it with SHAP
  (``EXPLAIN``; enabled by default, off for models with categorical features, whose inputs
  Snowflake's SHAP explainer cannot encode). Any other self-saving model is logged as a
  custom model (:mod:`._runner`). Every version is logged with task
  ``TABULAR_BINARY_CLASSIFICATION`` and a sample input that holds the model's feature
  columns only (never the label).
* **callquality's own record.** The model's own files (e.g. ``model.ubj`` +
  ``manifest.json``) travel with the version as ``user_files/callquality/artifact``; their
  sha256 manifest, the loader class, params, tags, lineage and the model manifest (threshold,
  feature names, schema hash) are stored in the version's metadata as the reserved metric
  ``_callquality``, which callquality hides from ``metrics``. ``load_model`` downloads the
  version, verifies every file against that manifest and loads it with the recorded class
  (trusted modules only); nothing is unpickled.
* **Names.** Model names, versions and aliases are SQL identifiers, resolved upper-case as
  Snowflake does. Versions logged without a name are numbered ``V1, V2, ...``; the last
  number per model is kept in a small table (``CQ_MODEL_SEQUENCES``) so that numbers are never
  reused after a deletion.
* **Aliases.** A version holds at most one alias and an alias is unique per model (Snowflake's
  rules). Moving ``PRODUCTION`` unsets it on the version holding it, then sets it on the new
  one (two statements: a reader may briefly see it on no version); if setting fails, the old
  version gets it back.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from snowflake.snowpark import Session
from snowflake.snowpark import functions as F

from ...exceptions import (
    AlreadyExistsError,
    BackendError,
    CallQualityError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    SchemaError,
)
from ...protocols import ModelVersionInfo
from ...schema import FEATURES
from ..errors import InvalidNameError
from ..local._util import check_identifier, dumps, sha256_file, to_jsonable
from ..local.registry import (
    DEFAULT_TRUSTED_MODULES,
    SYSTEM_ALIASES,
    LocalRegistry,
    versions_frame,
)
from ._errors import boundary, translate
from ._names import ObjectName, check_text
from ._tables import TIMESTAMP, ensure_table, to_snowpark

__all__ = ["LOG_OPTIONS", "RECORD_KEY", "USER_FILES_DIR", "SnowflakeRegistry"]

#: Reserved metric holding callquality's record of a version.
RECORD_KEY = "_callquality"
#: ``user_files`` subdirectory holding the model's own files.
USER_FILES_DIR = "callquality"
#: ``Registry.log_model`` arguments that ``log_model(..., log_options={...})`` passes through.
LOG_OPTIONS = frozenset({"conda_dependencies", "pip_requirements", "artifact_repository_map",
                         "resource_constraint", "target_platforms", "python_version",
                         "code_paths", "options"})
_SEQUENCE_COLUMNS = (("MODEL_NAME", "string"), ("LAST_NUMBER", "int64"),
                     ("UPDATED_AT", TIMESTAMP))
_SPEC = {s.name: s for s in FEATURES}
_MAX_LOG_ATTEMPTS = 5


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except ValueError:
            return [v.strip() for v in text.strip("[]").split(",") if v.strip()]
    if isinstance(value, Mapping):
        return list(value)
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "t", "yes", "1")
    return bool(value) if value is not None and not pd.isna(value) else False


def _as_utc(value: Any) -> datetime:
    if value is None or (not isinstance(value, (str, datetime)) and pd.isna(value)):
        return datetime.fromtimestamp(0, tz=timezone.utc)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


@dataclass
class _Version:
    """One row of ``SHOW VERSIONS``, parsed."""

    name: str
    created_on: datetime
    aliases: tuple[str, ...]
    is_default: bool
    comment: str
    metrics: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> _Version:
        lower = {str(k).lower(): v for k, v in row.items()}
        metadata = _as_dict(lower.get("metadata"))
        metrics = dict(_as_dict(metadata.get("metrics")))
        record = metrics.pop(RECORD_KEY, None)
        aliases = tuple(sorted(str(a).upper() for a in _as_list(lower.get("aliases"))
                               if str(a).upper() not in SYSTEM_ALIASES))
        comment = lower.get("comment")
        return cls(name=str(lower.get("name")), created_on=_as_utc(lower.get("created_on")),
                   aliases=aliases, is_default=_as_bool(lower.get("is_default_version")),
                   comment="" if comment is None or pd.isna(comment) else str(comment),
                   metrics=metrics, record=record if isinstance(record, dict) else {})


def _file_manifest(folder: Path) -> list[dict[str, Any]]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest, size = sha256_file(path)
        files.append({"path": path.relative_to(folder).as_posix(), "sha256": digest,
                      "size": size})
    return files


def _sample_value(name: str, dtype: str, i: int, categories: Sequence[str]) -> Any:
    if categories:
        return str(categories[i % len(categories)])
    if dtype in ("string", "category"):
        return None
    spec = _SPEC.get(name)
    lo, hi = (0.0, 1.0) if spec is None or spec.valid_range is None else spec.valid_range
    lo = 0.0 if not np.isfinite(lo) else float(lo)
    hi = lo + 10.0 if not np.isfinite(hi) else float(hi)
    return lo + (hi - lo) * (i + 1) / 6.0


class SnowflakeRegistry:
    """Models, versions, metrics, aliases and lineage in a Snowflake schema.

    Not constructed directly: use ``cq.connect("snowflake", ...).registry``.

    Args:
        registry: a ``snowflake.ml.registry.Registry`` on the backend's database and schema.
        session: the Snowpark session (for the version-number table).
        sequences_table: table keeping the last version number per model.
        trusted_modules: module prefixes whose model classes may be imported to load a model.
    """

    def __init__(self, registry: Any, session: Session, *, sequences_table: ObjectName,
                 trusted_modules: Sequence[str] = DEFAULT_TRUSTED_MODULES) -> None:
        self._reg = registry
        self._session = session
        self._sequences = sequences_table
        self.trusted_modules = tuple(trusted_modules)
        # the local registry's trust policy (which classes may be imported), reused as is
        self._policy = object.__new__(LocalRegistry)
        self._policy.trusted_modules = self.trusted_modules
        self._sequences_ready = False

    def __repr__(self) -> str:
        return f"SnowflakeRegistry({getattr(self._reg, 'location', '?')})"

    @property
    def snowflake_registry(self) -> Any:
        """The underlying ``snowflake.ml.registry.Registry``."""
        return self._reg

    # ------------------------------------------------------------------ lookups

    def _model(self, model_name: str, call: str) -> Any:
        check_identifier(model_name, "model name", call)
        try:
            with boundary(call):
                return self._reg.get_model(model_name)
        except NotFoundError:
            known = self.models()
            raise NotFoundError(f"{call}: unknown model {model_name!r}; the registry holds "
                                f"{known if known else 'no model'}") from None

    @staticmethod
    def _versions(model: Any, call: str) -> list[_Version]:
        with boundary(call):
            table = model.show_versions()
        rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else list(table)
        versions = [_Version.from_row(r) for r in rows]
        return sorted(versions, key=lambda v: (v.created_on, v.record.get("logged_at", 0),
                                               v.name))

    @staticmethod
    def _resolve(model_name: str, versions: list[_Version], selector: str | None, call: str,
                 *, alias_only: bool = False) -> _Version:
        if selector is None:
            selector = "DEFAULT"
        if not isinstance(selector, str) or not selector:
            raise InvalidNameError(f"{call}: invalid version or alias {selector!r}")
        key = selector.upper()
        if not alias_only:
            for v in versions:
                if v.name.upper() == key:
                    return v
        for v in versions:
            if key in v.aliases:
                return v
        if key in SYSTEM_ALIASES and versions:
            if key == "DEFAULT":
                for v in versions:
                    if v.is_default:
                        return v
            else:
                return versions[0] if key == "FIRST" else versions[-1]
        if key in SYSTEM_ALIASES:
            raise NotFoundError(f"{call}: model {model_name!r} has no version")
        aliases = {a: v.name for v in versions for a in v.aliases}
        what = "alias" if alias_only else "version or alias"
        raise NotFoundError(f"{call}: model {model_name!r} has no {what} {selector!r} "
                            f"(aliases: {aliases or 'none'}; versions: "
                            f"{[v.name for v in versions]})")

    @staticmethod
    def _info(model_name: str, v: _Version) -> ModelVersionInfo:
        rec = v.record
        return ModelVersionInfo(
            model_name=str(rec.get("model_name") or model_name), version=v.name,
            created_at=v.created_on, metrics=dict(v.metrics),
            params=dict(rec.get("params") or {}), tags=dict(rec.get("tags") or {}),
            aliases=v.aliases, comment=v.comment, lineage=dict(rec.get("lineage") or {}),
            is_default=v.is_default, artifact_sha256=str(rec.get("artifact_sha256") or ""),
            model_type=str(rec.get("loader") or ""))

    # ------------------------------------------------------------------ version numbers

    def _ensure_sequences(self, call: str) -> None:
        if not self._sequences_ready:
            with boundary(call):
                ensure_table(self._session, self._sequences, _SEQUENCE_COLUMNS)
            self._sequences_ready = True

    def _last_number(self, model_key: str, call: str) -> int:
        self._ensure_sequences(call)
        with boundary(call):
            rows = self._session.table(self._sequences.sql) \
                .filter(F.col("MODEL_NAME") == F.lit(model_key)) \
                .select("LAST_NUMBER").collect()
        return max((int(r[0]) for r in rows if r[0] is not None), default=0)

    def _record_number(self, model_key: str, number: int, call: str) -> None:
        self._ensure_sequences(call)
        with boundary(call):
            src = to_snowpark(self._session, _SEQUENCE_COLUMNS,
                              {"MODEL_NAME": [model_key], "LAST_NUMBER": [number],
                               "UPDATED_AT": [pd.Timestamp.now(tz="UTC")]}, 1)
            target = self._session.table(self._sequences.sql)
            values = {"MODEL_NAME": src["MODEL_NAME"], "LAST_NUMBER": src["LAST_NUMBER"],
                      "UPDATED_AT": src["UPDATED_AT"]}
            target.merge(src, target["MODEL_NAME"] == src["MODEL_NAME"], [
                F.when_matched(target["LAST_NUMBER"] < src["LAST_NUMBER"]).update(
                    {"LAST_NUMBER": src["LAST_NUMBER"], "UPDATED_AT": src["UPDATED_AT"]}),
                F.when_not_matched().insert(values)])

    def _forget_numbers(self, model_key: str, call: str) -> None:
        self._ensure_sequences(call)
        with boundary(call):
            target = self._session.table(self._sequences.sql)
            target.delete(target["MODEL_NAME"] == F.lit(model_key))

    @staticmethod
    def _number_of(version: str) -> int | None:
        if len(version) > 1 and version[0] == "V" and version[1:].isdigit():
            return int(version[1:])
        return None

    # ------------------------------------------------------------------ logging

    def _snowflake_model(self, model: Any, artifact: Path, loader: str,
                         sample_input: pd.DataFrame | None, explainability: bool | None,
                         work: Path, call: str) -> tuple[Any, pd.DataFrame, bool, dict[str, Any]]:
        """The object Snowflake logs, its sample input, whether explainability is on, and
        the model manifest recorded with the version."""
        names = [str(n) for n in getattr(model, "feature_names", None) or []]
        if not names:
            raise ConfigurationError(f"{call}: the model has no feature_names; the Snowflake "
                                     "registry needs them for the version's signature")
        threshold = float(getattr(model, "threshold", 0.5))
        manifest = {"feature_names": names, "threshold": threshold,
                    "schema_hash": getattr(model, "schema_hash", None),
                    "label": getattr(model, "label", None),
                    "signature_hash": getattr(model, "signature_hash", None)}
        categories: dict[str, tuple[str, ...]] = {
            str(k): tuple(str(c) for c in v)
            for k, v in (getattr(model, "categories", None) or {}).items()}
        dtypes = dict(getattr(model, "feature_dtypes", None) or {})
        if sample_input is not None:
            if not isinstance(sample_input, pd.DataFrame):
                raise ConfigurationError(f"{call}: sample_input must be a pandas DataFrame")
            missing = [n for n in names if n not in sample_input.columns]
            if missing:
                raise SchemaError(f"{call}: sample_input lacks the model's feature column(s) "
                                  f"{missing}")
            raw = sample_input[names].head(100).reset_index(drop=True)
        else:
            raw = pd.DataFrame({n: [_sample_value(n, str(dtypes.get(n, "float64")), i,
                                                  categories.get(n, ()))
                                    for i in range(5)] for n in names})
        booster = getattr(model, "booster", None)
        import xgboost

        if isinstance(booster, xgboost.Booster) and \
                callable(getattr(model, "prepare", None)):
            sample = model.prepare(raw)
            if explainability is None:
                explainability = not categories
                if categories:
                    warnings.warn(f"{call}: explainability is off for this version: Snowflake's "
                                  f"SHAP explainer cannot encode the categorical feature(s) "
                                  f"{sorted(categories)}; callquality's model.explain() "
                                  "covers them", UserWarning, stacklevel=3)
            elif explainability and categories:
                raise ConfigurationError(
                    f"{call}: explainability=True is not possible with categorical features "
                    f"{sorted(categories)} (Snowflake's SHAP explainer cannot encode them); "
                    "pass explainability=None or False")
            clf = xgboost.XGBClassifier(enable_categorical=bool(categories))
            clf.load_model(bytearray(booster.save_raw("ubj")))
            manifest["runtime"] = "xgboost.XGBClassifier"
            return clf, sample, bool(explainability), manifest
        if explainability:
            raise ConfigurationError(f"{call}: explainability=True needs a CallQualityModel "
                                     "(XGBoost); Snowflake does not explain custom models")
        from snowflake.ml.model import custom_model

        from ._runner import MODEL_ARTIFACT, RUNNER_ARTIFACT, SavedModelRunner

        runner = work / "runner.json"
        runner.write_text(dumps({"loader": loader, "features": names,
                                 "threshold": threshold}), encoding="utf-8")
        context = custom_model.ModelContext(artifacts={MODEL_ARTIFACT: str(artifact),
                                                       RUNNER_ARTIFACT: str(runner)})
        sample = raw.copy()
        for n in names:
            if str(dtypes.get(n, "float64")) not in ("string", "category"):
                sample[n] = pd.to_numeric(sample[n], errors="coerce").astype("float64")
        manifest["runtime"] = "callquality.SavedModelRunner"
        return SavedModelRunner(context), sample, False, manifest

    def log_model(self, model: Any, *, model_name: str, version_name: str | None = None,
                  metrics: Mapping[str, Any] | None = None,
                  params: Mapping[str, Any] | None = None, comment: str = "",
                  lineage: Mapping[str, Any] | None = None,
                  tags: Mapping[str, str] | None = None,
                  sample_input: pd.DataFrame | None = None,
                  explainability: bool | None = None,
                  log_options: Mapping[str, Any] | None = None) -> ModelVersionInfo:
        """Log a new version of ``model_name`` with ``Registry.log_model``.

        Args:
            model: a self-saving model (``save(directory)`` + classmethod ``load``) from a
                trusted module, e.g. :class:`~callquality.training.CallQualityModel`.
            model_name: SQL identifier (created on first use).
            version_name: SQL identifier; ``None`` numbers it ``V<n>``.
            metrics: JSON-serialisable metrics (stored as the version's metrics).
            params, lineage, tags, comment: as for the local registry.
            sample_input: rows with the model's feature columns (other columns, the label
                included, are dropped); ``None`` builds 5 rows inside the features' ranges.
            explainability: ``None`` (on when every feature is numeric), ``True`` or
                ``False``.
            log_options: more ``Registry.log_model`` arguments, among :data:`LOG_OPTIONS`
                (e.g. ``{"target_platforms": ["WAREHOUSE"]}``).

        Raises:
            InvalidNameError, AlreadyExistsError, ConfigurationError, SchemaError: as the local
                registry; BackendError: Snowflake refused the version.
        """
        call = f"log_model({model_name!r})"
        check_identifier(model_name, "model name", call)
        version = None if version_name is None else \
            LocalRegistry._version_name(version_name, call)
        meta_metrics = to_jsonable(dict(metrics or {}), what="metrics", call=call)
        if RECORD_KEY in meta_metrics:
            raise ConfigurationError(f"{call}: the metric name {RECORD_KEY!r} is reserved")
        meta_params = to_jsonable(dict(params or {}), what="params", call=call)
        meta_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        meta_lineage = to_jsonable(dict(lineage or {}), what="lineage", call=call)
        signature = getattr(model, "signature", None)
        if not (isinstance(signature, list) and all(isinstance(s, Mapping) for s in signature)):
            names = getattr(model, "feature_names", None) or []
            dtypes = getattr(model, "feature_dtypes", None) or {}
            signature = [{"name": str(n), "dtype": str(dtypes.get(n, _SPEC[n].dtype
                                                                  if n in _SPEC else "unknown"))}
                         for n in names] or None
        if signature:
            meta_lineage.setdefault("signature", to_jsonable(list(signature), what="signature",
                                                             call=call))
            meta_lineage.setdefault("features", [s["name"] for s in signature])
        if not isinstance(comment, str):
            raise ConfigurationError(f"{call}: comment must be a string")
        check_text(comment, "comment", call, raw=True)
        check_text([meta_metrics, meta_params, meta_tags, meta_lineage],
                   "metrics, params, tags or lineage", call)
        extra = dict(log_options or {})
        unknown = sorted(set(extra) - LOG_OPTIONS)
        if unknown:
            raise ConfigurationError(f"{call}: log_options {unknown} are not passed through; "
                                     f"allowed: {sorted(LOG_OPTIONS)}")
        user_options = dict(extra.pop("options", None) or {})
        loader = self._policy._loader_of(model, call)

        existing: set[str] = set()
        try:
            current = self._versions(self._model(model_name, call), call)
            existing = {v.name.upper() for v in current} | {a for v in current
                                                            for a in v.aliases}
        except NotFoundError:
            pass
        if version is not None and version in existing:
            raise AlreadyExistsError(f"{call}: model {model_name!r} already has a version or "
                                     f"alias {version!r}; versions are immutable (omit "
                                     "version_name to number a new one)")

        with tempfile.TemporaryDirectory(prefix="cq-sf-log-") as tmp:
            work = Path(tmp)
            artifact = work / "artifact"
            artifact.mkdir()
            model.save(artifact)
            files = _file_manifest(artifact)
            if not files:
                raise ConfigurationError(f"{call}: the model's save() wrote no file")
            digest = hashlib.sha256(dumps(files).encode()).hexdigest()
            sf_model, sample, explain, manifest = self._snowflake_model(
                model, artifact, loader, sample_input, explainability, work, call)
            record = {"format": 1, "model_name": model_name, "loader": loader, "files": files,
                      "artifact_sha256": digest, "params": meta_params, "tags": meta_tags,
                      "lineage": meta_lineage, "manifest": to_jsonable(
                          manifest, what="manifest", call=call),
                      "logged_at": int(datetime.now(timezone.utc).timestamp() * 1e6)}
            check_text(record, "model's files or manifest", call)
            options = {**user_options, "enable_explainability": explain}
            from snowflake.ml.model.type_hints import Task

            model_key = model_name.upper()
            number = max([self._last_number(model_key, call),
                          *(n for n in map(self._number_of, existing) if n is not None)])
            for attempt in range(_MAX_LOG_ATTEMPTS):
                if version is None:
                    number += 1
                    while f"V{number}" in existing:
                        number += 1
                name = version or f"V{number}"
                try:
                    self._reg.log_model(
                        sf_model, model_name=model_name, version_name=name,
                        comment=comment or None, metrics={**meta_metrics, RECORD_KEY: record},
                        sample_input_data=sample, task=Task.TABULAR_BINARY_CLASSIFICATION,
                        user_files={USER_FILES_DIR: [str(artifact)]}, options=options, **extra)
                except CallQualityError:
                    raise
                except Exception as exc:
                    err = translate(exc, call)
                    if isinstance(err, AlreadyExistsError) and version is None and \
                            attempt + 1 < _MAX_LOG_ATTEMPTS:
                        existing.add(name)  # another process took this number meanwhile
                        continue
                    raise err from exc
                break
        n = self._number_of(name)
        if n is not None:
            self._record_number(model_key, n, call)
        return self.get_version(model_name, name)

    # ------------------------------------------------------------------ aliases, defaults

    def set_alias(self, model_name: str, version: str, alias: str) -> None:
        """Point ``alias`` at ``version``, moving it from the version that holds it.

        Raises:
            InvalidNameError: ``alias`` is not an identifier or is a system alias.
            NotFoundError: unknown model or version.
            ConflictError: ``version`` holds another alias, or ``alias`` names a version.
        """
        call = f"set_alias({model_name!r}, {version!r}, {alias!r})"
        key = LocalRegistry._version_name(alias, call, "alias")
        wanted = LocalRegistry._version_name(version, call)
        handle = self._model(model_name, call)
        versions = self._versions(handle, call)
        target = self._resolve(model_name, versions, wanted, call)
        if target.name.upper() != wanted:
            raise NotFoundError(f"{call}: model {model_name!r} has no version {version!r} "
                                f"({version!r} is an alias of {target.name})")
        if any(v.name.upper() == key for v in versions):
            raise ConflictError(f"{call}: {key!r} is a version name of {model_name!r} and "
                                "cannot also be an alias")
        if key in target.aliases:
            return
        if target.aliases:
            raise ConflictError(
                f"{call}: {model_name}/{target.name} already holds alias {target.aliases[0]!r}; "
                "a version holds at most one alias (Snowflake's rule). Call unset_alias("
                f"{model_name!r}, {target.aliases[0]!r}) first")
        holder = next((v for v in versions if key in v.aliases), None)
        with boundary(call):
            if holder is not None:
                handle.version(holder.name).unset_alias(key)
        try:
            with boundary(call):
                handle.version(target.name).set_alias(key)
        except CallQualityError:
            if holder is not None:  # give the alias back rather than leave it nowhere
                try:
                    handle.version(holder.name).set_alias(key)
                except Exception:  # pragma: no cover - the original error matters more
                    pass
            raise

    def unset_alias(self, model_name: str, alias: str) -> None:
        """Remove ``alias`` from the version holding it (NotFoundError if none does)."""
        call = f"unset_alias({model_name!r}, {alias!r})"
        key = LocalRegistry._version_name(alias, call, "alias")
        handle = self._model(model_name, call)
        holder = self._resolve(model_name, self._versions(handle, call), key, call,
                               alias_only=True)
        with boundary(call):
            handle.version(holder.name).unset_alias(key)

    def set_default_version(self, model_name: str, version: str) -> None:
        """Make ``version`` (a version name or alias) the default of ``model_name``."""
        call = f"set_default_version({model_name!r}, {version!r})"
        handle = self._model(model_name, call)
        target = self._resolve(model_name, self._versions(handle, call), version, call)
        with boundary(call):
            handle.default = target.name

    # ------------------------------------------------------------------ metadata updates

    def _version_handle(self, model_name: str, version: str, call: str
                        ) -> tuple[Any, _Version]:
        handle = self._model(model_name, call)
        target = self._resolve(model_name, self._versions(handle, call), version, call)
        with boundary(call):
            return handle.version(target.name), target

    def set_metric(self, model_name: str, version: str, name: str, value: Any) -> None:
        """Add or replace one metric of a version (``ModelVersion.set_metric``)."""
        call = f"set_metric({model_name!r}, {version!r}, {name!r})"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{call}: metric name must be a non-empty string")
        if name == RECORD_KEY:
            raise ConfigurationError(f"{call}: the metric name {RECORD_KEY!r} is reserved")
        jv = to_jsonable(value, what="metric value", call=call)
        check_text([name, jv], "metric", call)
        mv, _ = self._version_handle(model_name, version, call)
        with boundary(call):
            mv.set_metric(name, jv)

    def delete_metric(self, model_name: str, version: str, name: str) -> None:
        """Remove one metric (NotFoundError if the version has no such metric)."""
        call = f"delete_metric({model_name!r}, {version!r}, {name!r})"
        mv, target = self._version_handle(model_name, version, call)
        if name == RECORD_KEY or name not in target.metrics:
            raise NotFoundError(f"{call}: no metric {name!r} (metrics: {sorted(target.metrics)})")
        with boundary(call):
            mv.delete_metric(name)

    def set_tag(self, model_name: str, version: str, name: str, value: str) -> None:
        """Add or replace one string tag of a version (kept in callquality's record)."""
        call = f"set_tag({model_name!r}, {version!r}, {name!r})"
        check_text([str(name), str(value)], "tag", call)
        mv, target = self._version_handle(model_name, version, call)
        record = dict(target.record)
        record["tags"] = {**dict(record.get("tags") or {}), str(name): str(value)}
        with boundary(call):
            mv.set_metric(RECORD_KEY, record)

    def set_comment(self, model_name: str, version: str, comment: str) -> None:
        """Replace a version's comment."""
        call = f"set_comment({model_name!r}, {version!r})"
        check_text(str(comment), "comment", call, raw=True)
        mv, _ = self._version_handle(model_name, version, call)
        with boundary(call):
            mv.comment = str(comment)

    # ------------------------------------------------------------------ deletion

    def delete_version(self, model_name: str, version: str, *, force: bool = False) -> None:
        """Delete a version.

        Refused (:class:`ConflictError`) for a version holding an alias, or for the default
        version while other versions exist, unless ``force`` (the alias is unset and the
        newest other version becomes the default first). Deleting the last version deletes
        the model.
        """
        call = f"delete_version({model_name!r}, {version!r})"
        name = LocalRegistry._version_name(version, call)
        handle = self._model(model_name, call)
        versions = self._versions(handle, call)
        target = next((v for v in versions if v.name.upper() == name), None)
        if target is None:
            self._resolve(model_name, versions, name, call)  # NotFoundError with context
            raise NotFoundError(f"{call}: {name!r} is an alias; pass a version name")
        if target.aliases and not force:
            raise ConflictError(f"{call}: {model_name}/{target.name} holds alias "
                                f"{target.aliases[0]!r}; unset the alias first or pass "
                                "force=True")
        others = [v for v in versions if v is not target]
        if target.is_default and others and not force:
            raise ConflictError(f"{call}: {model_name}/{target.name} is the default version; "
                                "set_default_version to another one first or pass force=True")
        if not others:
            self.delete_model(model_name, force=True)
            return
        with boundary(call):
            for alias in target.aliases:
                handle.version(target.name).unset_alias(alias)
            if target.is_default:
                handle.default = others[-1].name
            handle.delete_version(target.name)

    def delete_model(self, model_name: str, *, force: bool = False) -> None:
        """Delete a model with all its versions (refused while it has aliases unless forced);
        its version numbering starts again at ``V1``."""
        call = f"delete_model({model_name!r})"
        handle = self._model(model_name, call)
        aliases = [a for v in self._versions(handle, call) for a in v.aliases]
        if aliases and not force:
            raise ConflictError(f"{call}: {model_name} has aliases {aliases}; unset them first "
                                "or pass force=True")
        with boundary(call):
            self._reg.delete_model(model_name)
        self._forget_numbers(model_name.upper(), call)

    # ------------------------------------------------------------------ reading

    def models(self) -> list[str]:
        """Model names (as Snowflake resolves them), sorted."""
        with boundary("models()"):
            table = self._reg.show_models()
        if table is None or len(table) == 0:
            return []
        col = "name" if "name" in table.columns else table.columns[0]
        return sorted(str(n) for n in table[col])

    def get_version(self, model_name: str, version_or_alias: str | None = None
                    ) -> ModelVersionInfo:
        """A version by name or alias (``FIRST``/``LAST``/``DEFAULT`` too); the default
        version when ``None``."""
        call = f"get_version({model_name!r}, {version_or_alias!r})"
        handle = self._model(model_name, call)
        versions = self._versions(handle, call)
        return self._info(model_name, self._resolve(model_name, versions, version_or_alias,
                                                    call))

    def versions(self, model_name: str) -> list[ModelVersionInfo]:
        """Every version of a model, oldest first."""
        call = f"versions({model_name!r})"
        handle = self._model(model_name, call)
        return [self._info(model_name, v) for v in self._versions(handle, call)]

    def show_models(self) -> pd.DataFrame:
        """One row per model: ``name``, ``created_on``, ``default_version_name``,
        ``versions`` (list), ``aliases`` (dict alias -> version)."""
        with boundary("show_models()"):
            table = self._reg.show_models()
        rows = []
        for r in ([] if table is None else table.to_dict("records")):
            lower = {str(k).lower(): v for k, v in r.items()}
            name = str(lower.get("name"))
            versions = self._versions(self._model(name, "show_models()"), "show_models()")
            default = next((v.name for v in versions if v.is_default), None)
            rows.append({"name": name, "created_on": _as_utc(lower.get("created_on")),
                         "default_version_name": default,
                         "versions": [v.name for v in versions],
                         "aliases": {a: v.name for v in versions for a in v.aliases}})
        frame = pd.DataFrame(rows, columns=["name", "created_on", "default_version_name",
                                            "versions", "aliases"])
        frame["created_on"] = pd.to_datetime(frame["created_on"], utc=True)
        return frame.sort_values("name", ignore_index=True)

    def show_versions(self, model_name: str) -> pd.DataFrame:
        """One row per version, oldest first, with the local registry's columns."""
        return versions_frame(self.versions(model_name))

    def model_version(self, ref: str) -> Any:
        """The ``snowflake.ml`` ``ModelVersion`` of ``"name@ALIAS"``, ``"name/VERSION"`` or
        ``"name"`` (for Snowflake-only calls: ``create_service``, ``run_batch``, ...)."""
        call = f"model_version({ref!r})"
        name, selector, is_alias = LocalRegistry.parse_ref(ref, call)
        handle = self._model(name, call)
        target = self._resolve(name, self._versions(handle, call), selector, call,
                               alias_only=is_alias)
        with boundary(call):
            return handle.version(target.name)

    # ------------------------------------------------------------------ loading and running

    def _target(self, ref: str, call: str) -> tuple[str, Any, _Version]:
        name, selector, is_alias = LocalRegistry.parse_ref(ref, call)
        handle = self._model(name, call)
        target = self._resolve(name, self._versions(handle, call), selector, call,
                               alias_only=is_alias)
        if not target.record.get("files"):
            raise IntegrityError(f"{call}: {name}/{target.name} was not logged by callquality "
                                 f"(its metadata has no {RECORD_KEY!r} record)")
        return name, handle, target

    def _download(self, name: str, handle: Any, target: _Version, folder: Path,
                  call: str) -> Path:
        """Export the version and verify callquality's artifact; returns its folder."""
        from snowflake.ml.model import ExportMode

        export = folder / "export"
        export.mkdir()
        with boundary(call):
            handle.version(target.name).export(str(export), export_mode=ExportMode.FULL)
        candidates = [p for p in export.rglob("*") if p.is_dir() and p.name == "artifact"
                      and p.parent.name == USER_FILES_DIR]
        if len(candidates) != 1:
            raise IntegrityError(f"{call}: the files of {name}/{target.name} hold no "
                                 f"user_files/{USER_FILES_DIR}/artifact folder (found "
                                 f"{len(candidates)})")
        root = candidates[0]
        want = {f["path"]: f for f in target.record["files"]}
        have = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if missing or extra:
            raise IntegrityError(f"{call}: the artifact of {name}/{target.name} does not match "
                                 f"its manifest (missing files {missing}, unexpected files "
                                 f"{extra})")
        for rel, path in have.items():
            digest, size = sha256_file(path)
            if size != want[rel]["size"] or digest != want[rel]["sha256"]:
                raise IntegrityError(f"{call}: {rel} of {name}/{target.name} does not match the "
                                     "sha256 recorded when it was logged (corrupted or swapped "
                                     "artifact); refusing to load it")
        return root

    def verify(self, ref: str) -> None:
        """Download a version's artifact and check it against its checksums."""
        call = f"verify({ref!r})"
        name, handle, target = self._target(ref, call)
        with tempfile.TemporaryDirectory(prefix="cq-sf-verify-") as tmp:
            self._download(name, handle, target, Path(tmp), call)

    def load_model(self, ref: str) -> Any:
        """Load ``"name@ALIAS"``, ``"name/VERSION"`` or ``"name"`` (the default version).

        The version's files are downloaded (``ModelVersion.export``), callquality's artifact
        is checked against the sha256 recorded at logging time and loaded by the recorded
        class's ``load(directory)``; the class must be in a trusted module.

        Raises:
            InvalidNameError, NotFoundError: bad reference, unknown model/version/alias.
            IntegrityError: missing, extra or altered files, or a version not logged by
                callquality.
        """
        call = f"load_model({ref!r})"
        name, handle, target = self._target(ref, call)
        cls = self._policy._import_loader(str(target.record.get("loader", "")), call)
        with tempfile.TemporaryDirectory(prefix="cq-sf-load-") as tmp:
            root = self._download(name, handle, target, Path(tmp), call)
            try:
                return cls.load(root)
            except CallQualityError:
                raise
            except Exception as exc:
                raise BackendError(f"{call}: {target.record.get('loader')}.load failed on the "
                                   f"verified artifact of {name}/{target.name}: "
                                   f"{type(exc).__name__}: {exc}") from exc

    def predict(self, ref: str, df: pd.DataFrame, *, service_name: str | None = None
                ) -> pd.DataFrame:
        """Score ``df`` with a version *inside Snowflake* (``ModelVersion.run`` in the
        warehouse, or on the inference service ``service_name``).

        Args:
            ref: ``"name@ALIAS"`` (e.g. ``"call_quality@PRODUCTION"``), ``"name/VERSION"`` or
                ``"name"``.
            df: rows with the model's feature columns (any case; other columns are ignored).
            service_name: an SPCS inference service of the version (``None``: warehouse).

        Returns:
            ``score`` (positive-class probability) and ``predicted_class`` (at the threshold
            recorded with the version), with ``df``'s index.
        """
        call = f"predict({ref!r})"
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"{call}: df must be a pandas DataFrame")
        name, handle, target = self._target(ref, call)
        manifest = dict(target.record.get("manifest") or {})
        features = [str(f) for f in manifest.get("feature_names") or []]
        by_upper = {str(c).upper(): c for c in df.columns}
        missing = [f for f in features if f not in df.columns and f.upper() not in by_upper]
        if missing:
            raise SchemaError(f"{call}: df lacks feature column(s) {missing}")
        X = pd.DataFrame({f: df[f if f in df.columns else by_upper[f.upper()]].to_numpy()
                          for f in features})
        if service_name is not None:
            check_identifier(service_name, "service name", call)
        with boundary(call):
            out = handle.version(target.name).run(X, function_name="predict_proba",
                                                  service_name=service_name)
        cols = {str(c).upper(): c for c in out.columns}
        col = cols.get("SCORE") or cols.get("OUTPUT_FEATURE_1")
        if col is None:
            raise BackendError(f"{call}: predict_proba of {name}/{target.name} returned "
                               f"columns {list(out.columns)}; expected SCORE or "
                               "output_feature_1")
        score = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float)
        threshold = float(manifest.get("threshold", 0.5))
        return pd.DataFrame({"score": score,
                             "predicted_class": (score >= threshold).astype(np.int64)},
                            index=df.index)
