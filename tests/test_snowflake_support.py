"""Shared support of the Snowflake backend tests (and tests of that support).

* :func:`local_session` — one Snowpark local-testing session per test run
  (``Session.builder.config("local_testing", True)``): real Snowpark DataFrame semantics, no
  account, no SQL text.
* :class:`FakeModels`, :class:`FakeFeatureStore`, :func:`fake_tracking` — in-memory stand-ins
  for a schema's models, feature store and experiment tracking, built with
  ``unittest.mock.create_autospec`` of the REAL snowflake-ml classes: a call with a wrong
  argument name, a missing argument or keyword-only arguments passed by position fails
  before the fake runs. The fakes follow Snowflake's rules where the backend relies on them
  (identifiers resolved upper-case, duplicate versions refused, a version holds one alias,
  the default version cannot be dropped, online reads return the latest row per key).
"""

from __future__ import annotations

import functools
import json
import shutil
import uuid
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, create_autospec

import pandas as pd
import pytest

pytest.importorskip("snowflake.ml.registry", reason="needs pip install 'callquality[snowflake]'")

from snowflake.ml._internal.utils.sql_identifier import SqlIdentifier
from snowflake.ml.experiment import ExperimentTracking
from snowflake.ml.feature_store import FeatureStore, StoreType
from snowflake.ml.model import Model, ModelVersion
from snowflake.ml.monitoring.model_monitor import ModelMonitor
from snowflake.ml.registry import Registry
from snowflake.snowpark import Session

SYSTEM = ("DEFAULT", "FIRST", "LAST")
_T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


@functools.lru_cache(maxsize=1)
def local_session() -> Session:
    """The Snowpark local-testing session shared by the Snowflake tests."""
    warnings.filterwarnings("ignore", module=r"snowflake\.snowpark\.mock.*")
    return Session.builder.config("local_testing", True).create()


def unique_schema() -> str:
    """A fresh schema name: tests never see each other's tables."""
    return f"T_{uuid.uuid4().hex[:12].upper()}"


def resolved(name: str) -> str:
    """Snowflake's resolution of an identifier (raises ValueError for invalid ones)."""
    return SqlIdentifier(name).resolved()


