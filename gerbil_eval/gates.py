"""Release gates: turn a finished run into a list of one-line reasons to fail it (exit 1).

Only candidates (``--model``) are gated; baselines are the reference and never fail a run.
Regression and "better" gates use the paired comparison of :mod:`gerbil_eval.compare` (the
same numbers the reports print), against the in-run baseline(s) and the ``--compare-to`` run.
"""

from __future__ import annotations

from typing import Any, Mapping

from .compare import Comparison, comparisons_for, merge_previous, model_overview, models_of
from .errors import GerbilEvalError
from .options import RunOptions


def _threshold_failures(doc: Mapping[str, Any], flag: str, key: str, label: str, limit: float | None) -> list[str]:
    if limit is None:
        return []
    out = []
    for model in models_of(doc, "candidate"):
        value = model_overview(doc, model).get(key)
        if value is None:
            out.append(f"{flag} {limit:.2f}: {model} has no scored case (every request failed)")
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


def check_gates(doc: Mapping[str, Any], options: RunOptions, previous: Mapping[str, Any] | None) -> list[str]:
    """Every gate failure of the run ``doc`` as one line each; an empty list means the run passes.

    ``previous`` is the ``--compare-to`` run's results.json document, if any.
    """
    failures = _threshold_failures(doc, "--min-score", "mean_score", "mean score", options.min_score)
    failures += _threshold_failures(doc, "--min-pass-rate", "pass_rate", "pass rate", options.min_pass_rate)
    if options.max_regression is None and not options.require_better:
        return failures
    comparisons = comparisons_for(merge_previous(doc, previous)[0] if previous is not None else doc)
    if not comparisons:
        flags = " and ".join(f for f, on in (("--max-regression", options.max_regression is not None),
                                              ("--require-better", options.require_better)) if on)
        return failures + [f"{flags}: nothing to compare against; add --baseline NAME or --compare-to RUN"]
    for c in comparisons:
        if c.delta is None:
            failures.append(f"--max-regression/--require-better: {c.verdict}")
            continue
        if options.max_regression is not None and (msg := _regression_failure(c, options.max_regression)):
            failures.append(msg)
        if options.require_better and (msg := _better_failure(c)):
            failures.append(msg)
    return failures


def add_gate_arguments(parser: Any) -> None:
    """The gate flags of the ``compare`` and ``report`` commands (same names as the pytest options)."""
    parser.add_argument("--min-score", type=float, default=None, metavar="X",
                        help="gate: exit 1 if a candidate's mean score is below X")
    parser.add_argument("--min-pass-rate", type=float, default=None, metavar="X",
                        help="gate: exit 1 if a candidate's pass rate is below X")
    parser.add_argument("--max-regression", type=float, default=None, metavar="X",
                        help="gate: exit 1 if a candidate's mean score is more than X below its reference on the shared cases")
    parser.add_argument("--require-better", action="store_true",
                        help="gate: exit 1 unless the 95%% CI of the mean score delta vs the reference is above 0")


def check_gate_arguments(args: Any) -> None:
    """Refuse out-of-range gate flags with one line, before a command reads or writes anything."""
    for flag, value in (("--min-score", args.min_score), ("--min-pass-rate", args.min_pass_rate)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise GerbilEvalError(f"{flag} must be between 0 and 1, got {value}")


def gate_status(doc: Mapping[str, Any], args: Any, previous: Mapping[str, Any] | None) -> int:
    """Print each gate failure of a command's ``args`` (one line each); 1 if any, else 0."""
    check_gate_arguments(args)
    options = RunOptions(min_score=args.min_score, min_pass_rate=args.min_pass_rate,
                         max_regression=args.max_regression, require_better=args.require_better)
    failures = check_gates(doc, options, previous)
    for line in failures:
        print(f"GATE FAILED: {line}")
    return 1 if failures else 0
