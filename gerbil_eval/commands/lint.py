"""``python -m gerbil_eval lint [PATH...]``: print every problem of the case files (see :mod:`gerbil_eval.cases.lint`).

Scores references and counterexamples in worker processes with a hard time limit per check,
so a case whose checks hang cannot hang the command.
"""

from __future__ import annotations

import argparse
import difflib

from ..cases.lint import Scorer, explain, lint_report
from ..errors import CaseError
from ..safety.shown import terminal_safe
from ..scoring.limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_SCORE_TIMEOUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=["cases"], metavar="PATH",
                        help="case files or folders (folders are searched for *.yaml/*.yml; default: cases/)")
    parser.add_argument("--strict", action="store_true",
                        help="also require every case to have a reference and at least 2 counterexamples "
                             "(the shipped library uses this)")
    parser.add_argument("--facts", metavar="FILE", default=None,
                        help="facts file whose topics ('### 4. hash-iteration') must each be covered by a case's "
                             "'topic:'; case topics not in it are problems too")
    parser.add_argument("--explain", metavar="CASE-ID", action="append", default=[],
                        help="print every assertion's verdict on the case's reference and counterexamples "
                             "(repeatable), to see which check separates them")
    parser.add_argument("--allow-python", action="store_true",
                        help="load and run `python` assertions (functions in .py files beside the case files); "
                             "case files are data unless you opt in")
    parser.add_argument("--score-timeout", type=float, default=DEFAULT_SCORE_TIMEOUT, metavar="SECONDS",
                        help=f"hard time limit on each check of a reference or counterexample "
                             f"(default {DEFAULT_SCORE_TIMEOUT:g})")
    parser.epilog = ("Prints one line per problem (file:line: case-id: message) and exits 1 if there is any; "
                     "otherwise prints a one-line summary and exits 0.")


def run(args: argparse.Namespace) -> int:
    from ..safety.inputs import finite
    from ..scoring.pool import ScorePool

    if finite(args.score_timeout, "--score-timeout", 0.0) <= 0:
        raise CaseError(f"--score-timeout must be positive, got {args.score_timeout}")
    with ScorePool(args.score_timeout, DEFAULT_MAX_ANSWER_BYTES) as pool:
        return _run(args, pool.score)


def _run(args: argparse.Namespace, score: Scorer) -> int:
    report = lint_report(args.paths, strict=args.strict, facts=args.facts, allow_python=args.allow_python,
                         score=score)
    by_id = {c.id: c for c in report.cases}
    for case_id in args.explain:
        if case_id not in by_id:
            close = difflib.get_close_matches(case_id, list(by_id), n=1, cutoff=0.6)
            raise CaseError(f"--explain {case_id}: no such case id" + (f" (did you mean '{close[0]}'?)" if close else ""))
        print(terminal_safe("\n".join(explain(by_id[case_id], score))))
    for p in report.problems:
        print(terminal_safe(str(p)))
    if report.problems:
        hint = "; --explain CASE-ID shows each assertion on each answer" if report.cases and not args.explain else ""
        print(f"{len(report.problems)} problem(s) in {len(report.cases)} cases{hint}")
        return 1
    counter = sum(len(c.counterexamples) for c in report.cases)
    refs = sum(1 for c in report.cases if c.reference is not None)
    topics = len({c.topic for c in report.cases if c.topic})
    covered = f"; all {topics} facts topics covered" if args.facts else ""
    print(f"OK: {len(report.cases)} cases in {len(report.files)} files; {refs} references pass, "
          f"{counter} counterexamples fail{covered}")
    return 0