class FakeModels:
    """A schema's models behind ``create_autospec(Registry)``, ``Model`` and
    ``ModelVersion``."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.log_calls: list[dict[str, Any]] = []
        self.monitors: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, ...]] = []
        self._clock = 0
        self.registry = create_autospec(Registry, instance=True)
        self.registry.log_model.side_effect = self._log_model
        self.registry.get_model.side_effect = self._get_model
        self.registry.show_models.side_effect = self._show_models
        self.registry.delete_model.side_effect = self._delete_model
        self.registry.add_monitor.side_effect = self._add_monitor
        self.registry.delete_monitor.side_effect = lambda name: self.monitors.pop(name)

    def _tick(self) -> datetime:
        self._clock += 1
        return _T0 + timedelta(seconds=self._clock)

    # -- registry

    def _log_model(self, model: Any, *, model_name: str, version_name: str | None = None,
                   **kwargs: Any) -> Any:
        name = resolved(model_name)
        version = resolved(version_name) if version_name else f"HRID_{uuid.uuid4().hex[:6]}"
        state = self.models.setdefault(name, {"created": self._tick(), "versions": {},
                                              "default": None})
        if version in state["versions"]:
            raise ValueError(f"Model {name} version {version} already existed. To "
                             "auto-generate `version_name`, skip that argument.")
        files: dict[str, bytes] = {}
        for sub, paths in (kwargs.get("user_files") or {}).items():
            for p in map(Path, paths):
                root = p if p.is_dir() else p.parent
                for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
                    rel = f"{p.name}/{f.relative_to(root).as_posix()}" if p.is_dir() else p.name
                    files[f"user_files/{sub}/{rel}"] = f.read_bytes()
        self.log_calls.append({"model": model, "model_name": model_name,
                               "version_name": version_name, **kwargs})
        state["versions"][version] = {
            "created": self._tick(), "comment": kwargs.get("comment") or "",
            "metrics": json.loads(json.dumps(kwargs.get("metrics") or {})), "alias": None,
            "files": files, "model": model, "task": kwargs.get("task")}
        if state["default"] is None:
            state["default"] = version
        self.events.append(("log_model", name, version))
        return self._mv(name, version)

    def _state(self, model_name: str) -> dict[str, Any]:
        name = resolved(model_name)
        if name not in self.models:
            raise ValueError(f"Unable to find model {name}")
        return self.models[name]

    def _get_model(self, model_name: str) -> Any:
        name = resolved(model_name)
        self._state(name)
        return self._model(name)

    def _show_models(self) -> pd.DataFrame:
        rows = []
        for name, st in sorted(self.models.items()):
            rows.append({"created_on": st["created"], "name": name,
                         "default_version_name": st["default"],
                         "versions": json.dumps(list(st["versions"])), "comment": None})
        return pd.DataFrame(rows, columns=["created_on", "name", "default_version_name",
                                           "versions", "comment"])

    def _delete_model(self, model_name: str) -> None:
        self._state(model_name)
        del self.models[resolved(model_name)]
        self.events.append(("delete_model", resolved(model_name)))

    def _add_monitor(self, name: str, source_config: Any, model_monitor_config: Any) -> Any:
        self.monitors[name] = {"source": source_config, "config": model_monitor_config}
        return create_autospec(ModelMonitor, instance=True)

    # -- model

    def _model(self, name: str) -> Any:
        model = create_autospec(Model, instance=True)
        type(model).name = PropertyMock(return_value=name)

        def default(*value: Any) -> Any:
            st = self._state(name)
            if not value:
                return self._mv(name, st["default"])
            target = resolved(value[0] if isinstance(value[0], str) else value[0].version_name)
            if target not in st["versions"]:
                raise ValueError(f"Version {target} does not exist")
            st["default"] = target
            self.events.append(("set_default", name, target))
            return None

        type(model).default = PropertyMock(side_effect=default)
        model.show_versions.side_effect = lambda: self._show_versions(name)
        model.version.side_effect = lambda version_or_alias: self._mv(
            name, self._resolve(name, version_or_alias))
        model.versions.side_effect = lambda: [self._mv(name, v)
                                              for v in self._state(name)["versions"]]
        model.delete_version.side_effect = lambda version_name: self._delete_version(
            name, version_name)
        return model

    def _resolve(self, name: str, version_or_alias: str) -> str:
        st = self._state(name)
        key = resolved(version_or_alias)
        versions = list(st["versions"])
        if key == "DEFAULT":
            return str(st["default"])
        if key in ("FIRST", "LAST") and versions:
            return versions[0] if key == "FIRST" else versions[-1]
        for v, info in st["versions"].items():
            if info["alias"] == key:
                return v
        if key in st["versions"]:
            return key
        raise ValueError(f"Unable to find version or alias with name {key} in model {name}")

    def _show_versions(self, name: str) -> pd.DataFrame:
        st = self._state(name)
        versions = list(st["versions"])
        rows = []
        for v, info in st["versions"].items():
            aliases = [a for a, on in (("DEFAULT", v == st["default"]),
                                       ("FIRST", v == versions[0]),
                                       ("LAST", v == versions[-1])) if on]
            if info["alias"]:
                aliases.append(info["alias"])
            rows.append({"created_on": info["created"], "name": v,
                         "aliases": json.dumps(aliases), "database_name": "CQ",
                         "schema_name": "ML", "model_name": name,
                         "is_default_version": "true" if v == st["default"] else "false",
                         "functions": '["PREDICT","PREDICT_PROBA"]',
                         "metadata": json.dumps({"metrics": info["metrics"],
                                                 "snowpark_ml_schema_version": "2024-01-01"}),
                         "user_data": "{}", "comment": info["comment"] or None})
        return pd.DataFrame(rows)

    def _delete_version(self, name: str, version_name: str) -> None:
        st = self._state(name)
        v = resolved(version_name)
        if v == st["default"]:
            raise ValueError(f"Cannot drop the default version {v} of model {name}")
        if v not in st["versions"]:
            raise ValueError(f"Version {v} does not exist")
        del st["versions"][v]
        self.events.append(("delete_version", name, v))

    # -- model version

    def _mv(self, name: str, version: str) -> Any:
        mv = create_autospec(ModelVersion, instance=True)
        type(mv).version_name = PropertyMock(return_value=version)
        type(mv).model_name = PropertyMock(return_value=name)

        def info() -> dict[str, Any]:
            return dict(self._state(name)["versions"][version])

        def set_alias(alias_name: str) -> None:
            alias = resolved(alias_name)
            st = self._state(name)
            if alias in SYSTEM:
                raise ValueError(f"{alias} is a system alias")
            if any(i["alias"] == alias for i in st["versions"].values()):
                raise ValueError(f"Alias {alias} already exists in model {name}")
            if st["versions"][version]["alias"]:
                raise ValueError(f"Version {version} already has an alias")
            st["versions"][version]["alias"] = alias
            self.events.append(("set_alias", name, version, alias))

        def unset_alias(version_or_alias: str) -> None:
            st = self._state(name)
            target = self._resolve(name, version_or_alias)
            if not st["versions"][target]["alias"]:
                raise ValueError(f"{version_or_alias} has no alias")
            st["versions"][target]["alias"] = None
            self.events.append(("unset_alias", name, target, resolved(version_or_alias)))

        def set_metric(metric_name: str, value: Any) -> None:
            self._state(name)["versions"][version]["metrics"][metric_name] = \
                json.loads(json.dumps(value))

        def delete_metric(metric_name: str) -> None:
            del self._state(name)["versions"][version]["metrics"][metric_name]

        def export(target_path: str, *, export_mode: Any = None) -> None:
            target = Path(target_path)
            assert not any(target.iterdir()), "export needs an empty folder"
            (target / "model").mkdir()
            (target / "model" / "model.yaml").write_text("models: {}\n")
            for rel, data in info()["files"].items():
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)

        def run(X: Any, *, function_name: str | None = None, **kw: Any) -> pd.DataFrame:
            model = info()["model"]
            if hasattr(model, "get_booster"):  # the XGBClassifier logged for CallQualityModel
                proba = model.predict_proba(X)
                return pd.DataFrame({"output_feature_0": proba[:, 0],
                                     "output_feature_1": proba[:, 1]})
            return getattr(model, str(function_name))(X)

        def comment(*value: Any) -> Any:
            if value:
                self._state(name)["versions"][version]["comment"] = value[0]
                return None
            return info()["comment"]

        mv.set_alias.side_effect = set_alias
        mv.unset_alias.side_effect = unset_alias
        mv.set_metric.side_effect = set_metric
        mv.delete_metric.side_effect = delete_metric
        mv.show_metrics.side_effect = lambda: dict(info()["metrics"])
        mv.export.side_effect = export
        mv.run.side_effect = run
        type(mv).comment = PropertyMock(side_effect=comment)
        return mv


class FakeFeatureStore:
    """A feature store behind ``create_autospec(FeatureStore)``; online reads compute the
    latest row per key from the view's feature DataFrame (on the local-testing session)."""

    def __init__(self) -> None:
        self.entities: dict[str, Any] = {}
        self.views: dict[tuple[str, str], Any] = {}
        self.refreshes: list[tuple[str, Any]] = []
        self.online_reads: list[dict[str, Any]] = []
        self.fs = create_autospec(FeatureStore, instance=True)
        self.fs.register_entity.side_effect = self._register_entity
        self.fs.get_entity.side_effect = self._get_entity
        self.fs.register_feature_view.side_effect = self._register_view
        self.fs.get_feature_view.side_effect = self._get_view
        self.fs.delete_feature_view.side_effect = self._delete_view
        self.fs.refresh_feature_view.side_effect = self._refresh
        self.fs.read_feature_view.side_effect = self._read

    def _register_entity(self, entity: Any) -> Any:
        key = entity.name.resolved()
        if key in self.entities:
            warnings.warn(f"Entity {key} already exists. Skip registration.", stacklevel=2)
            return entity
        self.entities[key] = entity
        return entity

    def _get_entity(self, name: str) -> Any:
        key = resolved(name)
        if key not in self.entities:
            raise ValueError(f"(2102) Cannot find Entity with name: {key}.")
        return self.entities[key]

    def _register_view(self, feature_view: Any, version: str, *, block: bool = True,
                       overwrite: bool = False) -> Any:
        for e in feature_view.entities:
            if e.name.resolved() not in self.entities:
                raise ValueError(f"Entity {e.name} has not been registered.")
        key = (feature_view.name.resolved(), str(version))
        if key in self.views and not overwrite:
            return self.views[key]
        self.views[key] = feature_view
        return feature_view

    def _view(self, feature_view: Any, version: str | None) -> Any:
        if isinstance(feature_view, str):
            key = (resolved(feature_view), str(version))
            if key not in self.views:
                raise ValueError(f"FeatureView {key[0]}/{key[1]} does not exist")
            return self.views[key]
        return feature_view

    def _get_view(self, name: str, version: str) -> Any:
        return self._view(name, version)

    def _delete_view(self, feature_view: Any, version: str | None = None) -> None:
        fv = self._view(feature_view, version)
        for k, v in list(self.views.items()):
            if v is fv:
                del self.views[k]

    def _refresh(self, feature_view: Any, version: str | None = None, *,
                 store_type: Any = StoreType.OFFLINE) -> None:
        self.refreshes.append((str(self._view(feature_view, version).name), store_type))

    def _read(self, feature_view: Any, version: str | None = None, *,
              keys: list[list[str]] | None = None, feature_names: list[str] | None = None,
              store_type: Any = StoreType.OFFLINE, **kw: Any) -> Any:
        fv = self._view(feature_view, version)
        self.online_reads.append({"view": str(fv.name), "keys": keys,
                                  "feature_names": feature_names, "store_type": store_type})
        assert store_type == StoreType.ONLINE, "the backend reads offline data itself"
        if not fv.online:
            raise ValueError(f"Online store is not enabled for feature view {fv.name}")
        available = [f.name for f in fv.output_schema.fields]
        for f in feature_names or []:
            if f not in available:
                raise ValueError(f"Feature '{f}' not found in feature view. Available "
                                 f"features: {available}")
        df = fv.feature_df.to_pandas()
        join = [k.resolved() for e in fv.entities for k in e.join_keys]
        ts = str(fv.timestamp_col.resolved())
        if keys:
            wanted = {tuple(str(x) for x in k) for k in keys}
            df = df[[tuple(str(r[c]) for c in join) in wanted for _, r in df.iterrows()]]
        df = df.sort_values(ts).groupby(join, as_index=False).tail(1)
        return df[join + list(feature_names or [c for c in available if c not in join])] \
            .reset_index(drop=True)


