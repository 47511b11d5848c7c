"""``python -m gerbil_eval report RUN``: re-render a run's reports from its results.json.

No model is called: after changing the report code, or to add a ``--compare-to`` block or
a screenshot to an old run, the saved results are enough. The gate flags make it a release
gate of its own: exit 1 only for gate failures, whatever individual cases did.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.gates import GateLimits, add_gate_flags, argparse_getter, gate_status
from ..render import ReportOptions, terminal_report, write_reports
from ..run.load import load_result, results_path
from ..analysis.totals import with_reference


EPILOG = """\
examples:
  python -m gerbil_eval report reports/latest
  python -m gerbil_eval report reports/latest --compare-to reports/release-1.2 --max-regression 0.02 --require-better
exit status: 0 ok, 1 a gate failed (failing cases alone never do), 4 the run cannot be read"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run", metavar="RUN", type=Path,
                        help="run folder (reports/<run-id>, reports/latest) or its results.json; reports are written beside it")
    parser.add_argument("--compare-to", type=Path, default=None, metavar="RUN",
                        help="also compare with an earlier run (e.g. the last release)")
    parser.add_argument("--report-screenshot", action="store_true", help="also save report.png (headless Chromium)")
    add_gate_flags(parser.add_argument)


def run(args: argparse.Namespace) -> int:
    limits = GateLimits.from_flags(argparse_getter(args))  # out-of-range flags: one line before anything is read
    result = load_result(args.run)
    if args.compare_to is not None:
        result = with_reference(result, load_result(args.compare_to))
    run_dir = results_path(args.run).parent
    write_reports(run_dir, result, ReportOptions(screenshot=args.report_screenshot))
    print(terminal_report(result, run_dir / "report.html"))
    return gate_status(result, limits)
