"""Alert rules over a monitor's windows, stored events, and sinks that deliver them.

A rule compares one metric of each window with a threshold::

    AlertRule("f1_low", metric="f1", comparator="<", threshold=0.6, min_count=20)
    AlertRule("score_drift", metric="drift:score", comparator=">", threshold=0.25)
    AlertRule("any_drift", metric="drift:max", comparator=">", threshold=0.25)

``metric`` is a column of :meth:`Monitor.metrics` (``accuracy``, ``precision``, ``recall``,
``f1``, ``roc_auc``, ``count``, ``n_actual``, ``null_predictions``, ``null_actuals``), or
``drift:<feature>`` (the drift of one feature, or of ``score``: the prediction drift), or
``drift:max`` (the largest drift over the input features in the window, ``score`` excluded;
the event names the feature).

:func:`evaluate_alerts` evaluates the rules on every window, stores each firing as an event in
the backend (one transaction; an event is keyed by rule, model, version, window and segment,
so evaluating the same window again fires nothing new) and sends the new events to the sinks:
any callable taking an :class:`AlertEvent`, :class:`LogSink`, :class:`WebhookSink` (HTTP POST
of the event's JSON, via httpx) or :class:`EmailSink` (SMTP). A failing sink does not stop the
others; the outcome per sink is stored with the event (``delivery``).
"""

from __future__ import annotations

import json
import logging
import math
import operator
import re
import smtplib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

import numpy as np
import pandas as pd

from .._extras import require
from ..exceptions import ConfigurationError, MonitoringError
from .drift import METHODS
from .monitor import METRIC_COLUMNS, PERFORMANCE_METRICS, Monitor, monitoring_store

__all__ = [
    "ALERT_COLUMNS",
    "COMPARATORS",
    "AlertEvent",
    "AlertRule",
    "AlertSink",
    "EmailSink",
    "LogSink",
    "WebhookSink",
    "evaluate_alerts",
    "read_alerts",
]

logger = logging.getLogger("callquality.alerts")

#: Columns of :func:`read_alerts` (the first twelve are the stable contract).
ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id", "rule", "metric", "window_start", "window_end", "value", "threshold",
    "comparator", "model_name", "version", "fired_at", "message", "segment", "feature",
    "severity", "delivery")

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_COUNTS = ("count", "n_actual", "null_predictions", "null_actuals")

#: Anything that delivers an event: called with the :class:`AlertEvent`.
AlertSink = Callable[["AlertEvent"], Any]


@dataclass(frozen=True)
class AlertRule:
    """One alert condition, evaluated per window.

    Args:
        name: rule name (letters, digits, ``_ . -``); part of the de-duplication key.
        metric: a :meth:`Monitor.metrics` column, ``"drift:<feature>"`` or ``"drift:max"``.
        comparator: ``"<"``, ``"<="``, ``">"``, ``">="``, ``"=="`` or ``"!="``: the rule fires
            when ``value <comparator> threshold``.
        threshold: in the metric's units (F1 in [0, 1], PSI unitless, counts in rows, ...).
        window: aggregation window (pandas frequency, e.g. ``"1D"``).
        min_count: a window is evaluated only when it has at least this many rows behind the
            value: rows with an actual for performance metrics, predictions for counts,
            current values for drift.
        method: drift method for ``drift:`` metrics.
        segment: evaluate per value of this logged column (e.g. ``"agent_id"``); performance
            and count metrics only.
        severity: free label carried by the events (``"info"``, ``"warning"``, ``"critical"``).
        description: free text, appended to the message.
    """

    name: str
    metric: str
    comparator: str
    threshold: float
    window: str = "1D"
    min_count: int = 1
    method: str = "psi"
    segment: str | None = None
    severity: str = "warning"
    description: str = ""

    def __post_init__(self) -> None:
        call = f"AlertRule({self.name!r})"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(f"{call}: invalid name; use letters, digits, '_', '.', '-'")
        if self.comparator not in COMPARATORS:
            raise ConfigurationError(f"{call}: comparator {self.comparator!r}; use one of "
                                     f"{list(COMPARATORS)}")
        if not isinstance(self.metric, str) or not (
                self.metric in METRIC_COLUMNS[3:] or
                (self.metric.startswith("drift:") and len(self.metric) > 6)):
            raise ConfigurationError(
                f"{call}: metric {self.metric!r}; use one of {list(METRIC_COLUMNS[3:])}, "
                "'drift:<feature>' or 'drift:max'")
        try:
            thr = float(self.threshold)
        except (TypeError, ValueError):
            thr = float("nan")
        if not math.isfinite(thr):
            raise ConfigurationError(f"{call}: threshold must be a finite number, got "
                                     f"{self.threshold!r}")
        object.__setattr__(self, "threshold", thr)
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) \
                or self.min_count < 0:
            raise ConfigurationError(f"{call}: min_count must be an integer >= 0")
        if self.method not in METHODS:
            raise ConfigurationError(f"{call}: method {self.method!r}; use one of {list(METHODS)}")
        if self.segment is not None and self.is_drift:
            raise ConfigurationError(f"{call}: segment applies to performance and count "
                                     "metrics, not to drift")

    @property
    def is_drift(self) -> bool:
        """Whether the rule watches drift."""
        return self.metric.startswith("drift:")

    def fires(self, value: float) -> bool:
        """Whether ``value`` breaks the rule (a missing value never does)."""
        return value is not None and math.isfinite(value) and \
            bool(COMPARATORS[self.comparator](float(value), self.threshold))


