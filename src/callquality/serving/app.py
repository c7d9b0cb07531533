"""The HTTP prediction service (FastAPI; ``pip install 'callquality[serve]'``).

Endpoints:

* ``GET /health`` (no token): ``ok`` or ``degraded`` (the last reload failed; the previous
  model keeps serving), the version serving, when the alias was last checked.
* ``GET /version``: library version, the served model (reference, version, threshold,
  signature) and the watcher's state.
* ``POST /predict``: ``{"call_id": ...}`` (features from the online store),
  ``{"features": {...}}`` (every feature of the signature; ``null`` for a missing value) or
  both (the request's features override the store's).
* ``POST /predict/batch``: ``{"instances": [<as above>, ...]}``.

Every other path needs ``Authorization: Bearer <token>`` when a token is configured; request
bodies are capped at ``max_body_bytes`` (413), and every prediction is written to the
prediction log before it is answered (503 if it could not be logged).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from .._extras import require
from .._version import __version__
from ..exceptions import CallQualityError, ConfigurationError
from ._schemas import BatchRequest, BatchResponse, Prediction, PredictRequest
from ._service import Instance, PredictionService, RequestError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "OPEN_PATHS", "create_app"]

log = logging.getLogger("callquality.serving")

DEFAULT_MAX_BODY_BYTES = 1 << 20
#: Paths served without a token (liveness probes and the API's own docs).
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class GuardMiddleware:
    """ASGI middleware: bearer-token check, then the request body limit.

    Runs before the framework parses anything, so an unauthenticated or oversized request
    costs no parsing. The body limit holds for a declared ``Content-Length`` and for chunked
    bodies (counted while they stream in).
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int,
                 open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self._token = None if token is None else token.encode()
        self.max_body_bytes = int(max_body_bytes)
        self.open_paths = open_paths

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None or scope.get("path") in self.open_paths:
            return True
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credential.strip(), self._token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await _send_json(send, 401, {"detail": "missing or invalid bearer token"},
                             [(b"www-authenticate", b'Bearer realm="callquality"')])
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_json(send, 400, {"detail": "invalid Content-Length"})
                    return
                if declared > self.max_body_bytes:
                    await _send_json(send, 413, {"detail": f"request body of {declared} bytes "
                                                 f"exceeds the limit of {self.max_body_bytes}"})
                    return
        from starlette.exceptions import HTTPException

        seen = 0
        started = False
        too_large = f"request body exceeds the limit of {self.max_body_bytes} bytes"

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # the framework renders an HTTPException raised while reading the body
                    raise HTTPException(413, too_large)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:  # raised outside the framework's handlers
            if started or exc.status_code != 413:
                raise
            await _send_json(send, 413, {"detail": too_large})


def create_app(backend: Any, model: str = "call_quality@PRODUCTION", *,
               token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = 1000, poll_interval_s: float = 5.0, log_features: bool = True,
               close_backend: bool = False) -> Any:
    """The FastAPI application serving ``model`` from ``backend``.

    The model is loaded here (errors surface before a port is bound); polling for alias
    moves starts with the application and stops, after the queued predictions are logged,
    when it shuts down.

    Args:
        backend: a :class:`~callquality.protocols.Backend` (``cq.connect(...)``).
        model: model reference; an alias (``name@ALIAS``) is followed as it moves.
        token: the bearer token clients must send; ``None`` disables authentication (only
            for local development).
        max_body_bytes: largest accepted request body (413 beyond).
        max_batch: most instances per ``/predict/batch`` request.
        poll_interval_s: seconds between registry checks for a moved alias.
        log_features: log the input features with each prediction (drift monitoring).
        close_backend: close ``backend`` when the application shuts down.

    Raises:
        MissingExtraError: FastAPI is not installed.
        ConfigurationError: invalid limits or an empty token.
        NotFoundError, IntegrityError: the model cannot be loaded.
    """
    fastapi = require("fastapi", "serve", "the prediction service")
    from fastapi.responses import JSONResponse

    if token is not None and not token.strip():
        raise ConfigurationError("create_app: token is empty; pass None to disable "
                                 "authentication explicitly")
    if max_body_bytes <= 0 or max_batch <= 0:
        raise ConfigurationError(f"create_app: max_body_bytes={max_body_bytes} and "
                                 f"max_batch={max_batch} must be positive")
    service = PredictionService(backend, model, poll_interval_s=poll_interval_s,
                                log_features=log_features)
    if token is None:
        log.warning("serving %s WITHOUT authentication", model)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await asyncio.to_thread(service.close)
            if close_backend:
                backend.close()

    app = fastapi.FastAPI(title="callquality prediction service", version=__version__,
                          lifespan=lifespan)
    app.state.service = service

    async def run(instances: list[Instance], loc: tuple[Any, ...]) -> list[dict[str, Any]]:
        prepared = await asyncio.to_thread(service.prepare, instances, loc_prefix=loc)
        try:
            await asyncio.wrap_future(prepared.logged)
        except Exception as exc:
            raise RequestError(503, f"the prediction could not be logged, so it is not "
                                    f"returned: {type(exc).__name__}: {exc}") from exc
        return service.response(prepared)

    @app.exception_handler(RequestError)
    async def _request_error(request: Any, exc: RequestError) -> Any:
        return JSONResponse(status_code=exc.status, content={"detail": exc.detail})

    @app.exception_handler(CallQualityError)
    async def _backend_error(request: Any, exc: CallQualityError) -> Any:
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": f"{type(exc).__name__}: {exc}"})

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and the version serving (no token needed)."""
        return service.health()

    @app.get("/version")
    def version() -> dict[str, Any]:
        """Library version, the served model and its signature."""
        return {"callquality": __version__, "model": service.model.describe(),
                "watcher": service.watcher.status()}

    @app.post("/predict", response_model=Prediction)
    async def predict(body: PredictRequest) -> dict[str, Any]:
        """Predict one call (by id from the online store, or from the given features)."""
        (answer,) = await run([Instance(body.call_id, body.features)], ("body",))
        return answer

    @app.post("/predict/batch", response_model=BatchResponse)
    async def predict_batch(body: BatchRequest) -> dict[str, Any]:
        """Predict several calls with one model version."""
        if len(body.instances) > max_batch:
            raise RequestError(422, [{"loc": ["body", "instances"], "type": "too_long",
                                      "msg": f"{len(body.instances)} instances; at most "
                                             f"{max_batch} per request"}])
        instances = [Instance(i.call_id, i.features) for i in body.instances]
        return {"predictions": await run(instances, ("body", "instances"))}

    app.add_middleware(GuardMiddleware, token=token, max_body_bytes=max_body_bytes)
    return app