def fake_tracking() -> Any:
    """``create_autospec(ExperimentTracking)`` recording runs: start_run refuses a finished
    run's name, as Snowflake does."""
    et = create_autospec(ExperimentTracking, instance=True)
    state: dict[str, Any] = {"runs": {}, "active": None, "experiment": None}

    def set_experiment(experiment_name: str, database_name: str | None = None,
                       schema_name: str | None = None) -> Any:
        state["experiment"] = (experiment_name, database_name, schema_name)
        state["active"] = None
        return None

    def start_run(run_name: str | None = None) -> Any:
        if state["active"] is not None:
            raise RuntimeError("A run is already active.")
        key = (state["experiment"][0], resolved(str(run_name)))
        if key in state["runs"] and state["runs"][key]["status"] != "RUNNING":
            raise RuntimeError(f"Run {run_name} exists but cannot be resumed as it is no longer "
                               "running.")
        state["runs"][key] = {"status": "RUNNING", "params": {}, "metrics": {}}
        state["active"] = key
        return None

    def end_run(run_name: str | None = None, status: str | None = None) -> None:
        state["runs"][state["active"]]["status"] = status
        state["active"] = None

    def log_params(params: Mapping[str, Any]) -> None:
        state["runs"][state["active"]]["params"].update(params)

    def log_metrics(metrics: Mapping[str, float], step: int = 0) -> None:
        state["runs"][state["active"]]["metrics"].update(metrics)

    et.set_experiment.side_effect = set_experiment
    et.start_run.side_effect = start_run
    et.end_run.side_effect = end_run
    et.log_params.side_effect = log_params
    et.log_metrics.side_effect = log_metrics
    et.state = state
    return et


