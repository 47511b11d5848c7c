"""summary.md: the same tables as the terminal, as GitHub-flavoured Markdown.

Written for people reading a CI job summary: verdict in bold first, best values bold,
and the full per-case table folded in a ``<details>`` block so it does not drown the totals.
"""

from __future__ import annotations

from tabulate import tabulate

from ..analysis.comparison import Comparison
from ..run.types import RunResult
from . import tables


def best(cell: str) -> str:
    return f"**{cell}**"


def _escape(cell: str) -> str:
    """Keep ``|`` in a case id or model name from splitting a Markdown cell."""
    return cell.replace("|", "\\|")


def _table(table: tables.Table) -> str:
    headers, rows = table
    return tabulate([[_escape(c) for c in r] for r in rows], headers=[_escape(h) for h in headers],
                    tablefmt="github", disable_numparse=True, colalign=tables.alignments(table))


def comparison_section(c: Comparison) -> str:
    parts = [f"### {c.candidate} vs {c.baseline}", "", f"**{c.verdict}**"]
    if c.delta is not None:  # no paired case: a header-only totals table would add nothing to the verdict
        parts += ["", _table(tables.totals_table(c, best))]
    if c.categories:
        parts += ["", "#### Per category", "", _table(tables.group_table(c, c.categories, "category", best))]
    if c.seen_groups:
        parts += ["", "#### Seen vs unseen in the training data", "",
                  _table(tables.group_table(c, c.seen_groups, "training data", best))]
    parts += ["", f"<details><summary>Per case ({len(c.cases)} cases)</summary>", "",
              _table(tables.case_table(c)), "", "</details>"]
    return "\n".join(parts)


def render(run: RunResult) -> str:
    """The whole summary.md text."""
    run_id, config, comparisons = run.run_id, run.config, run.comparisons
    facts = [f"run `{run_id}`" if run_id else "", run.created,
             f"{config['samples']} samples per case" if config.get("samples", 1) > 1 else "",
             f"temperature {config['temperature']}" if "temperature" in config else ""]
    from ..execution.runinfo import not_run_line

    loud = not_run_line(run)
    parts = ["# gerbil-eval results", "", " · ".join(f for f in facts if f), "",
             *([f"**{loud}**", ""] if loud else []),
             "## Models", "", _table(tables.model_table(run, best)), "",
             "## Performance", "", _table(tables.performance_table(run, best))]
    if comparisons:
        parts += ["", "## Comparison", "",
                  "Delta = first model minus second. 95% CIs: paired percentile bootstrap over cases (seeded). "
                  "McNemar: exact binomial test on the cases only one model passes."]
        for c in comparisons:
            parts += ["", comparison_section(c)]
    return "\n".join(parts) + "\n"
