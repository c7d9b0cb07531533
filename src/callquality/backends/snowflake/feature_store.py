"""The Snowflake feature store (implements :class:`callquality.protocols.FeatureStore`).

It drives ``snowflake.ml.feature_store.FeatureStore`` and keeps the local store's semantics:

* **Entities** are Feature Store entities (``Entity(name, join_keys, desc=...)``).
* **A feature view version** is a Snowflake ``FeatureView`` over its own *source table*
  (``CQ_FV_<NAME>_<VERSION>``: join keys, the timestamp column, ``CQ_INGESTED_AT`` and the
  features, all upper-case, ``TIMESTAMP_NTZ`` in UTC). It is registered with a refresh
  frequency (a dynamic table, ``refresh_freq``, default ``"1 minute"`` as in the quickstart)
  and, when ``online``, ``OnlineConfig(enable=True, target_lag=...)`` (the view's
  ``target_lag``, default ``"30 seconds"``). callquality keeps each view's definition in a
  catalog table (``CQ_FEATURE_VIEWS``) so registration is idempotent and ``get_feature_view``
  returns exactly what was registered.
* **Ingestion upserts** (``MERGE`` on join keys + timestamp) into the source table; the same
  batch checks as the local store apply (nothing is written when one fails). By default the
  view's dynamic table and online table are then refreshed, so reads see the batch at once
  (``refresh_on_ingest=False`` leaves that to Snowflake's schedule).
* **Offline retrieval** joins a spine point-in-time (latest row at or before the spine time,
  optionally within a TTL) on the source tables with Snowpark (join + ``ROW_NUMBER``), one
  output row per spine row in spine order, exactly as the local store answers.
* **Online reads** use ``FeatureStore.read_feature_view(..., store_type=StoreType.ONLINE)``
  (the online feature table: latest row per key), reordered to the requested keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from snowflake.snowpark import DataFrame as SnowparkDataFrame
from snowflake.snowpark import Session
from snowflake.snowpark import functions as F

from ...exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    SchemaError,
)
from ...protocols import Entity, FeatureViewSpec
from ...schema import FEATURES
from ..errors import InvalidNameError
from ..local._util import check_identifier, now_ns, parse_duration
from ..local.feature_store import (
    CALL_ENTITY,
    LocalFeatureStore,
    _spec_from_json,
    _spec_to_json,
    _View,
    check_spine,
    quickstart_feature_views,
)
from ._errors import boundary
from ._names import LITERAL, Ident, ObjectName, check_text, column
from ._tables import (
    TIMESTAMP,
    ensure_table,
    key_strings,
    point_in_time,
    read_frame,
    struct,
    to_snowpark,
    typed,
)

__all__ = ["CATALOG_COLUMNS", "INGESTED_AT", "SnowflakeFeatureStore"]

#: Column of every source table: when the row was last written (UTC).
INGESTED_AT = "CQ_INGESTED_AT"
#: Columns of the catalog table.
CATALOG_COLUMNS = (("NAME", "string"), ("VERSION", "string"), ("SPEC", "string"),
                   ("SOURCE_TABLE", "string"), ("CREATED_AT", TIMESTAMP))
_META_COLUMNS = (("KEY", "string"), ("VALUE", "string"))
_DTYPES = {s.name: s.dtype for s in FEATURES}
_TOKEN = re.compile(r"[^A-Za-z0-9_]")


class SnowflakeFeatureStore:
    """Entities, versioned feature views, offline and online reads in Snowflake.

    Not constructed directly: use ``cq.connect("snowflake", ...).feature_store``.

    Args:
        feature_store: a ``snowflake.ml.feature_store.FeatureStore``.
        session: the Snowpark session.
        database, schema: where the source and catalog tables live (the feature store's
            schema).
        online_target_lag: online ``target_lag`` of views that set none.
        refresh_freq: refresh frequency of the views' dynamic tables.
        refresh_on_ingest: refresh a view's dynamic and online tables after each ingestion.
    """

    def __init__(self, feature_store: Any, session: Session, *, database: Ident,
                 schema: Ident, online_target_lag: str = "30 seconds",
                 refresh_freq: str = "1 minute", refresh_on_ingest: bool = True) -> None:
        self._fs = feature_store
        self._session = session
        self.database = database
        self.schema = schema
        self.online_target_lag = online_target_lag
        self.refresh_freq = refresh_freq
        self.refresh_on_ingest = refresh_on_ingest
        self._catalog = ObjectName(database, schema, Ident("CQ_FEATURE_VIEWS"))
        self._meta = ObjectName(database, schema, Ident("CQ_META"))
        self._rules = object.__new__(LocalFeatureStore)  # the local store's checks, reused
        self._ready = False
        self._fv_cache: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return f"SnowflakeFeatureStore({self.database}.{self.schema})"

    @property
    def snowflake_feature_store(self) -> Any:
        """The underlying ``snowflake.ml.feature_store.FeatureStore``."""
        return self._fs

    # ------------------------------------------------------------------ catalog

    def _ensure(self, call: str) -> None:
        if not self._ready:
            with boundary(call):
                ensure_table(self._session, self._catalog, CATALOG_COLUMNS)
                ensure_table(self._session, self._meta, _META_COLUMNS)
            self._ready = True

    def _rows(self, call: str, name: str | None = None) -> list[dict[str, Any]]:
        self._ensure(call)
        with boundary(call):
            table: SnowparkDataFrame = self._session.table(self._catalog.sql)
            if name is not None:
                table = table.filter(F.col("NAME") == F.lit(name.upper()))
            frame = read_frame(table, [(c, k, c) for c, k in CATALOG_COLUMNS])
        rows = frame.to_dict("records")
        return sorted(rows, key=lambda r: (r["NAME"], r["CREATED_AT"], r["VERSION"]))

    def _resolve(self, view: Any, version: str | None, call: str
                 ) -> tuple[FeatureViewSpec, ObjectName]:
        if isinstance(view, FeatureViewSpec):
            view, version = view.name, version or view.version
        if not isinstance(view, str) or not view:
            raise InvalidNameError(f"{call}: invalid feature view {view!r}")
        if version is None and "/" in view:
            view, _, version = view.partition("/")
        check_identifier(view, "feature view name", call)
        rows = self._rows(call, view)
        if version is not None:
            rows = [r for r in rows if r["VERSION"] == version]
        if not rows:
            known = [f"{_spec_from_json(r['SPEC']).name}/{r['VERSION']}"
                     for r in self._rows(call)]
            what = view if version is None else f"{view}/{version}"
            raise NotFoundError(f"{call}: unknown feature view {what!r}; registered: {known}")
        row = rows[-1]
        return _spec_from_json(row["SPEC"]), ObjectName(self.database, self.schema,
                                                        Ident(str(row["SOURCE_TABLE"])))

    def _source_name(self, spec: FeatureViewSpec) -> ObjectName:
        """``CQ_FV_<NAME>_<VERSION>``; versions other than lower-case letters, digits and
        ``_`` get a hash suffix, since feature-view versions are case-sensitive and may hold
        ``.`` and ``-`` (``v1`` and ``V1`` are two versions, two tables)."""
        version = spec.version
        token = version.upper()
        if not re.match(r"^[a-z0-9_]+$", version):
            digest = hashlib.sha256(version.encode()).hexdigest()[:8].upper()
            token = f"{_TOKEN.sub('_', version).upper()}_{digest}"
        return ObjectName(self.database, self.schema,
                          Ident(f"CQ_FV_{spec.name.upper()}_{token}"[:255]))

    @staticmethod
    def _columns(spec: FeatureViewSpec) -> list[tuple[str, str]]:
        return [*((column(k), "string") for k in spec.entity.join_keys),
                (column(spec.timestamp_col), TIMESTAMP), (INGESTED_AT, TIMESTAMP),
                *((column(f), _DTYPES[f]) for f in spec.features)]

    # ------------------------------------------------------------------ entities

    def _sf_entity(self, name: str, call: str) -> Any | None:
        try:
            with boundary(call):
                return self._fs.get_entity(name)
        except NotFoundError:
            return None

    @staticmethod
    def _keys_of(sf_entity: Any) -> tuple[str, ...]:
        return tuple(_resolved(k).upper() for k in getattr(sf_entity, "join_keys", []))

    def register_entity(self, entity: Entity) -> Entity:
        """Register an entity (``FeatureStore.register_entity``); an identical one again is a
        no-op.

        Raises:
            InvalidNameError: the name or a join key is not an identifier.
            AlreadyExistsError: an entity of that name exists with other join keys.
        """
        call = f"register_entity({getattr(entity, 'name', entity)!r})"
        if not isinstance(entity, Entity):
            raise ConfigurationError(f"{call}: expected a callquality.protocols.Entity")
        check_identifier(entity.name, "entity name", call)
        keys = tuple(entity.join_keys)
        if not keys or len({k.lower() for k in keys}) != len(keys):
            raise ConfigurationError(f"{call}: join_keys must be non-empty and distinct, got "
                                     f"{entity.join_keys!r}")
        for k in keys:
            check_identifier(k, "join key", call)
        check_text(entity.description, "entity description", call, context=LITERAL)
        existing = self._sf_entity(entity.name, call)
        if existing is not None:
            if self._keys_of(existing) != tuple(k.upper() for k in keys):
                raise AlreadyExistsError(f"{call}: entity {entity.name!r} exists with join keys "
                                         f"{list(self._keys_of(existing))}")
            return Entity(entity.name, keys, str(getattr(existing, "desc", "") or
                                                 entity.description))
        from snowflake.ml.feature_store import Entity as SFEntity

        with boundary(call):
            self._fs.register_entity(SFEntity(entity.name, list(keys),
                                              desc=entity.description))
        return Entity(entity.name, keys, entity.description)

    def get_entity(self, name: str) -> Entity:
        """A registered entity (names and join keys as Snowflake resolved them, in lower
        case when they are upper case)."""
        call = f"get_entity({name!r})"
        check_identifier(name, "entity name", call)
        found = self._sf_entity(name, call)
        if found is None:
            raise NotFoundError(f"{call}: unknown entity")
        resolved = _resolved(getattr(found, "name", name))
        return Entity(_lower(resolved), tuple(_lower(k) for k in self._keys_of(found)),
                      str(getattr(found, "desc", "") or ""))

    def list_entities(self) -> pd.DataFrame:
        """One row per entity: ``name``, ``join_keys``, ``description``."""
        with boundary("list_entities()"):
            raw = self._fs.list_entities().to_pandas()
        cols = {str(c).upper(): c for c in raw.columns}
        names = [_lower(str(v)) for v in raw[cols["NAME"]]] if "NAME" in cols else []
        keys = [[_lower(str(k)) for k in json.loads(v)] if isinstance(v, str) else list(v)
                for v in raw[cols["JOIN_KEYS"]]] if "JOIN_KEYS" in cols else []
        desc = [str(v or "") for v in raw[cols["DESC"]]] if "DESC" in cols else []
        return pd.DataFrame({"name": names, "join_keys": keys, "description": desc})

    # ------------------------------------------------------------------ views

    def register_feature_view(self, view: FeatureViewSpec, *, overwrite: bool = False
                              ) -> FeatureViewSpec:
        """Register a view version: its source table, then the Snowflake ``FeatureView``
        (dynamic table + online table), then its catalog row. An identical registration is
        a no-op.

        Raises:
            NotFoundError: its entity is not registered.
            ConflictError: the entity is registered with other join keys.
            AlreadyExistsError: the version exists with another definition and ``overwrite``
                is false (with ``overwrite`` the old version and its data are dropped).
        """
        call = f"register_feature_view({getattr(view, 'name', view)!r})"
        spec = self._rules._validate_view(view, call)
        check_text(spec.description, "feature view description", call, context=LITERAL)
        old = [r for r in self._rows(call, spec.name) if r["VERSION"] == spec.version]
        if old:
            existing = _spec_from_json(old[0]["SPEC"])
            if existing == spec:
                return existing
            if not overwrite:
                raise AlreadyExistsError(
                    f"{call}: {spec.name}/{spec.version} is registered with another "
                    "definition; register a new version, or pass overwrite=True (drops its "
                    "data)")
            self.delete_feature_view(spec.name, spec.version)
        sf_entity = self._sf_entity(spec.entity.name, call)
        if sf_entity is None:
            raise NotFoundError(f"{call}: entity {spec.entity.name!r} is not registered; call "
                                "register_entity first")
        if self._keys_of(sf_entity) != tuple(k.upper() for k in spec.entity.join_keys):
            raise ConflictError(f"{call}: entity {spec.entity.name!r} is registered with join "
                                f"keys {list(self._keys_of(sf_entity))}, the view says "
                                f"{list(spec.entity.join_keys)}")
        source = self._source_name(spec)
        columns = self._columns(spec)
        from snowflake.ml.feature_store import FeatureView, OnlineConfig

        with boundary(call):
            empty = self._session.create_dataframe([], schema=struct(columns))
            empty.write.save_as_table(source.sql, mode="overwrite")
        registered: Any = None
        try:
            with boundary(call):
                feature_df = self._session.table(source.sql).select(
                    *(c for c, _ in columns if c != INGESTED_AT))
                online = OnlineConfig(enable=True,
                                      target_lag=spec.target_lag or self.online_target_lag) \
                    if spec.online else None
                fv = FeatureView(spec.name, [sf_entity], feature_df,
                                 timestamp_col=column(spec.timestamp_col),
                                 refresh_freq=self.refresh_freq, desc=spec.description,
                                 online_config=online)
                registered = self._fs.register_feature_view(fv, spec.version,
                                                            overwrite=overwrite)
                row = to_snowpark(self._session, CATALOG_COLUMNS, {
                    "NAME": [spec.name.upper()], "VERSION": [spec.version],
                    "SPEC": [_spec_to_json(spec)], "SOURCE_TABLE": [source.name.name],
                    "CREATED_AT": np.array([now_ns()], dtype=np.int64)}, 1)
                row.write.save_as_table(self._catalog.sql, mode="append")
        except BaseException:
            # nothing half-registered: undo the feature view and the source table
            if registered is not None:
                try:
                    self._fs.delete_feature_view(spec.name, spec.version)
                except Exception:  # pragma: no cover - the registration error matters more
                    pass
            try:
                self._session.table(source.sql).drop_table()
            except Exception:  # pragma: no cover
                pass
            raise
        self._fv_cache[(spec.name.upper(), spec.version)] = registered
        return spec

    def delete_feature_view(self, name: str, version: str) -> None:
        """Delete a view version: the Snowflake feature view, its source table (data) and its
        catalog row."""
        call = f"delete_feature_view({name!r}, {version!r})"
        spec, source = self._resolve(name, version, call)
        try:
            with boundary(call):
                self._fs.delete_feature_view(spec.name, spec.version)
        except NotFoundError:  # already gone from Snowflake: clean callquality's side
            pass
        with boundary(call):
            catalog = self._session.table(self._catalog.sql)
            catalog.delete((catalog["NAME"] == F.lit(spec.name.upper())) &
                           (catalog["VERSION"] == F.lit(spec.version)))
            self._session.table(source.sql).drop_table()
        self._fv_cache.pop((spec.name.upper(), spec.version), None)

    def get_feature_view(self, name: str, version: str | None = None) -> FeatureViewSpec:
        """A registered view (``version=None``: its newest version)."""
        return self._resolve(name, version, f"get_feature_view({name!r}, {version!r})")[0]

    def list_feature_views(self) -> pd.DataFrame:
        """One row per view version: name, version, entity, join_keys, timestamp_col,
        features, description, online, target_lag, created_on."""
        rows = self._rows("list_feature_views()")
        specs = [_spec_from_json(r["SPEC"]) for r in rows]
        return pd.DataFrame({
            "name": [s.name for s in specs], "version": [s.version for s in specs],
            "entity": [s.entity.name for s in specs],
            "join_keys": [list(s.entity.join_keys) for s in specs],
            "timestamp_col": [s.timestamp_col for s in specs],
            "features": [list(s.features) for s in specs],
            "description": [s.description for s in specs],
            "online": [s.online for s in specs], "target_lag": [s.target_lag for s in specs],
            "created_on": pd.to_datetime([r["CREATED_AT"] for r in rows], utc=True),
        })

    # ------------------------------------------------------------------ ingestion

    def ingest(self, view: str, df: pd.DataFrame, *, version: str | None = None) -> int:
        """Upsert a batch into a view (``MERGE`` on join keys + timestamp); returns the
        number of rows written.

        The batch gets the local store's checks first (join keys, timestamp and feature
        columns present; no missing key or timestamp; no repeated keys + timestamp; values
        of the features' dtypes): nothing is written when one fails.

        Raises:
            NotFoundError: unknown view.
            MissingColumnsError, MissingTimestampError, DuplicateKeyError, SchemaError.
        """
        call = f"ingest({view!r})"
        spec, source = self._resolve(view, version, call)
        table, _ = self._rules._batch(_View(0, spec), df, call)
        n = table.num_rows
        if n == 0:
            return 0
        columns = self._columns(spec)
        ts_col = column(spec.timestamp_col)
        data: dict[str, Any] = {column(k): table.column(k).to_pylist()
                                for k in spec.entity.join_keys}
        data[ts_col] = table.column("__ts").to_numpy()
        data[INGESTED_AT] = np.full(n, now_ns(), dtype=np.int64)
        for f in spec.features:
            data[column(f)] = table.column(f).to_pylist()
        with boundary(call):
            batch = to_snowpark(self._session, columns, data, n)
            target = self._session.table(source.sql)
            on = target[ts_col] == batch[ts_col]
            for k in spec.entity.join_keys:
                on = on & (target[column(k)] == batch[column(k)])
            keys = {column(k) for k in spec.entity.join_keys} | {ts_col}
            target.merge(batch, on, [
                F.when_matched().update({c: batch[c] for c, _ in columns if c not in keys}),
                F.when_not_matched().insert({c: batch[c] for c, _ in columns})])
            if self.refresh_on_ingest:
                self._refresh(spec, call)
        return int(n)

    def _refresh(self, spec: FeatureViewSpec, call: str) -> None:
        from snowflake.ml.feature_store import StoreType

        fv = self._feature_view(spec, call)
        self._fs.refresh_feature_view(fv)
        if spec.online:
            self._fs.refresh_feature_view(fv, store_type=StoreType.ONLINE)

    def _feature_view(self, spec: FeatureViewSpec, call: str) -> Any:
        key = (spec.name.upper(), spec.version)
        fv = self._fv_cache.get(key)
        if fv is None:
            with boundary(call):
                fv = self._fs.get_feature_view(spec.name, spec.version)
            self._fv_cache[key] = fv
        return fv

    # ------------------------------------------------------------------ offline reads

    def retrieve_feature_values(self, spine: pd.DataFrame, views: Sequence[Any], *,
                                spine_timestamp_col: str | None = None, ttl: Any = None,
                                include_feature_view_timestamp_col: bool = False
                                ) -> pd.DataFrame:
        """Point-in-time join of ``spine`` with the features of ``views``.

        For each spine row and view: the view's latest row with the same join keys and a
        timestamp at or before the spine's ``spine_timestamp_col`` (now when ``None``) and,
        with ``ttl``, not older than ``ttl`` before it; no match gives missing values. Same
        arguments, result and errors as the local store (a copy of the spine, same index and
        order, feature columns appended).
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
        resolved = [self._resolve(v, None, call) for v in views]
        spine_ns = check_spine(spine, [spec for spec, _ in resolved], spine_timestamp_col,
                               include_feature_view_timestamp_col, call)
        parts = [spine]
        for spec, source in resolved:
            feature_cols = [(column(f), _DTYPES[f]) for f in spec.features]
            with boundary(call):
                found, matched = point_in_time(
                    self._session, self._session.table(source.sql),
                    key_columns=[column(k) for k in spec.entity.join_keys],
                    timestamp_column=column(spec.timestamp_col), feature_columns=feature_cols,
                    spine_keys=[key_strings(spine[k]) for k in spec.entity.join_keys],
                    spine_ns=spine_ns, ttl_ns=ttl_ns)
            found.columns = list(spec.features)
            found.index = spine.index
            parts.append(found)
            if include_feature_view_timestamp_col:
                parts.append(pd.DataFrame({f"{spec.name}_{spec.timestamp_col}":
                                           matched.to_numpy()}, index=spine.index))
        return pd.concat(parts, axis=1)

    def read_feature_view(self, view: str, *, version: str | None = None,
                          store: str = "offline") -> pd.DataFrame:
        """Every row of a view: ``store="offline"`` its source rows (after upserts),
        ``"online"`` the latest row per key (computed from the source table)."""
        call = f"read_feature_view({view!r})"
        spec, source = self._resolve(view, version, call)
        if store not in ("offline", "online"):
            raise ConfigurationError(f"{call}: store={store!r}; use 'offline' or 'online'")
        out = [(column(k), "string", k) for k in spec.entity.join_keys]
        out.append((column(spec.timestamp_col), TIMESTAMP, spec.timestamp_col))
        out += [(column(f), _DTYPES[f], f) for f in spec.features]
        with boundary(call):
            table: SnowparkDataFrame = self._session.table(source.sql)
            keys = [column(k) for k in spec.entity.join_keys]
            if store == "online":
                from snowflake.snowpark import Window

                w = Window.partition_by(*keys).order_by(
                    F.col(column(spec.timestamp_col)).desc())
                table = table.with_column("__CQ_RN", F.row_number().over(w)) \
                    .filter(F.col("__CQ_RN") == 1)
            table = table.sort(*keys, column(spec.timestamp_col))
            return read_frame(table, out)

    # ------------------------------------------------------------------ online reads

    def get_online_features(self, view: str, keys: Sequence[Any],
                            feature_names: Sequence[str] | None = None) -> pd.DataFrame:
        """The latest row of each key from the view's online feature table, one output row per
        requested key in request order (missing values for unknown keys).

        Keys holding a backslash are read one at a time (with bind variables): snowflake-ml
        formats multi-key lookups as SQL string literals, where a backslash would escape.

        Returns:
            Columns: the join keys (as requested), the view's timestamp column (UTC) and the
            features.
        """
        call = f"get_online_features({view!r})"
        spec, _ = self._resolve(view, None, call)
        label = f"{spec.name}/{spec.version}"
        if not spec.online:
            raise ConfigurationError(f"{call}: {label} has online=False")
        if feature_names is None:
            names = tuple(spec.features)
        else:
            names = tuple(feature_names)
            unknown = [n for n in names if n not in spec.features]
            if unknown:
                raise SchemaError(f"{call}: {label} has no feature(s) {unknown}; its "
                                  f"features: {list(spec.features)}")
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            keys = list(keys) if isinstance(keys, (np.ndarray, pd.Series, pd.Index)) else [keys]
        n_key_cols = len(spec.entity.join_keys)
        wanted: list[tuple[str, ...]] = []
        for k in keys:
            parts = tuple(k) if isinstance(k, tuple) else (k,)
            if len(parts) != n_key_cols:
                raise ConfigurationError(f"{call}: key {k!r} does not match join keys "
                                         f"{list(spec.entity.join_keys)}")
            wanted.append(tuple(str(p) for p in parts))
        distinct = list(dict.fromkeys(wanted))
        batched = [k for k in distinct if not any("\\" in p for p in k)]
        single = [[k] for k in distinct if any("\\" in p for p in k)]
        from snowflake.ml.feature_store import StoreType

        fv = self._feature_view(spec, call)
        key_cols = [column(k) for k in spec.entity.join_keys]
        ts_col = column(spec.timestamp_col)
        requested = [ts_col, *(column(n) for n in names)]
        found: dict[tuple[str, ...], dict[str, Any]] = {}
        for group in ([batched] if batched else []) + single:
            with boundary(call):
                result = self._fs.read_feature_view(
                    fv, keys=[list(k) for k in group], feature_names=requested,
                    store_type=StoreType.ONLINE)
                frame = result if isinstance(result, pd.DataFrame) else result.to_pandas()
            for rec in frame.to_dict("records"):
                norm = {str(c).strip('"').upper(): v for c, v in rec.items()}
                key = tuple(str(norm.get(c)) for c in key_cols)
                found[key] = norm
        out: dict[str, Any] = {}
        if n_key_cols == 1:
            out[spec.entity.join_keys[0]] = np.array(list(keys), dtype=object)
        else:
            for i, k in enumerate(spec.entity.join_keys):
                out[k] = np.array([key[i] for key in keys], dtype=object)
        rows = [found.get(w, {}) for w in wanted]
        raw = pd.DataFrame({c: [r.get(c) for r in rows] for c in requested})
        frame = read_frame_from_pandas(raw, [(ts_col, TIMESTAMP, spec.timestamp_col),
                                             *((column(n), _DTYPES[n], n) for n in names)])
        for c in frame.columns:
            out[c] = frame[c].to_numpy() if frame[c].dtype == "float64" else frame[c].array
        return pd.DataFrame(out)

    # ------------------------------------------------------------------ freshness

    def freshness(self, view: str | None = None) -> pd.DataFrame:
        """Per view version: ``rows``, ``segments`` (distinct ingestion times still present),
        ``online_keys`` (distinct keys), ``last_event_at``, ``last_ingested_at``, ``lag`` (now -
        ``last_event_at``), ``target_lag`` and ``within_target``."""
        call = f"freshness({view!r})"
        if view is None:
            targets = [(_spec_from_json(r["SPEC"]),
                        ObjectName(self.database, self.schema, Ident(str(r["SOURCE_TABLE"]))))
                       for r in self._rows(call)]
        else:
            targets = [self._resolve(view, None, call)]
        now = pd.Timestamp.now(tz="UTC")
        records = []
        for spec, source in targets:
            ts_col = column(spec.timestamp_col)
            keys = [column(k) for k in spec.entity.join_keys]
            with boundary(call):
                table = self._session.table(source.sql)
                stats = table.agg(F.count(F.lit(1)).alias("N"),
                                  F.count_distinct(F.col(INGESTED_AT)).alias("SEGMENTS"),
                                  F.max(F.col(ts_col)).alias("LAST_EVENT"),
                                  F.max(F.col(INGESTED_AT)).alias("LAST_INGESTED"))
                s = read_frame(stats, [("N", "int64", "n"), ("SEGMENTS", "int64", "segments"),
                                       ("LAST_EVENT", TIMESTAMP, "last_event"),
                                       ("LAST_INGESTED", TIMESTAMP, "last_ingested")])
                n_keys = table.select(*keys).distinct().count()
            rec = s.iloc[0] if len(s) else None
            last_event = rec["last_event"] if rec is not None else pd.NaT
            lag = now - last_event if not pd.isna(last_event) else pd.NaT
            target = None if spec.target_lag is None else pd.Timedelta(
                parse_duration(spec.target_lag, what="target_lag", call=call))
            within = None if target is None or pd.isna(last_event) else bool(lag <= target)
            records.append({
                "name": spec.name, "version": spec.version,
                "rows": int(rec["n"]) if rec is not None and not pd.isna(rec["n"]) else 0,
                "segments": int(rec["segments"]) if rec is not None and
                not pd.isna(rec["segments"]) else 0,
                "online_keys": int(n_keys), "last_event_at": last_event,
                "last_ingested_at": rec["last_ingested"] if rec is not None else pd.NaT,
                "lag": lag, "target_lag": target, "within_target": within})
        columns = ["name", "version", "rows", "segments", "online_keys", "last_event_at",
                   "last_ingested_at", "lag", "target_lag", "within_target"]
        return pd.DataFrame.from_records(records, columns=columns)

    # ------------------------------------------------------------------ quickstart views

    def install_quickstart_views(self, *, target_lag: str | None = None) -> None:
        """Register the quickstart's ``call`` entity and its three views (online, with
        ``target_lag``, default the store's ``online_target_lag``), once per schema: a schema
        whose views were later changed or deleted is left alone."""
        call = "install the quickstart feature views"
        self._ensure(call)
        with boundary(call):
            meta = self._session.table(self._meta.sql)
            done = meta.filter(F.col("KEY") == F.lit("quickstart_views")).count()
        if done:
            return
        self.register_entity(CALL_ENTITY)
        lag = target_lag or self.online_target_lag
        for spec in quickstart_feature_views():
            try:
                self.register_feature_view(FeatureViewSpec(
                    spec.name, spec.entity, spec.features, spec.timestamp_col, spec.version,
                    spec.description, spec.online, lag))
            except AlreadyExistsError:  # a user's own definition wins
                pass
        with boundary(call):
            to_snowpark(self._session, _META_COLUMNS,
                        {"KEY": ["quickstart_views"], "VALUE": ["1"]}, 1) \
                .write.save_as_table(self._meta.sql, mode="append")


def _resolved(identifier: Any) -> str:
    """The resolved text of a snowflake-ml ``SqlIdentifier`` (or of a plain string)."""
    method = getattr(identifier, "resolved", None)
    return str(method()) if callable(method) else str(identifier)


def _lower(name: str) -> str:
    """``CALL_ID`` -> ``call_id``; a name that is not all upper case is kept as is."""
    return name.lower() if name == name.upper() else name


def read_frame_from_pandas(raw: pd.DataFrame, columns: Sequence[tuple[str, str, str]]
                           ) -> pd.DataFrame:
    """Like :func:`._tables.read_frame` for a pandas frame already collected."""
    return pd.DataFrame({out: typed(raw[name].reset_index(drop=True)
                                    if name in raw.columns else [None] * len(raw), kind)
                         for name, kind, out in columns}, index=pd.RangeIndex(len(raw)))
