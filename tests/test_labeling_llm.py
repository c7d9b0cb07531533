"""LLMLabeler against a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol.

The server (:class:`FakeChatServer`) is scripted per request and records every request body.
It refuses (HTTP 400, and records) any request whose messages contain personal data, so the
redaction tests check what actually reached the wire.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callquality as cq
from callquality.exceptions import ConfigurationError
from callquality.labeling import (
    LABEL_ERROR_COLUMNS,
    OUTCOME_COLUMNS,
    CallableClient,
    Completion,
    CompletionClient,
    CompletionError,
    LLMLabeler,
    OpenAICompatibleClient,
    RetryPolicy,
    SnowflakeAICompleteClient,
    SQLiteCache,
)
from callquality.labeling.clients import parse_retry_after
from callquality.protocols import Labeler

VALID = {"call_resolved": 1, "customer_satisfaction_score": 4, "resolution_confidence": 0.9,
         "reasoning": "The agent fixed the fault and the customer thanked them."}
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}

# Personal data planted in the test transcripts; none of it may reach the server.
PII = {
    "card": "4111 1111 1111 1111",
    "card_dashes": "5500-0000-0000-0004",
    "phone": "(415) 555-0132",
    "phone_plain": "415 555 0199",
    "email": "jane.doe@example.com",
    "ssn": "123-45-6789",
}


# --------------------------------------------------------------------------- fake server


@dataclass
class Reply:
    """One scripted answer of the fake server."""

    status: int = 200
    content: str | None = None      # chat message content (status 200)
    raw_body: bytes | None = None   # sent verbatim instead of a chat completion
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0              # seconds to wait before answering
    usage: dict[str, int] | None = field(default_factory=lambda: dict(USAGE))


def ok(answer: dict[str, Any] | str = VALID, **kw: Any) -> Reply:
    return Reply(content=answer if isinstance(answer, str) else json.dumps(answer), **kw)


def status(code: int, **kw: Any) -> Reply:
    return Reply(status=code, raw_body=json.dumps({"error": {"message": f"status {code}"}})
                 .encode(), **kw)


_DIGITS_13_19 = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


def pii_in(text: str) -> list[str]:
    """Personal data found by the server's own checks (independent of callquality's)."""
    found = [v for v in PII.values() if v in text]
    for pat in (_DIGITS_13_19, _PHONE, _EMAIL, _SSN):
        found.extend(m.group(0) for m in pat.finditer(text))
    return found


class FakeChatServer:
    """``POST /v1/chat/completions`` on 127.0.0.1 (an ephemeral port), scripted per request.

    ``script`` is a list of replies (request ``i`` gets ``script[i]``, the last one repeats) or
    a function ``(index, body) -> Reply``.
    """

    def __init__(self, script: list[Reply] | Callable[[int, dict[str, Any]], Reply]) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.pii_seen: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def n_requests(self) -> int:
        return len(self.bodies)

    def _reply_for(self, i: int, body: dict[str, Any]) -> Reply:
        if callable(self.script):
            return self.script(i, body)
        return self.script[min(i, len(self.script) - 1)]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        body = json.loads(raw)
        with self._lock:
            i = len(self.bodies)
            self.bodies.append(body)
            self.headers.append({k.lower(): v for k, v in h.headers.items()})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            text = "\n".join(m["content"] for m in body["messages"])
            leaked = pii_in(text)
            if h.path != "/v1/chat/completions":
                reply = status(404)
            elif leaked:
                with self._lock:
                    self.pii_seen.extend(leaked)
                reply = Reply(status=400, raw_body=b'{"error": {"message": "PII in prompt"}}')
            else:
                reply = self._reply_for(i, body)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.raw_body is not None:
                payload = reply.raw_body
            else:
                payload = json.dumps({
                    "id": f"chatcmpl-{i}", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    **({"usage": reply.usage} if reply.usage is not None else {})}).encode()
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)
        finally:
            with self._lock:
                self.in_flight -= 1

    def __enter__(self) -> FakeChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeChatServer]]:
    servers: list[FakeChatServer] = []

    def start(script: Any) -> FakeChatServer:
        s = FakeChatServer(script).__enter__()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.__exit__(None, None, None)


class Sleeps:
    """Records the backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_call(call_id: str = "call_a", closing: str = "Great, thank you for sorting that out.",
              extra: str = "") -> cq.Call:
    segs = [
        {"speaker": "agent", "start": 0.0, "end": 2.0, "text": "Thanks for calling, how can I help?"},
        {"speaker": "customer", "start": 2.5, "end": 6.0,
         "text": f"My internet is down since Monday. {extra}".strip()},
        {"speaker": "agent", "start": 6.5, "end": 9.0,
         "text": "The engineers just fixed the fault, it should be back in ten minutes."},
        {"speaker": "customer", "start": 9.5, "end": 11.0, "text": closing},
    ]
    return cq.Call.from_array(np.zeros(12 * 8000, dtype=np.float32), 8000, call_id=call_id,
                              transcript={"segments": segs})


