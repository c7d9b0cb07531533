"""End to end in a real browser: `callquality dashboard` on 127.0.0.1 against a small store,
driven by headless Chromium (Debian's /usr/bin/chromium through the playwright package)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import callquality as cq
from _cq_store import CALM, STRESSED, build_store
from callquality.dashboard.data import call_details, headline, resolve_model

pytest.importorskip("streamlit")
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CALLQUALITY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the dashboard exited with {proc.returncode}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"the dashboard did not answer within {timeout} s:\n"
                         f"{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[dict[str, Any]]:
    info = build_store(tmp_path / "store", n_calls=120)
    port = _free_port()
    log = tmp_path / "dashboard.log"
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "callquality.cli", "dashboard", "--store", str(info.path),
             "--host", "127.0.0.1", "--port", str(port), "--refresh", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, timeout=60)
        yield {"url": url, "store": info}
    finally:
        proc.terminate()  # the CLI stops its Streamlit child on SIGTERM
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _metric(page: Any, label: str) -> Any:
    return page.locator('[data-testid="stMetric"]', has_text=label) \
        .locator('[data-testid="stMetricValue"]')


def test_dashboard_in_chromium(dashboard: dict[str, Any], tmp_path: Path) -> None:
    expect = playwright_api.expect
    expect.set_options(timeout=45_000)  # a busy machine renders slowly; failures wait this
    info = dashboard["store"]
    with cq.connect("local", path=info.path) as backend:
        model = resolve_model(backend, "call_quality@PRODUCTION")
        want = {cid: call_details(backend, cid, model) for cid in (STRESSED, CALM)}
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(dashboard["url"])
            expect(page.get_by_role("heading", name="Call quality")).to_be_visible()
            # the newest call is selected first: the stressed one, with its high-priority cards
            expect(_metric(page, "Stress")).to_have_text("0.91")
            expect(page.get_by_text("High stress in the call")).to_be_visible()
            expect(page.get_by_text("Escalation risk")).to_be_visible()
            expect(page.get_by_text("Customer sentiment very negative")).to_be_visible()
            h = headline(want[STRESSED])
            expect(_metric(page, "Predicted quality")).to_have_text(h["quality"])
            expect(_metric(page, "Confidence")).to_have_text(h["confidence"])

            # select the calm call through the selectbox, as a user would
            page.locator('[data-testid="stSelectbox"]', has_text="Call").first.click()
            page.keyboard.type(CALM)
            page.keyboard.press("Enter")
            expect(_metric(page, "Stress")).to_have_text("0.05")
            h = headline(want[CALM])
            expect(_metric(page, "Predicted quality")).to_have_text(h["quality"])
            expect(_metric(page, "Confidence")).to_have_text(h["confidence"])
            expect(_metric(page, "Customer sentiment")).to_have_text(h["sentiment"])
            expect(_metric(page, "Interruptions")).to_have_text("0")
            expect(page.get_by_text("High stress in the call")).to_have_count(0)
            for card in want[CALM].report.suggestions:  # the coaching cards, in order
                expect(page.get_by_text(card.title, exact=False).first).to_be_visible()
            alerts = page.locator('[data-testid="stAlert"]')
            expect(alerts.first).to_contain_text(want[CALM].report.suggestions[0].title)
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")
        finally:
            context.close()
