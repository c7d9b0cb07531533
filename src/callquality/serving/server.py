"""Running the prediction service: in the foreground (``callquality serve``) or in a
background thread on a free local port (tests, benchmarks, notebooks)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from .._extras import require
from ..exceptions import ConfigurationError

__all__ = ["TOKEN_ENV", "BackgroundServer", "serve"]

#: Environment variable read for the bearer token when none is passed.
TOKEN_ENV = "CALLQUALITY_API_TOKEN"


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread; a context manager.

    The socket is bound before the thread starts (port 0 picks a free port), so
    :attr:`url` is valid as soon as :meth:`start` returns and no other process can take the
    port in between.

    Args:
        app: the ASGI application (e.g. :func:`callquality.serving.create_app`).
        host: interface to bind (default loopback only).
        port: port, 0 for a free one.
        startup_timeout_s: how long :meth:`start` waits for the server to accept requests.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout_s: float = 30.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Bind, start serving, and wait until the server accepts requests.

        Raises:
            RuntimeError: the server did not start within ``startup_timeout_s``.
        """
        uvicorn = require("uvicorn", "serve", "the prediction service")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"cq-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"BackgroundServer: uvicorn did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down gracefully (requests in flight finish; the app's shutdown runs)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(model: str = "call_quality@PRODUCTION", *, store: str | None = None,
          backend: Any = None, backend_name: str = "local",
          backend_options: dict[str, Any] | None = None, host: str = "127.0.0.1",
          port: int = 8000, token: str | None = None, allow_unauthenticated: bool = False,
          max_body_bytes: int | None = None, poll_interval_s: float = 5.0,
          log_level: str = "info") -> None:
    """Serve ``model`` over HTTP until interrupted (what ``callquality serve`` runs).

    Args:
        model: model reference; an alias is followed as it moves.
        store: folder of a local store (``cq.connect("local", path=store)``).
        backend: an open backend instead of ``store``.
        backend_name, backend_options: ``cq.connect(backend_name, **backend_options)`` when
            neither ``store`` nor ``backend`` is given.
        host, port: where to listen (loopback by default).
        token: the bearer token; default: the ``CALLQUALITY_API_TOKEN`` environment variable.
        allow_unauthenticated: serve without a token (refused otherwise).
        max_body_bytes: request body limit (default 1 MiB).
        poll_interval_s: seconds between registry checks.
        log_level: uvicorn's log level.

    Raises:
        ConfigurationError: no token and ``allow_unauthenticated`` is false, or no store.
    """
    uvicorn = require("uvicorn", "serve", "the prediction service")
    from .app import DEFAULT_MAX_BODY_BYTES, create_app

    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token is None and not allow_unauthenticated:
        raise ConfigurationError(f"serve({model!r}): no bearer token; set {TOKEN_ENV} (or pass "
                                 "--token), or pass --no-auth to serve without authentication")
    close = backend is None
    if backend is None:
        from ..backends import connect

        options = dict(backend_options or {})
        if store is not None:
            options["path"] = store
        elif backend_name == "local" and "path" not in options:
            raise ConfigurationError(f"serve({model!r}): pass --store PATH (the local store "
                                     "that holds the registry and the feature store)")
        backend = connect(backend_name, **options)
    try:
        app = create_app(backend, model, token=token,
                         max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                         poll_interval_s=poll_interval_s, close_backend=close)
    except BaseException:
        if close:
            backend.close()
        raise
    uvicorn.run(app, host=host, port=port, log_level=log_level)
