"""Reports of a finished run: the terminal table, summary.md, report.html and report.png.

The pytest plugin calls :func:`terminal_report` and :func:`write_reports` at the end of
every run; ``compare`` and ``report`` call them on saved runs. A ``--compare-to`` run is
merged in as extra baselines (:func:`gerbil_eval.compare.merge_previous`), so every
output shows the same comparisons.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..compare import comparisons_for, merge_previous
from ..errors import GerbilEvalError
from ..fileio import write_text_atomic
from ..options import RunOptions
from ..safety.redact import redact
from ..safety.shown import terminal_safe
from . import markdown, terminal
from .runs import Answers, load_answers, load_run, results_path

__all__ = ["load_run", "terminal_report", "write_report_files", "write_reports", "with_previous"]


def with_previous(doc: Mapping[str, Any], options: RunOptions) -> tuple[dict[str, Any], dict[str, str], Path | None]:
    """``doc`` merged with the ``--compare-to`` run, the old-name -> label map, and that run's folder."""
    if options.compare_to is None:
        return dict(doc), {}, None
    previous = load_run(options.compare_to)
    merged, labels = merge_previous(doc, previous)
    return merged, labels, results_path(options.compare_to).parent


def terminal_report(doc: Mapping[str, Any], options: RunOptions) -> str:
    """Per-model table, performance, then each comparison (verdict first); ends with the report path."""
    run_id = doc.get("run_id")
    path = options.report_dir / run_id / "report.html" if run_id else None
    try:
        merged, _, _ = with_previous(doc, options)
    except GerbilEvalError as exc:  # an unreadable --compare-to run: still show this run's table
        text = terminal.render(doc, comparisons_for(doc), path) + f"\n--compare-to not shown: {exc}"
    else:
        text = terminal.render(merged, comparisons_for(merged), path)
    return terminal_safe(redact(text))


def write_report_files(out_dir: Path, doc: Mapping[str, Any], answers: Answers, *, screenshot: bool = False) -> str:
    """Write summary.md and report.html of ``doc`` into ``out_dir``; return the summary text.

    With ``screenshot`` also report.png. When ``$GITHUB_STEP_SUMMARY`` names a file,
    summary.md is appended to it so the comparison shows on the GitHub Actions job page.
    """
    from . import html  # matplotlib is imported only when a report is written

    comparisons = comparisons_for(doc)
    summary = redact(markdown.render(doc, comparisons))
    write_text_atomic(out_dir / "summary.md", summary)
    write_text_atomic(out_dir / "report.html", redact(html.render(doc, comparisons, answers)))
    if screenshot:
        from .screenshot import screenshot as take

        take(out_dir / "report.html", out_dir / "report.png")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
    return summary


def write_reports(run_dir: Path, doc: Mapping[str, Any], options: RunOptions) -> None:
    """Write the reports of the run ``doc`` (merged with ``--compare-to``) into its folder ``run_dir``."""
    merged, labels, previous_dir = with_previous(doc, options)
    answers: Answers = load_answers(run_dir)
    if previous_dir is not None:
        answers.update(load_answers(previous_dir, labels))
    write_report_files(run_dir, merged, answers, screenshot=options.report_screenshot)
