"""Monitoring: drift, performance per window, alerts, and the champion/challenger loop.

::

    import callquality as cq
    from callquality import monitoring as cqm

    cqm.drift(train["jitter"], today["jitter"], method="psi")          # one number
    cqm.drift_table(train, today)                                       # every feature

    mon = cqm.Monitor(backend, "call_quality", "PRODUCTION", baseline=train)
    mon.metrics(window="1D")              # accuracy, precision, recall, F1, ROC AUC, counts
    mon.metrics(segment="agent_id")       # per agent
    mon.drift(method="psi")               # per window and feature (and the score)

    rules = [cqm.AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, min_count=20),
             cqm.AlertRule("drift", metric="drift:max", comparator=">", threshold=0.25)]
    cqm.evaluate_alerts(mon, rules, sinks=[cqm.LogSink(), cqm.WebhookSink(url)])
    cqm.read_alerts(backend, model_name="call_quality")

    cqm.process_period(backend, "2025-03-02", calls=folder)   # one retraining-loop period

See ``docs/monitoring.md``.
"""

from __future__ import annotations

from .alerts import (
    ALERT_COLUMNS,
    AlertEvent,
    AlertRule,
    AlertSink,
    EmailSink,
    LogSink,
    WebhookSink,
    evaluate_alerts,
    read_alerts,
)
from .drift import (
    CATEGORICAL_METHODS,
    DRIFT_TABLE_COLUMNS,
    METHODS,
    DriftResult,
    drift,
    drift_result,
    drift_table,
)
from .monitor import DRIFT_COLUMNS, METRIC_COLUMNS, Monitor, assign_windows, window_metrics

__all__ = [
    "ALERT_COLUMNS",
    "CATEGORICAL_METHODS",
    "DRIFT_COLUMNS",
    "DRIFT_TABLE_COLUMNS",
    "METHODS",
    "METRIC_COLUMNS",
    "AlertEvent",
    "AlertRule",
    "AlertSink",
    "DriftResult",
    "EmailSink",
    "LogSink",
    "Monitor",
    "WebhookSink",
    "assign_windows",
    "drift",
    "drift_result",
    "drift_table",
    "evaluate_alerts",
    "read_alerts",
    "window_metrics",
]
