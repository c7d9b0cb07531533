"""Completion clients: the one small interface the LLM labeler talks to.

A :class:`CompletionClient` has a ``model`` name and one method, ``complete(messages, *,
response_schema=None, timeout=None) -> Completion``. Three come with callquality:

* :class:`OpenAICompatibleClient` — any OpenAI-compatible ``/chat/completions`` endpoint
  (OpenAI, Azure-style gateways, vLLM, Ollama, llama.cpp server, LiteLLM, ...) chosen by
  ``base_url``. Uses httpx when it is installed, else the standard library's urllib.
* :class:`CallableClient` — any Python function that takes the messages (or one prompt
  string) and returns the answer text.
* :class:`SnowflakeAICompleteClient` — Snowflake's ``AI_COMPLETE`` through a Snowpark session,
  with the outcome JSON schema as ``response_format`` (needs ``callquality[snowflake]``).

Clients translate every transport problem into :class:`CompletionError` at the boundary:
``retryable`` for timeouts, connection failures, HTTP 408/409/425/429 and 5xx (with the
server's ``Retry-After`` in seconds, when it sent one), ``fatal`` for 401/403/404 (wrong key,
URL or model: no later request can succeed), neither for other 4xx (this request is bad).
Retrying, backoff and concurrency belong to the labeler, not to the client.
"""

from __future__ import annotations

import email.utils
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from ..exceptions import ConfigurationError, LabelingError

__all__ = [
    "CallableClient",
    "Completion",
    "CompletionClient",
    "CompletionError",
    "CompletionTimeoutError",
    "Message",
    "OpenAICompatibleClient",
    "SnowflakeAICompleteClient",
    "render_prompt",
]

#: A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``.
Message = Mapping[str, str]

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_FATAL_STATUS = frozenset({401, 403, 404})


@dataclass(frozen=True)
class Completion:
    """One answer: its text and the token usage the endpoint reported (``None`` if not)."""

    text: str | None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    finish_reason: str | None = None


