"""``python -m gerbil_eval exec FILE.ss|answer.md``: run code the way the execution assertions do.

For people writing cases: see what ``runs``, ``checks``, ``output`` and ``claims`` will conclude
about a reference or a counterexample before putting it in a case file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import GerbilEvalError

HELP = "run a Gerbil file or a Markdown answer in the sandbox, with optional checks; print what each execution assertion concludes"

EPILOG = """\
A .ss/.scm file is one code block; any other file is read as a Markdown answer (its fenced
Scheme blocks, or the whole text when it has none).
examples:
  python -m gerbil_eval exec answer.md
  python -m gerbil_eval exec solution.ss --checks tests.ss --function add
exit status: 0 it runs (and every check passes), 1 it does not, 4 no Gerbil or a bad file"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("file", type=Path, metavar="FILE", help="a .ss file or a Markdown answer")
    parser.add_argument("--checks", type=Path, metavar="FILE", help="file of :std/test check forms to run after the code")
    parser.add_argument("--function", metavar="NAME", help="bind NAME to the code's last procedure unless it defines NAME")
    parser.add_argument("--gxi", metavar="PATH", help="Gerbil interpreter (default $GERBIL_HOME/bin/gxi, then PATH)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="wall clock per run (default 10)")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")


def _read(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > 1 << 20:
            raise GerbilEvalError(f"{what} {path}: larger than 1 MiB; not an answer")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GerbilEvalError(f"{what} {path}: cannot read ({exc})") from None


def run(args: argparse.Namespace) -> int:
    from ..answer import analyse
    from ..cases.loader import assertion_from_dict
    from ..assertions.registry import evaluate
    from ..execution.executor import ExecSettings
    from ..execution.gerbil import find_gerbil
    from ..execution.sandbox import Limits, isolation_level

    text = _read(args.file, "FILE")
    if args.file.suffix in (".ss", ".scm", ".sld"):
        text = f"```scheme\n{text}\n```\n"
    if not args.timeout > 0:
        raise GerbilEvalError(f"--timeout must be positive, got {args.timeout}")
    gerbil = find_gerbil(args.gxi)  # GerbilNotFound: one line, exit 4
    settings = ExecSettings(gxi=gerbil.gxi, limits=Limits(timeout=args.timeout, cpu_seconds=max(1, int(args.timeout + 0.999))))
    wanted = [{"type": "runs"}, {"type": "claims"}]
    if args.checks:
        value = {"checks": _read(args.checks, "--checks"), **({"function": args.function} if args.function else {})}
        wanted.append({"type": "checks", "value": value})
    ans = analyse(text)
    verdicts = []
    for raw in wanted:
        outcome = evaluate(assertion_from_dict(raw, source="exec"), ans, {"execution": settings})
        verdicts.append({"type": raw["type"], "passed": outcome.passed, "score": outcome.score, "reason": outcome.reason})
    from ..execution.executor import run_answer

    result = run_answer(ans, (), settings, gerbil)
    stdout = result.together.stdout if result else ""
    if args.json:
        print(json.dumps({"gxi_version": gerbil.version, "isolation": isolation_level(gerbil.home, gerbil.gxi),
                          "stdout": stdout, "assertions": verdicts}, indent=2))
    else:
        print(f"{gerbil.version} · sandbox: {isolation_level(gerbil.home, gerbil.gxi)}")
        if stdout:
            print("--- output ---")
            sys.stdout.write(stdout if stdout.endswith("\n") else stdout + "\n")
            print("--------------")
        for v in verdicts:
            print(f"{'PASS' if v['passed'] else 'FAIL'}  {v['type']:7} {v['reason']}")
    return 0 if all(v["passed"] for v in verdicts if v["type"] != "claims") else 1
