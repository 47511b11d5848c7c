"""Release gates: turn a finished run into a list of one-line reasons to fail it (exit 1).

Only candidates (``--model``) are gated; baselines are the reference and never fail a run.
Regression and "better" gates read the run's comparisons (:mod:`gerbil_eval.analysis.comparison`,
computed once when the :class:`~gerbil_eval.run.types.RunResult` was built: the same
numbers the reports print), against the in-run baseline(s) and the ``--compare-to`` run.

The gate flags are declared once, in :data:`GATE_FLAGS`, for the pytest plugin and for the
``compare`` and ``report`` commands alike, and range-checked once, by :class:`GateLimits`.

May import: ``run``, ``compare``, ``errors``, ``safety``. Never the pytest plugin or its options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import GerbilEvalError
from ..safety.inputs import finite

if TYPE_CHECKING:
    from .comparison import Comparison
    from ..run.types import RunResult

#: Every gate flag with its argparse/pytest arguments: the one declaration of their names, defaults and help.
GATE_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--min-score", {"type": float, "default": None, "metavar": "X",
                     "help": "gate: exit 1 if a candidate's (--model's) mean score is below X"}),
    ("--min-pass-rate", {"type": float, "default": None, "metavar": "X",
                         "help": "gate: exit 1 if a candidate's pass rate is below X"}),
    ("--max-regression", {"type": float, "default": None, "metavar": "X",
                          "help": "gate: exit 1 if a candidate's mean score is more than X below its reference "
                                  "(the baseline, or the --compare-to run) on the shared cases"}),
    ("--require-better", {"action": "store_true", "default": False,
                          "help": "gate: exit 1 unless the 95%% CI of the mean score delta vs the reference "
                                  "(the baseline, or the --compare-to run) is above 0"}),
    ("--max-errors", {"type": int, "default": 0, "metavar": "N",
                      "help": "gate: with any gate flag, exit 1 when a candidate has more than N errored or "
                              "not-run items (default 0): an item never answered, or never judged because its "
                              "checks needed Gerbil, cannot pass a release; such items also count as failed "
                              "(pass rate) and as 0 (mean score)"}),
)


def add_gate_flags(add: Callable[..., Any]) -> None:
    """Declare the gate flags with ``add`` (an argparse ``add_argument`` or a pytest group's ``addoption``)."""
    for flag, kwargs in GATE_FLAGS:
        add(flag, **kwargs)


@dataclass(frozen=True)
class GateLimits:
    """The gates of one run; out-of-range values are refused here, once (one line naming the flag)."""

    min_score: float | None = None
    min_pass_rate: float | None = None
    max_regression: float | None = None
    require_better: bool = False
    #: with any gate, more errored candidate items than this fail the run
    max_errors: int = 0

    def __post_init__(self) -> None:
        for flag, value in (("--min-score", self.min_score), ("--min-pass-rate", self.min_pass_rate),
                            ("--max-regression", self.max_regression)):
            if value is not None:
                finite(value, flag, 0.0, 1.0)
        if self.max_errors < 0:
            raise GerbilEvalError(f"--max-errors must be 0 or more, got {self.max_errors}")

    @classmethod
    def from_flags(cls, get: Callable[[str], Any]) -> GateLimits:
        """From the values of the flags of :data:`GATE_FLAGS`; ``get("--min-score")`` returns one
        (pytest's ``config.getoption``, or :func:`argparse_getter` for a command's namespace)."""
        return cls(min_score=get("--min-score"), min_pass_rate=get("--min-pass-rate"),
                   max_regression=get("--max-regression"), require_better=bool(get("--require-better")),
                   max_errors=get("--max-errors"))

    @property
    def any(self) -> bool:
        """Whether any gate is given (``--max-errors`` alone gates nothing)."""
        return (self.min_score is not None or self.min_pass_rate is not None
                or self.max_regression is not None or self.require_better)


def argparse_getter(args: Any) -> Callable[[str], Any]:
    """``get("--min-score")`` for an argparse namespace (``args.min_score``)."""
    return lambda flag: getattr(args, flag.lstrip("-").replace("-", "_"))


def gate_figures(run: RunResult, model: str) -> dict[str, Any]:
    """A candidate's items, errored and not-run items, mean score and pass rate *as a gate counts them*,
    from its rows: an errored item (no answer) or a not-run one (every check needed Gerbil, which was
    not found) scores 0 and counts as failed — an answer nobody judged cannot pass a release."""
    rows = run.rows_of(model)
    items = len(rows)
    scores = [r.score if isinstance(r.score, (int, float)) else 0.0 for r in rows]
    return {
        "items": items,
        "errors": sum(1 for r in rows if r.error is not None),
        "not_run": sum(1 for r in rows if r.error is None and r.score is None),
        "mean_score": sum(scores) / items if items else None,
        "pass_rate": sum(1 for r in rows if r.passed is True) / items if items else None,
    }


def _error_failures(run: RunResult, max_errors: int) -> list[str]:
    """One line per candidate with more errored (or not-run) items than ``--max-errors``: such a run
    fails every gate."""
    out = []
    for model in run.models("candidate"):
        figures = gate_figures(run, model)
        if figures["errors"] + figures["not_run"] > max_errors:
            errors, not_run, items = figures["errors"], figures["not_run"], figures["items"]
            if not not_run:
                what = f"{errors} of {items} items errored"
            elif not errors:
                what = f"{not_run} of {items} items were not run (Gerbil not found)"
            else:
                what = f"{errors} of {items} items errored and {not_run} were not run (Gerbil not found)"
            out.append(f"{model}: {what}; a gate needs them answered (--max-errors {max_errors})")
    return out


def _threshold_failures(run: RunResult, flag: str, key: str, label: str, limit: float | None) -> list[str]:
    if limit is None:
        return []
    out = []
    for model in run.models("candidate"):
        value = gate_figures(run, model)[key]
        if value is None:
            out.append(f"{flag} {limit:.2f}: {model} has no item in this run")
        elif value < limit:
            out.append(f"{flag} {limit:.2f}: {model} {label} {value:.2f} is below {limit:.2f}")
    return out


def _regression_failure(c: Comparison, limit: float) -> str | None:
    if c.delta is None or -c.delta <= limit:
        return None
    assert c.candidate_totals and c.baseline_totals
    return (f"--max-regression {limit:.2f}: {c.candidate} mean score {c.candidate_totals.mean_score:.2f} is "
            f"{-c.delta:.2f} below {c.baseline} ({c.baseline_totals.mean_score:.2f}) on "
            f"{c.candidate_totals.cases} shared cases")


def _better_failure(c: Comparison) -> str | None:
    if c.delta_ci is not None and c.delta_ci[0] > 0:
        return None
    return f"--require-better: {c.verdict}; the 95% CI lower bound must be above 0"


def check_gates(run: RunResult, limits: GateLimits) -> list[str]:
    """Every gate failure of ``run`` as one line each; an empty list means the run passes.

    ``run`` is merged with the ``--compare-to`` run, if any (its comparisons include that pair).
    With any gate, a run with more errored candidate items than ``--max-errors`` fails with one
    line per candidate instead: the other gates cannot judge answers that never came.
    """
    if limits.any and (errors := _error_failures(run, limits.max_errors)):
        return errors
    failures = _threshold_failures(run, "--min-score", "mean_score", "mean score", limits.min_score)
    failures += _threshold_failures(run, "--min-pass-rate", "pass_rate", "pass rate", limits.min_pass_rate)
    if limits.max_regression is None and not limits.require_better:
        return failures
    if not run.comparisons:
        flags = " and ".join(f for f, on in (("--max-regression", limits.max_regression is not None),
                                              ("--require-better", limits.require_better)) if on)
        return failures + [f"{flags}: nothing to compare against; add --baseline NAME or --compare-to RUN"]
    for c in run.comparisons:
        if c.delta is None:
            failures.append(f"--max-regression/--require-better: {c.verdict}")
            continue
        if limits.max_regression is not None and (msg := _regression_failure(c, limits.max_regression)):
            failures.append(msg)
        if limits.require_better and (msg := _better_failure(c)):
            failures.append(msg)
    return failures


def gate_status(run: RunResult, limits: GateLimits) -> int:
    """Print each gate failure of a command's run (one line each); 1 if any, else 0."""
    failures = check_gates(run, limits)
    for line in failures:
        print(f"GATE FAILED: {line}")
    return 1 if failures else 0
