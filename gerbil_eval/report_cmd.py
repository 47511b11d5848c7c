"""``python -m gerbil_eval report RUN``: re-render a run's reports from its results.json.

No model is called: after changing the report code, or to add a ``--compare-to`` block or
a screenshot to an old run, the saved results are enough. The gate flags make it a release
gate of its own: exit 1 only for gate failures, whatever individual cases did.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .compare import comparisons_for
from .gates import add_gate_arguments, check_gate_arguments, gate_status
from .options import RunOptions
from .render import terminal, with_previous, write_reports
from .render.runs import load_run, results_path


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
    add_gate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_gate_arguments(args)
    doc = load_run(args.run)
    run_dir = results_path(args.run).parent
    options = RunOptions(compare_to=args.compare_to, report_screenshot=args.report_screenshot)
    write_reports(run_dir, doc, options)
    merged, _, _ = with_previous(doc, options)
    print(terminal.render(merged, comparisons_for(merged), run_dir / "report.html"))
    return gate_status(doc, args, load_run(args.compare_to) if args.compare_to else None)
