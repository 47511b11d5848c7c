"""Execution speed: programs per second through the sandbox with the default limits, at
--exec-workers 1 and 2 (the baseline: one at a time, same run), and the whole case library's
references scored with execution vs without (wall time).

    GERBIL_HOME=.venv/gerbil/gerbil-v0.18.1 .venv/bin/python benchmarks/bench_execution.py [--n 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gerbil_eval.answer import analyse  # noqa: E402
from gerbil_eval.cases.loader import load_cases  # noqa: E402
from gerbil_eval.execution.executor import ExecSettings, run_answer  # noqa: E402
from gerbil_eval.execution.gerbil import find_gerbil  # noqa: E402
from gerbil_eval.scoring.score import score_answer  # noqa: E402


def programs_per_second(n: int, workers: int) -> float:
    settings = ExecSettings(workers=workers, cache=False)
    gerbil = find_gerbil()
    answers = [analyse(f"```scheme\n(def (f x) (* x {i}))\n(displayln (f 2))\n```") for i in range(n)]
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda a: run_answer(a, (), settings, gerbil), answers))
    return n / (time.monotonic() - start)


def library(execution: bool) -> float:
    cases = load_cases(ROOT / "cases")
    env = os.environ.pop("GERBIL_HOME", None) if not execution else None
    try:
        settings = ExecSettings(cache=False)
        start = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: score_answer(c, c.reference or "", {"execution": settings}), cases))
        return time.monotonic() - start
    finally:
        if env is not None:
            os.environ["GERBIL_HOME"] = env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="programs per measurement (default 40)")
    args = parser.parse_args()
    gerbil = find_gerbil()
    print(f"{gerbil.version}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    one, two = programs_per_second(args.n, 1), programs_per_second(args.n, 2)
    print(f"programs/s, --exec-workers 1: {one:.2f}   --exec-workers 2: {two:.2f}   ({two / one:.2f}x)")
    without, with_ = library(False), library(True)
    print(f"library references scored: without execution {without:.2f} s, with {with_:.2f} s ({with_ / without:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