def labeler(server: FakeChatServer, *, transport: str = "auto", sleeps: Sleeps | None = None,
            max_attempts: int = 4, **kw: Any) -> LLMLabeler:
    client = OpenAICompatibleClient(server.base_url, "test-model", api_key="sk-test",
                                    transport=transport)
    retry = RetryPolicy(max_attempts=max_attempts, base_delay=0.5, max_delay=8.0, jitter=False,
                        sleep=sleeps or Sleeps())
    kw.setdefault("max_concurrency", 1)
    kw.setdefault("progress", False)
    return LLMLabeler(client, retry=retry, **kw)


def only_error(lab: LLMLabeler) -> dict[str, Any]:
    errs = lab.report_.errors
    assert list(errs.columns) == list(LABEL_ERROR_COLUMNS)
    assert len(errs) == 1
    return dict(errs.iloc[0])


def log_row(lab: LLMLabeler, call_id: str = "call_a") -> dict[str, Any]:
    log = lab.report_.log
    return dict(log[log.call_id == call_id].iloc[0])


try:
    import httpx  # noqa: F401
    HAVE_HTTPX = True
except ImportError:  # the urllib transport is tested either way
    HAVE_HTTPX = False
TRANSPORTS = [pytest.param("httpx", marks=pytest.mark.skipif(not HAVE_HTTPX,
                                                             reason="httpx not installed")),
              "urllib"]


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_valid_json_is_labeled(serve: Any, transport: str) -> None:
    srv = serve([ok()])
    lab = labeler(srv, transport=transport)
    df = lab.label([make_call()])
    assert list(df.columns) == list(OUTCOME_COLUMNS)
    row = df.iloc[0]
    assert (row.call_id, row.call_resolved, row.customer_satisfaction_score,
            row.resolution_confidence, row.high_quality_call) == ("call_a", 1, 4, 0.9, 1)
    assert row.reasoning == VALID["reasoning"]
    assert (row.labeler, row.model) == ("llm", "test-model")
    assert re.fullmatch(r"[0-9a-f]{64}", row.prompt_hash)
    rep = lab.report_
    assert (rep.labeled, rep.cached, rep.retried, rep.quarantined, rep.requests) == (1, 0, 0, 0, 1)
    assert (rep.prompt_tokens, rep.completion_tokens, rep.total_tokens) == (100, 20, 120)
    assert df.attrs["labeling"]["labeled"] == 1
    body, headers = srv.bodies[0], srv.headers[0]
    assert body["model"] == "test-model" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert headers["authorization"] == "Bearer sk-test"


def test_fenced_json_is_accepted(serve: Any) -> None:
    srv = serve([ok("```json\n" + json.dumps(VALID, indent=2) + "\n```")])
    lab = labeler(srv)
    df = lab.label([make_call()])
    assert df.iloc[0].customer_satisfaction_score == 4
    assert lab.report_.requests == 1 and lab.report_.repair_attempts == 0


