"""The local feature store (implements :class:`callquality.protocols.FeatureStore`).

Concepts and semantics follow ``snowflake.ml.feature_store`` (and Feast):

* **Entities** have join keys (``call`` -> ``call_id``). **Feature views** are versioned: a
  view names its entity, its features (names from :data:`callquality.schema.FEATURES`, whose
  dtypes it takes), its event-time column and a description.
* **Ingestion upserts**: a row is identified by its join keys and its timestamp; ingesting
  the same (keys, timestamp) again replaces the values. A batch that repeats a (keys,
  timestamp) is refused (:class:`~callquality.backends.errors.DuplicateKeyError`).
* **Offline retrieval** against a spine (``retrieve_feature_values``): for every spine row
  the latest feature row of the same keys at or before the spine timestamp, optionally no
  older than ``ttl``; no match gives missing values. This is Snowflake's ASOF join and
  Feast's point-in-time join; unlike Snowflake the spine is not de-duplicated: the result has
  one row per spine row, in spine order, with the spine's index.
* **Online store**: the latest row per key (ties: the last ingested), materialised in the same
  transaction as each ingestion, read by primary-key lookups (``get_online_features``).
* **Freshness**: ``freshness()`` reports, per view, the newest event time, the last ingestion
  and the lag (now - newest event) against the view's ``target_lag``.

Storage: each ingestion batch is one immutable Parquet file (an Arrow table in memory) listed
in the catalog with its sequence number; the online copy and the catalog are SQLite tables.
Reading a view loads its segments and keeps, per (keys, timestamp), the row of the highest
sequence number. Segments are compacted into one when a view has more than ``compact_every``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ...exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    SchemaError,
)
from ...protocols import Entity, FeatureViewSpec
from ...schema import FEATURES, feature_names
from ..errors import DuplicateKeyError, InvalidNameError, MissingColumnsError
from . import _util
from ._blobs import BlobStore
from ._db import Database, translate
from ._pit import SortedFeatures, asof_indices, prepare
from ._util import (
    FV_VERSION_RE,
    check_identifier,
    dumps,
    from_ns,
    now_ns,
    parse_duration,
    timestamps_to_ns,
)

__all__ = ["CALL_ENTITY", "LocalFeatureStore", "quickstart_feature_views"]

_DTYPES = {s.name: s.dtype for s in FEATURES}
_ARROW = {"float64": pa.float64(), "int64": pa.int64(), "string": pa.string()}
_PANDAS = {"float64": "float64", "int64": "Int64", "string": "string"}
_TS = "__ts"
_NAT = np.iinfo(np.int64).min
_SEP = "\x1f"
_MAX_PARAMS = 900  # host parameters per statement, well under SQLite's limit

#: The entity of the quickstart's views: one call, keyed by ``call_id``.
CALL_ENTITY = Entity("call", ("call_id",), "One recorded call-center conversation.")


def quickstart_feature_views(entity: Entity = CALL_ENTITY) -> list[FeatureViewSpec]:
    """The three views of Snowflake's call-quality quickstart, built from the schema groups.

    * ``acoustic_features``: the ``acoustic`` (17) and ``interaction`` (4) groups, everything
      measured from the audio signal and who speaks when;
    * ``emotion_sentiment_features``: the ``emotion`` group (4) plus ``sentiment_label`` and
      ``sentiment_score`` from the ``content`` group;
    * ``ner_content_features``: the rest of ``content``: word and named-entity counts.

    All are keyed by ``call_id``, timestamped by ``processed_at`` (the column ``cq.extract``
    writes) and versioned ``v1``.
    """
    sentiment = ("sentiment_label", "sentiment_score")
    content = tuple(n for n in feature_names("content") if n not in sentiment)
    return [
        FeatureViewSpec("acoustic_features", entity,
                        tuple(feature_names(("acoustic", "interaction"))),
                        description="Prosody, voice quality, pauses and turn-taking measured "
                                    "from the audio (schema groups acoustic + interaction)."),
        FeatureViewSpec("emotion_sentiment_features", entity,
                        (*feature_names("emotion"), *sentiment),
                        description="Speech emotion probabilities and transcript sentiment "
                                    "(schema group emotion + sentiment_label/score)."),
        FeatureViewSpec("ner_content_features", entity, content,
                        description="Transcript word count and named-entity counts (schema "
                                    "group content without sentiment)."),
    ]


def _frame(arrays: list[Any], columns: list[str], n: int) -> pd.DataFrame:
    """A DataFrame from whole columns without re-validating them (the fast path of online
    reads: the public constructor costs several times more for one-row frames)."""
    from_arrays = getattr(pd.DataFrame, "_from_arrays", None)
    if from_arrays is not None:
        try:
            frame = from_arrays(arrays, columns=pd.Index(columns), index=pd.RangeIndex(n),
                                verify_integrity=False)
            if isinstance(frame, pd.DataFrame):
                return frame
        except TypeError:  # pragma: no cover - another pandas
            pass
    return pd.DataFrame(dict(zip(columns, arrays, strict=True)))  # pragma: no cover


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_spine(spine: pd.DataFrame, specs: Sequence[FeatureViewSpec],
                spine_timestamp_col: str | None, include_feature_view_timestamp_col: bool,
                call: str) -> np.ndarray:
    """Check a point-in-time spine against the views it is joined with (every backend uses
    this); returns the spine's timestamps as int64 ns UTC (now when there is no column).

    Raises:
        MissingColumnsError: the spine lacks the timestamp column or a view's join keys.
        MissingTimestampError: the spine has missing timestamps.
        SchemaError: a feature column already exists in the spine or comes from two views.
    """
    if spine_timestamp_col is not None:
        if spine_timestamp_col not in spine.columns:
            raise MissingColumnsError(f"{call}: the spine has no timestamp column "
                                      f"{spine_timestamp_col!r} (columns: "
                                      f"{list(spine.columns)})", [spine_timestamp_col])
        spine_ts = timestamps_to_ns(spine[spine_timestamp_col], column=spine_timestamp_col,
                                    call=f"{call} (spine)")
    else:
        spine_ts = np.full(len(spine), now_ns(), dtype=np.int64)
    seen: dict[str, str] = {}
    for spec in specs:
        label = f"{spec.name}/{spec.version}"
        missing = [k for k in spec.entity.join_keys if k not in spine.columns]
        if missing:
            raise MissingColumnsError(f"{call}: the spine lacks join key(s) {missing} of "
                                      f"{label} (spine columns: {list(spine.columns)})",
                                      missing)
        cols = list(spec.features)
        if include_feature_view_timestamp_col:
            cols.append(f"{spec.name}_{spec.timestamp_col}")
        for c in cols:
            if c in spine.columns:
                raise SchemaError(f"{call}: the spine already has a column {c!r} that "
                                  f"{label} provides; drop it from the spine")
            if c in seen:
                raise SchemaError(f"{call}: feature {c!r} is provided by both {seen[c]} and "
                                  f"{label}; retrieve them separately")
            seen[c] = label
    return spine_ts


class _View:
    """A registered view version as the store uses it."""

    __slots__ = ("dtypes", "features", "keys", "online_sql", "spec", "table", "view_id")

    def __init__(self, view_id: int, spec: FeatureViewSpec) -> None:
        self.view_id = view_id
        self.spec = spec
        self.keys: tuple[str, ...] = spec.entity.join_keys
        self.features: tuple[str, ...] = spec.features
        self.dtypes = {f: _DTYPES[f] for f in spec.features}
        self.table = _q(f"online_{view_id}")
        self.online_sql: dict[tuple[str, ...], str] = {}

    @property
    def label(self) -> str:
        return f"{self.spec.name}/{self.spec.version}"


@dataclass
class _Offline:
    """A view's offline rows after upserts, sorted by (key, timestamp), ready for joins."""

    ident: tuple[int, ...]     # the segment ids it was built from
    index: SortedFeatures      # codes, timestamps and the ASOF search key, in sorted order
    uniques: pd.Index          # distinct composite keys (code -> key)
    floats: list[str]          # float64 features, the columns of ``block``
    block: np.ndarray          # (n_rows, n_floats) float64, sorted order
    others: pa.Table           # join keys and non-float features, sorted order


