"""Training tables: features joined with outcomes, typed for XGBoost, with a snapshot id.

Categorical encoding
--------------------
Categorical feature columns (schema dtype ``"string"``, or any object/string/category column of
a non-schema task) are kept as **one column each** with a pandas ``CategoricalDtype`` whose
categories are the sorted distinct values seen when the dataset was built, and are fed to
XGBoost's native categorical support (``enable_categorical=True``, ``tree_method="hist"``).
Native categoricals keep one column per feature, so per-prediction contributions and global
importance are reported per *feature* (not per one-hot level) and the model signature equals the
table's columns. The categories are frozen into the model manifest; at prediction time input
values are cast to exactly those categories and a value never seen in training becomes missing
(XGBoost's learned default direction), never a silent re-coding. Numeric and boolean columns
become ``float64`` (missing = ``NaN``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..exceptions import SchemaError
from ..schema import feature_spec

__all__ = [
    "DEFAULT_EXCLUDE",
    "TrainingDataset",
    "binary_labels",
    "build_dataset",
    "encode_features",
    "snapshot_id",
]

#: Columns of a features table that are bookkeeping, never features.
DEFAULT_EXCLUDE: tuple[str, ...] = ("processed_at", "error", "labeled_at", "predicted_at")

CATEGORY = "category"
FLOAT = "float64"


def _is_categorical_column(name: str, series: pd.Series) -> bool:
    try:
        spec = feature_spec(name)
    except KeyError:
        spec = None
    if spec is not None and spec.is_categorical:
        return True
    return bool(
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series.dtype)
        or pd.api.types.is_string_dtype(series.dtype)
    )


def encode_features(
    df: pd.DataFrame,
    features: Sequence[str],
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
    caller: str = "encode_features",
) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]]]:
    """The feature columns of ``df`` typed for XGBoost, and the categories of each categorical.

    Args:
        df: a table holding at least ``features``.
        features: feature column names, in model order.
        categories: frozen categories per categorical column (from a dataset or a model).
            Columns named here are categorical; values outside the list become missing. When
            ``None``, categorical columns are detected (schema dtype ``"string"`` or an
            object/string/category dtype) and their categories are the sorted distinct values.
        caller: name used in error messages.

    Returns:
        ``(X, categories)``: ``X`` has exactly ``features`` as columns (``float64`` or
        ``category``) and the index of ``df``.

    Raises:
        SchemaError: a feature column is missing, or a numeric column holds non-numeric values.
    """
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise SchemaError(f"{caller}: missing feature column(s) {missing}")
    if len(set(features)) != len(features):
        dup = sorted({c for c in features if list(features).count(c) > 1})
        raise SchemaError(f"{caller}: duplicate feature name(s) {dup}")
    out: dict[str, pd.Series] = {}
    cats_out: dict[str, tuple[str, ...]] = {}
    for name in features:
        col = df[name]
        if categories is not None:
            is_cat = name in categories
        else:
            is_cat = _is_categorical_column(name, col)
        if is_cat:
            text = col.astype("string")
            if categories is not None:
                cats = tuple(str(c) for c in categories[name])
            else:
                cats = tuple(sorted(str(v) for v in text.dropna().unique()))
            dtype = pd.CategoricalDtype(categories=list(cats), ordered=False)
            out[name] = pd.Series(
                pd.Categorical(text.to_numpy(dtype=object, na_value=None), dtype=dtype),
                index=df.index,
                name=name,
            )
            cats_out[name] = cats
        else:
            if pd.api.types.is_bool_dtype(col.dtype):
                out[name] = col.astype(FLOAT)
                continue
            if pd.api.types.is_datetime64_any_dtype(col.dtype):
                raise SchemaError(f"{caller}: feature column {name!r} is a datetime; "
                                  "derive a numeric feature from it first")
            try:
                out[name] = pd.to_numeric(col, errors="raise").astype(FLOAT)
            except (ValueError, TypeError) as exc:
                raise SchemaError(
                    f"{caller}: feature column {name!r} is numeric for this model but holds "
                    f"non-numeric values ({exc})"
                ) from None
    X = pd.DataFrame(out, index=df.index, columns=list(features))
    return X, cats_out


def binary_labels(series: pd.Series, *, positive: Any = None, caller: str = "binary_labels"
                  ) -> np.ndarray:
    """Map a label column to ``int8`` 0/1 (1 = positive class). Missing values are not allowed.

    Args:
        series: the label column.
        positive: the value that means the positive class. When ``None`` the column must be
            boolean or hold only 0 and 1 (any numeric dtype).

    Raises:
        SchemaError: missing labels, or values that are not 0/1 and no ``positive`` was given.
    """
    if series.isna().any():
        raise SchemaError(f"{caller}: label {series.name!r} has {int(series.isna().sum())} "
                          "missing value(s)")
    if positive is not None:
        return (series == positive).to_numpy(dtype=np.int8)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.int8)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = set(np.unique(series.to_numpy()).tolist())
        if values <= {0, 1}:
            return series.to_numpy().astype(np.int8)
    shown = sorted(map(str, series.unique()[:10]))
    raise SchemaError(
        f"{caller}: label {series.name!r} must be boolean or 0/1, got values {shown}; "
        "pass positive=<value> to name the positive class"
    )


def snapshot_id(df: pd.DataFrame) -> str:
    """Content hash of a table (16 hex digits of a sha256).

    Covers column names, dtypes (categoricals with their categories) and every cell, in row
    order; the index is ignored. Equal tables give equal ids in any process.
    """
    h = hashlib.sha256()
    header: list[list[Any]] = [[str(c), str(df[c].dtype)] for c in df.columns]
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            header.append([str(c), [str(x) for x in df[c].cat.categories]])
    h.update(json.dumps(header).encode())
    h.update(str(len(df)).encode())
    if len(df.columns) and len(df):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class TrainingDataset:
    """A training table with its lineage.

    Attributes:
        frame: columns ``[key] [group] *features label``, one row per example, sorted by
            ``key`` (when there is one), ``RangeIndex``. Features are typed by
            :func:`encode_features`; the label is ``int8`` 0/1.
        features: feature columns, in model order.
        label: label column name (1 = positive class).
        key: join key (e.g. ``"call_id"``) or ``None``.
        group: grouping column for leak-free splits (e.g. ``"agent_id"``) or ``None``.
        snapshot_id: :func:`snapshot_id` of ``frame``; record it with every model for lineage.
        categories: frozen categories of each categorical feature.
        dropped: rows left out while building, by reason (``"extraction_error"``,
            ``"no_outcome"``, ``"no_features"``, ``"missing_label"``).
    """

    frame: pd.DataFrame
    features: tuple[str, ...]
    label: str
    key: str | None
    group: str | None
    snapshot_id: str
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns."""
        return self.frame[list(self.features)]

    @property
    def y(self) -> np.ndarray:
        """Labels, ``int8`` 0/1."""
        return self.frame[self.label].to_numpy(dtype=np.int8)

    @property
    def groups(self) -> np.ndarray | None:
        """Group of each row, or ``None`` when the dataset is not grouped."""
        return None if self.group is None else self.frame[self.group].to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def positive_rate(self) -> float:
        """Fraction of rows of the positive class."""
        return float(self.y.mean()) if len(self.frame) else float("nan")

    def lineage(self) -> dict[str, Any]:
        """JSON-ready description recorded with experiment runs and models."""
        return {
            "dataset_snapshot_id": self.snapshot_id,
            "n_rows": len(self.frame),
            "n_positive": int(self.y.sum()),
            "label": self.label,
            "key": self.key,
            "group": self.group,
            "features": list(self.features),
            "dropped": dict(self.dropped),
        }

    def __repr__(self) -> str:
        return (f"TrainingDataset(n_rows={len(self.frame)}, n_features={len(self.features)}, "
                f"label={self.label!r}, positive_rate={self.positive_rate:.3f}, "
                f"group={self.group!r}, snapshot_id={self.snapshot_id!r})")