class CompletionError(LabelingError):
    """A completion request failed.

    Attributes:
        retryable: a later attempt may succeed (timeout, connection error, 429, 5xx).
        fatal: no request to this endpoint can succeed (401, 403, 404); the labeler stops
            sending and quarantines the calls not yet sent.
        status: the HTTP status, if there was one.
        retry_after: seconds the server asked to wait (``Retry-After``), if it said.
    """

    def __init__(self, message: str, *, retryable: bool = False, fatal: bool = False,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.fatal = fatal
        self.status = status
        self.retry_after = retry_after


class CompletionTimeoutError(CompletionError):
    """No answer within the request timeout (retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@runtime_checkable
class CompletionClient(Protocol):
    """What the LLM labeler needs from a model endpoint."""

    model: str

    def complete(self, messages: Sequence[Message], *,
                 response_schema: Mapping[str, Any] | None = None,
                 timeout: float | None = None) -> Completion:
        """Answer the conversation ``messages`` (temperature 0).

        Args:
            messages: the conversation, oldest first.
            response_schema: JSON schema the answer must follow; a client that can ask the
                endpoint to enforce it may do so, others ignore it.
            timeout: seconds to wait for the answer; ``None``: the client's default.

        Raises:
            CompletionError: the request failed (see its ``retryable`` and ``fatal``).
        """
        ...


def render_prompt(messages: Sequence[Message]) -> str:
    """The conversation as one text, for completion functions that take a single prompt."""
    parts = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content", "")
        if role == "system":
            parts.append(content)
        else:
            parts.append(f"[{role}]\n{content}")
    return "\n\n".join(parts)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    try:
        secs = float(v)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        secs = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if secs != secs:  # NaN
        return None
    return max(0.0, secs)


# --------------------------------------------------------------------------- OpenAI-compatible


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:200]
        if isinstance(err, str):
            return err[:200]
    return text[:200]


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


class OpenAICompatibleClient:
    """Chat completions over HTTP: ``POST {base_url}/chat/completions``.

    Args:
        base_url: the API root, e.g. ``"https://api.openai.com/v1"``,
            ``"http://localhost:8000/v1"`` (vLLM), ``"http://localhost:11434/v1"`` (Ollama).
        model: model name sent with every request.
        api_key: sent as ``Authorization: Bearer <api_key>``; ``None`` sends no header
            (local servers). It is never read from the environment implicitly.
        timeout: default seconds to wait for a response (connect, and then between bytes of
            the response), overridden per request by the labeler's ``timeout``.
        temperature: sampling temperature (0: the most reproducible answers).
        max_tokens: upper bound on the answer's length, or ``None``.
        response_format: ``None`` (plain text answers; works everywhere),
            ``"json_object"`` (JSON mode) or ``"json_schema"`` (structured output with the
            outcome schema; OpenAI, vLLM, recent Ollama).
        headers: extra HTTP headers.
        extra_body: extra JSON fields merged into every request body (e.g. ``{"seed": 0}``).
        transport: ``"auto"`` (httpx if installed, else urllib), ``"httpx"`` or ``"urllib"``.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float = 60.0, temperature: float = 0.0, max_tokens: int | None = None,
                 response_format: str | None = None, headers: Mapping[str, str] | None = None,
                 extra_body: Mapping[str, Any] | None = None, transport: str = "auto") -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"OpenAICompatibleClient: base_url must start with "
                                     f"http:// or https://, got {base_url!r}")
        if not model:
            raise ConfigurationError("OpenAICompatibleClient: model is required")
        if response_format not in (None, "json_object", "json_schema"):
            raise ConfigurationError("OpenAICompatibleClient: response_format must be None, "
                                     f"'json_object' or 'json_schema', got {response_format!r}")
        if transport not in ("auto", "httpx", "urllib"):
            raise ConfigurationError("OpenAICompatibleClient: transport must be 'auto', "
                                     f"'httpx' or 'urllib', got {transport!r}")
        if transport == "auto":
            try:
                import httpx  # noqa: F401
                transport = "httpx"
            except ImportError:
                transport = "urllib"
        elif transport == "httpx":
            from .._extras import require
            require("httpx", "llm", "OpenAICompatibleClient(transport='httpx')")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.response_format = response_format
        self.headers = dict(headers or {})
        self.extra_body = dict(extra_body or {})
        self.transport = transport
        self._http: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return (f"OpenAICompatibleClient(base_url={self.base_url!r}, model={self.model!r}, "
                f"transport={self.transport!r})")

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _body(self, messages: Sequence[Message], response_schema: Mapping[str, Any] | None
              ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model,
                                "messages": [{"role": m["role"], "content": m["content"]}
                                             for m in messages],
                                "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif self.response_format == "json_schema" and response_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "call_outcome", "schema": dict(response_schema), "strict": True}}
        body.update(self.extra_body)
        return body

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json", **self.headers}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def complete(self, messages: Sequence[Message], *,
                 response_schema: Mapping[str, Any] | None = None,
                 timeout: float | None = None) -> Completion:
        data = json.dumps(self._body(messages, response_schema)).encode("utf-8")
        t = self.timeout if timeout is None else timeout
        if self.transport == "httpx":
            status, headers, body = self._post_httpx(data, t)
        else:
            status, headers, body = self._post_urllib(data, t)
        if status != 200:
            detail = _error_detail(body)
            msg = f"HTTP {status} from {self.url}: {detail}" if detail else \
                f"HTTP {status} from {self.url}"
            retryable = status in _RETRYABLE_STATUS or 500 <= status <= 599
            raise CompletionError(msg, status=status, retryable=retryable,
                                  fatal=status in _FATAL_STATUS,
                                  retry_after=parse_retry_after(headers.get("retry-after"))
                                  if retryable else None)
        return self._parse(body)

    def _parse(self, body: bytes) -> Completion:
        try:
            obj = json.loads(body.decode("utf-8"))
            choice = obj["choices"][0]
            msg = choice["message"]
            content = msg.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise CompletionError(f"{self.url} answered HTTP 200 with a body that is not a "
                                  f"chat completion: {body[:200]!r}", retryable=True) from None
        if content is not None and not isinstance(content, str):
            content = json.dumps(content)
        usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
        return Completion(
            text=content, model=obj.get("model") if isinstance(obj.get("model"), str) else None,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            total_tokens=_int_or_none(usage.get("total_tokens")),
            finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None)

    # ------------------------------------------------------------------ transports

    def _client(self) -> Any:
        with self._lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client(follow_redirects=False)
            return self._http

    def _post_httpx(self, data: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
        import httpx

        try:
            r = self._client().post(self.url, content=data, headers=self._headers(),
                                    timeout=httpx.Timeout(timeout))
            return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content
        except httpx.TimeoutException:
            raise CompletionTimeoutError(f"no answer from {self.url} within {timeout:g} s") \
                from None
        except httpx.HTTPError as exc:  # connection refused, reset, protocol errors
            raise CompletionError(f"request to {self.url} failed: {type(exc).__name__}: {exc}",
                                  retryable=True) from None

    def _post_urllib(self, data: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url, data=data, headers=self._headers(),
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except OSError:
                body = b""
            hdrs = {k.lower(): v for k, v in (exc.headers or {}).items()}
            return exc.code, hdrs, body
        except TimeoutError:
            raise CompletionTimeoutError(f"no answer from {self.url} within {timeout:g} s") \
                from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise CompletionTimeoutError(f"no answer from {self.url} within {timeout:g} s") \
                    from None
            raise CompletionError(f"request to {self.url} failed: {exc.reason}",
                                  retryable=True) from None
        except (ConnectionError, OSError) as exc:
            raise CompletionError(f"request to {self.url} failed: {type(exc).__name__}: {exc}",
                                  retryable=True) from None

    def close(self) -> None:
        """Close the connection pool (httpx); the client can still be used afterwards."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> OpenAICompatibleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- callable


class CallableClient:
    """Wrap a Python function as a completion client.

    Args:
        fn: called with the conversation (a list of ``{"role", "content"}`` dicts) when
            ``input="messages"``, or with one prompt string (:func:`render_prompt`) when
            ``input="prompt"``. Returns the answer text, or a :class:`Completion` (to report
            token usage).
        model: the name recorded in the outcomes' ``model`` column and in the cache key.
        input: ``"messages"`` or ``"prompt"``.

    Exceptions the function raises become non-retryable :class:`CompletionError` (the call is
    quarantined), except :class:`CompletionError` itself (raised as is, so a function can ask
    for a retry) and ``TimeoutError`` (a retryable timeout). The function owns its timeout: a
    call that hangs is not interrupted.
    """

    def __init__(self, fn: Callable[[Any], Any], *, model: str = "callable",
                 input: str = "messages") -> None:
        if not callable(fn):
            raise ConfigurationError(f"CallableClient: fn must be callable, got "
                                     f"{type(fn).__name__}")
        if input not in ("messages", "prompt"):
            raise ConfigurationError(f"CallableClient: input must be 'messages' or 'prompt', "
                                     f"got {input!r}")
        self.fn = fn
        self.model = model
        self.input = input

    def __repr__(self) -> str:
        return f"CallableClient({getattr(self.fn, '__name__', self.fn)!r}, model={self.model!r})"

    def complete(self, messages: Sequence[Message], *,
                 response_schema: Mapping[str, Any] | None = None,
                 timeout: float | None = None) -> Completion:
        arg: Any = ([dict(m) for m in messages] if self.input == "messages"
                    else render_prompt(messages))
        try:
            out = self.fn(arg)
        except CompletionError:
            raise
        except TimeoutError as exc:
            raise CompletionTimeoutError(f"completion function timed out: {exc}") from None
        except Exception as exc:
            raise CompletionError(f"completion function raised {type(exc).__name__}: {exc}") \
                from None
        if isinstance(out, Completion):
            return out
        if isinstance(out, str):
            return Completion(text=out, model=self.model)
        raise CompletionError(f"completion function returned {type(out).__name__}; expected "
                              f"str or Completion")


# --------------------------------------------------------------------------- Snowflake


class SnowflakeAICompleteClient:
    """Snowflake ``AI_COMPLETE`` (Cortex) as a completion client.

    Each request runs one ``SELECT AI_COMPLETE(model => ..., prompt => ...,
    model_parameters => {'temperature': ..., 'max_tokens': ...}, response_format => {'type':
    'json', 'schema': <outcome JSON schema>}, show_details => TRUE)`` through Snowpark
    (``snowflake.snowpark.functions.ai_complete``; the prompt travels as a DataFrame value,
    never formatted into SQL). The answer goes through the LLM labeler's strict parser like any
    other: a structured answer Snowflake returns as an object is handed over as its JSON text,
    unchanged, so a wrong type or a missing key is still caught, followed up and quarantined.

    Args:
        session: a ``snowflake.snowpark.Session`` with access to Cortex AI functions.
        model: a Cortex model name, e.g. ``"claude-sonnet-4-5"``, ``"llama3.1-70b"``.
        temperature: sampling temperature (0: the most reproducible answers).
        max_tokens: upper bound on the answer's length (Snowflake allows up to 8192), or
            ``None``.
        use_response_format: send the outcome JSON schema as ``response_format`` (structured
            output); ``False`` sends plain prompts.

    Errors become :class:`CompletionError`: statement timeouts are
    :class:`CompletionTimeoutError` (retryable), throttling (429) and service errors (5xx,
    connection failures) retryable, an unknown or unavailable model and missing privileges
    fatal (no later request can succeed), anything else non-retryable.
    """

    model: str
    _MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"

    def __init__(self, session: Any, model: str, *, temperature: float = 0.0,
                 max_tokens: int | None = None, use_response_format: bool = True) -> None:
        from .._extras import require

        snowpark = require("snowflake.snowpark", "snowflake", "SnowflakeAICompleteClient")
        if not isinstance(session, snowpark.Session):
            raise ConfigurationError(f"SnowflakeAICompleteClient: session must be a "
                                     f"snowflake.snowpark.Session, got {type(session).__name__}")
        import re

        if not isinstance(model, str) or not re.match(self._MODEL_NAME, model):
            raise ConfigurationError(f"SnowflakeAICompleteClient: invalid model name {model!r} "
                                     "(letters, digits, '.', '-', '_', ':')")
        if max_tokens is not None and not (isinstance(max_tokens, int) and
                                           1 <= max_tokens <= 8192):
            raise ConfigurationError(f"SnowflakeAICompleteClient: max_tokens must be 1..8192 "
                                     f"or None, got {max_tokens!r}")
        self.session = session
        self.model = model
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.use_response_format = use_response_format

    def __repr__(self) -> str:
        return f"SnowflakeAICompleteClient(model={self.model!r})"

    def complete(self, messages: Sequence[Message], *,
                 response_schema: Mapping[str, Any] | None = None,
                 timeout: float | None = None) -> Completion:
        import math

        from snowflake.snowpark import functions as F
        from snowflake.snowpark.types import StringType, StructField, StructType

        params: dict[str, Any] = {"temperature": self.temperature}
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        options: dict[str, Any] = {"model_parameters": params, "show_details": True}
        if self.use_response_format and response_schema is not None:
            options["response_format"] = {"type": "json", "schema": dict(response_schema)}
        statement = None if timeout is None else \
            {"STATEMENT_TIMEOUT_IN_SECONDS": max(1, int(math.ceil(timeout)))}
        try:
            frame = self.session.create_dataframe(
                [[render_prompt(messages)]], schema=StructType([StructField("PROMPT",
                                                                            StringType())]))
            answer = F.ai_complete(self.model, F.col("PROMPT"), **options).alias("ANSWER")
            rows = frame.select(answer).collect(statement_params=statement)
        except CompletionError:
            raise
        except Exception as exc:
            raise self._error(exc, self.model, timeout) from None
        if not rows:
            raise CompletionError(f"AI_COMPLETE({self.model}) returned no row", retryable=True)
        return self._parse(rows[0][0], self.model)

    @staticmethod
    def _parse(raw: Any, model: str) -> Completion:
        """The :class:`Completion` of one ``AI_COMPLETE(..., show_details => TRUE)`` value."""
        obj: Any = raw
        if isinstance(raw, str):
            try:
                obj = json.loads(raw)
            except ValueError:
                return Completion(text=raw, model=model)
        if not isinstance(obj, dict):
            return Completion(text=raw if isinstance(raw, str) else json.dumps(obj), model=model)
        content: Any = obj
        finish = None
        choices = obj.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            finish = choice.get("finish_reason")
            for key in ("messages", "message", "text", "content"):
                if key in choice:
                    content = choice[key]
                    break
            if isinstance(content, dict) and isinstance(content.get("content"), (str, dict)) and \
                    set(content) <= {"role", "content"}:
                content = content["content"]
        elif isinstance(obj.get("structured_output"), list) and obj["structured_output"]:
            first = obj["structured_output"][0]
            content = first.get("raw_message", first) if isinstance(first, dict) else first
        text = content if isinstance(content, str) or content is None else json.dumps(content)
        found = obj.get("usage")
        usage: dict[str, Any] = found if isinstance(found, dict) else {}
        return Completion(
            text=text, model=obj.get("model") if isinstance(obj.get("model"), str) else model,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            total_tokens=_int_or_none(usage.get("total_tokens")),
            finish_reason=finish if isinstance(finish, str) else None)

    @staticmethod
    def _error(exc: Exception, model: str, timeout: float | None) -> CompletionError:
        """Classify a Snowflake failure of ``AI_COMPLETE`` (see the class docstring)."""
        code = getattr(exc, "sql_error_code", None) or getattr(exc, "errno", None)
        text = " ".join(str(getattr(exc, "message", None) or exc).split())[:300]
        low = text.lower()
        what = f"AI_COMPLETE({model}) failed: {text}"
        if code in (604, 630) or "timeout" in low or "timed out" in low or \
                type(exc).__name__ in ("SnowparkQueryCancelledException", "TimeoutError"):
            limit = f" within {timeout:g} s" if timeout is not None else ""
            return CompletionTimeoutError(f"no answer from AI_COMPLETE({model}){limit}: {text}")
        if "429" in low or "too many requests" in low or "rate limit" in low or "throttl" in low:
            return CompletionError(what, retryable=True, status=429)
        if code in (2003, 3001) or any(s in low for s in (
                "insufficient privileges", "not authorized", "unknown model", "model not found",
                "invalid model", "unsupported model", "not available in", "does not exist")):
            return CompletionError(what, fatal=True, status=403 if code == 3001 else 404)
        if any(s in low for s in ("500", "502", "503", "504", "service unavailable",
                                  "internal error", "temporarily", "connection", "network")) or \
                type(exc).__name__ in ("OperationalError", "InterfaceError",
                                       "ServiceUnavailableError", "GatewayTimeoutError",
                                       "BadGatewayError", "InternalServerError"):
            return CompletionError(what, retryable=True)
        return CompletionError(what)
