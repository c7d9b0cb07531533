"""A local :class:`~callquality.protocols.ExperimentTracker`: in memory or in a folder.

Mirrors ``snowflake.ml.experiment.ExperimentTracking`` (experiments, runs, params, metrics with
steps, artifacts, status) and MLflow's run table (``params.*``, ``metrics.*``, ``tags.*``
columns). With a ``path`` every change is persisted at once, each file written atomically
(temporary file + ``os.replace``), so other processes (a dashboard) can read while a pipeline
writes::

    path/experiments/<experiment>/experiment.json
    path/experiments/<experiment>/runs/<run>/run.json       status, times, params, metrics,
                                                           metric history, tags, artifacts
    path/experiments/<experiment>/runs/<run>/artifacts/...  copies of logged files/folders

Without a path everything (artifacts included, as bytes) lives in memory.

Differences from Snowflake: logging without an active run raises
:class:`~callquality.exceptions.ConfigurationError` instead of starting one implicitly; runs
do not nest; a run name is unique within its experiment; a param, once logged, keeps its
value (a different value raises :class:`~callquality.exceptions.ConflictError`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from ..exceptions import (
    AlreadyExistsError,
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
)
from ..protocols import RunInfo
from ._util import atomic_copy_file, atomic_write_bytes, atomic_write_json

__all__ = ["FAILED", "FINISHED", "RUNNING", "LocalExperimentTracker"]

RUNNING, FINISHED, FAILED = "RUNNING", "FINISHED", "FAILED"
DEFAULT_EXPERIMENT = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"LocalExperimentTracker: invalid {kind} name {name!r}: use 1-128 letters, digits, "
            "'_', '.', '-', starting with a letter or digit")
    return name


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Run:
    experiment: str
    run_name: str
    status: str
    started_at: datetime
    ended_at: datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_steps: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes | None] = field(default_factory=dict)  # bytes: in-memory store

    def info(self) -> RunInfo:
        return RunInfo(experiment=self.experiment, run_name=self.run_name, status=self.status,
                       started_at=self.started_at, ended_at=self.ended_at,
                       params=dict(self.params), metrics=dict(self.metrics),
                       tags=dict(self.tags), artifacts=tuple(sorted(self.artifacts)))

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment, "run_name": self.run_name, "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "params": self.params, "metrics": self.metrics, "metric_steps": self.metric_steps,
            "history": self.history, "tags": self.tags, "artifacts": sorted(self.artifacts),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> _Run:
        return cls(
            experiment=d["experiment"], run_name=d["run_name"], status=d["status"],
            started_at=datetime.fromisoformat(d["started_at"]),
            ended_at=datetime.fromisoformat(d["ended_at"]) if d.get("ended_at") else None,
            params=dict(d.get("params", {})),
            metrics={k: (float("nan") if v is None else float(v))
                     for k, v in d.get("metrics", {}).items()},
            metric_steps=dict(d.get("metric_steps", {})), history=list(d.get("history", [])),
            tags=dict(d.get("tags", {})), artifacts=dict.fromkeys(d.get("artifacts", [])),
        )


class LocalExperimentTracker:
    """Experiment tracking in memory (``path=None``) or persisted in the folder ``path``.

    Implements :class:`callquality.protocols.ExperimentTracker`. Thread-safe; several
    processes may share one folder as long as each run is written by one process.

    Example::

        tracker = LocalExperimentTracker("./cq-store/tracking")
        tracker.set_experiment("call_quality")
        with tracker.start_run("all_features") as run:
            tracker.log_params({"max_depth": 4})
            tracker.log_metrics({"test_f1": 0.81})
        tracker.runs()   # one row per run: status, times, params.*, metrics.*, tags.*
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        self._experiment = DEFAULT_EXPERIMENT
        self._active: _Run | None = None
        self._memory: dict[tuple[str, str], _Run] = {}
        self._experiments: dict[str, datetime] = {}
        if self.path is not None:
            (self.path / "experiments").mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"LocalExperimentTracker({where!r}, experiment={self._experiment!r})"

    # ------------------------------------------------------------------ storage

    def _run_dir(self, experiment: str, run_name: str) -> Path:
        assert self.path is not None
        return self.path / "experiments" / experiment / "runs" / run_name

    def _save(self, run: _Run) -> None:
        if self.path is None:
            self._memory[(run.experiment, run.run_name)] = run
        else:
            atomic_write_json(self._run_dir(run.experiment, run.run_name) / "run.json",
                              run.to_json())

    def _load(self, experiment: str, run_name: str) -> _Run | None:
        if self._active is not None and (self._active.experiment, self._active.run_name) == (
                experiment, run_name):
            return self._active
        if self.path is None:
            return self._memory.get((experiment, run_name))
        f = self._run_dir(experiment, run_name) / "run.json"
        if not f.is_file():
            return None
        try:
            return _Run.from_json(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise IntegrityError(f"LocalExperimentTracker: {f} is unreadable: {exc}") from exc

    def _all(self, experiment: str | None) -> list[_Run]:
        exps = [experiment] if experiment is not None else self.experiments()
        runs: list[_Run] = []
        for exp in exps:
            if self.path is None:
                runs.extend(r for (e, _), r in self._memory.items() if e == exp)
            else:
                base = self.path / "experiments" / exp / "runs"
                if base.is_dir():
                    for d in sorted(base.iterdir()):
                        if (d / "run.json").is_file():
                            run = self._load(exp, d.name)
                            if run is not None:
                                runs.append(run)
        return sorted(runs, key=lambda r: (r.started_at, r.experiment, r.run_name))

    def _require_active(self, what: str) -> _Run:
        if self._active is None:
            raise ConfigurationError(f"LocalExperimentTracker.{what}: no active run; use "
                                     "`with tracker.start_run(...):`")
        return self._active

    # ------------------------------------------------------------------ experiments

    @property
    def experiment(self) -> str:
        """The current experiment (``"default"`` until :meth:`set_experiment`)."""
        return self._experiment

    def set_experiment(self, name: str) -> None:
        """Make ``name`` the current experiment, creating it if needed."""
        _check_name("experiment", name)
        with self._lock:
            if self._active is not None:
                raise ConfigurationError("LocalExperimentTracker.set_experiment: a run is "
                                         f"active ({self._active.run_name!r})")
            self._experiment = name
            self._ensure_experiment(name)

    def _ensure_experiment(self, name: str) -> None:
        if self.path is None:
            self._experiments.setdefault(name, _now())
            return
        f = self.path / "experiments" / name / "experiment.json"
        if not f.exists():
            atomic_write_json(f, {"name": name, "created_at": _now().isoformat()})

    def experiments(self) -> list[str]:
        """Names of all experiments, sorted."""
        if self.path is None:
            names = set(self._experiments) | {e for e, _ in self._memory}
            return sorted(names)
        base = self.path / "experiments"
        return sorted(d.name for d in base.iterdir() if d.is_dir()) if base.is_dir() else []

    # ------------------------------------------------------------------ runs

    @contextmanager
    def start_run(self, run_name: str | None = None) -> Iterator[RunInfo]:
        """Start a run in the current experiment; use as a context manager.

        The run is ``FINISHED`` when the block exits normally and ``FAILED`` (with the
        exception in tag ``error``) when an exception escapes it; the exception is re-raised.

        Args:
            run_name: unique within the experiment; default: UTC time plus a random suffix.

        Yields:
            The :class:`RunInfo` at start (``RUNNING``); :meth:`get_run` gives later states.

        Raises:
            ConfigurationError: another run is active in this tracker.
            AlreadyExistsError: the experiment already has a run of that name.
        """
        run = self._begin(run_name)
        try:
            yield run.info()
        except BaseException as exc:
            self._finish(run, FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        else:
            self._finish(run, FINISHED)

    def _begin(self, run_name: str | None) -> _Run:
        with self._lock:
            if self._active is not None:
                raise ConfigurationError(
                    f"LocalExperimentTracker.start_run: run {self._active.run_name!r} is still "
                    "active; runs do not nest")
            if run_name is None:
                run_name = f"run-{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
            _check_name("run", run_name)
            exp = self._experiment
            self._ensure_experiment(exp)
            if self._load(exp, run_name) is not None:
                raise AlreadyExistsError(f"LocalExperimentTracker.start_run: experiment "
                                         f"{exp!r} already has a run {run_name!r}")
            run = _Run(experiment=exp, run_name=run_name, status=RUNNING, started_at=_now())
            self._save(run)
            self._active = run
            return run

    def _finish(self, run: _Run, status: str, error: str | None = None) -> None:
        with self._lock:
            run.status = status
            run.ended_at = _now()
            if error is not None:
                run.tags["error"] = error[:2000]
            self._save(run)
            if self._active is run:
                self._active = None

    def end_run(self, status: str = FINISHED) -> None:
        """End the active run with ``status`` (``"FINISHED"`` or ``"FAILED"``)."""
        if status not in (FINISHED, FAILED):
            raise ConfigurationError(f"LocalExperimentTracker.end_run: status={status!r}")
        with self._lock:
            self._finish(self._require_active("end_run"), status)

    @property
    def active_run(self) -> RunInfo | None:
        """The active run's current state, or ``None``."""
        with self._lock:
            return None if self._active is None else self._active.info()

    def get_run(self, run_name: str, experiment: str | None = None) -> RunInfo:
        """A run's current state. Raises :class:`NotFoundError` if it does not exist."""
        exp = experiment or self._experiment
        with self._lock:
            run = self._load(exp, run_name)
        if run is None:
            raise NotFoundError(f"LocalExperimentTracker.get_run: no run {run_name!r} in "
                                f"experiment {exp!r}")
        return run.info()

    def delete_run(self, run_name: str, experiment: str | None = None) -> None:
        """Delete a finished run and its artifacts."""
        exp = experiment or self._experiment
        with self._lock:
            run = self._load(exp, run_name)
            if run is None:
                raise NotFoundError(f"LocalExperimentTracker.delete_run: no run {run_name!r} "
                                    f"in experiment {exp!r}")
            if run is self._active:
                raise ConflictError("LocalExperimentTracker.delete_run: the run is active")
            if self.path is None:
                del self._memory[(exp, run_name)]
            else:
                shutil.rmtree(self._run_dir(exp, run_name))

    # ------------------------------------------------------------------ logging

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters of the active run; values are stored as text (JSON for
        containers). Raises :class:`ConflictError` when a param changes value."""
        with self._lock:
            run = self._require_active("log_params")
            new = {str(k): _param_text(v) for k, v in params.items()}
            changed = {k: (run.params[k], v) for k, v in new.items()
                       if k in run.params and run.params[k] != v}
            if changed:
                raise ConflictError(f"LocalExperimentTracker.log_params: params already logged "
                                    f"with other values (old, new): {changed}")
            run.params.update(new)
            self._save(run)

    def log_param(self, key: str, value: Any) -> None:
        """One parameter (see :meth:`log_params`)."""
        self.log_params({key: value})

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Record metric values at ``step``; the run's value of a metric is the one at the
        highest step (the latest write on ties). The full history is kept."""
        with self._lock:
            run = self._require_active("log_metrics")
            ts = _now().isoformat()
            for k, v in metrics.items():
                key, value = str(k), float(v)
                run.history.append({"name": key, "step": int(step), "value": value,
                                    "timestamp": ts})
                if step >= run.metric_steps.get(key, step):
                    run.metrics[key] = value
                    run.metric_steps[key] = int(step)
            self._save(run)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """One metric (see :meth:`log_metrics`)."""
        self.log_metrics({key: value}, step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set free-text tags of the active run (overwriting)."""
        with self._lock:
            run = self._require_active("set_tags")
            run.tags.update({str(k): str(v) for k, v in tags.items()})
            self._save(run)

    def log_artifact(self, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> None:
        """Copy a file or a folder into the active run's artifacts.

        Args:
            local_path: file or folder to copy.
            artifact_path: relative folder inside the run's artifacts (default: top level);
                the copy keeps the base name of ``local_path``.
        """
        src = Path(local_path)
        if not src.exists():
            raise NotFoundError(f"LocalExperimentTracker.log_artifact: {src} does not exist")
        rel = PurePosixPath(artifact_path or ".")
        if rel.is_absolute() or ".." in rel.parts:
            raise ConfigurationError(f"LocalExperimentTracker.log_artifact: artifact_path "
                                     f"{artifact_path!r} must be relative, without '..'")
        with self._lock:
            run = self._require_active("log_artifact")
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            dest_base = rel / src.name
            for f in files:
                name = str(dest_base if f == src else dest_base / f.relative_to(src).as_posix())
                name = str(PurePosixPath(name))
                if self.path is None:
                    run.artifacts[name] = f.read_bytes()
                else:
                    target = self._run_dir(run.experiment, run.run_name) / "artifacts" / name
                    atomic_copy_file(f, target)
                    run.artifacts[name] = None
            self._save(run)

    # ------------------------------------------------------------------ reading

    def list_artifacts(self, run_name: str, experiment: str | None = None) -> list[str]:
        """Relative paths (POSIX) of a run's artifact files."""
        return list(self.get_run(run_name, experiment).artifacts)

    def download_artifacts(self, run_name: str, target_path: str | os.PathLike[str],
                           artifact_path: str | None = None,
                           experiment: str | None = None) -> Path:
        """Copy a run's artifacts (all, or those under ``artifact_path``) into ``target_path``.
        Returns ``target_path``."""
        exp = experiment or self._experiment
        with self._lock:
            run = self._load(exp, run_name)
        if run is None:
            raise NotFoundError(f"LocalExperimentTracker.download_artifacts: no run "
                                f"{run_name!r} in experiment {exp!r}")
        prefix = str(PurePosixPath(artifact_path)) if artifact_path else None
        target = Path(target_path)
        n = 0
        for name, data in run.artifacts.items():
            if prefix and not (name == prefix or name.startswith(prefix + "/")):
                continue
            if data is None:
                src = self._run_dir(exp, run_name) / "artifacts" / name
                if not src.is_file():
                    raise IntegrityError(f"LocalExperimentTracker: artifact {src} is missing")
                atomic_copy_file(src, target / name)
            else:
                atomic_write_bytes(target / name, data)
            n += 1
        if prefix and n == 0:
            raise NotFoundError(f"LocalExperimentTracker.download_artifacts: no artifact "
                                f"{prefix!r} in run {run_name!r}")
        return target

    def artifact_dir(self, run_name: str, experiment: str | None = None) -> Path:
        """Folder of a run's artifacts (folder-backed trackers only)."""
        if self.path is None:
            raise ConfigurationError("LocalExperimentTracker.artifact_dir: an in-memory tracker "
                                     "has no folder; use download_artifacts")
        return self._run_dir(experiment or self._experiment, run_name) / "artifacts"

    def metric_history(self, run_name: str, experiment: str | None = None) -> pd.DataFrame:
        """Every logged metric value: columns ``name, step, value, timestamp``."""
        exp = experiment or self._experiment
        with self._lock:
            run = self._load(exp, run_name)
        if run is None:
            raise NotFoundError(f"LocalExperimentTracker.metric_history: no run {run_name!r}")
        return pd.DataFrame(run.history, columns=["name", "step", "value", "timestamp"])

    def runs(self, experiment: str | None = None) -> pd.DataFrame:
        """Comparison table: one row per run (oldest first) of ``experiment`` (default: all
        experiments).

        Columns: ``experiment, run_name, status, started_at, ended_at, duration_s``, then
        ``params.<name>`` (text), ``metrics.<name>`` (float) and ``tags.<name>``, each sorted.
        """
        with self._lock:
            runs = self._all(experiment)
        base = ["experiment", "run_name", "status", "started_at", "ended_at", "duration_s"]
        rows = []
        for r in runs:
            row: dict[str, Any] = {
                "experiment": r.experiment, "run_name": r.run_name, "status": r.status,
                "started_at": pd.Timestamp(r.started_at),
                "ended_at": pd.Timestamp(r.ended_at) if r.ended_at else pd.NaT,
                "duration_s": ((r.ended_at - r.started_at).total_seconds()
                               if r.ended_at else float("nan")),
            }
            row.update({f"params.{k}": v for k, v in r.params.items()})
            row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
            row.update({f"tags.{k}": v for k, v in r.tags.items()})
            rows.append(row)
        if not rows:
            return pd.DataFrame(columns=base)
        df = pd.DataFrame(rows)
        extra = sorted(c for c in df.columns if c not in base)
        order = ([c for c in extra if c.startswith("params.")]
                 + [c for c in extra if c.startswith("metrics.")]
                 + [c for c in extra if c.startswith("tags.")])
        return df[base + order].reset_index(drop=True)