def _spec_to_json(spec: FeatureViewSpec) -> str:
    d = asdict(spec)
    d["entity"]["join_keys"] = list(spec.entity.join_keys)
    d["features"] = list(spec.features)
    return dumps(d)


def _spec_from_json(text: str) -> FeatureViewSpec:
    d = json.loads(text)
    e = d.pop("entity")
    entity = Entity(e["name"], tuple(e["join_keys"]), e.get("description", ""))
    return FeatureViewSpec(entity=entity, **{**d, "features": tuple(d["features"])})


def _key_strings(values: Any) -> np.ndarray:
    """Join-key values as text (``None`` where missing): keys compare as strings."""
    s = pd.Series(values, copy=False)
    out = s.astype("string").to_numpy(dtype=object, na_value=None)
    return np.asarray(out, dtype=object)


def _composite(parts: list[np.ndarray]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    out = np.empty(len(parts[0]), dtype=object)
    for i, vals in enumerate(zip(*parts, strict=True)):
        out[i] = None if any(v is None for v in vals) else _SEP.join(vals)
    return out


class LocalFeatureStore:
    """Entities, versioned feature views, offline and online reads in the local store.

    Not constructed directly: use ``cq.connect("local", ...).feature_store``.

    Args:
        db: the store's database.
        blobs: where segments live.
        compact_every: merge a view's segments into one once it has more than this many.
    """

    def __init__(self, db: Database, blobs: BlobStore, *, compact_every: int = 32) -> None:
        self._db = db
        self._blobs = blobs
        self.compact_every = int(compact_every)
        self._cache: dict[int, _Offline] = {}
        self._cache_lock = threading.Lock()
        self._views: dict[int, _View] = {}

    def __repr__(self) -> str:
        return f"LocalFeatureStore(compact_every={self.compact_every})"

    # ------------------------------------------------------------------ entities

    def register_entity(self, entity: Entity) -> Entity:
        """Register an entity; registering an identical one again is a no-op.

        Raises:
            InvalidNameError: the name or a join key is not an identifier.
            AlreadyExistsError: an entity of that name exists with other join keys.
        """
        call = f"register_entity({getattr(entity, 'name', entity)!r})"
        if not isinstance(entity, Entity):
            raise ConfigurationError(f"{call}: expected a callquality.protocols.Entity")
        check_identifier(entity.name, "entity name", call)
        keys = tuple(entity.join_keys)
        if not keys or len(set(k.lower() for k in keys)) != len(keys):
            raise ConfigurationError(f"{call}: join_keys must be non-empty and distinct, got "
                                     f"{entity.join_keys!r}")
        for k in keys:
            check_identifier(k, "join key", call)
        with self._db.write(call) as con:
            row = con.execute("SELECT name, join_keys, description FROM entities WHERE name=?",
                              (entity.name,)).fetchone()
            if row is not None:
                existing = Entity(row[0], tuple(json.loads(row[1])), row[2])
                if existing.join_keys != keys:
                    raise AlreadyExistsError(f"{call}: entity {existing.name!r} exists with join "
                                             f"keys {existing.join_keys}")
                return existing
            con.execute("INSERT INTO entities VALUES (?, ?, ?, ?)",
                        (entity.name, dumps(list(keys)), entity.description, now_ns()))
        return Entity(entity.name, keys, entity.description)

    def get_entity(self, name: str) -> Entity:
        """A registered entity (NotFoundError naming the known ones otherwise)."""
        rows = self._db.query("SELECT name, join_keys, description FROM entities",
                              what=f"get_entity({name!r})")
        for n, keys, desc in rows:
            if n.lower() == str(name).lower():
                return Entity(n, tuple(json.loads(keys)), desc)
        raise NotFoundError(f"get_entity({name!r}): unknown entity; registered: "
                            f"{sorted(r[0] for r in rows)}")

    def list_entities(self) -> pd.DataFrame:
        """One row per entity: ``name``, ``join_keys``, ``description``."""
        rows = self._db.query("SELECT name, join_keys, description FROM entities ORDER BY name",
                              what="list_entities()")
        return pd.DataFrame({"name": [r[0] for r in rows],
                             "join_keys": [json.loads(r[1]) for r in rows],
                             "description": [r[2] for r in rows]})

    # ------------------------------------------------------------------ views

    def _validate_view(self, view: FeatureViewSpec, call: str) -> FeatureViewSpec:
        if not isinstance(view, FeatureViewSpec):
            raise ConfigurationError(f"{call}: expected a callquality.protocols.FeatureViewSpec")
        check_identifier(view.name, "feature view name", call)
        if not isinstance(view.version, str) or not FV_VERSION_RE.match(view.version):
            raise InvalidNameError(f"{call}: invalid feature view version {view.version!r}: use "
                                   "letters, digits, '_', '.', '-' (e.g. 'v1', '2024-06.1')")
        features = tuple(view.features)
        if not features:
            raise ConfigurationError(f"{call}: a feature view needs at least one feature")
        unknown = [f for f in features if f not in _DTYPES]
        if unknown:
            raise SchemaError(f"{call}: unknown feature(s) {unknown}; a view's features are "
                              "names from callquality.FEATURES (see cq.feature_names(group))")
        dup = sorted({f for f in features if features.count(f) > 1})
        if dup:
            raise ConfigurationError(f"{call}: duplicated feature(s) {dup}")
        check_identifier(view.timestamp_col, "timestamp column", call)
        clash = {k.lower() for k in view.entity.join_keys} & \
            {c.lower() for c in (*features, view.timestamp_col)}
        if clash:
            raise ConfigurationError(f"{call}: column(s) {sorted(clash)} are both a join key "
                                     "and a feature or the timestamp column")
        if view.target_lag is not None:
            parse_duration(view.target_lag, what="target_lag", call=call)
        entity = Entity(view.entity.name, tuple(view.entity.join_keys),
                        view.entity.description)
        return FeatureViewSpec(view.name, entity, features, view.timestamp_col,
                               view.version, view.description, bool(view.online),
                               view.target_lag)

    def register_feature_view(self, view: FeatureViewSpec, *, overwrite: bool = False
                              ) -> FeatureViewSpec:
        """Register a view version; an identical registration is a no-op.

        Raises:
            NotFoundError: its entity is not registered.
            AlreadyExistsError: the version exists with another definition and ``overwrite``
                is false (with ``overwrite`` the old definition and its data are dropped).
        """
        call = f"register_feature_view({getattr(view, 'name', view)!r})"
        spec = self._validate_view(view, call)
        drop: list[str] = []
        with self._db.write(call) as con:
            row = con.execute("SELECT join_keys FROM entities WHERE name=?",
                              (spec.entity.name,)).fetchone()
            if row is None:
                raise NotFoundError(f"{call}: entity {spec.entity.name!r} is not registered; "
                                    "call register_entity first")
            if tuple(json.loads(row[0])) != tuple(spec.entity.join_keys):
                raise ConflictError(f"{call}: entity {spec.entity.name!r} is registered with "
                                    f"join keys {json.loads(row[0])}, the view says "
                                    f"{list(spec.entity.join_keys)}")
            old = con.execute("SELECT view_id, spec FROM feature_views WHERE name=? AND "
                              "version=?", (spec.name, spec.version)).fetchone()
            if old is not None:
                existing = _spec_from_json(old[1])
                if existing == spec:
                    return existing
                if not overwrite:
                    raise AlreadyExistsError(
                        f"{call}: {spec.name}/{spec.version} is registered with another "
                        "definition; register a new version, or pass overwrite=True (drops its "
                        "data)")
                drop = self._drop_view(con, old[0])
            cur = con.execute("INSERT INTO feature_views (name, version, entity, spec, "
                              "created_at) VALUES (?, ?, ?, ?, ?)",
                              (spec.name, spec.version, spec.entity.name, _spec_to_json(spec),
                               now_ns()))
            view_id = int(cur.lastrowid or 0)
            v = _View(view_id, spec)
            cols = [f"{_q(k)} TEXT NOT NULL" for k in v.keys]
            cols += [f"{_TS} INTEGER NOT NULL", "__ingested_at INTEGER NOT NULL"]
            cols += [_q(f) for f in v.features]
            con.execute(f"CREATE TABLE {v.table} ({', '.join(cols)}, PRIMARY KEY "
                        f"({', '.join(_q(k) for k in v.keys)})) WITHOUT ROWID")
        for location in drop:
            self._blobs.delete(location)
        return spec

    @staticmethod
    def _drop_view(con: sqlite3.Connection, view_id: int) -> list[str]:
        locations = [r[0] for r in con.execute("SELECT location FROM feature_segments WHERE "
                                               "view_id=?", (view_id,))]
        con.execute("DELETE FROM feature_segments WHERE view_id=?", (view_id,))
        con.execute("DELETE FROM feature_views WHERE view_id=?", (view_id,))
        con.execute(f"DROP TABLE IF EXISTS {_q(f'online_{view_id}')}")
        return locations

    def delete_feature_view(self, name: str, version: str) -> None:
        """Delete a view version with its offline and online data."""
        call = f"delete_feature_view({name!r}, {version!r})"
        with self._db.write(call) as con:
            v = self._resolve(con, name, version, call)
            drop = self._drop_view(con, v.view_id)
        for location in drop:
            self._blobs.delete(location)

    def _resolve(self, con: sqlite3.Connection, name: Any, version: str | None, call: str
                 ) -> _View:
        if isinstance(name, FeatureViewSpec):
            name, version = name.name, version or name.version
        if not isinstance(name, str) or not name:
            raise InvalidNameError(f"{call}: invalid feature view {name!r}")
        if version is None and "/" in name:
            name, _, version = name.partition("/")
        if version is None:
            row = con.execute("SELECT view_id FROM feature_views WHERE name=? ORDER BY "
                              "created_at DESC, view_id DESC LIMIT 1", (name,)).fetchone()
        else:
            row = con.execute("SELECT view_id FROM feature_views WHERE name=? AND "
                              "version=?", (name, version)).fetchone()
        if row is None:
            known = [f"{n}/{v}" for n, v in con.execute(
                "SELECT name, version FROM feature_views ORDER BY name, version")]
            what = name if version is None else f"{name}/{version}"
            raise NotFoundError(f"{call}: unknown feature view {what!r}; registered: {known}")
        view_id = int(row[0])
        cached = self._views.get(view_id)  # a view_id's definition never changes
        if cached is None:
            (text,) = con.execute("SELECT spec FROM feature_views WHERE view_id=?",
                                  (view_id,)).fetchone()
            cached = self._views[view_id] = _View(view_id, _spec_from_json(text))
        return cached

    def get_feature_view(self, name: str, version: str | None = None) -> FeatureViewSpec:
        """A registered view (``version=None``: its newest version)."""
        call = f"get_feature_view({name!r}, {version!r})"
        with self._db.read(call) as con:
            return self._resolve(con, name, version, call).spec

    def list_feature_views(self) -> pd.DataFrame:
        """One row per view version: name, version, entity, join_keys, timestamp_col,
        features, description, online, target_lag, created_on."""
        rows = self._db.query("SELECT spec, created_at FROM feature_views ORDER BY name, "
                              "version", what="list_feature_views()")
        specs = [_spec_from_json(r[0]) for r in rows]
        return pd.DataFrame({
            "name": [s.name for s in specs], "version": [s.version for s in specs],
            "entity": [s.entity.name for s in specs],
            "join_keys": [list(s.entity.join_keys) for s in specs],
            "timestamp_col": [s.timestamp_col for s in specs],
            "features": [list(s.features) for s in specs],
            "description": [s.description for s in specs],
            "online": [s.online for s in specs], "target_lag": [s.target_lag for s in specs],
            "created_on": pd.to_datetime([r[1] for r in rows], unit="ns", utc=True),
        })

    # ------------------------------------------------------------------ ingestion

    def _batch(self, v: _View, df: pd.DataFrame, call: str) -> tuple[pa.Table, np.ndarray]:
        """The validated Arrow table of a batch, and its composite key strings."""
        if not isinstance(df, pd.DataFrame):
            raise ConfigurationError(f"{call}: expected a pandas DataFrame, got "
                                     f"{type(df).__name__}")
        need = [*v.keys, v.spec.timestamp_col, *v.features]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise MissingColumnsError(f"{call}: the batch lacks column(s) {missing} of "
                                      f"{v.label} (join keys {list(v.keys)}, timestamp "
                                      f"{v.spec.timestamp_col!r}, features)", missing)
        arrays: dict[str, pa.Array] = {}
        parts = []
        for k in v.keys:
            vals = _key_strings(df[k])
            bad = np.flatnonzero(pd.isna(vals))
            if len(bad):
                raise SchemaError(f"{call}: join key {k!r} is missing in {len(bad)} row(s) "
                                  f"(rows {list(df.index[bad[:5]])})")
            parts.append(vals)
            arrays[k] = pa.array(vals, type=pa.string())
        ts = timestamps_to_ns(df[v.spec.timestamp_col], column=v.spec.timestamp_col, call=call)
        keys = _composite(parts)
        frame = pd.DataFrame({"k": keys, "t": ts})
        dup = frame.duplicated(keep=False).to_numpy()
        if dup.any():
            examples = frame[dup].drop_duplicates().head(3)
            shown = [(k.replace(_SEP, ","), str(pd.Timestamp(t, tz="UTC")))
                     for k, t in zip(examples["k"], examples["t"], strict=True)]
            raise DuplicateKeyError(
                f"{call}: the batch repeats {int(dup.sum())} (join keys, timestamp) row(s) of "
                f"{v.label}, e.g. {shown}; each (keys, {v.spec.timestamp_col}) may appear once "
                "per batch (a later batch replaces it)")
        arrays[_TS] = pa.array(ts, type=pa.int64())
        for f in v.features:
            arrays[f] = self._feature_array(df[f], v.dtypes[f], f, call)
        return pa.table(arrays), keys

    @staticmethod
    def _feature_array(col: pd.Series, dtype: str, name: str, call: str) -> pa.Array:
        if dtype == "string":
            vals = col.astype("string").to_numpy(dtype=object, na_value=None)
            return pa.array(vals, type=pa.string())
        try:
            num = pd.to_numeric(col, errors="raise")
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"{call}: feature {name!r} ({dtype}) holds non-numeric values "
                              f"({exc})") from exc
        if pd.api.types.is_bool_dtype(num.dtype):
            num = num.astype("Int64")
        if dtype == "float64":
            arr = num.astype("float64").to_numpy()
            return pa.array(arr, type=pa.float64(), from_pandas=True)
        flt = num.astype("Float64")
        frac = flt.notna() & (flt.round() != flt)
        if frac.fillna(False).any():
            raise SchemaError(f"{call}: feature {name!r} is int64 but holds non-integer values, "
                              f"e.g. {flt[frac.fillna(False)].iloc[0]}")
        return pa.array(num.astype("Int64").to_numpy(dtype=object, na_value=None),
                        type=pa.int64())

    def ingest(self, view: str, df: pd.DataFrame, *, version: str | None = None) -> int:
        """Upsert a batch into a view; returns the number of rows written.

        The batch needs the view's join keys, timestamp column and features (other columns
        are ignored). It is stored as one immutable segment and the online copy is updated in
        the same transaction: readers see all of the batch or none of it.

        Raises:
            NotFoundError: unknown view.
            MissingColumnsError, MissingTimestampError, DuplicateKeyError, SchemaError: the
                batch does not fit the view (nothing is written).
        """
        call = f"ingest({view!r})"
        with self._db.read(call) as con:
            v = self._resolve(con, view, version, call)
        table, keys = self._batch(v, df, call)
        if table.num_rows == 0:
            return 0
        location, nbytes, digest = self._blobs.put_table(str(v.view_id), table)
        ts = table.column(_TS).to_numpy()
        online_rows = self._online_rows(v, table, keys, ts) if v.spec.online else []
        _util.fault("after_segment")
        try:
            with self._db.write(call) as con:
                row = con.execute("SELECT next_seq FROM feature_views WHERE view_id=?",
                                  (v.view_id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"{call}: {v.label} was deleted while ingesting")
                seq = int(row[0])
                con.execute("UPDATE feature_views SET next_seq=? WHERE view_id=?",
                            (seq + 1, v.view_id))
                con.execute("INSERT INTO feature_segments (view_id, seq, location, n_rows, "
                            "nbytes, sha256, min_ts, max_ts, created_at) VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (v.view_id, seq, location, table.num_rows, nbytes, digest,
                             int(ts.min()), int(ts.max()), now_ns()))
                if online_rows:
                    cols = [*v.keys, _TS, "__ingested_at", *v.features]
                    updates = ", ".join(f"{_q(c)}=excluded.{_q(c)}" for c in cols[len(v.keys):])
                    con.executemany(
                        f"INSERT INTO {v.table} ({', '.join(_q(c) for c in cols)}) VALUES "
                        f"({', '.join('?' * len(cols))}) ON CONFLICT "
                        f"({', '.join(_q(k) for k in v.keys)}) DO UPDATE SET {updates} "
                        f"WHERE excluded.{_TS} >= {v.table}.{_TS}", online_rows)
                _util.fault("before_commit")
                n_segments = con.execute("SELECT COUNT(*) FROM feature_segments WHERE "
                                         "view_id=?", (v.view_id,)).fetchone()[0]
        except BaseException:
            self._blobs.delete(location)
            raise
        if n_segments > self.compact_every:
            try:
                self.compact(v.label)
            except ConflictError:  # another process is compacting; it will do
                pass
        return int(table.num_rows)

    @staticmethod
    def _online_rows(v: _View, table: pa.Table, keys: np.ndarray, ts: np.ndarray
                     ) -> list[tuple[Any, ...]]:
        """The latest row per key of a batch, as SQLite parameter tuples."""
        order = np.lexsort((ts, pd.factorize(keys)[0]))
        sorted_keys = keys[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
        rows = order[last]
        ingested = now_ns()
        cols: list[list[Any]] = [table.column(k).take(rows).to_pylist() for k in v.keys]
        cols.append(ts[rows].tolist())
        cols.append([ingested] * len(rows))
        for f in v.features:
            values = table.column(f).take(rows).to_pylist()
            if v.dtypes[f] == "float64":
                values = [None if x is None or x != x else x for x in values]
            cols.append(values)
        return list(zip(*cols, strict=True))

    # ------------------------------------------------------------------ offline reads

    def _segments(self, v: _View, call: str) -> list[tuple[int, int, str]]:
        return [(int(a), int(b), str(c)) for a, b, c in self._db.query(
            "SELECT segment_id, seq, location FROM feature_segments WHERE view_id=? ORDER BY "
            "seq, segment_id", (v.view_id,), what=call)]

    def _load(self, v: _View, call: str) -> _Offline:
        """All rows of a view (one per keys + timestamp, after upserts) sorted and indexed for
        ASOF lookups; cached per set of segments (segments are immutable)."""
        for attempt in range(5):
            segments = self._segments(v, call)
            ident = tuple(s[0] for s in segments)
            with self._cache_lock:
                hit = self._cache.get(v.view_id)
            if hit is not None and hit.ident == ident:
                return hit
            try:
                tables = [self._blobs.get_table(loc) for _, _, loc in segments]
            except NotFoundError:
                if attempt == 4:
                    raise
                continue  # compacted meanwhile: read the catalog again
            seq = np.concatenate([np.full(t.num_rows, s[1], dtype=np.int64)
                                  for t, s in zip(tables, segments, strict=True)]) if tables \
                else np.zeros(0, dtype=np.int64)
            schema = self._arrow_schema(v)
            table = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables]) \
                if tables else schema.empty_table()
            parts = [np.asarray(table.column(k).to_numpy(zero_copy_only=False), dtype=object)
                     for k in v.keys]
            codes, uniques = pd.factorize(_composite(parts))
            ts = table.column(_TS).to_numpy()
            index = prepare(codes.astype(np.int64), ts, seq)
            floats = [f for f in v.features if v.dtypes[f] == "float64"]
            block = np.empty((len(index.rows), len(floats)))
            for j, f in enumerate(floats):
                block[:, j] = table.column(f).to_numpy()[index.rows]
            others = table.select([*v.keys, *(f for f in v.features if f not in floats)]) \
                .take(pa.array(index.rows))
            loaded = _Offline(ident, index, pd.Index(uniques, dtype=object), floats, block,
                              others)
            with self._cache_lock:
                self._cache[v.view_id] = loaded
            return loaded
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _arrow_schema(v: _View) -> pa.Schema:
        return pa.schema([*(pa.field(k, pa.string()) for k in v.keys),
                          pa.field(_TS, pa.int64()),
                          *(pa.field(f, _ARROW[v.dtypes[f]]) for f in v.features)])

    @staticmethod
    def _gather(v: _View, data: _Offline, pos: np.ndarray, index: pd.Index
                ) -> pd.DataFrame:
        """The features of the rows at ``pos`` (positions in sorted order; -1: missing)."""
        ok = pos >= 0
        safe = np.where(ok, pos, 0)
        if len(data.block):
            block = data.block[safe]
            block[~ok] = np.nan
        else:
            block = np.full((len(pos), len(data.floats)), np.nan)
        frame = pd.DataFrame(block, columns=pd.Index(data.floats), index=index, copy=False)
        if len(data.floats) == len(v.features):
            return frame
        taken = data.others.take(pa.array(safe)) if data.others.num_rows else None
        for f in v.features:
            if f in data.floats:
                continue
            dtype = _PANDAS[v.dtypes[f]]
            if taken is None:
                col = pd.array([None] * len(pos), dtype=dtype)
            else:
                col = taken.column(f).to_pandas(types_mapper={
                    pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}.get).array
                col = pd.array(col, dtype=dtype, copy=True)
                col[~ok] = pd.NA
            frame[f] = pd.Series(col, index=index)
        return frame[list(v.features)]

    def read_feature_view(self, view: str, *, version: str | None = None,
                          store: str = "offline") -> pd.DataFrame:
        """Every row of a view: ``store="offline"`` all (keys, timestamp) rows after upserts,
        ``"online"`` the latest row per key. Keys come back as strings."""
        call = f"read_feature_view({view!r})"
        with self._db.read(call) as con:
            v = self._resolve(con, view, version, call)
        if store == "online":
            return self._online_all(v, call)
        if store != "offline":
            raise ConfigurationError(f"{call}: store={store!r}; use 'offline' or 'online'")
        data = self._load(v, call)
        n = len(data.index.rows)
        frame = pd.DataFrame({k: pd.Series(data.others.column(k).to_pandas(), dtype="string")
                              for k in v.keys})
        frame[v.spec.timestamp_col] = pd.to_datetime(data.index.ts, utc=True)
        features = self._gather(v, data, np.arange(n, dtype=np.int64), frame.index)
        return pd.concat([frame, features], axis=1)

    def retrieve_feature_values(self, spine: pd.DataFrame, views: Sequence[Any], *,
                                spine_timestamp_col: str | None = None,
                                ttl: Any = None,
                                include_feature_view_timestamp_col: bool = False
                                ) -> pd.DataFrame:
        """Point-in-time join of ``spine`` with the features of ``views``.

        For each spine row and view: the view's latest row with the same join keys and a
        timestamp at or before the spine's ``spine_timestamp_col`` (no later than now when
        ``spine_timestamp_col`` is None), and, with ``ttl``, not older than ``ttl`` before it.
        Rows without a match get missing values.

        Args:
            spine: the rows to enrich; must hold every view's join keys.
            views: view names (newest version), ``"name/version"`` or FeatureViewSpec.
            spine_timestamp_col: the spine's event-time column (datetimes; naive = UTC).
            ttl: maximum feature age, ``"7 days"``, ``"12 hours"``, a timedelta.
            include_feature_view_timestamp_col: add ``<view>_<timestamp_col>`` per view.

        Returns:
            A copy of the spine (same index and order) with the feature columns appended.

        Raises:
            MissingColumnsError: the spine lacks join keys or the timestamp column.
            MissingTimestampError: the spine has missing timestamps.
            SchemaError: a feature column already exists in the spine or in two views.
        """
        call = "retrieve_feature_values"
        if not isinstance(spine, pd.DataFrame):
            raise ConfigurationError(f"{call}: spine must be a pandas DataFrame, got "
                                     f"{type(spine).__name__}")
        if isinstance(views, (str, FeatureViewSpec)):
            views = [views]
        if not views:
            raise ConfigurationError(f"{call}: name at least one feature view")
        ttl_ns = None if ttl is None else parse_duration(ttl, what="ttl", call=call)
        with self._db.read(call) as con:
            resolved = [self._resolve(con, name, None, call) for name in views]
        spine_ts = check_spine(spine, [v.spec for v in resolved], spine_timestamp_col,
                               include_feature_view_timestamp_col, call)
        # spine keys are encoded once per set of join keys, then mapped into each view
        encoded: dict[tuple[str, ...], tuple[np.ndarray, pd.Index]] = {}
        parts_out = [spine]
        for v in resolved:
            if v.keys not in encoded:
                s_keys = _composite([_key_strings(spine[k]) for k in v.keys])
                codes, uniques = pd.factorize(s_keys, use_na_sentinel=True)
                encoded[v.keys] = (codes.astype(np.int64), pd.Index(uniques, dtype=object))
            s_codes, s_uniques = encoded[v.keys]
            data = self._load(v, call)
            mapping = np.append(data.uniques.get_indexer(s_uniques).astype(np.int64), -1)
            pos = asof_indices(data.index, mapping[s_codes], spine_ts, ttl_ns)
            parts_out.append(self._gather(v, data, pos, spine.index))
            if include_feature_view_timestamp_col:
                ts = np.where(pos >= 0, data.index.ts[np.where(pos >= 0, pos, 0)]
                              if len(data.index.ts) else 0, _NAT)
                parts_out.append(pd.DataFrame(
                    {f"{v.spec.name}_{v.spec.timestamp_col}": pd.to_datetime(ts, utc=True)},
                    index=spine.index))
        return pd.concat(parts_out, axis=1)

    def compact(self, view: str, version: str | None = None) -> int:
        """Merge a view's segments into one (same rows after upserts); returns the number of
        segments merged. Safe while other processes ingest and read."""
        call = f"compact({view!r})"
        with self._db.read(call) as con:
            v = self._resolve(con, view, version, call)
        segments = self._segments(v, call)
        if len(segments) < 2:
            return 0
        tables = [self._blobs.get_table(loc) for _, _, loc in segments]
        seq = np.concatenate([np.full(t.num_rows, s[1], dtype=np.int64)
                              for t, s in zip(tables, segments, strict=True)])
        schema = self._arrow_schema(v)
        table = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
        keys = _composite([np.asarray(table.column(k).to_numpy(zero_copy_only=False),
                                      dtype=object) for k in v.keys])
        ts = table.column(_TS).to_numpy()
        index = prepare(pd.factorize(keys)[0].astype(np.int64), ts, seq)
        merged = table.take(pa.array(index.rows))
        location, nbytes, digest = self._blobs.put_table(str(v.view_id), merged)
        ids = [s[0] for s in segments]
        try:
            with self._db.write(call) as con:
                placeholders = ",".join("?" * len(ids))
                still = con.execute(f"SELECT COUNT(*) FROM feature_segments WHERE segment_id IN "
                                    f"({placeholders})", ids).fetchone()[0]
                if still != len(ids):
                    raise ConflictError(f"{call}: {v.label} was compacted or changed meanwhile")
                con.execute(f"DELETE FROM feature_segments WHERE segment_id IN ({placeholders})",
                            ids)
                mts = merged.column(_TS).to_numpy()
                con.execute("INSERT INTO feature_segments (view_id, seq, location, n_rows, "
                            "nbytes, sha256, min_ts, max_ts, created_at) VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (v.view_id, max(s[1] for s in segments), location, merged.num_rows,
                             nbytes, digest, int(mts.min()), int(mts.max()), now_ns()))
        except BaseException:
            self._blobs.delete(location)
            raise
        for _, _, loc in segments:
            self._blobs.delete(loc)
        return len(segments)

    # ------------------------------------------------------------------ online reads

    def _online_sql(self, v: _View, names: tuple[str, ...], n_keys: int) -> str:
        key = (*names, f"#{n_keys}")
        sql = v.online_sql.get(key)
        if sql is None:
            cols = ", ".join([*(_q(k) for k in v.keys), _TS, *(_q(f) for f in names)])
            if len(v.keys) == 1:
                where = f"{_q(v.keys[0])} IN ({', '.join('?' * n_keys)})" if n_keys > 1 else \
                    f"{_q(v.keys[0])} = ?"
            else:
                one = "(" + " AND ".join(f"{_q(k)} = ?" for k in v.keys) + ")"
                where = " OR ".join([one] * n_keys)
            sql = f"SELECT {cols} FROM {v.table} WHERE {where}"
            v.online_sql[key] = sql
        return sql

    def _online_view(self, view: Any, call: str) -> _View:
        con = self._db.connection()
        try:
            with self._db.guard():
                return self._resolve(con, view, None, call)
        except sqlite3.Error as exc:
            raise translate(exc, call) from exc

    def get_online_features(self, view: str, keys: Sequence[Any],
                            feature_names: Sequence[str] | None = None) -> pd.DataFrame:
        """The latest row of each key from the online store, one output row per requested
        key in request order (missing values for unknown keys).

        Args:
            view: view name (newest version) or ``"name/version"``.
            keys: join-key values; tuples for composite join keys.
            feature_names: a subset of the view's features (default: all).

        Returns:
            Columns: the join keys (as requested), the view's timestamp column (UTC) and the
            features.
        """
        call = f"get_online_features({view!r})"
        v = self._online_view(view, call)
        if not v.spec.online:
            raise ConfigurationError(f"{call}: {v.label} has online=False")
        if feature_names is None:
            names = v.features
        else:
            names = tuple(feature_names)
            unknown = [n for n in names if n not in v.dtypes]
            if unknown:
                raise SchemaError(f"{call}: {v.label} has no feature(s) {unknown}; its "
                                  f"features: {list(v.features)}")
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            keys = list(keys) if isinstance(keys, (np.ndarray, pd.Series, pd.Index)) else [keys]
        n_key_cols = len(v.keys)
        wanted: list[tuple[str, ...]] = []
        for k in keys:
            parts = tuple(k) if isinstance(k, tuple) else (k,)
            if len(parts) != n_key_cols:
                raise ConfigurationError(f"{call}: key {k!r} does not match join keys "
                                         f"{list(v.keys)}")
            wanted.append(tuple(str(p) for p in parts))
        found: dict[tuple[str, ...], tuple[Any, ...]] = {}
        distinct = list(dict.fromkeys(wanted))
        con = self._db.connection()
        step = max(1, _MAX_PARAMS // n_key_cols)
        for i in range(0, len(distinct), step):
            chunk = distinct[i:i + step]
            params = [p for key in chunk for p in key]
            sql = self._online_sql(v, names, len(chunk))
            try:
                with self._db.guard():
                    rows = con.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise translate(exc, call) from exc
            for r in rows:
                found[tuple(r[:n_key_cols])] = r[n_key_cols:]
        return self._online_frame(v, names, keys, wanted, found)

    @staticmethod
    def _online_frame(v: _View, names: tuple[str, ...], keys: Sequence[Any],
                      wanted: list[tuple[str, ...]],
                      found: Mapping[tuple[str, ...], tuple[Any, ...]]) -> pd.DataFrame:
        empty = (None,) * (len(names) + 1)
        rows = [found.get(w, empty) for w in wanted]
        n = len(rows)
        columns: list[str] = []
        arrays: list[Any] = []
        if len(v.keys) == 1:
            columns.append(v.keys[0])
            arrays.append(np.array(list(keys), dtype=object))
        else:
            for i, k in enumerate(v.keys):
                columns.append(k)
                arrays.append(np.array([key[i] for key in keys], dtype=object))
        ts = np.array([_NAT if r[0] is None else r[0] for r in rows], dtype=np.int64)
        columns.append(v.spec.timestamp_col)
        arrays.append(pd.DatetimeIndex(ts.view("datetime64[ns]")).tz_localize("UTC").array)
        floats = [j for j, name in enumerate(names) if v.dtypes[name] == "float64"]
        block = np.array([[r[j + 1] for j in floats] for r in rows], dtype=float) \
            .reshape(n, len(floats))
        where = {j: i for i, j in enumerate(floats)}
        for j, name in enumerate(names):
            columns.append(name)
            if j in where:
                arrays.append(block[:, where[j]])
            elif v.dtypes[name] == "int64":
                col = [r[j + 1] for r in rows]
                mask = np.array([x is None for x in col], dtype=bool)
                arrays.append(pd.arrays.IntegerArray(
                    np.array([0 if x is None else x for x in col], dtype=np.int64), mask))
            else:
                arrays.append(pd.array([r[j + 1] for r in rows], dtype="string"))
        return _frame(arrays, columns, n)

    def _online_all(self, v: _View, call: str) -> pd.DataFrame:
        cols = [*v.keys, _TS, *v.features]
        rows = self._db.query(f"SELECT {', '.join(_q(c) for c in cols)} FROM {v.table} ORDER BY "
                              f"{', '.join(_q(k) for k in v.keys)}", what=call)
        found = {tuple(r[:len(v.keys)]): r[len(v.keys):] for r in rows}
        wanted = list(found)
        keys: list[Any] = [w[0] for w in wanted] if len(v.keys) == 1 else wanted
        frame = self._online_frame(v, v.features, keys, wanted, found)
        for k in v.keys:
            frame[k] = frame[k].astype("string")
        return frame

    # ------------------------------------------------------------------ freshness

    def freshness(self, view: str | None = None) -> pd.DataFrame:
        """Per view version: ``rows`` ingested, ``segments``, ``online_keys``,
        ``last_event_at`` (newest feature timestamp), ``last_ingested_at``, ``lag`` (now -
        ``last_event_at``), ``target_lag`` and ``within_target`` (None without a target)."""
        call = f"freshness({view!r})"
        with self._db.read(call) as con:
            if view is None:
                views = [_View(int(r[0]), _spec_from_json(r[1])) for r in con.execute(
                    "SELECT view_id, spec FROM feature_views ORDER BY name, version")]
            else:
                views = [self._resolve(con, view, None, call)]
            stats = []
            for v in views:
                n_rows, n_seg, max_ts, last = con.execute(
                    "SELECT COALESCE(SUM(n_rows), 0), COUNT(*), MAX(max_ts), MAX(created_at) "
                    "FROM feature_segments WHERE view_id=?", (v.view_id,)).fetchone()
                keys = con.execute(f"SELECT COUNT(*) FROM {v.table}").fetchone()[0]
                stats.append((v, n_rows, n_seg, keys, max_ts, last))
        now = pd.Timestamp(from_ns(now_ns()))
        records = []
        for v, n_rows, n_seg, keys, max_ts, last in stats:
            last_event = pd.Timestamp(max_ts, unit="ns", tz="UTC") if max_ts is not None \
                else pd.NaT
            lag = now - last_event if max_ts is not None else pd.NaT
            target = None if v.spec.target_lag is None else \
                pd.Timedelta(parse_duration(v.spec.target_lag, what="target_lag", call=call))
            within = None if target is None or max_ts is None else bool(lag <= target)
            records.append({
                "name": v.spec.name, "version": v.spec.version, "rows": int(n_rows),
                "segments": int(n_seg), "online_keys": int(keys),
                "last_event_at": last_event,
                "last_ingested_at": pd.Timestamp(last, unit="ns", tz="UTC") if last else pd.NaT,
                "lag": lag, "target_lag": target, "within_target": within})
        columns = ["name", "version", "rows", "segments", "online_keys", "last_event_at",
                   "last_ingested_at", "lag", "target_lag", "within_target"]
        return pd.DataFrame.from_records(records, columns=columns)

    # ------------------------------------------------------------------ integrity

    def check(self) -> tuple[list[str], set[str]]:
        """Problems found in the segments (missing or corrupted files), and the locations in
        use."""
        rows = self._db.query("SELECT location, sha256, nbytes FROM feature_segments",
                              what="check_integrity()")
        problems = []
        for location, digest, nbytes in rows:
            problem = self._blobs.verify_table(location, digest, nbytes)
            if problem:
                problems.append(problem)
        return problems, {r[0] for r in rows}

    def install_quickstart_views(self) -> None:
        """Register the ``call`` entity and the quickstart's three views, once per store (a
        store whose views were later changed or deleted is left alone)."""
        if self._db.query("SELECT 1 FROM cq_meta WHERE key='quickstart_views'",
                          what="install the quickstart feature views"):
            return
        self.register_entity(CALL_ENTITY)
        for spec in quickstart_feature_views():
            try:
                self.register_feature_view(spec)
            except AlreadyExistsError:  # a user's own definition wins
                pass
        with self._db.write("install the quickstart feature views") as con:
            con.execute("INSERT OR IGNORE INTO cq_meta VALUES ('quickstart_views', '1')")
