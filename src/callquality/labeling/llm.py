"""LLM labeler: a PII-safe prompt, strict parsing, repair follow-ups, quarantine, caching,
backoff and a concurrency limit.

For each call:

1. The prompt is built from the redacted transcript and the acoustic context
   (:mod:`callquality.labeling.prompt`); its SHA-256 with the answer schema and the labeler
   version is the ``prompt_hash``.
2. If the cache has ``(model, prompt_hash)``, that answer is used: no request.
3. Otherwise the request is sent. Timeouts, connection errors, 429 and 5xx are retried with
   exponential backoff (``Retry-After`` honoured) up to ``retry.max_attempts`` requests;
   401/403/404 stop the batch from sending more (the calls not yet sent are quarantined).
4. The answer is parsed strictly (:func:`~callquality.labeling.parsing.parse_judgement`). An
   invalid answer is followed up, up to ``max_repairs`` times, by a message that quotes the
   validation error; the conversation keeps the invalid answer so the model sees it.
5. A call whose answers stay invalid, or whose requests keep failing, is quarantined: a row in
   ``report_.errors`` with the stage, the reason and the raw response. Nothing is defaulted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ..calls import Call
from ..exceptions import ConfigurationError
from ._inputs import LabelItem, _clean_features, label_items
from .cache import CacheEntry, LabelCache, open_cache
from .clients import CallableClient, Completion, CompletionClient, CompletionError
from .parsing import InvalidAnswerError, parse_judgement
from .prompt import (
    DEFAULT_CONTEXT_FEATURES,
    PROMPT_VERSION,
    REPAIR_TEMPLATE,
    build_messages,
    judgement_json_schema,
    prompt_hash,
)
from .schema import (
    DEFAULT_HIGH_QUALITY_MIN_SATISFACTION,
    CallOutcome,
    LabelingReport,
    OutcomeJudgement,
    _errors_frame,
    _log_frame,
    outcomes_frame,
)

__all__ = ["LLMLabeler", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for failed requests (timeouts, connection errors, 429, 5xx).

    Attributes:
        max_attempts: requests per message, the first included (1 disables retries).
        base_delay: seconds before the first retry; doubled for each further one.
        max_delay: cap of the computed delay (s).
        max_retry_after: cap of a server's ``Retry-After`` (s); it is used instead of the
            computed delay when present.
        jitter: randomise computed delays to between half and all of their value, so that
            parallel workers do not retry in lockstep (``Retry-After`` is never jittered).
        sleep: the function that waits (tests pass a recorder).
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    jitter: bool = True
    sleep: Callable[[float], None] = time.sleep

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after)
        d = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return d * random.uniform(0.5, 1.0) if self.jitter else d


class _Quarantine(Exception):
    def __init__(self, stage: str, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        self.raw = raw


@dataclass
class _Stats:
    requests: int = 0
    transport_retries: int = 0
    repair_attempts: int = 0
    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    without_usage: int = 0


@dataclass
class _Result:
    item: LabelItem
    stats: _Stats = field(default_factory=_Stats)
    outcome: CallOutcome | None = None
    cached: bool = False
    error: dict[str, Any] | None = None
    seconds: float = 0.0


class LLMLabeler:
    """Labels calls with a language model (implements :class:`callquality.protocols.Labeler`).

    Args:
        client: a :class:`~callquality.labeling.clients.CompletionClient`, or any callable
            ``messages -> str`` (wrapped in :class:`CallableClient`).
        max_repairs: follow-up requests after an invalid answer (0-5). The call is quarantined
            when the answer after the last one is still invalid.
        max_concurrency: calls in flight at once (threads; at most this many requests are
            open at any moment).
        timeout: seconds per request (``None``: the client's default).
        retry: backoff for failed requests (:class:`RetryPolicy`).
        cache: ``None`` (in memory, per labeler), ``False`` (off), a folder or ``.sqlite``
            path (persistent, shared by processes), or a ``LabelCache``.
        context_features: feature columns described to the model when present.
        max_transcript_chars: longer transcripts lose their middle.
        high_quality_min_satisfaction: ``high_quality_call`` needs satisfaction >= this.
        progress: show a progress bar (``None``: for batches of 20 calls or more).

    After :meth:`label`, :attr:`report_` holds the batch's :class:`LabelingReport`.
    """

    name = "llm"
    version = f"1.0+prompt{PROMPT_VERSION}"

    def __init__(self, client: CompletionClient | Callable[[Any], Any], *,
                 max_repairs: int = 2, max_concurrency: int = 4, timeout: float | None = 60.0,
                 retry: RetryPolicy | None = None, cache: LabelCache | str | bool | None = None,
                 context_features: Sequence[str] = DEFAULT_CONTEXT_FEATURES,
                 max_transcript_chars: int = 24_000,
                 high_quality_min_satisfaction: int = DEFAULT_HIGH_QUALITY_MIN_SATISFACTION,
                 progress: bool | None = None) -> None:
        self.client = client
        self.max_repairs = max_repairs
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retry = retry
        self.cache = cache
        self.context_features = context_features
        self.max_transcript_chars = max_transcript_chars
        self.high_quality_min_satisfaction = high_quality_min_satisfaction
        self.progress = progress
        self._cache_obj: LabelCache | None = None
        self._cache_arg: Any = object()

    # ------------------------------------------------------------------ setup

    def _client(self) -> CompletionClient:
        c = self.client
        if isinstance(c, CompletionClient):
            return c
        if callable(c):
            return CallableClient(c)
        raise ConfigurationError(f"LLMLabeler: client must be a CompletionClient or a callable, "
                                 f"got {type(c).__name__}")

    def _check_params(self) -> None:
        if not (isinstance(self.max_repairs, int) and 0 <= self.max_repairs <= 5):
            raise ConfigurationError(f"LLMLabeler: max_repairs must be an integer 0..5, got "
                                     f"{self.max_repairs!r}")
        if not (isinstance(self.max_concurrency, int) and self.max_concurrency >= 1):
            raise ConfigurationError(f"LLMLabeler: max_concurrency must be an integer >= 1, got "
                                     f"{self.max_concurrency!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigurationError(f"LLMLabeler: timeout must be > 0 or None, got "
                                     f"{self.timeout!r}")
        if self.high_quality_min_satisfaction not in (1, 2, 3, 4, 5):
            raise ConfigurationError("LLMLabeler: high_quality_min_satisfaction must be an "
                                     f"integer 1..5, got {self.high_quality_min_satisfaction!r}")
        r = self.retry or RetryPolicy()
        if not (isinstance(r.max_attempts, int) and r.max_attempts >= 1):
            raise ConfigurationError(f"LLMLabeler: retry.max_attempts must be >= 1, got "
                                     f"{r.max_attempts!r}")

    def _get_cache(self) -> LabelCache | None:
        # built on first use (constructors only store arguments), rebuilt if `cache` changes
        if self._cache_arg is not self.cache:
            self._cache_obj = open_cache(self.cache)
            self._cache_arg = self.cache
        return self._cache_obj

    def messages_for(self, call: Call | LabelItem, *,
                     features: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The exact first request for one call (for inspection and tests)."""
        item = call if isinstance(call, LabelItem) else label_items([call])[0]
        if item.transcript is None:
            raise ConfigurationError(f"{item.call_id}: no transcript")
        feats = {**item.features, **_clean_features(features or {})}
        return build_messages(item.transcript, features=feats,
                              duration_sec=item.duration_sec,
                              context_features=self.context_features,
                              max_transcript_chars=self.max_transcript_chars)

    # ------------------------------------------------------------------ one call

    def _request(self, client: CompletionClient, conversation: list[dict[str, str]],
                 stats: _Stats, policy: RetryPolicy, schema: dict[str, Any],
                 fatal: _Fatal) -> Completion:
        attempt = 0
        while True:
            attempt += 1
            stats.requests += 1
            try:
                c = client.complete(conversation, response_schema=schema, timeout=self.timeout)
            except CompletionError as exc:
                if exc.fatal:
                    fatal.set(str(exc))
                    raise _Quarantine("request", str(exc)) from None
                if not exc.retryable:
                    raise _Quarantine("request", str(exc)) from None
                if attempt >= policy.max_attempts:
                    raise _Quarantine("request", f"{exc} (gave up after {attempt} "
                                                 f"attempt{'s' if attempt > 1 else ''})") from None
                if fatal.is_set():
                    raise _Quarantine("request", f"{exc}; not retried: {fatal.reason}") from None
                stats.transport_retries += 1
                policy.sleep(policy.delay(attempt, exc.retry_after))
                continue
            except Exception as exc:  # a client that does not follow the protocol
                raise _Quarantine("request", f"client raised {type(exc).__name__}: {exc}") \
                    from None
            if not isinstance(c, Completion):
                raise _Quarantine("request", f"client returned {type(c).__name__}, not a "
                                             f"Completion")
            if c.prompt_tokens is None and c.completion_tokens is None and c.total_tokens is None:
                stats.without_usage += 1
            stats.prompt_tokens += c.prompt_tokens or 0
            stats.completion_tokens += c.completion_tokens or 0
            stats.total_tokens += c.total_tokens if c.total_tokens is not None else \
                (c.prompt_tokens or 0) + (c.completion_tokens or 0)
            return c

    def _label_one(self, item: LabelItem, client: CompletionClient, cache: LabelCache | None,
                   policy: RetryPolicy, schema: dict[str, Any], fatal: _Fatal) -> _Result:
        t0 = time.perf_counter()
        res = _Result(item)
        model = client.model
        phash: str | None = None
        raw: str | None = None
        try:
            if item.problem is not None:
                raise _Quarantine("input", item.problem)
            if item.transcript is None or not any(s.text.strip()
                                                  for s in item.transcript.segments):
                raise _Quarantine("input", "no transcript text to label from")
            messages = build_messages(item.transcript, features=item.features,
                                      duration_sec=item.duration_sec,
                                      context_features=self.context_features,
                                      max_transcript_chars=self.max_transcript_chars)
            phash = prompt_hash(messages, response_schema=schema, labeler_version=self.version)
            entry = cache.get(model, phash) if cache is not None else None
            if entry is not None:
                try:
                    j = OutcomeJudgement.model_validate(entry.judgement)
                    res.outcome = self._outcome(item, j, model, phash,
                                                datetime.fromisoformat(entry.labeled_at))
                    res.cached = True
                    return res
                except (ValueError, TypeError):
                    pass  # a damaged entry is a miss
            if fatal.is_set():
                raise _Quarantine("request", f"not sent: {fatal.reason}")
            conversation = list(messages)
            for repair in range(self.max_repairs + 1):
                c = self._request(client, conversation, res.stats, policy, schema, fatal)
                raw = c.text
                res.stats.answers += 1
                try:
                    j = parse_judgement(raw)
                except InvalidAnswerError as exc:
                    if repair == self.max_repairs:
                        n = res.stats.answers
                        raise _Quarantine(
                            "validation", f"invalid answer ({n} answer{'s' if n > 1 else ''}, "
                                          f"{repair} follow-up{'s' if repair != 1 else ''}): "
                                          f"{exc}", raw) from None
                    conversation.append({"role": "assistant", "content": raw or ""})
                    conversation.append({"role": "user",
                                         "content": REPAIR_TEMPLATE.format(error=exc)})
                    res.stats.repair_attempts += 1
                    continue
                now = datetime.now(timezone.utc)
                res.outcome = self._outcome(item, j, model, phash, now)
                if cache is not None:
                    cache.put(model, phash, CacheEntry(
                        judgement=j.model_dump(), raw_response=raw or "",
                        labeled_at=now.isoformat(), labeler_version=self.version,
                        prompt_tokens=res.stats.prompt_tokens,
                        completion_tokens=res.stats.completion_tokens))
                return res
            raise AssertionError("unreachable")  # pragma: no cover
        except _Quarantine as q:
            res.error = {"call_id": item.call_id, "labeler": self.name,
                         "labeler_version": self.version, "model": model,
                         "prompt_hash": phash, "stage": q.stage, "reason": q.reason,
                         "raw_response": q.raw if q.raw is not None else raw,
                         "attempts": res.stats.requests,
                         "errored_at": datetime.now(timezone.utc)}
            return res
        finally:
            res.seconds = time.perf_counter() - t0

    def _outcome(self, item: LabelItem, j: OutcomeJudgement, model: str, phash: str,
                 at: datetime) -> CallOutcome:
        return CallOutcome.from_judgement(
            item.call_id, j, labeler=self.name, labeler_version=self.version, model=model,
            prompt_hash=phash, labeled_at=at, min_satisfaction=self.high_quality_min_satisfaction)

    # ------------------------------------------------------------------ batch

    def label(self, features_or_calls: pd.DataFrame | Sequence[Call], *,
              features: pd.DataFrame | None = None) -> pd.DataFrame:
        """Label calls (with transcripts) or a table with ``call_id`` and ``transcript``.

        Args:
            features_or_calls: calls, or a DataFrame with ``call_id``, a ``transcript`` column
                (``Transcript``, its dict form, or text with ``Agent:``/``Customer:`` lines)
                and optional feature columns.
            features: optional features table joined by ``call_id`` (acoustic context).

        Returns:
            The outcomes table (:data:`~callquality.labeling.schema.OUTCOME_COLUMNS`), one row
            per labeled call in input order. The batch always finishes: calls that could not
            be labeled are in :attr:`report_` ``.errors`` instead. ``df.attrs["labeling"]``
            holds the report's counts.
        """
        from tqdm.auto import tqdm

        self._check_params()
        t0 = time.perf_counter()
        client = self._client()
        items = label_items(features_or_calls, features=features, who="LLMLabeler.label")
        cache = self._get_cache()
        policy = self.retry or RetryPolicy()
        schema = judgement_json_schema()
        fatal = _Fatal()
        results: list[_Result | None] = [None] * len(items)
        show = self.progress if self.progress is not None else len(items) >= 20
        bar = tqdm(total=len(items), desc=f"label ({client.model})", unit="call",
                   disable=not show)
        try:
            if self.max_concurrency == 1 or len(items) <= 1:
                for i, it in enumerate(items):
                    results[i] = self._label_one(it, client, cache, policy, schema, fatal)
                    bar.update(1)
            else:
                workers = min(self.max_concurrency, len(items))
                with ThreadPoolExecutor(max_workers=workers,
                                        thread_name_prefix="cq-label") as pool:
                    futs = {pool.submit(self._label_one, it, client, cache, policy, schema,
                                        fatal): i for i, it in enumerate(items)}
                    try:
                        for fut in as_completed(futs):
                            results[futs[fut]] = fut.result()
                            bar.update(1)
                    except BaseException:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise
        finally:
            bar.close()
        done = [r for r in results if r is not None]
        report = self._report(done, client.model, time.perf_counter() - t0)
        self.report_ = report
        df = outcomes_frame([r.outcome for r in done if r.outcome is not None])
        df.attrs["labeling"] = report.counts()
        return df

    def _report(self, results: list[_Result], model: str, seconds: float) -> LabelingReport:
        errors = [r.error for r in results if r.error is not None]
        log = []
        for r in results:
            s = r.stats
            status = "cached" if r.cached else ("labeled" if r.outcome else "quarantined")
            log.append({"call_id": r.item.call_id, "status": status, "requests": s.requests,
                        "transport_retries": s.transport_retries,
                        "repair_attempts": s.repair_attempts,
                        "prompt_tokens": s.prompt_tokens,
                        "completion_tokens": s.completion_tokens,
                        "total_tokens": s.total_tokens, "seconds": r.seconds})
        return LabelingReport(
            labeler=self.name, labeler_version=self.version, model=model,
            n_input=len(results), labeled=sum(r.outcome is not None for r in results),
            cached=sum(r.cached for r in results),
            retried=sum(r.stats.requests > 1 for r in results), quarantined=len(errors),
            requests=sum(r.stats.requests for r in results),
            transport_retries=sum(r.stats.transport_retries for r in results),
            repair_attempts=sum(r.stats.repair_attempts for r in results),
            prompt_tokens=sum(r.stats.prompt_tokens for r in results),
            completion_tokens=sum(r.stats.completion_tokens for r in results),
            total_tokens=sum(r.stats.total_tokens for r in results),
            requests_without_usage=sum(r.stats.without_usage for r in results),
            seconds=seconds, errors=_errors_frame(errors), log=_log_frame(log))


class _Fatal:
    """Set once an endpoint refuses for good (401/403/404); later calls are not sent."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason = ""

    def set(self, reason: str) -> None:
        with self._lock:
            if not self._event.is_set():
                self.reason = f"the endpoint refused an earlier request ({reason})"
                self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()
