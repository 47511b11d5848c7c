"""Reports of a finished run: the terminal table, summary.md, report.html and report.png.

Every renderer takes a :class:`~gerbil_eval.run.types.RunResult` (already merged with a
``--compare-to`` run when there is one, see :func:`gerbil_eval.analysis.totals.with_reference`) and
reads its summaries and comparisons, computed once when it was built; what else they need is
a :class:`~gerbil_eval.render.options.ReportOptions`. The pytest plugin calls
:func:`terminal_report` and :func:`write_reports` at the end of every run; ``compare`` and
``report`` call them on saved runs.

May import: ``run``, ``analysis`` (comparison, totals), ``execution.runinfo``, ``errors``, ``fileio``,
``safety``. Never the pytest plugin or its options.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fileio import write_text_atomic
from ..run.types import RunResult
from ..safety.redact import redact
from ..safety.shown import terminal_safe
from . import markdown, terminal
from .options import ReportOptions

__all__ = ["ReportOptions", "terminal_report", "write_reports"]


def terminal_report(run: RunResult, report_path: Path | None, note: str | None = None) -> str:
    """Per-model table, performance, then each comparison (verdict first); ends with the report path
    (and ``note``, e.g. why the --compare-to run is not shown)."""
    text = terminal.render(run, report_path)
    return terminal_safe(redact(text + (f"\n{note}" if note else "")))


def write_reports(out_dir: Path, run: RunResult, options: ReportOptions = ReportOptions()) -> str:
    """Write summary.md and report.html of ``run`` into ``out_dir``; return the summary text.

    With ``options.screenshot`` also report.png. When ``$GITHUB_STEP_SUMMARY`` names a file,
    summary.md is appended to it so the comparison shows on the GitHub Actions job page.
    """
    from . import html  # matplotlib is imported only when a report is written

    summary = redact(markdown.render(run))
    write_text_atomic(out_dir / "summary.md", summary)
    write_text_atomic(out_dir / "report.html", redact(html.render(run)))
    if options.screenshot:
        from .screenshot import screenshot as take

        take(out_dir / "report.html", out_dir / "report.png")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
    return summary
