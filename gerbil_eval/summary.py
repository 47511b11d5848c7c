"""Per-model summary of result rows: the numbers the terminal table and gates read.

Errors are counted apart and excluded from the mean score and pass rate (an
unreachable answer says nothing about the model); they are still listed so a run
with errors never looks clean. Confidence intervals are added by ``stats``.
"""

from __future__ import annotations

import re
import statistics
from typing import Any, Iterable, Sequence

#: Rough tokenizer for answers whose endpoint reported no usage: words and single
#: punctuation marks. Scheme code is punctuation-heavy, so this is closer to BPE
#: counts than a whitespace split; summaries say ``tokens_estimated: true`` when used.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str | None) -> int:
    return len(_TOKEN_RE.findall(text or ""))


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize_model(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summary of one model's rows (token counts of rows marked ``tokens_estimated`` are estimates)."""
    scored = [r for r in rows if r.get("error") is None and r.get("score") is not None]
    answered = [r for r in rows if r.get("error") is None]
    latencies = [r["latency_s"] for r in rows if r.get("latency_s") is not None]
    ttfts = [r["ttft_s"] for r in rows if r.get("ttft_s") is not None]
    completion_total = sum(r.get("completion_tokens") or 0 for r in answered)
    timed = [r for r in answered if r.get("completion_tokens") and r.get("latency_s")]
    timed_latency = sum(r["latency_s"] for r in timed)
    passed = sum(1 for r in scored if r.get("passed"))
    return {
        "role": rows[0]["role"] if rows else None,
        "cases": len({r["case_id"] for r in rows}),
        "samples": len(rows),
        "mean_score": statistics.fmean(r["score"] for r in scored) if scored else None,
        "pass_rate": passed / len(scored) if scored else None,
        "passed": passed,
        "failed": len(scored) - passed,
        "errors": sum(1 for r in rows if r.get("error") is not None),
        "error_cases": sorted({r["case_id"] for r in rows if r.get("error") is not None}),
        "latency_p50": _percentile(latencies, 50),
        "latency_p95": _percentile(latencies, 95),
        "ttft_p50": _percentile(ttfts, 50),
        "tokens_per_s": sum(r["completion_tokens"] for r in timed) / timed_latency if timed_latency else None,
        "completion_tokens": completion_total,
        "total_tokens": sum(r.get("total_tokens") or 0 for r in answered),
        "tokens_estimated": any(r.get("tokens_estimated") for r in answered),
    }


def summarize(rows: Iterable[dict[str, Any]], models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{model: summary}`` for every model in ``models`` (in that order), even one with no rows."""
    by_model: dict[str, list[dict[str, Any]]] = {m: [] for m in models}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    return {model: summarize_model(model_rows) for model, model_rows in by_model.items()}
