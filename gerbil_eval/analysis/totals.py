"""Per-model summaries and the assembly of a :class:`~gerbil_eval.run.types.RunResult`.

A model's summary is the headline the terminal table, summary.md, report.html and results.json
show: cases, mean score with its 95% CI, pass rate, pass@k, errors, latency, tokens. Quality
figures use the one definition of :mod:`gerbil_eval.analysis.comparison` (mean over cases; the pass rate
equals pass@1). Errors are counted apart and left out of the mean score and pass rate (an
unreachable answer says nothing about the model); they are still listed so a run with errors
never looks clean. Gates count them differently, on purpose (see :mod:`gerbil_eval.analysis.gates`).

:func:`build_result` computes every summary and comparison of a run once;
:func:`with_reference` adds an earlier run (``--compare-to``, ``compare RUN_A RUN_B``) as
baselines without recomputing what the run already has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from .comparison import compare_rows, comparisons_for, model_totals, per_case
from ..run.types import Answers, ResultRow, RunResult, models_in


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class ModelSummary:
    """One model's figures over all its rows in a run (``summary`` of results.json)."""

    role: str | None
    cases: int
    samples: int
    mean_score: float | None  # mean over cases of each case's mean over scored samples
    pass_rate: float | None  # mean over cases of the fraction of scored samples passing (= pass@1)
    passed: int  # scored answers that passed
    failed: int
    errors: int  # answers that never came (request failed)
    error_cases: list[str]
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    tokens_per_s: float | None
    completion_tokens: int
    total_tokens: int
    tokens_estimated: bool  # some answer's tokens were counted from its text (no usage reported)
    ci: tuple[float, float] | None = None  # bootstrap 95% CI of the mean score, over cases
    pass_at_k: dict[int, float] = field(default_factory=dict)  # unbiased pass@k (with --samples > 1)

    def to_dict(self) -> dict[str, Any]:
        """The results.json entry (JSON: the CI as a list, pass@k keys as strings)."""
        out = dataclasses.asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        out["pass_at_k"] = {str(k): v for k, v in self.pass_at_k.items()}
        return out


def summarize_model(rows: Sequence[ResultRow], role: str | None = None) -> ModelSummary:
    """Summary of one model's rows (token counts of rows marked ``tokens_estimated`` are estimates)."""
    cases, _ = per_case(rows)
    totals = model_totals(rows[0].model if rows else "", list(cases.values()))
    scored = [r for r in rows if r.error is None and r.score is not None]
    answered = [r for r in rows if r.error is None]
    latencies = [r.latency_s for r in rows if r.latency_s is not None]
    ttfts = [r.ttft_s for r in rows if r.ttft_s is not None]
    timed = [r for r in answered if r.completion_tokens and r.latency_s]
    timed_latency = sum(r.latency_s or 0.0 for r in timed)
    passed = sum(1 for r in scored if r.passed)
    return ModelSummary(
        role=rows[0].role if rows else role,
        cases=len(cases),
        samples=len(rows),
        mean_score=totals.mean_score if totals else None,
        pass_rate=totals.pass_rate if totals else None,
        passed=passed,
        failed=len(scored) - passed,
        errors=sum(1 for r in rows if r.error is not None),
        error_cases=sorted({r.case_id for r in rows if r.error is not None}),
        latency_p50=_percentile(latencies, 50),
        latency_p95=_percentile(latencies, 95),
        ttft_p50=_percentile(ttfts, 50),
        tokens_per_s=sum(r.completion_tokens or 0 for r in timed) / timed_latency if timed_latency else None,
        completion_tokens=sum(r.completion_tokens or 0 for r in answered),
        total_tokens=sum(r.total_tokens or 0 for r in answered),
        tokens_estimated=any(r.tokens_estimated for r in answered),
        ci=totals.ci if totals else None,
        pass_at_k=totals.pass_at_k if totals else {},
    )


def summarize(rows: Iterable[ResultRow], models: Sequence[str], roles: Mapping[str, str] | None = None
              ) -> dict[str, ModelSummary]:
    """``{model: summary}`` for every model in ``models`` (in that order, even one with no rows), then any other."""
    by_model: dict[str, list[ResultRow]] = {m: [] for m in models}
    for row in rows:
        by_model.setdefault(row.model, []).append(row)
    return {model: summarize_model(model_rows, (roles or {}).get(model)) for model, model_rows in by_model.items()}


def build_result(run_id: str, created: str, config: Mapping[str, Any], rows: Iterable[ResultRow],
                 answers: Answers | None = None) -> RunResult:
    """The run as everything downstream reads it: rows in (case, model, sample) order, each model's
    summary and every comparison computed here, once."""
    ordered = tuple(sorted(rows, key=lambda r: (r.case_id, r.model, r.sample)))
    roles = {m["name"]: m.get("role", "candidate") for m in config.get("models", [])}
    return RunResult(run_id=run_id, created=created, config=config, rows=ordered,
                     summaries=summarize(ordered, models_in(config, ordered), roles),
                     comparisons=tuple(comparisons_for(config, ordered)), answers=dict(answers or {}))


def with_reference(run: RunResult, previous: RunResult) -> RunResult:
    """``run`` plus, as baselines, the models of an earlier run that its candidates are compared to.

    Each candidate is paired with the same-named model of ``previous`` (e.g. the last
    release), or with its only candidate. Those rows (and answers) join under the label
    ``"NAME (RUN_ID)"``, marked ``reference_for`` so each is compared only with its
    candidate. The run's own summaries and comparisons are kept, not recomputed; runs with
    and without execution refuse to mix (:class:`~gerbil_eval.errors.GerbilEvalError`).
    """
    from ..execution.runinfo import require_same_execution

    require_same_execution(previous, run)
    old_models = previous.models()
    old_candidates = previous.models("candidate") or old_models
    run_id = previous.run_id or "previous run"
    config = {**run.config, "models": list(run.config.get("models", []))}
    rows, summaries, answers = list(run.rows), dict(run.summaries), dict(run.answers)
    reference: dict[str, str] = {}  # candidate -> label of its reference
    for name in run.models("candidate") or run.models():
        ref = name if name in old_models else (old_candidates[0] if len(old_candidates) == 1 else None)
        if ref is None or f"{ref} ({run_id})" in reference.values():
            continue
        label = reference[name] = f"{ref} ({run_id})"
        config["models"].append({"name": label, "role": "baseline", "reference_for": name, "run_id": previous.run_id})
        ref_rows = [dataclasses.replace(r, model=label, role="baseline") for r in previous.rows_of(ref)]
        rows += ref_rows
        summaries[label] = (dataclasses.replace(previous.summaries[ref], role="baseline") if ref in previous.summaries
                            else summarize_model(ref_rows, "baseline"))
        answers.update({(label, case_id, sample): text for (model, case_id, sample), text in previous.answers.items()
                        if model == ref})
    comparisons = []
    for candidate in run.models("candidate"):
        comparisons += [c for c in run.comparisons if c.candidate == candidate]
        if candidate in reference:
            comparisons.append(compare_rows(run.rows_of(candidate), [r for r in rows if r.model == reference[candidate]],
                                            candidate, reference[candidate]))
    return dataclasses.replace(run, config=config, rows=tuple(rows), summaries=summaries,
                               comparisons=tuple(comparisons), answers=answers)
