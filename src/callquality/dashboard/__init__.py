"""The live dashboard (Streamlit; ``pip install 'callquality[dashboard]'``).

``callquality dashboard --store ./cq-store`` starts it; it reads the store another process
writes (calls from the feature store, predictions and coaching from the PRODUCTION model,
monitoring from ``callquality.monitoring``) and refreshes itself. See ``docs/dashboard.md``.
The data it shows is computed by :mod:`callquality.dashboard.data` (no Streamlit needed).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._extras import require

__all__ = ["APP_PATH", "run", "streamlit_command"]

#: The Streamlit script.
APP_PATH = Path(__file__).with_name("app.py")


def streamlit_command(store: str | None = None, *, backend: str = "local",
                      backend_options: Mapping[str, Any] | None = None,
                      model: str = "call_quality@PRODUCTION", refresh_s: float = 30.0,
                      host: str = "127.0.0.1", port: int = 8501,
                      extra: Sequence[str] = ()) -> list[str]:
    """The ``python -m streamlit run app.py ... -- --store ...`` command line."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_PATH),
           "--server.address", host, "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", *extra,
           "--", "--backend", backend, "--model", model, "--refresh", str(refresh_s)]
    if store is not None:
        cmd += ["--store", str(store)]
    for key, value in (backend_options or {}).items():
        cmd += ["--backend-option", f"{key}={value}"]
    return cmd


def run(store: str | None = None, *, backend: str = "local",
        backend_options: Mapping[str, Any] | None = None,
        model: str = "call_quality@PRODUCTION", refresh_s: float = 30.0,
        host: str = "127.0.0.1", port: int = 8501) -> int:
    """Run the dashboard until interrupted; returns Streamlit's exit status.

    Raises:
        MissingExtraError: Streamlit is not installed.
    """
    require("streamlit", "dashboard", "the dashboard")
    cmd = streamlit_command(store, backend=backend, backend_options=backend_options,
                            model=model, refresh_s=refresh_s, host=host, port=port)
    in_main = threading.current_thread() is threading.main_thread()
    previous = None
    if in_main:  # a SIGTERM to this process also stops Streamlit (finally below)
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
