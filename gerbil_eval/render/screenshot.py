"""report.png: a picture of report.html taken by headless Chromium (``--report-screenshot``).

Chromium is started with every background service off (no sync, no updates, no QUIC), in a
throwaway profile, so it makes no network request and leaves nothing behind.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import GerbilEvalError
from ..fileio import atomic_open

#: Debian's package installs ``chromium``; other systems name it differently.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 60.0


def find_browser() -> str | None:
    """The first headless-capable Chromium on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def browser_command(browser: str, profile: Path) -> list[str]:
    """Chromium's command line without the action (``--screenshot``/``--dump-dom``) and URL."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}"]


def screenshot(html: Path, png: Path, *, size: str = "1280,2000") -> None:
    """Save a ``size`` (width,height) screenshot of ``html`` to ``png`` atomically."""
    browser = find_browser()
    if browser is None:
        raise GerbilEvalError("--report-screenshot: no Chromium on PATH; install it (apt-get install chromium) or drop the flag")
    with tempfile.TemporaryDirectory(prefix="gerbil-eval-chromium-") as tmp:
        out = Path(tmp) / "report.png"
        cmd = browser_command(browser, Path(tmp) / "profile") + [
            f"--screenshot={out}", f"--window-size={size}", Path(html).resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise GerbilEvalError(f"--report-screenshot: {browser} took over {TIMEOUT_S:.0f}s on {html}; report.html is still written") from None
        if not out.exists() or out.stat().st_size == 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise GerbilEvalError(f"--report-screenshot: {browser} wrote no screenshot (exit {proc.returncode}: {last})")
        with atomic_open(png, "wb") as fh:
            fh.write(out.read_bytes())
