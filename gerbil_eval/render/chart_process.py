"""The report's chart drawn in a child process, so matplotlib never enters the run's process.

Why: matplotlib is the heaviest import of a run (about half a second of CPU on an idle core,
several seconds of wall time on a loaded machine), an import running in a thread while the
requests are in flight holds the GIL the event loop needs, and its teardown at interpreter exit
costs as much again. :func:`start` (called when the requests go out) starts
``python -m gerbil_eval.render.chart_process``, which imports matplotlib on the other core and
waits; :func:`draw_in_child` sends it the chart's data (JSON on stdin) and reads the PNG back
(stdout). The child draws with the same code as before (:func:`chart_png`),
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

from .figures import png_figure

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
    """PNG bytes of :func:`chart_png` for ``means``, drawn in a child process."""
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


def chart_png(means: Mapping[str, Mapping[str, float]]) -> bytes:
    """Grouped bar chart: per category, one bar per model's mean score (PNG bytes)."""
    categories = sorted({c for m in means.values() for c in m})
    models = list(means)
    width = 0.8 / max(1, len(models))

    def draw(fig: Any, ax: Any) -> None:
        for i, model in enumerate(models):
            xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(categories))]
            ax.bar(xs, [means[model].get(c, 0.0) for c in categories], width, label=model)
        # Labels are text from case files and model names: never mathtext (``$\\frac{$`` aborts the render).
        ax.set_xticks(range(len(categories)), categories, rotation=20 if len(categories) > 6 else 0,
                      ha="right" if len(categories) > 6 else "center", parse_math=False)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mean score")
        ax.set_title("Mean score per category")
        for text in ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)).get_texts():
            text.set_parse_math(False)
        ax.grid(axis="y", alpha=0.3)

    return png_figure(draw, figsize=(max(6.0, 1.1 * len(categories) * max(1, len(models)) ** 0.5 + 2), 3.6), dpi=100)


def main() -> None:
    """The child: import matplotlib first (the slow part), then draw what stdin brings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    data = sys.stdin.buffer.read()
    if not data:  # discarded, or the parent is gone
        os._exit(0)
    means: Any = json.loads(data)
    sys.stdout.buffer.write(chart_png(means))
    sys.stdout.buffer.flush()
    os._exit(0)  # no interpreter teardown: matplotlib's alone is about as slow as its import


if __name__ == "__main__":
    main()
