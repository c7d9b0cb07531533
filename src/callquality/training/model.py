"""The trained model: an XGBoost booster with its feature signature and decision threshold.

On disk (``CallQualityModel.save(folder)``), no pickle::

    folder/
      model.ubj        the booster, XGBoost UBJSON (or model.json with format="json")
      manifest.json    format version, artifact name and sha256, features with dtypes and
                       categories, threshold, label, schema hash, signature hash, versions,
                       metadata (params, lineage), and manifest_sha256 over all of the above

Both files are written atomically (temporary file + ``os.replace``), the booster first, so a
folder with a manifest always holds a complete model. :meth:`CallQualityModel.load` verifies
the manifest's own checksum, the booster's sha256, that the booster's feature names and types
equal the manifest's signature, and that the features still mean what they meant at training
time (schema hash); it raises :class:`~callquality.exceptions.IntegrityError` or
:class:`~callquality.exceptions.SchemaError` otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._version import __version__
from ..exceptions import AlreadyExistsError, ConfigurationError, IntegrityError, SchemaError
from ..schema import FEATURES
from ..schema import schema_hash as _schema_hash
from ._util import atomic_write_bytes, atomic_write_json, canonical_json, sha256_bytes, to_jsonable
from .dataset import CATEGORY, FLOAT, encode_features
from .explain import contributions, global_importance

__all__ = ["MANIFEST", "CallQualityModel", "model_schema_hash"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_XGB_TYPES = {FLOAT: "float", CATEGORY: "c"}
_SCHEMA_NAMES = {spec.name for spec in FEATURES}


def model_schema_hash(features: Sequence[str]) -> str | None:
    """:func:`callquality.schema.schema_hash` of the schema features among ``features``
    (``None`` when none is a schema feature, e.g. another tabular task)."""
    known = [f for f in features if f in _SCHEMA_NAMES]
    return _schema_hash(known) if known else None


def _signature(features: Sequence[str], dtypes: Mapping[str, str],
               categories: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    out = []
    for f in features:
        item: dict[str, Any] = {"name": f, "dtype": dtypes[f]}
        if dtypes[f] == CATEGORY:
            item["categories"] = [str(c) for c in categories[f]]
        out.append(item)
    return out


def _manifest_digest(manifest: Mapping[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return sha256_bytes(canonical_json(body).encode("utf-8"))


class CallQualityModel:
    """A fitted binary classifier (implements :class:`callquality.protocols.TrainedModel`).

    Args:
        booster: a fitted ``xgboost.Booster`` (``binary:logistic``).
        feature_names: feature columns in model order.
        feature_dtypes: ``"float64"`` or ``"category"`` per feature.
        categories: the frozen categories of each categorical feature.
        threshold: decision threshold on the positive-class probability.
        label: name of the label the model predicts (1 = positive class).
        schema_hash: :func:`model_schema_hash` of the features at training time.
        metadata: JSON-ready extras (training params, threshold tuning, lineage).
        n_jobs: threads used for prediction.

    Attributes:
        booster, feature_names, feature_dtypes, categories, threshold, label, schema_hash,
        metadata: as above.
    """

    def __init__(
        self,
        booster: Any,
        *,
        feature_names: Sequence[str],
        feature_dtypes: Mapping[str, str],
        categories: Mapping[str, Sequence[str]] | None = None,
        threshold: float = 0.5,
        label: str = "label",
        schema_hash: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.booster = booster
        self.feature_names: list[str] = list(feature_names)
        self.feature_dtypes: dict[str, str] = {f: feature_dtypes[f] for f in self.feature_names}
        bad = {f: d for f, d in self.feature_dtypes.items() if d not in _XGB_TYPES}
        if bad:
            raise ConfigurationError(f"CallQualityModel: unsupported feature dtype(s) {bad}")
        cats = categories or {}
        self.categories: dict[str, tuple[str, ...]] = {
            f: tuple(str(c) for c in cats.get(f, ())) for f in self.feature_names
            if self.feature_dtypes[f] == CATEGORY
        }
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigurationError(f"CallQualityModel: threshold={threshold} not in [0, 1]")
        self.threshold = float(threshold)
        self.label = label
        self.schema_hash = schema_hash
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.n_jobs = n_jobs
        # the booster's own thread count governs predict(); without it XGBoost takes every core
        self.booster.set_param({"nthread": n_jobs})

    # ------------------------------------------------------------------ signature

    @property
    def signature(self) -> list[dict[str, Any]]:
        """``[{"name", "dtype", ["categories"]}, ...]`` in model order."""
        return _signature(self.feature_names, self.feature_dtypes, self.categories)

    @property
    def signature_hash(self) -> str:
        """16 hex digits of the sha256 of :attr:`signature` (names, dtypes, categories)."""
        return hashlib.sha256(canonical_json(self.signature).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ prediction

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns of ``df``, ordered and typed as at training time.

        Extra columns are ignored; unseen categories become missing.

        Raises:
            SchemaError: a feature column is missing or has values of the wrong kind.
        """
        if not isinstance(df, pd.DataFrame):
            raise SchemaError(f"CallQualityModel: expected a pandas DataFrame, "
                              f"got {type(df).__name__}")
        X, _ = encode_features(df, self.feature_names, categories=self.categories,
                               caller="CallQualityModel")
        return X

    def _dmatrix(self, df: pd.DataFrame) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(self.prepare(df), enable_categorical=True, nthread=self.n_jobs)

    def predict_margin(self, df: pd.DataFrame) -> np.ndarray:
        """Log-odds of the positive class, shape ``(n_rows,)``."""
        return np.asarray(self.booster.predict(self._dmatrix(df), output_margin=True),
                          dtype=np.float64)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities in [0, 1], shape ``(n_rows,)``."""
        return np.asarray(self.booster.predict(self._dmatrix(df)), dtype=np.float64)

    def predict(self, df: pd.DataFrame, threshold: float | None = None) -> np.ndarray:
        """Classes 0/1 (``int8``): 1 when ``predict_proba >= threshold`` (default: the
        model's tuned :attr:`threshold`)."""
        t = self.threshold if threshold is None else float(threshold)
        return (self.predict_proba(df) >= t).astype(np.int8)

    # ------------------------------------------------------------------ explanations

    def explain(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per-prediction feature contributions (TreeSHAP, log-odds units).

        Returns:
            Same index as ``df``; one column per feature plus ``bias``; each row sums to
            :meth:`predict_margin` of that row.
        """
        return contributions(self.booster, self.prepare(df), nthread=self.n_jobs)

    def global_importance(self, df: pd.DataFrame) -> pd.Series:
        """Mean absolute contribution (log-odds) of each feature over the rows of ``df``,
        largest first."""
        return global_importance(self.explain(df))

    # ------------------------------------------------------------------ persistence

    def manifest(self, *, artifact: str = "model.ubj", sha256: str = "") -> dict[str, Any]:
        """The JSON manifest written by :meth:`save` (without ``manifest_sha256``)."""
        import xgboost as xgb

        return to_jsonable({
            "format_version": FORMAT_VERSION,
            "kind": "xgboost-binary-classifier",
            "artifact": artifact,
            "sha256": sha256,
            "features": self.signature,
            "signature_hash": self.signature_hash,
            "threshold": self.threshold,
            "label": self.label,
            "schema_hash": self.schema_hash,
            "xgboost_version": xgb.__version__,
            "callquality_version": __version__,
            "created_at": datetime.now(timezone.utc),
            "metadata": self.metadata,
        })

    def save(self, path: str | os.PathLike[str], *, format: Literal["ubj", "json"] = "ubj",
             overwrite: bool = False) -> Path:
        """Write the model to the folder ``path`` (created if needed); returns the folder.

        Args:
            path: target folder.
            format: ``"ubj"`` (XGBoost UBJSON, compact) or ``"json"``.
            overwrite: replace a model already saved there.

        Raises:
            AlreadyExistsError: ``path`` holds a model and ``overwrite`` is false.
        """
        if format not in ("ubj", "json"):
            raise ConfigurationError(f"CallQualityModel.save: format={format!r}; use 'ubj' or "
                                     "'json'")
        folder = Path(path)
        if (folder / MANIFEST).exists() and not overwrite:
            raise AlreadyExistsError(f"CallQualityModel.save: {folder} already holds a model; "
                                     "pass overwrite=True to replace it")
        folder.mkdir(parents=True, exist_ok=True)
        artifact = f"model.{format}"
        raw = bytes(self.booster.save_raw(format))
        atomic_write_bytes(folder / artifact, raw)
        manifest = self.manifest(artifact=artifact, sha256=sha256_bytes(raw))
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        atomic_write_json(folder / MANIFEST, manifest)
        for stale in ("model.ubj", "model.json"):
            if stale != artifact and (folder / stale).exists():
                (folder / stale).unlink()
        return folder

    @classmethod
    def read_manifest(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The verified manifest of a saved model folder.

        Raises:
            IntegrityError: no manifest, unreadable JSON, or its checksum does not match.
        """
        mpath = Path(path) / MANIFEST
        if not mpath.is_file():
            raise IntegrityError(f"CallQualityModel.load: {mpath} not found (not a saved model, "
                                 "or an incomplete one)")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"CallQualityModel.load: {mpath} is unreadable: {exc}") from exc
        if not isinstance(manifest, dict):
            raise IntegrityError(f"CallQualityModel.load: {mpath} is not a JSON object")
        if manifest.get("manifest_sha256") != _manifest_digest(manifest):
            raise IntegrityError(f"CallQualityModel.load: {mpath} was modified after saving "
                                 "(manifest checksum mismatch)")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IntegrityError(f"CallQualityModel.load: {mpath} has format_version "
                                 f"{manifest.get('format_version')!r}; this library reads "
                                 f"{FORMAT_VERSION}")
        return manifest

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, n_jobs: int = 1,
             check_schema: bool = True) -> CallQualityModel:
        """Load a model saved by :meth:`save`, verifying it first.

        Args:
            path: the model folder.
            n_jobs: prediction threads.
            check_schema: compare the stored schema hash with this library's feature schema.

        Raises:
            IntegrityError: missing or tampered files (checksum mismatch).
            SchemaError: the booster's features differ from the manifest's signature, or the
                schema features changed meaning since training.
        """
        import xgboost as xgb

        folder = Path(path)
        manifest = cls.read_manifest(folder)
        artifact = folder / str(manifest.get("artifact", ""))
        if not artifact.is_file() or artifact.parent != folder:
            raise IntegrityError(f"CallQualityModel.load: artifact {artifact} not found")
        raw = artifact.read_bytes()
        if sha256_bytes(raw) != manifest.get("sha256"):
            raise IntegrityError(f"CallQualityModel.load: {artifact} does not match the sha256 "
                                 "in the manifest (corrupted or tampered)")
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(raw))
        except xgb.core.XGBoostError as exc:
            raise IntegrityError(f"CallQualityModel.load: {artifact} is not an XGBoost model: "
                                 f"{exc}") from exc
        sig = manifest["features"]
        names = [f["name"] for f in sig]
        dtypes = {f["name"]: f["dtype"] for f in sig}
        cats = {f["name"]: f.get("categories", []) for f in sig if f["dtype"] == CATEGORY}
        expected_types = [_XGB_TYPES.get(dtypes[n], "?") for n in names]
        if list(booster.feature_names or []) != names or \
                list(booster.feature_types or []) != expected_types:
            raise SchemaError(
                f"CallQualityModel.load: {artifact} has features "
                f"{booster.feature_names} of types {booster.feature_types} but the manifest "
                f"declares {names} of types {expected_types}")
        model = cls(booster, feature_names=names, feature_dtypes=dtypes, categories=cats,
                    threshold=float(manifest["threshold"]), label=manifest.get("label", "label"),
                    schema_hash=manifest.get("schema_hash"),
                    metadata=manifest.get("metadata") or {}, n_jobs=n_jobs)
        if model.signature_hash != manifest.get("signature_hash"):
            raise SchemaError(f"CallQualityModel.load: {folder}: signature hash mismatch")
        if check_schema and manifest.get("schema_hash") != model_schema_hash(names):
            raise SchemaError(
                f"CallQualityModel.load: {folder}: the feature schema changed since training "
                f"(model schema_hash {manifest.get('schema_hash')!r}, current "
                f"{model_schema_hash(names)!r}); retrain, or pass check_schema=False")
        return model

    def __repr__(self) -> str:
        return (f"CallQualityModel(label={self.label!r}, n_features={len(self.feature_names)}, "
                f"threshold={self.threshold:.4f}, schema_hash={self.schema_hash!r})")
