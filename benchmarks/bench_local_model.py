"""Benchmark: generation speed of the embedded model, in-process vs through our server.

Baseline (same run, same prompt, greedy, same thread count): llama-cpp-python's
``Llama.create_chat_completion`` called in-process -- the engine's own speed, no HTTP.
Measured against it: the same request through ``gerbil_eval.server`` (subprocess,
uvicorn, JSON over loopback), i.e. what ``make eval`` really gets. The ratio says what
serving costs. Also printed: the server's thread count vs all cores (on a shared
machine all cores can be far slower, as llama.cpp's threads spin-wait), and an
upper-bound estimate of ``make eval``'s wall time for the case library in ``cases/``.

Run: ``.venv/bin/python benchmarks/bench_local_model.py [--max-tokens 128] [--reps 3]``
(exit 1 when serving costs more than 25 % of the engine's speed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from gerbil_eval.server import default_model_path, default_threads, running_server, served_model

PROMPT = [{"role": "user", "content": "In Gerbil Scheme, write a function that sums the values of a hash table."}]
MAX_SLOWDOWN = 1.25
ROOT = Path(__file__).resolve().parents[1]


def tokens_per_s(generate: Callable[[], int]) -> float:
    """Completion tokens per wall second of one ``generate() -> completion tokens`` call."""
    start = time.perf_counter()
    tokens = generate()
    return tokens / (time.perf_counter() - start)


@contextlib.contextmanager
def in_process(threads: int, max_tokens: int) -> Iterator[Callable[[], int]]:
    """The baseline: the engine called directly, no HTTP."""
    from llama_cpp import Llama

    llm = Llama(str(default_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    try:
        yield lambda: llm.create_chat_completion(PROMPT, max_tokens=max_tokens, temperature=0)["usage"]["completion_tokens"]
    finally:
        llm.close()


@contextlib.contextmanager
def served(max_tokens: int) -> Iterator[tuple[Callable[[], int], float]]:
    """The same request through ``running_server`` over HTTP (non-streamed: usage is exact), and its startup s."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with running_server([served_model(default_model_path(), alias="m")], Path(tmp) / "server.log") as server:
            startup = time.perf_counter() - start
            body = {"model": "m", "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0}
            yield (lambda: httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=600)
                   .json()["usage"]["completion_tokens"]), startup


def compare(threads: int, max_tokens: int, reps: int) -> tuple[float, float, float]:
    """Best tokens/s in-process and served, measured alternately so machine load hits both alike."""
    with in_process(threads, max_tokens) as engine, served(max_tokens) as (server, startup):
        engine(), server()  # warm-up: first-call allocations are not generation speed
        rates = [(tokens_per_s(engine), tokens_per_s(server)) for _ in range(reps)]
    return max(r[0] for r in rates), max(r[1] for r in rates), startup


def library_size() -> int:
    """Number of cases in the repository's library (0 when it is absent)."""
    from gerbil_eval.cases.loader import load_cases

    folder = ROOT / "cases"
    return len(load_cases([folder])) if folder.is_dir() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--all-cores", action="store_true", help="also time the engine with a thread per core")
    args = parser.parse_args()
    cores, threads = len(os.sched_getaffinity(0)), default_threads()
    print(f"model: {default_model_path().name}, {cores} cores, load average {os.getloadavg()[0]:.1f}, "
          f"{args.max_tokens} tokens x {args.reps} reps (best), {threads} thread(s)")
    engine, rate, startup = compare(threads, args.max_tokens, args.reps)
    slowdown = engine / rate
    print(f"baseline in-process Llama:        {engine:6.1f} tokens/s")
    print(f"served (gerbil_eval.server, HTTP): {rate:6.1f} tokens/s; in-process/served = {slowdown:.2f} "
          f"[target <= {MAX_SLOWDOWN}]; server startup {startup:.1f} s")
    if args.all_cores and cores != threads:
        with in_process(cores, args.max_tokens) as all_cores:
            all_cores()
            print(f"in-process Llama, {cores} threads:   {max(tokens_per_s(all_cores) for _ in range(args.reps)):6.1f} tokens/s")
    cases = library_size()
    if cases:
        bound = startup + cases * 256 / rate
        print(f"make eval estimate ({cases} cases, --max-tokens 256, upper bound: every answer hits the cap): "
              f"{bound / 60:.1f} min; typical answers stop earlier")
    ok = slowdown <= MAX_SLOWDOWN
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
