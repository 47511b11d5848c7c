"""Run every benchmark in this folder, one fresh process each, and exit 1 if any missed its target.

Each ``bench_*.py`` measures its own baselines in the same run and prints ratios;
this script only runs them in turn and summarises which met their targets.
``make bench`` calls it; pass names to run a subset (``run_all.py harness report``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The sequential baseline of the harness benchmark mostly waits; 100 requests, scaled to 500, say the same.
EXTRA_ARGS = {"bench_harness": ["--sequential", "100"]}


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        names = {s.stem.removeprefix("bench_") for s in scripts}
        unknown = [a for a in argv if a not in names]
        if unknown:
            print(f"run_all.py: no benchmark {', '.join(unknown)}; there are: {', '.join(sorted(names))}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    results = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        status = subprocess.call([sys.executable, str(script), *EXTRA_ARGS.get(script.stem, [])], cwd=HERE.parent)
        results.append((script.stem, status, time.perf_counter() - start))
    print("\nbenchmark           status   wall s")
    for name, status, wall in results:
        print(f"{name:<19} {'ok' if status == 0 else f'MISSED ({status})':<8} {wall:7.1f}")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
