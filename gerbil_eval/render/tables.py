"""The report tables as rows of text cells, shared by the terminal, summary.md and report.html.

Each builder returns ``(headers, rows)``; the renderers only choose the format (tabulate
style, HTML) and how to mark the best value (``mark``), so every output shows the same cells.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ..analysis.comparison import CaseComparison, Comparison, GroupBlock, ModelCase, format_p
from ..run.types import RunResult

Table = tuple[list[str], list[list[str]]]
Mark = Callable[[str], str]

_NUMERIC = re.compile(r"[-+–0-9]")


def alignments(table: Table) -> tuple[str, ...]:
    """Right-align the columns whose filled cells all start like a number (figures line up by digit)."""
    headers, rows = table
    def numeric(i: int) -> bool:
        cells = [r[i] for r in rows if r[i]]
        return bool(cells) and all(_NUMERIC.match(c.lstrip("*\x00")) for c in cells)
    return tuple("right" if i and numeric(i) else "left" for i in range(len(headers)))


def plain(text: str) -> str:
    return text


def num(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def signed(value: float | None) -> str:
    """A delta with its sign; exactly-equal scores read ``0`` rather than ``+0.00``."""
    if value is None:
        return "–"
    return "0" if abs(value) < 1e-9 else f"{value:+.2f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def ci(bounds: Sequence[float] | None, signed: bool = False) -> str:
    if bounds is None:
        return "–"
    f = "+.2f" if signed else ".2f"
    return f"{format(bounds[0], f)}..{format(bounds[1], f)}"


def _best(values: list[float | None], higher: bool = True) -> float | None:
    present = [v for v in values if v is not None]
    if len(present) < 2 or len(set(present)) == 1:
        return None  # nothing to single out
    return max(present) if higher else min(present)


def _marked(cells: list[str], values: list[float | None], mark: Mark, higher: bool = True) -> list[str]:
    best = _best(values, higher)
    return [mark(c) if best is not None and v == best else c for c, v in zip(cells, values)]


def model_table(run: RunResult, mark: Mark = plain) -> Table:
    """One row per model: the quality headline (best mean score and pass rate marked)."""
    models = run.models()
    views = [run.summaries[m] for m in models]
    k_values = sorted({k for v in views for k in v.pass_at_k})
    headers = ["model", "role", "cases", "mean score", "95% CI", "pass rate", "errors"] + [f"pass@{k}" for k in k_values]
    means = _marked([num(v.mean_score) for v in views], [v.mean_score for v in views], mark)
    rates = _marked([pct(v.pass_rate) for v in views], [v.pass_rate for v in views], mark)
    rows = []
    for i, (m, v) in enumerate(zip(models, views)):
        pak = [num(v.pass_at_k.get(k)) for k in k_values]
        rows.append([m, v.role or "candidate", str(v.cases), means[i], ci(v.ci), rates[i], str(v.errors)] + pak)
    return headers, rows


#: (header, summary key, format, higher is better) of the performance table.
PERFORMANCE_COLUMNS = (
    ("latency p50 (s)", "latency_p50", ".2f", False),
    ("latency p95 (s)", "latency_p95", ".2f", False),
    ("TTFT p50 (s)", "ttft_p50", ".2f", False),
    ("tokens/s", "tokens_per_s", ".1f", True),
    ("total tokens", "total_tokens", "d", False),
)


def performance_table(run: RunResult, mark: Mark = plain) -> Table:
    """One row per model: how fast it answered on this machine (from the run's summaries)."""
    models = run.models()
    views = [run.summaries[m] for m in models]
    columns = []
    for _, key, fmt, higher in PERFORMANCE_COLUMNS:
        values = [getattr(v, key) for v in views]
        columns.append(_marked([num(x, fmt) for x in values], values, mark, higher))
    rows = [[m] + [col[i] for col in columns] for i, m in enumerate(models)]
    return ["model"] + [h for h, *_ in PERFORMANCE_COLUMNS], rows


def totals_table(c: Comparison, mark: Mark = plain) -> Table:
    """The pair's totals, transposed: one row per measure, one column per model, then the delta."""
    a, b = c.candidate_totals, c.baseline_totals
    headers = ["", c.candidate, c.baseline, "delta"]
    if a is None or b is None:
        return headers, []

    def row(name: str, va: float, vb: float, fa: Callable[[float], str], delta: str) -> list[str]:
        cells = _marked([fa(va), fa(vb)], [va, vb], mark)
        return [name, *cells, delta]

    rows = [
        row("mean score", a.mean_score, b.mean_score, num, signed(c.delta)),
        ["95% CI", ci(a.ci), ci(b.ci), ci(c.delta_ci, signed=True)],
        row("pass rate", a.pass_rate, b.pass_rate, pct, f"{100 * (a.pass_rate - b.pass_rate):+.0f} pts"),
    ]
    for k in sorted(set(a.pass_at_k) & set(b.pass_at_k)):
        rows.append(row(f"pass@{k}", a.pass_at_k[k], b.pass_at_k[k], num, signed(a.pass_at_k[k] - b.pass_at_k[k])))
    if a.se is not None and b.se is not None:
        rows.append(["std. error", num(a.se, ".3f"), num(b.se, ".3f"), ""])
    rows.append(["cases", str(a.cases), str(b.cases), f"{c.unpaired} unpaired" if c.unpaired else ""])
    rows.append(["wins / losses / ties", f"{c.wins} / {c.losses} / {c.ties}", "", ""])
    rows.append(["passes only here", str(c.candidate_only_passes), str(c.baseline_only_passes),
                 f"McNemar exact {format_p(c.mcnemar_p)}"])
    return headers, rows


def group_table(c: Comparison, groups: Sequence[GroupBlock], title: str, mark: Mark = plain) -> Table:
    """Per category (or seen/unseen): paired mean scores, delta and wins/losses/ties."""
    headers = [title, "cases", c.candidate, c.baseline, "delta", "W/L/T"]
    rows = []
    for g in groups:
        cells = _marked([num(g.candidate_mean), num(g.baseline_mean)], [g.candidate_mean, g.baseline_mean], mark)
        rows.append([g.name, str(g.cases), *cells, signed(g.delta), f"{g.wins}/{g.losses}/{g.ties}"])
    return headers, rows


def case_cell(mc: ModelCase | None) -> str:
    """``0.80 ✓``; with several samples ``0.80 ±0.05 3/5``; ``error`` or ``–`` when unscored."""
    if mc is None:
        return "–"
    if mc.score is None:
        return "error"
    if mc.n + mc.errors == 1:
        return f"{mc.score:.2f} {'✓' if mc.passed else '✗'}"
    se = f" ±{mc.se:.2f}" if mc.se is not None else ""
    return f"{mc.score:.2f}{se} {mc.passes}/{mc.n}" + (f" ({mc.errors} err)" if mc.errors else "")


def changed(case: CaseComparison) -> bool:
    """A case worth showing when space is short: the models differ, or one has no score."""
    return case.delta is None or abs(case.delta) > 1e-9


def case_table(c: Comparison, cases: Sequence[CaseComparison] | None = None) -> Table:
    """One row per case: id, category, each model's score and pass, and the delta."""
    headers = ["case", "category", c.candidate, c.baseline, "delta"]
    rows = [[x.info.case_id, x.info.category, case_cell(x.candidate), case_cell(x.baseline), signed(x.delta)]
            for x in (c.cases if cases is None else cases)]
    return headers, rows
