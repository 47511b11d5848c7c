"""``python -m gerbil_eval compare RUN_A RUN_B``: is run B better than run A?

RUN_A is the reference (e.g. the last release), RUN_B the new run, as in ``diff OLD NEW``:
each model of B is compared with the same model in A (or with A's only candidate). Prints
the comparison, writes summary.md and report.html, and applies the same gates as a pytest
run, so a CI job can gate on two saved runs without calling any model.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..analysis.gates import GateLimits, add_gate_flags, argparse_getter, gate_status
from ..render import ReportOptions, terminal_report, write_reports
from ..run.load import load_result
from ..analysis.totals import with_reference


EPILOG = """\
Each model of RUN_B is compared with the same model in RUN_A (or with RUN_A's only candidate);
the verdict says which is better when the paired bootstrap 95% CI of the delta excludes 0.
examples:
  python -m gerbil_eval compare reports/release-1.2 reports/latest
  python -m gerbil_eval compare old/results.json new/results.json -o cmp --require-better
exit status: 0 ok, 1 a gate failed, 4 a run cannot be read"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_a", metavar="RUN_A", type=Path,
                        help="reference run: a run folder (reports/<run-id>) or its results.json")
    parser.add_argument("run_b", metavar="RUN_B", type=Path, help="new run, compared against RUN_A (delta = B - A)")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                        help="where summary.md and report.html go (default: reports/compare-<A>-vs-<B>)")
    parser.add_argument("--report-screenshot", action="store_true", help="also save report.png (headless Chromium)")
    add_gate_flags(parser.add_argument)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


def run(args: argparse.Namespace) -> int:
    limits = GateLimits.from_flags(argparse_getter(args))  # out-of-range flags: one line before anything is read
    old, new = load_result(args.run_a), load_result(args.run_b)
    merged = with_reference(new, old)
    out = args.output or Path("reports") / f"compare-{_slug(old.run_id or 'A')}-vs-{_slug(new.run_id or 'B')}"
    write_reports(out, merged, ReportOptions(screenshot=args.report_screenshot))
    print(terminal_report(merged, out / "report.html"))
    return gate_status(merged, limits)
