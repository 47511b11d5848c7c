"""report.html opened in real headless Chromium, driven over the DevTools protocol (CDP).

Checks what a reader relies on: the page loads with no failed and no network request
(only the file itself and data: URLs), the chart image decodes to a non-empty picture,
every case id is on the page, and ``--report-screenshot`` leaves a real report.png.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from gerbil_eval.render import ReportOptions, write_reports
from gerbil_eval.run.load import load_result
from gerbil_eval.render.screenshot import browser_command, find_browser

from .rundocs import make_doc, save_run

pytestmark = pytest.mark.browser
BROWSER = find_browser()
if BROWSER is None:
    pytest.skip("headless Chromium not on PATH (apt-get install chromium; .ci/run installs it)", allow_module_level=True)
websocket = pytest.importorskip("websocket", reason="websocket-client drives Chromium over CDP")

CASES = {f"case-{i:02d}": (1.0 if i % 3 else 0.5) for i in range(12)}
CATEGORIES = {cid: ("syntax", "stdlib", "ffi")[i % 3] for i, cid in enumerate(CASES)}


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under GitHub Actions these reports must not land on the real job page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


class Page:
    """One CDP session on a page target: send commands, collect the events seen meanwhile."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise AssertionError(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            assert time.monotonic() < deadline, f"no {method} within {timeout}s"
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    doc = make_doc([("gerbil-qwen", "candidate", CASES), ("qwen2.5:7b", "baseline", {c: 0.5 for c in CASES})],
                   categories=CATEGORIES, run_id="browser-run")
    answers = {(r["model"], r["case_id"], 0): "(def (f x)\n  (* x 2))" for r in doc["results"]}
    run_dir = save_run(tmp_path / "run", doc, answers)
    write_reports(run_dir, load_result(run_dir))
    return run_dir / "report.html"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "profile"
    cmd = browser_command(BROWSER, profile) + ["--remote-debugging-port=0", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"{BROWSER} exited with {proc.returncode}"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            target = next(t for t in json.load(resp) if t["type"] == "page")
        session = Page(target["webSocketDebuggerUrl"])
        yield session
        session.ws.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the browser and its helpers: the group started above
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def load(page: Page, report: Path) -> None:
    page.call("Network.enable")
    page.call("Page.enable")
    page.call("Page.navigate", url=report.as_uri())
    page.wait_for("Page.loadEventFired")


def test_report_loads_in_chromium_with_no_failed_or_network_request(page: Page, report: Path) -> None:
    load(page, report)
    requested = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
    failed = [e["params"] for e in page.events if e.get("method") == "Network.loadingFailed"]
    assert failed == []
    assert requested and requested[0] == report.as_uri()
    assert all(url.startswith(("file:", "data:")) for url in requested), requested


def test_report_chart_image_is_present_and_non_empty(page: Page, report: Path) -> None:
    load(page, report)
    size = page.evaluate("(() => { const img = document.getElementById('category-chart');"
                         " return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null; })()")
    assert size is not None and size[0] > 400 and size[1] > 200, size


def test_every_case_id_is_on_the_page(page: Page, report: Path) -> None:
    load(page, report)
    shown = page.evaluate("[...document.querySelectorAll('details.case > summary strong')].map(e => e.textContent)")
    assert sorted(shown) == sorted(CASES)
    text = page.evaluate("document.body.innerText")
    assert all(cid in text for cid in CASES)


def test_report_screenshot_option_saves_a_png_of_the_page(report: Path, tmp_path: Path) -> None:
    write_reports(report.parent, load_result(report.parent), ReportOptions(screenshot=True))
    png = (report.parent / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 2000)
    assert len(png) > 20_000, "a rendered page, not a blank image"
