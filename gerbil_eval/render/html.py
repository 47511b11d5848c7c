"""report.html: one self-contained page to read a run instead of its JSON.

No network and no external assets (inline CSS, the chart as a base64 PNG), so it opens
from a CI artifact or an e-mail attachment. Everything from the run (ids, answers, reasons)
is HTML-escaped: model answers are arbitrary text and must never become markup.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from html import escape

from ..analysis.comparison import Comparison, per_case
from ..run.types import ResultRow, RunResult
from . import tables
from .chart_process import draw_in_child

_BEST = "\x00"  # prefix a builder's mark puts on the best cell; becomes class="best"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1400px;
     padding:0 16px;color:#1d2430;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #dde;padding-bottom:4px}
h3{font-size:16px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #d6dae3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f8}td.best{font-weight:700;background:#e9f7ec}
.verdict{font-size:16px;font-weight:600;padding:10px 14px;border-left:5px solid #888;background:#f6f7fa;margin:10px 0}
.verdict.better{border-color:#2e9b48}.verdict.worse{border-color:#c83a3a}
.facts{color:#5b6475}
details.case{border:1px solid #d6dae3;border-radius:6px;margin:6px 0}
details.case>summary{cursor:pointer;padding:6px 10px;background:#f6f7fa}
details.case[open]>summary{border-bottom:1px solid #d6dae3}
.cols{display:flex;gap:12px;padding:10px;overflow-x:auto}
.col{flex:1 1 0;min-width:320px}
.col h4{margin:0 0 6px}
pre{background:#f7f8fb;border:1px solid #e2e5ec;border-radius:4px;padding:8px;white-space:pre-wrap;
    word-break:break-word;font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:480px;overflow:auto}
.prose{white-space:pre-wrap;margin:6px 0;color:#333}
ul.asserts{list-style:none;padding:0;margin:4px 0 12px}
ul.asserts li{padding:2px 6px;margin:2px 0;border-radius:3px;font-size:13px}
li.pass{background:#eef8f0}li.fail{background:#fde8e8;border-left:4px solid #c83a3a}
.tag{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:600}
.tag.pass{background:#2e9b48;color:#fff}.tag.fail{background:#c83a3a;color:#fff}.tag.error{background:#8a6d00;color:#fff}
img.chart{max-width:100%;height:auto;border:1px solid #e2e5ec}
"""


def _cell(text: str, tag: str = "td") -> str:
    if text.startswith(_BEST):
        return f'<{tag} class="best">{escape(text[1:])}</{tag}>'
    return f"<{tag}>{escape(text)}</{tag}>"