@dataclass(frozen=True)
class AlertEvent:
    """One firing of a rule for one window (and segment).

    Attributes:
        alert_id: random hex id.
        rule, metric, comparator, threshold, severity: from the rule.
        value: the metric's value in the window.
        window_start, window_end: the window, UTC.
        model_name, version: the monitored model (``version`` ``None`` for every version).
        fired_at: when it was first evaluated as firing, UTC.
        message: one human-readable line.
        segment: the segment value, or ``None``.
        feature: the drifting feature (``drift:`` metrics), or ``None``.
        n: rows behind the value.
        delivery: ``{sink: "ok" | "error: ..."}`` after sending.
    """

    alert_id: str
    rule: str
    metric: str
    comparator: str
    threshold: float
    value: float
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    model_name: str
    version: str | None
    fired_at: pd.Timestamp
    message: str
    segment: str | None = None
    feature: str | None = None
    severity: str = "warning"
    n: int = 0
    delivery: Mapping[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        """Rule, model, version, window and segment: one event per key, ever."""
        return "|".join([self.rule, self.model_name.upper(), str(self.version or "*").upper(),
                         str(self.window_start.value), str(self.window_end.value),
                         self.segment or ""])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 strings; the webhook's payload)."""
        d = asdict(self)
        for k in ("window_start", "window_end", "fired_at"):
            d[k] = pd.Timestamp(d[k]).isoformat()
        d["delivery"] = dict(self.delivery)
        d["value"] = None if not math.isfinite(self.value) else float(self.value)
        return d


# --------------------------------------------------------------------------- sinks


def _sink_name(sink: Any) -> str:
    name = getattr(sink, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(sink, "__name__", None) or type(sink).__name__


class LogSink:
    """Writes each event as one log record (logger ``callquality.alerts`` by default).

    Args:
        logger: a :class:`logging.Logger` or a logger name.
        level: log level (default ``WARNING``; ``critical`` events at ``CRITICAL``).
    """

    name = "log"

    def __init__(self, logger: logging.Logger | str | None = None, *,
                 level: int = logging.WARNING) -> None:
        self.logger = logger
        self.level = level

    def __call__(self, event: AlertEvent) -> None:
        lg = self.logger if isinstance(self.logger, logging.Logger) else \
            logging.getLogger(self.logger or "callquality.alerts")
        level = logging.CRITICAL if event.severity == "critical" else self.level
        lg.log(level, event.message)


class WebhookSink:
    """POSTs each event as JSON (:meth:`AlertEvent.as_dict`) to an HTTP endpoint (httpx).

    Args:
        url: the endpoint (Slack/Teams incoming webhooks, PagerDuty events, your service).
        headers: extra HTTP headers (e.g. an authorization token).
        timeout_s: connect/read timeout in seconds.
        retries: further attempts after a transport error or a 5xx answer.
        client: an ``httpx.Client`` to use (inject ``httpx.MockTransport`` in tests).
        payload: maps the event to the JSON body (default :meth:`AlertEvent.as_dict`);
            e.g. ``lambda e: {"text": e.message}`` for Slack.

    Raises (when called):
        MonitoringError: the endpoint is unreachable or answers an error status.
    """

    name = "webhook"

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 10.0, retries: int = 2, client: Any = None,
                 payload: Callable[[AlertEvent], Any] | None = None) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"WebhookSink: url must be http(s)://..., got {url!r}")
        self.url = url
        self.headers = dict(headers or {})
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.client = client
        self.payload = payload

    def __call__(self, event: AlertEvent) -> None:
        httpx = require("httpx", "monitoring", "WebhookSink")

        body = self.payload(event) if self.payload is not None else event.as_dict()
        client = self.client if self.client is not None else httpx.Client(
            timeout=self.timeout_s)
        try:
            last: str = ""
            for _ in range(self.retries + 1):
                try:
                    resp = client.post(self.url, json=body, headers=self.headers)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    continue
                if resp.status_code >= 400:
                    raise MonitoringError(f"WebhookSink({self.url}): alert {event.alert_id} "
                                          f"refused with HTTP {resp.status_code}: "
                                          f"{resp.text[:200]}")
                return
            raise MonitoringError(f"WebhookSink({self.url}): alert {event.alert_id} not "
                                  f"delivered after {self.retries + 1} attempt(s): {last}")
        finally:
            if self.client is None:
                client.close()


