"""Release gates: turn a finished run into a list of one-line reasons to fail it (exit 1).

Only candidates (``--model``) are gated; baselines are the reference and never fail a run.
Regression and "better" gates use the paired comparison of :mod:`gerbil_eval.compare` (the
same numbers the reports print), against the in-run baseline(s) and the ``--compare-to`` run.
"""

from __future__ import annotations

from typing import Any, Mapping

from .compare import Comparison, comparisons_for, merge_previous, models_of
from .errors import GerbilEvalError
from .options import RunOptions
from .safety.inputs import finite


def gate_figures(doc: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A candidate's items, errored items, mean score and pass rate *as a gate counts them*, from its rows:
    an errored item (no answer, no score) scores 0 and counts as failed — an answer that never came
    cannot pass a release."""
    rows = [r for r in doc.get("results", []) if r.get("model") == model]
    items = len(rows)
    scores = [r.get("score") if isinstance(r.get("score"), (int, float)) else 0.0 for r in rows]
    return {
        "items": items,
        "errors": sum(1 for r in rows if r.get("error") is not None or r.get("score") is None),
        "mean_score": sum(scores) / items if items else None,
        "pass_rate": sum(1 for r in rows if r.get("passed") is True) / items if items else None,
    }


def _error_failures(doc: Mapping[str, Any], max_errors: int) -> list[str]:
    """One line per candidate with more errored items than ``--max-errors``: such a run fails every gate."""
    out = []
    for model in models_of(doc, "candidate"):
        figures = gate_figures(doc, model)
        if figures["errors"] > max_errors:
            out.append(f"{model}: {figures['errors']} of {figures['items']} items errored; a gate needs them answered "
                       f"(--max-errors {max_errors})")
    return out


def _threshold_failures(doc: Mapping[str, Any], flag: str, key: str, label: str, limit: float | None) -> list[str]:
    if limit is None:
        return []
    out = []
    for model in models_of(doc, "candidate"):
        value = gate_figures(doc, model)[key]
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


def check_gates(doc: Mapping[str, Any], options: RunOptions, previous: Mapping[str, Any] | None) -> list[str]:
    """Every gate failure of the run ``doc`` as one line each; an empty list means the run passes.

    ``previous`` is the ``--compare-to`` run's results.json document, if any. With any gate flag, a
    run with more errored candidate items than ``--max-errors`` fails with one line per candidate
    instead: the other gates cannot judge answers that never came.
    """
    gated = (options.min_score is not None or options.min_pass_rate is not None
             or options.max_regression is not None or options.require_better)
    if gated and (errors := _error_failures(doc, options.max_errors)):
        return errors
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
    parser.add_argument("--max-errors", type=int, default=0, metavar="N",
                        help="gate: with any gate flag, exit 1 when a candidate has more than N errored items "
                             "(default 0); errored items also count as failed (pass rate) and as 0 (mean score)")


def check_gate_arguments(args: Any) -> None:
    """Refuse out-of-range gate flags with one line, before a command reads or writes anything."""
    for flag, value in (("--min-score", args.min_score), ("--min-pass-rate", args.min_pass_rate),
                        ("--max-regression", args.max_regression)):
        if value is not None:
            finite(value, flag, 0.0, 1.0)
    if args.max_errors < 0:
        raise GerbilEvalError(f"--max-errors must be 0 or more, got {args.max_errors}")


def gate_status(doc: Mapping[str, Any], args: Any, previous: Mapping[str, Any] | None) -> int:
    """Print each gate failure of a command's ``args`` (one line each); 1 if any, else 0."""
    check_gate_arguments(args)
    options = RunOptions(min_score=args.min_score, min_pass_rate=args.min_pass_rate,
                         max_regression=args.max_regression, require_better=args.require_better,
                         max_errors=args.max_errors)
    failures = check_gates(doc, options, previous)
    for line in failures:
        print(f"GATE FAILED: {line}")
    return 1 if failures else 0
