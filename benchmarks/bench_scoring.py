"""Benchmark: scoring 500 answers against the real case library stays fast.

What is timed: ``score_answer`` on 500 distinct answers (the library's references and
counterexamples, each made unique by a trailing comment), each against its own case
with all of that case's assertions (about 6 per case, most of them code-aware).

Baselines measured in the same run, on the same answers and assertions:

- ``no sharing``: every assertion analyses the answer afresh (tokenize + read per
  assertion), as a harness without the per-answer memo would. The ratio shows what
  the memo saves.
- ``keyword grep``: a plain ``re.search`` of every assertion value in the raw text, the
  floor cost of the keyword greps this harness replaces (and gets wrong on prose,
  strings and comments). The ratio shows what the real reader costs on top.

Target: 500 answers scored in under 2 s, and faster than ``no sharing``.
Run: ``.venv/bin/python benchmarks/bench_scoring.py`` (exit 1 when a target is missed).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Callable

from gerbil_eval import Case, load_cases, score_answer
from gerbil_eval.answer import Answer, analyse
from gerbil_eval.assertions.registry import evaluate

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = 500
MAX_SECONDS = 2.0


def workload(cases: list[Case]) -> list[tuple[Case, str]]:
    """500 (case, answer) pairs cycling through every reference and counterexample."""
    pool = [(c, text) for c in cases for text in (c.reference, *c.counterexamples) if text]
    return [(case, f"{text}\n;; answer {i}\n") for i, (case, text) in
            enumerate(pool[i % len(pool)] for i in range(ANSWERS))]


def score_all(pairs: list[tuple[Case, str]]) -> None:
    analyse.cache_clear()
    for case, text in pairs:
        score_answer(case, text)


def score_unshared(pairs: list[tuple[Case, str]]) -> None:
    for case, text in pairs:
        ctx = {"case": case, "model": None, "vars": {}}
        for a in case.assertions:
            evaluate(a, Answer(text), ctx)


def grep_all(pairs: list[tuple[Case, str]]) -> None:
    for case, text in pairs:
        for a in case.assertions:
            items = a.value if isinstance(a.value, tuple) else (a.value,) if isinstance(a.value, str) else ()
            for item in items:
                re.search(re.escape(item), text)


def best_of(fn: Callable[[list[tuple[Case, str]]], None], pairs: list[tuple[Case, str]], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(pairs)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    cases = load_cases([ROOT / "cases"])
    pairs = workload(cases)
    n_asserts = sum(len(c.assertions) for c, _ in pairs)
    ours = best_of(score_all, pairs)
    unshared = best_of(score_unshared, pairs)
    grep = best_of(grep_all, pairs)
    print(f"{len(pairs)} answers, {n_asserts} assertion evaluations, {len(cases)} cases "
          f"(best of 3 runs, same process)")
    print(f"{'method':<28}{'seconds':>9}{'ms/answer':>11}{'ratio':>8}")
    for name, t in (("gerbil-eval score_answer", ours), ("no sharing (re-read each)", unshared),
                    ("keyword grep (re.search)", grep)):
        print(f"{name:<28}{t:>9.3f}{1000 * t / len(pairs):>11.2f}{t / ours:>8.2f}")
    ok = ours < MAX_SECONDS and ours < unshared
    print(f"target: < {MAX_SECONDS:g} s and faster than no sharing -> {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
