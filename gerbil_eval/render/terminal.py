"""The table printed at the end of a pytest run (and by ``compare``): short enough to read.

Verdict first, in words; then the numbers behind it. Long runs show only the cases where
the models differ, and point to summary.md for the rest.
"""

from __future__ import annotations

from pathlib import Path
from tabulate import tabulate

from ..analysis.comparison import Comparison
from ..run.types import RunResult
from . import tables

#: Per-case rows shown before the terminal switches to "changed cases only".
CASE_LIMIT = 40


def best(cell: str) -> str:
    """Mark the best value of a row or column with a leading star (see the legend); digits stay aligned."""
    return f"*{cell}"


def _table(table: tables.Table) -> str:
    headers, rows = table
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True, colalign=tables.alignments(table))


def comparison_block(c: Comparison) -> str:
    """Verdict, totals, per category, seen/unseen and per case for one model pair."""
    parts = [f"== {c.candidate} vs {c.baseline} ==", c.verdict]
    if c.delta is not None:  # no paired case: the verdict says so, an empty totals table would add nothing
        parts += ["", _table(tables.totals_table(c, best))]
    if c.categories:
        parts += ["", _table(tables.group_table(c, c.categories, "category", best))]
    if c.seen_groups:
        parts += ["", _table(tables.group_table(c, c.seen_groups, "training data", best))]
    cases = list(c.cases)
    note = ""
    if len(cases) > CASE_LIMIT:
        cases = [x for x in cases if tables.changed(x)]
        if len(cases) < len(c.cases):
            note = f"({len(c.cases) - len(cases)} cases with equal scores not shown; all cases are in summary.md)"
    if cases:
        parts += ["", _table(tables.case_table(c, cases))]
    if note:
        parts.append(note)
    return "\n".join(parts)


def render(run: RunResult, report_path: Path | None) -> str:
    """The whole terminal report as one string (no trailing newline)."""
    parts = [_table(tables.model_table(run, best)), "", _table(tables.performance_table(run, best))]
    for c in run.comparisons:
        parts += ["", comparison_block(c)]
    parts += ["", "* marks the best value"]
    from ..execution.runinfo import not_run_line

    loud = not_run_line(run)
    if loud:
        parts.append(loud)
    if report_path is not None:
        parts.append(f"report: {report_path}")
    return "\n".join(parts)