def _answer(**changes: Any) -> str:
    d = {**VALID, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not _DROP})


_DROP = object()

# (case, first answer, fragment of the validation error quoted in the follow-up)
BAD_ANSWERS = [
    ("prose around JSON", "Sure! Here is the JSON: " + json.dumps(VALID) + " Let me know.",
     "the answer has text before the JSON object"),
    ("trailing text", json.dumps(VALID) + "\nThat is my answer.", "text after the JSON object"),
    ("malformed JSON", '{"call_resolved": 1, "customer_satisfaction_score": 4',
     "not valid JSON: Expecting ',' delimiter"),
    ("out of range", _answer(customer_satisfaction_score=9),
     "customer_satisfaction_score: Input should be less than or equal to 5 (got int 9)"),
    ("missing field", _answer(resolution_confidence=_DROP),
     "missing key 'resolution_confidence'"),
    ("extra fields", _answer(sentiment="positive"), "unexpected key 'sentiment'"),
    ("wrong type", _answer(call_resolved="yes"), "call_resolved: must be the integer 0 or 1"),
    ("non-JSON", "I think the call was resolved.", "text instead of a JSON object"),
    ("empty content", "", "the answer is empty"),
]


@pytest.mark.parametrize("case,bad,fragment", BAD_ANSWERS, ids=[c[0] for c in BAD_ANSWERS])
def test_invalid_answer_is_repaired_with_the_error_in_the_follow_up(
        serve: Any, case: str, bad: str, fragment: str) -> None:
    srv = serve([ok(bad), ok(VALID)])
    lab = labeler(srv)
    df = lab.label([make_call()])
    assert len(df) == 1 and df.iloc[0].customer_satisfaction_score == 4
    assert lab.report_.quarantined == 0
    assert (lab.report_.requests, lab.report_.repair_attempts, lab.report_.retried) == (2, 1, 1)
    first, second = srv.bodies
    # the follow-up keeps the conversation, quotes the invalid answer and the exact error
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {"role": "assistant", "content": bad}
    follow_up = second["messages"][3]
    assert follow_up["role"] == "user"
    assert fragment in follow_up["content"]
    assert follow_up["content"].startswith("Your previous reply could not be used:")
    # the cache key is the first request: the repaired label is still found on a rerun
    lab.label([make_call()])
    assert lab.report_.cached == 1 and srv.n_requests == 2


@pytest.mark.parametrize("case,bad,fragment", BAD_ANSWERS, ids=[c[0] for c in BAD_ANSWERS])
def test_persistently_invalid_answer_is_quarantined_not_defaulted(
        serve: Any, case: str, bad: str, fragment: str) -> None:
    srv = serve([ok(bad)])
    lab = labeler(srv, max_repairs=2)
    df = lab.label([make_call()])
    assert len(df) == 0  # no row at all: nothing was substituted
    assert list(df.columns) == list(OUTCOME_COLUMNS)
    err = only_error(lab)
    assert err["call_id"] == "call_a" and err["stage"] == "validation"
    assert err["reason"].startswith("invalid answer (3 answers, 2 follow-ups): ")
    assert fragment in err["reason"]
    assert err["raw_response"] == bad
    assert err["attempts"] == 3 and err["model"] == "test-model"
    assert re.fullmatch(r"[0-9a-f]{64}", err["prompt_hash"])
    assert srv.n_requests == 3
    rep = lab.report_
    assert (rep.labeled, rep.quarantined, rep.retried, rep.repair_attempts) == (0, 1, 1, 2)
    # quarantined answers are not cached: a rerun asks again
    lab.label([make_call()])
    assert srv.n_requests == 6


