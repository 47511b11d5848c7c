"""Benchmark: full training-data build + decontamination of the real inputs against the case library.

    .venv/bin/python benchmarks/bench_data.py [--cases cases/] [--naive-pairs 3000]

Measures, in one run on the same machine state:

1. the whole ``python -m pipeline data ... --decontaminate --cases cases/`` command in a
   subprocess: wall time and peak RSS (``os.wait4`` rusage of that child only) — target < 30 s;
2. baseline: just reading the inputs (``json.load`` of the cookbook + every Markdown file),
   the floor any builder pays;
3. the decontamination comparison itself, ``rapidfuzz.process.cdist`` over every case field x
   every example, against a naive Python double loop calling the same scorer per pair on a
   subset, extrapolated to the full matrix.
Needs ``../shared/data`` beside the project.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
COOKBOOK = DATA / "gerbil-mcp" / "cookbooks.json"
DOCS = DATA / "gerbil-docs"


def timed_subprocess(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and exit status of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def read_inputs_floor() -> float:
    start = time.perf_counter()
    json.loads(COOKBOOK.read_text(encoding="utf-8"))
    for page in sorted(DOCS.rglob("*.md")):
        page.read_text(encoding="utf-8")
    return time.perf_counter() - start


def contamination_vs_naive(out_dir: Path, cases_dir: Path, naive_pairs: int) -> tuple[int, float, float]:
    """(pairs, cdist seconds, naive seconds extrapolated) for the build's examples vs the cases."""
    from gerbil_eval.cases.loader import load_cases
    from gerbil_eval.analysis.contamination import DEFAULT_THRESHOLD, SCORER, case_fields, leaks, read_training_file, token_set

    texts = read_training_file(out_dir / "training_data_together.jsonl")
    cases = load_cases([cases_dir])
    fields = [(name, text) for case in cases for name, text in case_fields(case)]
    pairs = len(fields) * len(texts)
    start = time.perf_counter()
    leaks(cases, texts, DEFAULT_THRESHOLD)
    fast = time.perf_counter() - start

    done, start = 0, time.perf_counter()
    for name, text in fields:  # the naive way: one Python call per pair, nothing reused
        for t in texts:
            SCORER(token_set(text), token_set(t.prompt if name == "prompt" else t.answer))
            done += 1
            if done >= naive_pairs:
                break
        if done >= naive_pairs:
            break
    naive = (time.perf_counter() - start) / done * pairs
    return pairs, fast, naive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=ROOT / "cases")
    parser.add_argument("--naive-pairs", type=int, default=3000, help="pairs timed for the naive loop (default 3000)")
    args = parser.parse_args()
    if not COOKBOOK.is_file():
        print(f"skipped: real data absent ({DATA})")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data"
        argv = [sys.executable, "-m", "pipeline", "data", "--cookbook", str(COOKBOOK), "--docs", str(DOCS),
                "--docs", str(COOKBOOK.parent / "resources"), "-o", str(out), "--decontaminate", "--cases", str(args.cases)]
        wall, rss, status = timed_subprocess(argv)
        if status:
            print(f"build failed with exit status {status}")
            return status
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        floor = read_inputs_floor()
        pairs, fast, naive = contamination_vs_naive(out, args.cases, args.naive_pairs)
    examples = sum(manifest["counts"]["kept"].values())
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"inputs: 752 recipes + {manifest['counts']['inputs']['docs']} doc sections; "
          f"{manifest['counts']['inputs']['cases']} cases; {examples} examples written")
    print(f"{'measure':52} {'value':>12}")
    print(f"{'full build + decontamination, wall (target < 30 s)':52} {wall:10.2f} s")
    print(f"{'  peak RSS of the build process':52} {rss:10.0f} MiB")
    print(f"{'baseline: read inputs only (json.load + .md files)':52} {floor:10.2f} s  ({wall / floor:.0f}x)")
    print(f"{f'decontamination cdist, {pairs:,} pairs':52} {fast:10.2f} s")
    print(f"{'baseline: naive Python double loop, extrapolated':52} {naive:10.2f} s  ({naive / fast:.1f}x slower)")
    return 0 if wall < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