def build_dataset(
    features: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    *,
    label: str,
    feature_columns: Sequence[str] | None = None,
    key: str | None = "call_id",
    group: str | Literal["auto"] | None = "auto",
    positive: Any = None,
    drop_failed: bool = True,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
) -> TrainingDataset:
    """Join a features table with an outcomes table into a typed training table.

    Works for any tabular binary task: pass the label and (optionally) the feature columns.

    Args:
        features: one row per example, e.g. the output of :func:`callquality.extract`.
        outcomes: one row per example with ``key`` and ``label``; ``None`` when ``label`` is
            already a column of ``features``. Joined on ``key`` (inner join).
        label: the label column (1/True = positive, or see ``positive``).
        feature_columns: the feature columns, in model order. ``None`` takes every column of
            ``features`` other than ``key``, ``group``, ``label`` and ``exclude``.
        key: unique row id (e.g. ``"call_id"``), required with ``outcomes``; rows are sorted by
            it so the snapshot id does not depend on input order. ``None`` keeps input order.
        group: column whose values must not straddle train and test (e.g. ``"agent_id"``).
            ``"auto"`` uses ``"agent_id"`` when present; ``None`` disables grouping.
        positive: the label value meaning the positive class, when the label is not 0/1/bool.
        drop_failed: drop rows whose ``error`` column is set (failed extractions).
        exclude: bookkeeping columns never used as features.

    Raises:
        SchemaError: a named column is missing, ``key`` is not unique, or the label is not
            binary.
    """
    caller = "build_dataset"
    if not isinstance(features, pd.DataFrame):
        raise SchemaError(f"{caller}: features must be a pandas DataFrame, "
                          f"got {type(features).__name__}")
    dropped: dict[str, int] = {}
    feats = features
    if drop_failed and "error" in feats.columns:
        failed = feats["error"].notna()
        if failed.any():
            dropped["extraction_error"] = int(failed.sum())
            feats = feats.loc[~failed]

    if outcomes is not None:
        if key is None:
            raise SchemaError(f"{caller}: joining outcomes needs a key column (key=None given)")
        for name, table in (("features", feats), ("outcomes", outcomes)):
            if key not in table.columns:
                raise SchemaError(f"{caller}: key column {key!r} missing from the {name} table")
            dup = table[key].duplicated()
            if dup.any():
                raise SchemaError(
                    f"{caller}: key {key!r} is not unique in the {name} table "
                    f"({int(dup.sum())} duplicate(s), e.g. {table.loc[dup, key].iloc[0]!r})")
        if label not in outcomes.columns:
            raise SchemaError(f"{caller}: label column {label!r} missing from the outcomes "
                              f"table (columns: {list(outcomes.columns)})")
        if label in feats.columns:
            raise SchemaError(f"{caller}: label column {label!r} is in both tables")
        take = [key, label]
        grp_name = "agent_id" if group == "auto" else group
        if grp_name is not None and grp_name not in feats.columns and grp_name in outcomes:
            take.append(grp_name)
        fkeys, okeys = set(feats[key]), set(outcomes[key])
        if fkeys - okeys:
            dropped["no_outcome"] = len(fkeys - okeys)
        if okeys - fkeys:
            dropped["no_features"] = len(okeys - fkeys)
        table = feats.merge(outcomes[take], on=key, how="inner", validate="one_to_one")
    else:
        if label not in feats.columns:
            raise SchemaError(f"{caller}: label column {label!r} missing "
                              f"(columns: {list(feats.columns)})")
        if key is not None:
            if key not in feats.columns:
                raise SchemaError(f"{caller}: key column {key!r} missing; pass key=None for "
                                  "tables without a row id")
            dup = feats[key].duplicated()
            if dup.any():
                raise SchemaError(f"{caller}: key {key!r} is not unique "
                                  f"({int(dup.sum())} duplicate(s))")
        table = feats

    if group == "auto":
        group = "agent_id" if "agent_id" in table.columns else None
    elif group is not None and group not in table.columns:
        raise SchemaError(f"{caller}: group column {group!r} missing")
    if group is not None and table[group].isna().any():
        raise SchemaError(f"{caller}: group column {group!r} has "
                          f"{int(table[group].isna().sum())} missing value(s)")

    missing_label = table[label].isna()
    if missing_label.any():
        dropped["missing_label"] = int(missing_label.sum())
        table = table.loc[~missing_label]

    if feature_columns is None:
        skip = {key, group, label, *exclude}
        feature_columns = [c for c in features.columns if c not in skip]
        if not feature_columns:
            raise SchemaError(f"{caller}: no feature columns left in the features table")
    else:
        feature_columns = list(feature_columns)
        bad = [c for c in feature_columns if c in {key, group, label}]
        if bad:
            raise SchemaError(f"{caller}: {bad} cannot be both a feature and the "
                              "key/group/label")

    if key is not None:
        table = table.sort_values(key, kind="mergesort")
    y = binary_labels(table[label], positive=positive, caller=caller)
    X, categories = encode_features(table, feature_columns, caller=caller)
    parts: dict[str, Any] = {}
    if key is not None:
        parts[key] = table[key].to_numpy()
    if group is not None:
        parts[group] = table[group].to_numpy()
    frame = pd.concat(
        [pd.DataFrame(parts, index=table.index), X,
         pd.DataFrame({label: y}, index=table.index)], axis=1,
    ).reset_index(drop=True)
    return TrainingDataset(
        frame=frame,
        features=tuple(feature_columns),
        label=label,
        key=key,
        group=group,
        snapshot_id=snapshot_id(frame),
        categories=categories,
        dropped=dropped,
    )