def snowflake_backend(models: FakeModels | None = None, fs: FakeFeatureStore | None = None,
                      tracking: Any = None, **options: Any) -> Any:
    """``cq.connect("snowflake", ...)`` on the local-testing session, a fresh schema and the
    fakes."""
    import callquality as cq

    return cq.connect("snowflake", session=local_session(), database="CQ",
                      schema=unique_schema(), warehouse="CQ_WH",
                      registry=(models or FakeModels()).registry,
                      feature_store=(fs or FakeFeatureStore()).fs,
                      experiment_tracking=tracking if tracking is not None else fake_tracking(),
                      **options)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a folder (tests that tamper with exported files)."""
    shutil.copytree(src, dst)


# --------------------------------------------------------------------------- the fakes' own rules


def test_fakes_are_autospecced_and_refuse_wrong_calls() -> None:
    models = FakeModels()
    with pytest.raises(TypeError):
        models.registry.log_model("m", "my_model")  # model_name is keyword-only
    with pytest.raises(TypeError):
        models.registry.get_model(name="x")  # the parameter is model_name
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        models.registry.log_model(object(), model_name="my-model")
    fs = FakeFeatureStore()
    with pytest.raises(TypeError):
        fs.fs.register_feature_view(object(), "v1", True)  # block is keyword-only
    et = fake_tracking()
    with pytest.raises(TypeError):
        et.log_metrics({"a": 1.0}, stepp=1)


def test_fake_registry_follows_snowflake_alias_rules() -> None:
    models = FakeModels()
    models.registry.log_model(object(), model_name="m", version_name="v1")
    models.registry.log_model(object(), model_name="M", version_name="V2")
    model = models.registry.get_model("m")
    model.version("V1").set_alias("PRODUCTION")
    with pytest.raises(ValueError, match="already has an alias"):
        model.version("V1").set_alias("OTHER")
    with pytest.raises(ValueError, match="already exists"):
        model.version("V2").set_alias("production")
    with pytest.raises(ValueError, match="default"):
        model.delete_version("V1")
    table = model.show_versions()
    assert list(table["name"]) == ["V1", "V2"]
    assert json.loads(table["aliases"][0]) == ["DEFAULT", "FIRST", "PRODUCTION"]
