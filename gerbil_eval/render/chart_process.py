"""The report's chart drawn in a child process, so matplotlib never enters the run's process.

Why: matplotlib is the heaviest import of a run (about half a second of CPU on an idle core,
several seconds of wall time on a loaded machine), an import running in a thread while the
requests are in flight holds the GIL the event loop needs, and its teardown at interpreter exit
costs as much again. :func:`start` (called when the requests go out) starts
``python -m gerbil_eval.render.chart_process``, which imports matplotlib on the other core and
waits; :func:`draw_in_child` sends it the chart's data (JSON on stdin) and reads the PNG back
(stdout). The child draws with the same code as before (:func:`gerbil_eval.render.html.chart_png`),
so the bytes are the same, and leaves without interpreter teardown (``os._exit``).

A child is used once; without a started one, :func:`draw_in_child` starts one on the spot. A
failure in the child (or no answer within :data:`TIMEOUT_S`) raises :class:`ChartFailed` with the
child's last error line, which the plugin reports as a failed report, never a silent blank chart.
A child that is never used exits when its stdin closes (:func:`discard`, or this process's exit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

#: Seconds the child may take to draw (its imports included); a stuck child is killed after it.
TIMEOUT_S = 300.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_pending: subprocess.Popen[bytes] | None = None


class ChartFailed(RuntimeError):
    """The chart child exited with an error, printed no PNG, or took longer than TIMEOUT_S."""


def _spawn() -> subprocess.Popen[bytes]:
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
           "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "gerbil_eval.render.chart_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def start() -> None:
    """Start the child now, so its imports overlap other work; the next :func:`draw_in_child` uses it."""
    global _pending
    if _pending is None:
        _pending = _spawn()


def discard() -> None:
    """Stop a started child that will not be used (it exits on its closed stdin)."""
    global _pending
    proc, _pending = _pending, None
    if proc is not None:
        proc.communicate(b"", timeout=TIMEOUT_S)


def draw_in_child(means: Mapping[str, Mapping[str, float]]) -> bytes:
    """PNG bytes of :func:`~gerbil_eval.render.html.chart_png` for ``means``, drawn in a child process."""
    global _pending
    proc, _pending = _pending or _spawn(), None
    try:
        out, err = proc.communicate(json.dumps(means, ensure_ascii=False).encode("utf-8"), timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ChartFailed(f"the chart took longer than {TIMEOUT_S:g} s") from None
    if proc.returncode != 0 or not out.startswith(PNG_MAGIC):
        lines = err.decode("utf-8", "replace").strip().splitlines()
        raise ChartFailed(f"the chart could not be drawn (exit {proc.returncode}): {lines[-1] if lines else 'no PNG'}")
    return out


def main() -> None:
    """The child: import matplotlib first (the slow part), then draw what stdin brings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    from .html import chart_png

    data = sys.stdin.buffer.read()
    if not data:  # discarded, or the parent is gone
        os._exit(0)
    means: Any = json.loads(data)
    sys.stdout.buffer.write(chart_png(means))
    sys.stdout.buffer.flush()
    os._exit(0)  # no interpreter teardown: matplotlib's alone is about as slow as its import


if __name__ == "__main__":
    main()