def test_max_repairs_zero_quarantines_at_once(serve: Any) -> None:
    srv = serve([ok("not json")])
    lab = labeler(srv, max_repairs=0)
    assert len(lab.label([make_call()])) == 0
    err = only_error(lab)
    assert err["reason"].startswith("invalid answer (1 answer, 0 follow-ups)")
    assert srv.n_requests == 1


def test_null_content_is_invalid(serve: Any) -> None:
    srv = serve([Reply(content=None), ok()])
    lab = labeler(srv)
    assert len(lab.label([make_call()])) == 1
    assert "the answer is empty" in srv.bodies[1]["messages"][-1]["content"]


# --------------------------------------------------------------------------- transport


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_429_then_success_honours_retry_after(serve: Any, transport: str) -> None:
    srv = serve([status(429, headers={"Retry-After": "3"}), ok()])
    sleeps = Sleeps()
    lab = labeler(srv, transport=transport, sleeps=sleeps)
    df = lab.label([make_call()])
    assert len(df) == 1
    assert sleeps.delays == [3.0]
    row = log_row(lab)
    assert (row["status"], row["requests"], row["transport_retries"]) == ("labeled", 2, 1)
    assert (lab.report_.retried, lab.report_.transport_retries) == (1, 1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_500_then_success_backs_off(serve: Any, transport: str) -> None:
    srv = serve([status(500), status(503), ok()])
    sleeps = Sleeps()
    lab = labeler(srv, transport=transport, sleeps=sleeps)
    assert len(lab.label([make_call()])) == 1
    assert sleeps.delays == [0.5, 1.0]  # exponential: base, 2 x base
    assert log_row(lab)["transport_retries"] == 2


def test_500_forever_is_quarantined_after_max_attempts(serve: Any) -> None:
    srv = serve([status(500)])
    sleeps = Sleeps()
    lab = labeler(srv, sleeps=sleeps, max_attempts=4)
    assert len(lab.label([make_call()])) == 0
    err = only_error(lab)
    assert err["stage"] == "request"
    assert err["reason"] == (f"HTTP 500 from {srv.base_url}/chat/completions: status 500 "
                             f"(gave up after 4 attempts)")
    assert err["raw_response"] is None and err["attempts"] == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert srv.n_requests == 4


def test_backoff_is_capped_and_retry_after_capped() -> None:
    p = RetryPolicy(base_delay=1.0, max_delay=5.0, max_retry_after=10.0, jitter=False)
    assert [p.delay(k) for k in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert p.delay(1, retry_after=60.0) == 10.0
    jittered = RetryPolicy(base_delay=1.0, jitter=True)
    assert all(0.5 * 2 ** (k - 1) <= jittered.delay(k) <= 2 ** (k - 1) for k in (1, 2, 3))


def test_retry_after_http_date() -> None:
    from datetime import datetime, timezone

    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 01 May 2024 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_slow_answer_times_out_and_is_retried(serve: Any, transport: str) -> None:
    srv = serve([ok(delay=1.5), ok()])
    sleeps = Sleeps()
    lab = labeler(srv, transport=transport, sleeps=sleeps, timeout=0.3)
    t0 = time.perf_counter()
    df = lab.label([make_call()])
    assert time.perf_counter() - t0 < 1.4  # did not wait for the slow answer
    assert len(df) == 1
    assert log_row(lab)["transport_retries"] == 1 and sleeps.delays == [0.5]


def test_slow_forever_is_quarantined_with_the_timeout_reason(serve: Any) -> None:
    srv = serve([ok(delay=1.0)])
    lab = labeler(srv, timeout=0.2, max_attempts=2)
    assert len(lab.label([make_call()])) == 0
    err = only_error(lab)
    assert err["reason"] == (f"no answer from {srv.base_url}/chat/completions within 0.2 s "
                             f"(gave up after 2 attempts)")
    assert err["stage"] == "request"


def test_malformed_200_body_is_retried(serve: Any) -> None:
    srv = serve([Reply(raw_body=b"<html>gateway hiccup</html>"), ok()])
    lab = labeler(srv)
    assert len(lab.label([make_call()])) == 1
    assert log_row(lab)["transport_retries"] == 1


def test_400_is_not_retried_and_the_batch_goes_on(serve: Any) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        return status(400) if "BAD-CALL" in body["messages"][1]["content"] else ok()

    srv = serve(script)
    lab = labeler(srv)
    df = lab.label([make_call("c1", extra="BAD-CALL"), make_call("c2")])
    assert df.call_id.tolist() == ["c2"]
    err = only_error(lab)
    assert err["call_id"] == "c1" and err["reason"].startswith("HTTP 400")
    assert srv.n_requests == 2


def test_401_stops_sending_and_quarantines_the_rest(serve: Any) -> None:
    srv = serve([status(401)])
    lab = labeler(srv)
    df = lab.label([make_call(f"c{i}") for i in range(4)])
    assert len(df) == 0 and srv.n_requests == 1
    errs = lab.report_.errors
    assert errs.call_id.tolist() == ["c0", "c1", "c2", "c3"]
    assert errs.reason.iloc[0].startswith("HTTP 401")
    assert all(r.startswith("not sent: the endpoint refused an earlier request (HTTP 401")
               for r in errs.reason.iloc[1:])
    assert lab.report_.quarantined == 4


def test_connection_refused_is_retried_then_quarantined() -> None:
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    client = OpenAICompatibleClient(f"http://127.0.0.1:{port}/v1", "m", transport="urllib")
    lab = LLMLabeler(client, retry=RetryPolicy(max_attempts=3, jitter=False, sleep=sleeps),
                     progress=False)
    assert len(lab.label([make_call()])) == 0
    assert "request to" in lab.report_.errors.reason.iloc[0]
    assert len(sleeps.delays) == 2


# --------------------------------------------------------------------------- cache


def test_rerun_is_served_from_cache_with_zero_requests(serve: Any) -> None:
    srv = serve([ok()])
    lab = labeler(srv)
    calls = [make_call(f"c{i}", closing=f"Thanks {i}.") for i in range(3)]
    first = lab.label(calls)
    assert srv.n_requests == 3
    second = lab.label(calls)
    assert srv.n_requests == 3
    rep = lab.report_
    assert (rep.labeled, rep.cached, rep.requests, rep.total_tokens) == (3, 3, 0, 0)
    assert (lab.report_.log.status == "cached").all()
    pd.testing.assert_frame_equal(first, second)  # same labels, same labeled_at


def test_cache_is_keyed_by_model(serve: Any) -> None:
    srv = serve([ok()])
    lab = labeler(srv)
    lab.label([make_call()])
    other = OpenAICompatibleClient(srv.base_url, "another-model", transport="urllib")
    lab.client = other
    lab.label([make_call()])
    assert srv.n_requests == 2 and lab.report_.cached == 0


def test_sqlite_cache_survives_a_new_labeler(serve: Any, tmp_path: Any) -> None:
    srv = serve([ok()])
    calls = [make_call("c1"), make_call("c2", closing="Okay.")]
    labeler(srv, cache=tmp_path / "cache").label(calls)
    assert srv.n_requests == 2
    lab2 = labeler(srv, cache=tmp_path / "cache")
    df = lab2.label(calls)
    assert srv.n_requests == 2 and lab2.report_.cached == 2 and len(df) == 2
    assert (tmp_path / "cache" / "label-cache.sqlite").is_file()
    assert len(SQLiteCache(tmp_path / "cache" / "label-cache.sqlite")) == 2


def test_damaged_cache_entry_is_a_miss(serve: Any) -> None:
    from callquality.labeling import CacheEntry, MemoryCache

    srv = serve([ok()])
    cache = MemoryCache()
    lab = labeler(srv, cache=cache)
    lab.label([make_call()])
    (key,) = list(cache._data)
    cache.put(*key, CacheEntry(judgement={"call_resolved": 7}, raw_response="x",
                               labeled_at="2024-01-01T00:00:00+00:00", labeler_version="?"))
    assert len(lab.label([make_call()])) == 1
    assert srv.n_requests == 2 and lab.report_.cached == 0


def test_cache_false_always_asks(serve: Any) -> None:
    srv = serve([ok()])
    lab = labeler(srv, cache=False)
    lab.label([make_call()])
    lab.label([make_call()])
    assert srv.n_requests == 2


# --------------------------------------------------------------------------- concurrency


def test_concurrency_limit_is_respected(serve: Any) -> None:
    srv = serve([ok(delay=0.15)])
    lab = labeler(srv, max_concurrency=3)
    calls = [make_call(f"c{i}", closing=f"Thank you {i}.") for i in range(9)]
    df = lab.label(calls)
    assert df.call_id.tolist() == [f"c{i}" for i in range(9)]  # input order
    assert srv.n_requests == 9
    assert srv.max_in_flight <= 3
    assert srv.max_in_flight >= 2  # and it does run calls in parallel


def test_each_call_finishes_whatever_the_others_do(serve: Any) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        user = body["messages"][1]["content"]
        if "ANGRY" in user:
            return ok("nope")
        if "SLOW" in user:
            return status(503)
        return ok()

    srv = serve(script)
    lab = labeler(srv, max_concurrency=4, max_attempts=2)
    calls = [make_call("ok1"), make_call("bad", extra="ANGRY"), make_call("slow", extra="SLOW"),
             make_call("ok2", closing="Thanks!")]
    df = lab.label(calls)
    assert df.call_id.tolist() == ["ok1", "ok2"]
    rep = lab.report_
    assert (rep.n_input, rep.labeled, rep.quarantined) == (4, 2, 2)
    assert sorted(rep.errors.call_id) == ["bad", "slow"]
    assert set(rep.log.status) == {"labeled", "quarantined"}


# --------------------------------------------------------------------------- redaction


def test_no_pii_reaches_the_server(serve: Any) -> None:
    srv = serve([ok()])
    segs = [
        {"speaker": "agent", "start": 0.0, "end": 2.0, "text": "Can I have your card number?"},
        {"speaker": "customer", "start": 2.5, "end": 6.0,
         "text": f"It is {PII['card']}, or the other one {PII['card_dashes']}."},
        {"speaker": "customer", "start": 6.5, "end": 9.0,
         "text": f"Call me on {PII['phone']} or {PII['phone_plain']}, mail {PII['email']}."},
        {"speaker": "customer", "start": 9.5, "end": 11.0, "text": f"My SSN is {PII['ssn']}."},
        {"speaker": "agent", "start": 11.5, "end": 13.0, "text": "Your account is unlocked now."},
        {"speaker": "customer", "start": 13.5, "end": 14.5, "text": "Great, thanks."},
    ]
    call = cq.Call.from_array(np.zeros(15 * 8000, dtype=np.float32), 8000, call_id="pii",
                              transcript={"segments": segs})
    # PII in a string feature too (the features table is user data)
    feats = pd.DataFrame([{"call_id": "pii", "dominant_emotion": f"neutral {PII['email']}",
                           "long_silence_count": 1}])
    # and a repair round trip, so the follow-up is checked as well
    srv.script = [ok("no json"), ok()]
    lab = labeler(srv)
    df = lab.label([call], features=feats)
    assert len(df) == 1, lab.report_.errors.to_dict("records")
    assert srv.pii_seen == []
    assert srv.n_requests == 2
    for body in srv.bodies:
        text = "\n".join(m["content"] for m in body["messages"])
        assert pii_in(text) == []
        assert "pii" not in re.findall(r"\bpii\b", text)  # the call id is not sent
    user = srv.bodies[0]["messages"][1]["content"]
    assert user.count("[CARD]") == 2 and user.count("[PHONE]") == 2
    assert user.count("[EMAIL]") == 2 and user.count("[SSN]") == 1
    assert "long_silence_count: 1" in user


def test_server_pii_check_works(serve: Any) -> None:
    """The guard itself: a prompt with PII is refused and recorded."""
    srv = serve([ok()])
    client = OpenAICompatibleClient(srv.base_url, "m", transport="urllib")
    with pytest.raises(CompletionError, match="HTTP 400"):
        client.complete([{"role": "user", "content": f"card {PII['card']}"}])
    assert srv.pii_seen


# --------------------------------------------------------------------------- inputs, clients


def test_dataframe_input_with_text_transcripts_and_features() -> None:
    seen: list[list[dict[str, str]]] = []

    def fn(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return json.dumps(VALID)

    df_in = pd.DataFrame({
        "call_id": ["t1", "t2", "t3", "t1"],
        "transcript": ["Agent: I have reset your password.\nCustomer: Thanks!", None,
                       {"segments": [{"speaker": "agent", "start": 0, "end": 1, "text": "Hi"}]},
                       "Agent: duplicate"],
        "agent_talk_ratio": [0.61, 0.5, np.nan, 0.4],
    })
    lab = LLMLabeler(fn, progress=False)
    out = lab.label(df_in)
    assert out.call_id.tolist() == ["t1", "t3"]
    errs = lab.report_.errors
    assert errs.call_id.tolist() == ["t2", "t1"]
    assert errs.stage.tolist() == ["input", "input"]
    assert errs.reason.iloc[0] == "no transcript text to label from"
    assert errs.reason.iloc[1].startswith("duplicate call_id")
    user = seen[0][1]["content"]
    assert "AGENT: I have reset your password." in user and "agent_talk_ratio: 0.61" in user
    assert "agent_talk_ratio" not in seen[1][1]["content"]  # NaN features are left out


def test_callable_client_modes_and_errors() -> None:
    prompts: list[str] = []

    def as_prompt(prompt: str) -> Completion:
        prompts.append(prompt)
        return Completion(text=json.dumps(VALID), prompt_tokens=7, completion_tokens=3)

    lab = LLMLabeler(CallableClient(as_prompt, model="fn-model", input="prompt"), progress=False)
    df = lab.label([make_call()])
    assert df.iloc[0].model == "fn-model"
    assert isinstance(prompts[0], str) and "[user]" in prompts[0]
    assert (lab.report_.prompt_tokens, lab.report_.total_tokens) == (7, 10)

    def boom(messages: Any) -> str:
        raise RuntimeError("quota exceeded")

    lab = LLMLabeler(boom, progress=False)
    assert len(lab.label([make_call()])) == 0
    assert lab.report_.errors.reason.iloc[0] == (
        "completion function raised RuntimeError: quota exceeded")

    lab = LLMLabeler(lambda m: 42, progress=False)
    assert len(lab.label([make_call()])) == 0
    assert "returned int" in lab.report_.errors.reason.iloc[0]


def test_usage_missing_is_counted(serve: Any) -> None:
    srv = serve([ok(usage=None)])
    lab = labeler(srv)
    lab.label([make_call()])
    assert (lab.report_.total_tokens, lab.report_.requests_without_usage) == (0, 1)


def test_response_format_json_schema_is_sent(serve: Any) -> None:
    srv = serve([ok()])
    client = OpenAICompatibleClient(srv.base_url, "m", response_format="json_schema",
                                    extra_body={"seed": 1}, transport="urllib")
    LLMLabeler(client, progress=False).label([make_call()])
    rf = srv.bodies[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert set(rf["json_schema"]["schema"]["required"]) == {
        "call_resolved", "customer_satisfaction_score", "resolution_confidence", "reasoning"}
    assert srv.bodies[0]["seed"] == 1


def test_protocol_conformance() -> None:
    lab = LLMLabeler(lambda m: "")
    assert isinstance(lab, Labeler)
    assert isinstance(lab.name, str) and isinstance(lab.version, str)
    assert isinstance(OpenAICompatibleClient("http://127.0.0.1:1/v1", "m"), CompletionClient)
    assert isinstance(CallableClient(lambda m: ""), CompletionClient)
    empty = lab.label([])
    assert list(empty.columns) == list(OUTCOME_COLUMNS) and len(empty) == 0
    assert lab.report_.n_input == 0


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError):
        OpenAICompatibleClient("localhost:8000", "m")
    with pytest.raises(ConfigurationError):
        OpenAICompatibleClient("http://x/v1", "m", response_format="yaml")
    with pytest.raises(ConfigurationError):
        LLMLabeler(lambda m: "", max_repairs=9).label([make_call()])
    with pytest.raises(ConfigurationError):
        LLMLabeler(lambda m: "", max_concurrency=0).label([make_call()])
    with pytest.raises(ConfigurationError):
        LLMLabeler(lambda m: "").label(pd.DataFrame({"x": [1]}))
    with pytest.raises(ConfigurationError):
        LLMLabeler(lambda m: "").label(["not a call"])  # type: ignore[list-item]
    assert "sk-" not in repr(OpenAICompatibleClient("http://x/v1", "m", api_key="sk-secret"))


def test_snowflake_client_needs_a_snowpark_session() -> None:
    with pytest.raises(ConfigurationError, match="Session"):
        SnowflakeAICompleteClient(object(), "mistral-large2")


# --------------------------------------------------------------------------- property


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=3),
    max_leaves=8)
_near_valid = st.fixed_dictionaries(
    {"call_resolved": st.sampled_from([0, 1, 2, -1, True, "1", 1.0, None]),
     "customer_satisfaction_score": st.sampled_from([1, 3, 5, 0, 6, "4", 4.5, None]),
     "resolution_confidence": st.sampled_from([0, 0.5, 1, 1.5, -0.1, "0.9", None]),
     "reasoning": st.sampled_from(["ok", "", " ", 3, None])},
    optional={"extra": st.integers()})
_valid = st.fixed_dictionaries(
    {"call_resolved": st.sampled_from([0, 1]),
     "customer_satisfaction_score": st.integers(1, 5),
     "resolution_confidence": st.floats(0, 1) | st.sampled_from([0, 1]),
     "reasoning": st.text(min_size=1, max_size=50).filter(str.strip)})
_answers = st.one_of(
    _valid.map(json.dumps),
    _valid.map(lambda d: "```json\n" + json.dumps(d, indent=1) + "\n```"),
    st.text(max_size=200),
    _json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    _near_valid.map(json.dumps),
    _near_valid.map(lambda d: "```json\n" + json.dumps(d) + "\n```"),
    st.tuples(st.text(max_size=20), _near_valid.map(json.dumps), st.text(max_size=20))
    .map("".join),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_answers)
def test_any_answer_yields_an_outcome_or_a_quarantine_entry(text: str) -> None:
    lab = LLMLabeler(lambda m: text, max_repairs=0, cache=False, progress=False)
    df = lab.label([make_call()])  # never raises
    rep = lab.report_
    assert rep.labeled + rep.quarantined == 1
    if len(df):
        # the label is exactly what the answer said: nothing filled in
        body = text.strip()
        if body.startswith("```"):
            body = body.split("\n", 1)[1].rsplit("```", 1)[0]
        answer = json.loads(body)
        row = df.iloc[0]
        assert set(answer) == {"call_resolved", "customer_satisfaction_score",
                               "resolution_confidence", "reasoning"}
        assert row.call_resolved == answer["call_resolved"]
        assert row.customer_satisfaction_score == answer["customer_satisfaction_score"]
        assert row.resolution_confidence == answer["resolution_confidence"]
        assert row.reasoning == answer["reasoning"]
    else:
        err = dict(rep.errors.iloc[0])
        assert err["stage"] == "validation" and err["raw_response"] == text
        assert err["reason"]
