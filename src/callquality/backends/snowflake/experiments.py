"""Experiment tracking on ``snowflake.ml.experiment.ExperimentTracking``
(implements :class:`callquality.protocols.ExperimentTracker`).

``ExperimentTracking`` is a process-wide singleton: a second ``ExperimentTracking(other_session,
database_name=...)`` silently returns the first instance, with the first session, database and
schema. callquality therefore keeps **one instance per Snowpark session**, created aside from
the singleton slot (which is left as it was, so user code calling ``ExperimentTracking(...)``
is not affected), and every tracker sets its experiment explicitly (``set_experiment(name,
database_name=..., schema_name=...)``) whenever the shared instance's context is not its own.
Two trackers on one session may switch experiments freely, but not while the other has a run
in progress (:class:`~callquality.exceptions.ConflictError`).

Semantics follow the local tracker: ``start_run`` is a context manager (``FINISHED`` on normal
exit, ``FAILED`` when an exception escapes); logging needs an active run (Snowflake would start
one implicitly; callquality refuses, as locally); experiment and run names are 1-128 letters,
digits, ``_ . -`` (SQL identifiers are resolved upper-case as Snowflake does; other names are
passed double-quoted, case kept).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ...exceptions import AlreadyExistsError, ConfigurationError, ConflictError, NotFoundError
from ...protocols import RunInfo
from ._errors import boundary
from ._names import Ident, ObjectName, check_text

__all__ = ["SnowflakeExperimentTracker", "shared_tracking"]

RUNNING, FINISHED, FAILED = "RUNNING", "FINISHED", "FAILED"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _check_name(kind: str, name: Any, call: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"{call}: invalid {kind} name {name!r}: use 1-128 letters, "
                                 "digits, '_', '.', '-', starting with a letter or digit")
    return name


def sf_name(name: str) -> str:
    """The name for snowflake-ml: unquoted when it is a SQL identifier, else double-quoted
    (the name was validated: no quote can appear in it)."""
    return name if _PLAIN.match(name) else f'"{name}"'


def _ident(name: str) -> Ident:
    return Ident(name.upper() if _PLAIN.match(name) else name)


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


@dataclass
class _Shared:
    """The ``ExperimentTracking`` of one session and who is using it."""

    tracking: Any
    context: tuple[str, str, str] | None = None
    owner: Any = None


_LOCK = threading.Lock()
_SHARED: dict[int, tuple[Any, _Shared]] = {}


def shared_tracking(session: Any, *, database: Ident, schema: Ident,
                    capture_source_info: bool = False) -> _Shared:
    """The one ``ExperimentTracking`` of ``session``, created on first use without taking
    (or disturbing) the process-wide singleton slot."""
    from snowflake.ml.experiment import ExperimentTracking

    with _LOCK:
        entry = _SHARED.get(id(session))
        if entry is not None and entry[0]() is session:
            return entry[1]
        previous = ExperimentTracking._instance
        ExperimentTracking._instance = None
        try:
            tracking = ExperimentTracking(session, database_name=database.api,
                                          schema_name=schema.api,
                                          capture_source_info=capture_source_info)
        finally:
            ExperimentTracking._instance = previous
        shared = _Shared(tracking)
        key = id(session)

        def forget(_ref: Any, k: int = key) -> None:
            _SHARED.pop(k, None)

        _SHARED[key] = (weakref.ref(session, forget), shared)
        return shared


class SnowflakeExperimentTracker:
    """Experiments and runs in Snowflake (``ExperimentTracking``).

    Not constructed directly: use ``cq.connect("snowflake", ...).experiments``.

    Args:
        session: the Snowpark session.
        database, schema: where experiments live.
        tracking: an ``ExperimentTracking`` to use instead of the session's shared one.
        capture_source_info: let Snowflake record the entry-point file and git info per run.
    """

    def __init__(self, session: Any, *, database: Ident, schema: Ident,
                 tracking: Any = None, capture_source_info: bool = False) -> None:
        self._session = session
        self.database = database
        self.schema = schema
        self.capture_source_info = capture_source_info
        self._shared = _Shared(tracking) if tracking is not None else None
        self._experiment = "default"
        self._active: RunInfo | None = None

    def __repr__(self) -> str:
        return (f"SnowflakeExperimentTracker({self.database}.{self.schema}, "
                f"experiment={self._experiment!r})")

    def _state(self) -> _Shared:
        if self._shared is None:
            self._shared = shared_tracking(self._session, database=self.database,
                                           schema=self.schema,
                                           capture_source_info=self.capture_source_info)
        return self._shared

    @property
    def tracking(self) -> Any:
        """The ``snowflake.ml.experiment.ExperimentTracking`` in use."""
        return self._state().tracking

    @property
    def experiment(self) -> str:
        """The current experiment's name."""
        return self._experiment

    def _use(self, call: str) -> Any:
        state = self._state()
        ctx = (self.database.name, self.schema.name, _ident(self._experiment).name)
        if state.context != ctx:
            if state.owner is not None and state.owner is not self:
                raise ConflictError(f"{call}: another tracker on this Snowpark session has a "
                                    "run in progress; end it first (ExperimentTracking keeps "
                                    "one context per session)")
            with boundary(call):
                state.tracking.set_experiment(sf_name(self._experiment),
                                              database_name=self.database.api,
                                              schema_name=self.schema.api)
            state.context = ctx
        return state.tracking

    def set_experiment(self, name: str) -> None:
        """Select (and create if needed) the experiment new runs go to."""
        call = f"set_experiment({name!r})"
        _check_name("experiment", name, call)
        if self._active is not None:
            raise ConfigurationError(f"{call}: run {self._active.run_name!r} is active; end it "
                                     "before switching experiments")
        self._experiment = name
        self._use(call)

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Iterator[RunInfo]:
        """Start a run in the current experiment; use as a context manager.

        Yields:
            The :class:`RunInfo` at start (``RUNNING``).

        Raises:
            ConfigurationError: a run of this tracker is active, or the name is invalid.
            AlreadyExistsError: the experiment has a finished run of that name.
        """
        call = f"start_run({run_name!r})"
        if self._active is not None:
            raise ConfigurationError(f"{call}: run {self._active.run_name!r} is active; runs "
                                     "do not nest")
        if run_name is None:
            run_name = (f"run_{datetime.now(timezone.utc):%Y%m%d_%H%M%S}_"
                        f"{uuid.uuid4().hex[:6]}")
        _check_name("run", run_name, call)
        tracking = self._use(call)
        state = self._state()
        try:
            with boundary(call):
                tracking.start_run(sf_name(run_name))
        except Exception as exc:
            if "exist" in str(exc).lower() and "resum" in str(exc).lower():
                raise AlreadyExistsError(f"{call}: experiment {self._experiment!r} already has "
                                         f"a run {run_name!r} that is no longer running") \
                    from exc
            raise
        info = RunInfo(experiment=self._experiment, run_name=run_name, status=RUNNING,
                       started_at=datetime.now(timezone.utc))
        self._active = info
        state.owner = self
        try:
            yield info
        except BaseException:
            self._end(FAILED, call)
            raise
        else:
            self._end(FINISHED, call)

    def _end(self, status: str, call: str) -> None:
        state = self._state()
        try:
            with boundary(call):
                state.tracking.end_run(status=status)
        finally:
            self._active = None
            state.owner = None

    def active_run(self) -> RunInfo | None:
        """The run in progress, if any."""
        return self._active

    def _require_active(self, what: str) -> Any:
        if self._active is None:
            raise ConfigurationError(f"SnowflakeExperimentTracker.{what}: no active run; use "
                                     "`with tracker.start_run(...):`")
        return self._state().tracking

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters of the active run (values as text)."""
        tracking = self._require_active("log_params")
        clean = {str(k): _param_text(v) for k, v in dict(params).items()}
        check_text(clean, "parameters", "log_params")
        with boundary("log_params"):
            tracking.log_params(clean)

    def log_param(self, key: str, value: Any) -> None:
        """Log one parameter of the active run."""
        self.log_params({key: value})

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log metrics of the active run at ``step`` (finite numbers only)."""
        tracking = self._require_active("log_metrics")
        clean: dict[str, float] = {}
        for k, v in dict(metrics).items():
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ConfigurationError(f"log_metrics: metric {k!r}={v!r} is not a number") \
                    from None
            if not math.isfinite(f):
                raise ConfigurationError(f"log_metrics: metric {k!r} is {f}; Snowflake stores "
                                         "finite numbers only")
            clean[str(k)] = f
        check_text(list(clean), "metric names", "log_metrics")
        with boundary("log_metrics"):
            tracking.log_metrics(clean, step=int(step))

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Log one metric of the active run."""
        self.log_metrics({key: value}, step=step)

    def log_artifact(self, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> None:
        """Upload a file or folder to the active run's artifacts."""
        tracking = self._require_active("log_artifact")
        path = Path(local_path)
        if not path.exists():
            raise NotFoundError(f"log_artifact: {str(path)!r} does not exist")
        if artifact_path is not None and (".." in Path(artifact_path).parts or
                                          Path(artifact_path).is_absolute()):
            raise ConfigurationError(f"log_artifact: artifact_path {artifact_path!r} must be a "
                                     "relative path without '..'")
        with boundary("log_artifact"):
            tracking.log_artifact(str(path), artifact_path)

    # ------------------------------------------------------------------ listing

    def _show(self, sql: str, call: str) -> list[dict[str, Any]]:
        with boundary(call):
            rows = self._session.sql(sql).collect()
        return [{str(k).lower(): v for k, v in r.as_dict().items()} for r in rows]

    def experiments(self) -> list[str]:
        """Experiment names in the schema (as Snowflake resolved them)."""
        sql = f"SHOW EXPERIMENTS IN SCHEMA {self.database.sql}.{self.schema.sql}"
        return sorted(str(r.get("name")) for r in self._show(sql, "experiments()"))

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Comparison table: one row per run (oldest first) of ``experiment`` (default: every
        experiment of the schema).

        Columns: ``experiment, run_name, status, started_at, ended_at, duration_s``, then
        ``params.<name>`` (text) and ``metrics.<name>`` (float, the highest step), each sorted.
        ``ended_at``/``duration_s`` are filled when Snowflake's run metadata carries an end
        time.
        """
        call = f"runs({experiment!r})"
        if experiment is not None:
            _check_name("experiment", experiment, call)
            names = [_ident(experiment)]
        else:
            names = [Ident(n) for n in self.experiments()]
        base = ["experiment", "run_name", "status", "started_at", "ended_at", "duration_s"]
        records: list[dict[str, Any]] = []
        for exp in names:
            fqn = ObjectName(self.database, self.schema, exp).sql
            label = experiment if experiment is not None else exp.name
            params: dict[str, dict[str, Any]] = {}
            for r in self._show(f"SHOW RUN PARAMETERS IN EXPERIMENT {fqn}", call):
                params.setdefault(str(r.get("run_name")), {})[str(r.get("name"))] = \
                    None if r.get("value") is None else str(r.get("value"))
            metrics: dict[str, dict[str, tuple[int, float]]] = {}
            for r in self._show(f"SHOW RUN METRICS IN EXPERIMENT {fqn}", call):
                run, name = str(r.get("run_name")), str(r.get("name"))
                step = int(r.get("step") or 0)
                try:
                    value = float(r.get("value"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    value = float("nan")
                prev = metrics.setdefault(run, {}).get(name)
                if prev is None or step >= prev[0]:
                    metrics[run][name] = (step, value)
            for r in self._show(f"SHOW RUNS IN EXPERIMENT {fqn}", call):
                meta = r.get("metadata")
                try:
                    meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
                except (TypeError, ValueError):
                    meta = {}
                run = str(r.get("name"))
                started = _timestamp(r.get("created_on") or meta.get("start_time"))
                ended = _timestamp(meta.get("end_time") or meta.get("ended_at"))
                row = {"experiment": label, "run_name": run,
                       "status": str(meta.get("status") or r.get("status") or "UNKNOWN"),
                       "started_at": started, "ended_at": ended,
                       "duration_s": (ended - started).total_seconds()
                       if not (pd.isna(started) or pd.isna(ended)) else float("nan")}
                row.update({f"params.{k}": v for k, v in params.get(run, {}).items()})
                row.update({f"metrics.{k}": v for k, (_, v) in metrics.get(run, {}).items()})
                records.append(row)
        if not records:
            return pd.DataFrame(columns=base)
        df = pd.DataFrame(records).sort_values(["started_at", "run_name"], ignore_index=True)
        extra = sorted(c for c in df.columns if c not in base)
        order = [c for c in extra if c.startswith("params.")] + \
            [c for c in extra if c.startswith("metrics.")]
        return df[base + order]


def _timestamp(value: Any) -> pd.Timestamp:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return pd.NaT
    try:
        if isinstance(value, (int, float)):
            return pd.Timestamp(int(value), unit="ms", tz="UTC")
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return pd.NaT
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