class EmailSink:
    """Sends each event as a plain-text email over SMTP.

    Args:
        host, port: the SMTP server.
        sender: the From address.
        recipients: To addresses.
        username, password: SMTP login (optional).
        starttls: upgrade the connection with STARTTLS before logging in.
        timeout_s: socket timeout in seconds.
        smtp_factory: builds the connection (default :class:`smtplib.SMTP`; pass
            :class:`smtplib.SMTP_SSL` for implicit TLS, or a fake in tests).

    Raises (when called):
        MonitoringError: the server refuses or cannot be reached.
    """

    name = "email"

    def __init__(self, host: str, port: int = 587, *, sender: str,
                 recipients: Sequence[str], username: str | None = None,
                 password: str | None = None, starttls: bool = True, timeout_s: float = 10.0,
                 smtp_factory: Callable[..., Any] | None = None) -> None:
        if not recipients:
            raise ConfigurationError("EmailSink: give at least one recipient")
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.recipients = list(recipients)
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = float(timeout_s)
        self.smtp_factory = smtp_factory

    def message(self, event: AlertEvent) -> EmailMessage:
        """The email for ``event``."""
        msg = EmailMessage()
        msg["Subject"] = (f"[callquality {event.severity}] {event.rule}: {event.model_name}"
                          f"{'/' + event.version if event.version else ''}")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        lines = [event.message, ""] + [f"{k}: {v}" for k, v in event.as_dict().items()
                                       if k not in ("message", "delivery")]
        msg.set_content("\n".join(lines))
        return msg

    def __call__(self, event: AlertEvent) -> None:
        factory = self.smtp_factory or smtplib.SMTP
        try:
            with factory(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(self.message(event))
        except (OSError, smtplib.SMTPException) as exc:
            raise MonitoringError(f"EmailSink({self.host}:{self.port}): alert "
                                  f"{event.alert_id} not sent: {type(exc).__name__}: "
                                  f"{exc}") from exc


# --------------------------------------------------------------------------- evaluation


def _fmt(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if (ts.hour or ts.minute) else ts.strftime("%Y-%m-%d")


def _candidates(rule: AlertRule, monitor: Monitor, start: Any, end: Any,
                cache: dict[tuple[Any, ...], pd.DataFrame]) -> list[dict[str, Any]]:
    """``{window_start, window_end, segment, feature, value, n}`` per evaluable window."""
    out: list[dict[str, Any]] = []
    if rule.is_drift:
        key: tuple[Any, ...] = ("drift", rule.window, rule.method)
        if key not in cache:
            cache[key] = monitor.drift(start, end, window=rule.window, method=rule.method)
        table = cache[key]
        target = rule.metric[len("drift:"):]
        if table.empty:
            return out
        if target != "max":
            table = table[table["feature"] == target]
        else:  # input features only: score drift against a training-set baseline compares
            # out-of-sample scores with in-sample ones; watch it with drift:score
            table = table[table["feature"] != "score"]
        table = table[np.isfinite(table["value"].to_numpy(dtype=float))]
        for (ws, we), part in table.groupby(["window_start", "window_end"], sort=True):
            if target == "max":
                # the largest drift, in the direction the comparator watches
                pick = part["value"].idxmin() if rule.comparator.startswith("<") \
                    else part["value"].idxmax()
                row = part.loc[pick]
            else:
                row = part.iloc[0]
            out.append({"window_start": ws, "window_end": we, "segment": None,
                        "feature": str(row["feature"]), "value": float(row["value"]),
                        "n": int(row["n_current"])})
        return out
    key = ("metrics", rule.window, rule.segment)
    if key not in cache:
        cache[key] = monitor.metrics(start, end, window=rule.window, segment=rule.segment)
    count_col = "n_actual" if rule.metric in PERFORMANCE_METRICS else "count"
    for rec in cache[key].to_dict("records"):
        out.append({"window_start": rec["window_start"], "window_end": rec["window_end"],
                    "segment": rec["segment"], "feature": None,
                    "value": float(rec[rule.metric]), "n": int(rec[count_col])})
    return out


def _message(rule: AlertRule, monitor: Monitor, c: Mapping[str, Any]) -> str:
    what = rule.metric if c["feature"] is None or rule.metric != "drift:max" \
        else f"drift:{c['feature']}"
    if rule.is_drift:
        what += f" ({rule.method})"
    where = f"{monitor.model_name}/{monitor.version or '*'}"
    seg = f" [{rule.segment}={c['segment']}]" if c["segment"] is not None else ""
    text = (f"[{rule.severity}] {rule.name}: {what} = {c['value']:.4g} {rule.comparator} "
            f"{rule.threshold:g} for {where}{seg} in {_fmt(c['window_start'])} .. "
            f"{_fmt(c['window_end'])} (n={c['n']})")
    return f"{text}: {rule.description}" if rule.description else text


def evaluate_alerts(monitor: Monitor, rules: Iterable[AlertRule], *,
                    start: datetime | str | None = None, end: datetime | str | None = None,
                    sinks: Sequence[AlertSink] = (), now: datetime | None = None
                    ) -> list[AlertEvent]:
    """Evaluate ``rules`` on every window of ``monitor`` in ``[start, end)``; store and send
    the events that fire for the first time.

    Args:
        monitor: the :class:`Monitor` whose windows are evaluated.
        rules: :class:`AlertRule` objects (names must be unique).
        start, end: the range of ``predicted_at`` evaluated (UTC; ``None``: open).
        sinks: where new events go (callables; :class:`LogSink`, :class:`WebhookSink`,
            :class:`EmailSink`). A sink that raises is recorded in the event's ``delivery``
            and logged; the other sinks still run.
        now: the ``fired_at`` time (default: the current UTC time).

    Returns:
        The new events (already stored), in window order. An event whose rule, model,
        version, window and segment were stored before is not returned nor sent again.

    Raises:
        ConfigurationError: duplicate rule names.
        MonitoringError: the backend keeps no monitoring state, or a metric cannot be computed.
    """
    call = "evaluate_alerts"
    rules = list(rules)
    for r in rules:
        if not isinstance(r, AlertRule):
            raise ConfigurationError(f"{call}: rules must be AlertRule objects, got "
                                     f"{type(r).__name__}")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{call}: duplicate rule names {sorted(names)}")
    store = monitoring_store(monitor.backend, call)
    fired_at = pd.Timestamp(now or datetime.now(timezone.utc))
    fired_at = fired_at.tz_localize("UTC") if fired_at.tzinfo is None else \
        fired_at.tz_convert("UTC")
    cache: dict[tuple[Any, ...], pd.DataFrame] = {}
    events: list[AlertEvent] = []
    with monitor.snapshot():  # one read of the log for every rule
        candidates = [(rule, c) for rule in rules
                      for c in _candidates(rule, monitor, start, end, cache)]
    for rule, c in candidates:
        if c["n"] < rule.min_count or not rule.fires(c["value"]):
            continue
        events.append(AlertEvent(
            alert_id=uuid.uuid4().hex, rule=rule.name, metric=rule.metric,
            comparator=rule.comparator, threshold=rule.threshold, value=c["value"],
            window_start=pd.Timestamp(c["window_start"]),
            window_end=pd.Timestamp(c["window_end"]), model_name=monitor.model_name,
            version=monitor.version, fired_at=fired_at, message=_message(rule, monitor, c),
            segment=None if c["segment"] is None else str(c["segment"]),
            feature=c["feature"], severity=rule.severity, n=c["n"]))
    if not events:
        return []
    new_ids = set(store.insert_alerts([{
        **{k: getattr(e, k) for k in ("alert_id", "rule", "metric", "comparator", "threshold",
                                      "model_name", "version", "segment", "feature",
                                      "severity", "message")},
        "value": e.value if math.isfinite(e.value) else None,
        "dedup_key": e.dedup_key, "window_start": e.window_start.value,
        "window_end": e.window_end.value, "fired_at": e.fired_at.value,
    } for e in events]))
    new = [e for e in events if e.alert_id in new_ids]
    delivered = []
    for e in sorted(new, key=lambda e: (e.window_start, e.rule, e.segment or "")):
        delivery: dict[str, str] = {}
        for sink in sinks:
            name = _sink_name(sink)
            try:
                sink(e)
                delivery[name] = "ok"
            except Exception as exc:  # a sink must not stop the others
                delivery[name] = f"error: {type(exc).__name__}: {exc}"
                logger.error("alert %s not delivered to %s: %s", e.alert_id, name, exc)
        if sinks:
            store.set_delivery(e.alert_id, delivery)
        delivered.append(AlertEvent(**{**asdict(e), "delivery": delivery}))
    return delivered


def read_alerts(backend: Any, *, model_name: str | None = None,
                start: datetime | str | None = None, end: datetime | str | None = None
                ) -> pd.DataFrame:
    """Stored alert events with ``start <= window_start < end``, oldest window first.

    Args:
        backend: the backend the events were stored in.
        model_name: only this model's events (case-insensitive).
        start, end: bounds on the events' ``window_start`` (UTC; naive times are UTC).

    Returns:
        Columns :data:`ALERT_COLUMNS`: ``alert_id``, ``rule``, ``metric``, ``window_start``,
        ``window_end``, ``value``, ``threshold``, ``comparator``, ``model_name``, ``version``,
        ``fired_at``, ``message``, then ``segment``, ``feature``, ``severity`` and
        ``delivery`` (a dict per event). Times are tz-aware UTC.

    Raises:
        MonitoringError: the backend keeps no monitoring state.
    """
    call = "read_alerts"
    store = monitoring_store(backend, call)

    def ns(v: Any, what: str) -> int | None:
        if v is None:
            return None
        try:
            ts = pd.Timestamp(v)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{call}: {what}={v!r} is not a timestamp") from exc
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(ts.value)

    rows = store.read_alerts(model_name=model_name, start_ns=ns(start, "start"),
                             end_ns=ns(end, "end"))
    df = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    for c in ("window_start", "window_end", "fired_at"):
        df[c] = pd.to_datetime(df[c].astype("int64"), unit="ns", utc=True)
    for c in ("value", "threshold"):
        df[c] = df[c].astype("float64")
    df["delivery"] = [json.loads(x) if x else {} for x in df["delivery"]]
    return df