def _table(table: tables.Table) -> str:
    headers, rows = table
    head = "".join(_cell(h, "th") for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _best(cell: str) -> str:
    return _BEST + cell


def category_means(run: RunResult) -> dict[str, dict[str, float]]:
    """model -> category -> mean score over the model's scored cases in that category."""
    out: dict[str, dict[str, float]] = {}
    for model in run.models():
        cases, infos = per_case(run.rows_of(model))
        by_cat: dict[str, list[float]] = defaultdict(list)
        for cid, mc in cases.items():
            if mc.score is not None:
                by_cat[infos[cid].category].append(mc.score)
        out[model] = {cat: sum(v) / len(v) for cat, v in by_cat.items()}
    return out


def _verdict(c: Comparison) -> str:
    kind = "better" if c.significant and c.delta_ci and c.delta_ci[0] > 0 else "worse" if c.significant else ""
    return f'<div class="verdict {kind}">{escape(c.verdict)}</div>'


def _comparison(c: Comparison) -> str:
    parts = [f"<h3>{escape(c.candidate)} vs {escape(c.baseline)}</h3>", _verdict(c)]
    if c.delta is not None:  # no paired case: a header-only totals table would add nothing to the verdict
        parts.append(_table(tables.totals_table(c, _best)))
    if c.categories:
        parts.append(_table(tables.group_table(c, c.categories, "category", _best)))
    if c.seen_groups:
        parts.append(_table(tables.group_table(c, c.seen_groups, "training data", _best)))
    return "".join(parts)


def _assertions(row: ResultRow) -> str:
    items = []
    for a in row.assertions:
        ok = bool(a.get("passed"))
        value = a.get("value")
        if a.get("not_run"):
            items.append(f'<li class="notrun">– {escape(str(a.get("type")))} not run — {escape(str(a.get("reason") or ""))}</li>')
            continue
        shown = "" if value is None else f" <code>{escape(str(value))}</code>"
        reason = f" — {escape(str(a.get('reason') or ''))}" if a.get("reason") else ""
        items.append(f'<li class="{"pass" if ok else "fail"}">{"✓" if ok else "✗"} {escape(str(a.get("type")))}'
                     f"{shown}{reason}</li>")
    return f'<ul class="asserts">{"".join(items)}</ul>' if items else ""


def _status(row: ResultRow) -> str:
    if row.not_run:
        return '<span class="tag">not run</span>'
    if row.score is None:
        return '<span class="tag error">error</span>'
    ok = bool(row.passed)
    return f'<span class="tag {"pass" if ok else "fail"}">{"pass" if ok else "fail"} {float(row.score):.2f}</span>'


_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```[ \t]*$", re.M | re.S)


def answer_html(text: str) -> str:
    """An answer as prose and code: fenced blocks become ``<pre><code>``, the rest keeps its lines."""
    parts, pos = [], 0
    for m in _FENCE.finditer(text):
        parts += [_prose(text[pos:m.start()]), f"<pre><code>{escape(m.group(1).rstrip())}</code></pre>"]
        pos = m.end()
    if pos == 0:  # no fence: the whole answer is taken as code (as the scorer does)
        return f"<pre><code>{escape(text)}</code></pre>"
    return "".join(parts) + _prose(text[pos:])


def _prose(text: str) -> str:
    return f'<div class="prose">{escape(text.strip())}</div>' if text.strip() else ""


def _sample(row: ResultRow, answer: str | None, several: bool) -> str:
    head = f"sample {row.sample} " if several else ""
    body = answer_html(answer) if answer is not None else _prose(row.error or "(answer not recorded)")
    return f"<div>{head}{_status(row)}</div>{body}{_assertions(row)}"


def _cases(run: RunResult) -> str:
    """Per case, collapsible: the models' answers side by side with each assertion's result."""
    models = run.models()
    by_case: dict[str, dict[str, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for r in run.rows:
        by_case[r.case_id][r.model].append(r)
    out = []
    for case_id in sorted(by_case, key=lambda c: (str(next(iter(by_case[c].values()))[0].category), c)):
        per_model = by_case[case_id]
        first = next(iter(per_model.values()))[0]
        summary_cells = []
        cols = []
        for model in models:
            rows = sorted(per_model.get(model, []), key=lambda r: r.sample)
            if not rows:
                continue
            mc = per_case(rows)[0][case_id]
            summary_cells.append(f"{escape(model)}: {escape(tables.case_cell(mc))}")
            samples = "".join(_sample(r, run.answers.get(r.key), len(rows) > 1) for r in rows)
            cols.append(f'<div class="col"><h4>{escape(model)}</h4>{samples}</div>')
        failing = any(r.passed is not True for rs in per_model.values() for r in rs)
        out.append(
            f'<details class="case" id="case-{escape(case_id, quote=True)}"{" open" if failing and len(by_case) <= 20 else ""}>'
            f"<summary><strong>{escape(case_id)}</strong> <span class=\"facts\">{escape(str(first.category or ''))}</span>"
            f" — {' · '.join(summary_cells)}</summary><div class=\"cols\">{''.join(cols)}</div></details>")
    return "".join(out)


def render(run: RunResult) -> str:
    """The whole report.html text."""
    run_id, comparisons = run.run_id, run.comparisons
    means = category_means(run)
    chart = ""
    if any(means.values()):
        data = base64.b64encode(draw_in_child(means)).decode("ascii")
        chart = f'<img class="chart" id="category-chart" alt="Mean score per category and model" src="data:image/png;base64,{data}">'
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>gerbil-eval {escape(run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>gerbil-eval results</h1><p class=\"facts\">run {escape(run_id)} · {escape(run.created)}</p>",
        "".join(_verdict(c) for c in comparisons),
        "<h2>Models</h2>", _table(tables.model_table(run, _best)),
        "<h2>Performance</h2>", _table(tables.performance_table(run, _best)),
        "<h2>Per category</h2>", chart,
    ]
    if comparisons:
        parts += ["<h2>Comparison</h2>",
                  "<p class=\"facts\">Delta = first model minus second. 95% CIs: percentile bootstrap over cases "
                  "(paired for the delta, seeded). McNemar: exact binomial test on the cases only one model passes.</p>"]
        parts += [_comparison(c) for c in comparisons]
    parts += ["<h2>Cases</h2>", _cases(run), "</body></html>"]
    return "".join(parts) + "\n"
