"""Benchmark: reports of a large run (200 cases x 2 models x 5 samples) stay fast and light.

Targets (issue 4): summary.md + report.html render in under 5 s, and report.html is under
10 MB. The baseline, measured in the same process on the same document, is writing that
document as results.json with ``json.dump`` -- the least any report must do -- so the
ratio says how much the tables, statistics, chart and escaping cost on top.

Run: ``.venv/bin/python benchmarks/bench_report.py`` (exit 1 when a target is missed).
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from gerbil_eval.render import write_reports
from gerbil_eval.run.load import load_result

CASES, SAMPLES = 200, 5
MODELS = (("gerbil-qwen", "candidate", 0.75), ("qwen2.5:7b", "baseline", 0.55))
CATEGORIES = ("syntax", "stdlib", "ffi", "errors", "concurrency", "macros", "io", "data")
MAX_SECONDS, MAX_BYTES = 5.0, 10 * 1024 * 1024


def answer(rng: random.Random, case: int) -> str:
    """A plausible ~700-character answer: prose and a fenced Gerbil block with HTML-hostile text."""
    body = "\n".join(f"  (let ((x{j} (vector-ref v {j}))) (when (< x{j} {rng.randint(0, 99)}) (displayln \"<{j}> & done\")))"
                     for j in range(6))
    return f"Here is case {case}:\n\n```scheme\n(import :std/sugar)\n(def (main . args)\n{body})\n```\n"


def make_run(folder: Path) -> dict[str, Any]:
    """results.json document plus responses.jsonl for the benchmark run."""
    rng = random.Random(42)
    rows, lines = [], []
    for name, role, p in MODELS:
        for case in range(CASES):
            for sample in range(SAMPLES):
                checks = [rng.random() < p for _ in range(3)]
                score = sum(checks) / 3
                rows.append({
                    "model": name, "role": role, "case_id": f"case-{case:03d}", "category": CATEGORIES[case % len(CATEGORIES)],
                    "tags": ["bench"], "topic": None, "sample": sample, "score": score, "passed": all(checks), "error": None,
                    "latency_s": rng.uniform(0.5, 4), "ttft_s": rng.uniform(0.05, 0.4), "prompt_tokens": 80,
                    "completion_tokens": 180, "total_tokens": 260, "seen": None,
                    "assertions": [{"type": t, "value": v, "weight": 1.0, "passed": ok, "score": float(ok),
                                    "reason": "ok" if ok else f"expected {v!r}"}
                                   for (t, v), ok in zip((("calls-any", ["hash-ref"]), ("not-contains", "set-car!"),
                                                          ("parses", None)), checks)],
                })
                lines.append(json.dumps({"model": name, "case_id": f"case-{case:03d}", "sample": sample,
                                         "content": answer(rng, case)}))
    (folder / "responses.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"run_id": "bench", "created": "2026-01-01T00:00:00+00:00",
            "config": {"models": [{"name": n, "role": r} for n, r, _ in MODELS], "samples": SAMPLES, "temperature": 0.8},
            "results": rows, "summary": {}}


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """(first call, best of ``repeat``) wall-clock seconds: cold includes lazy imports."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times)


def main() -> int:
    os.environ.pop("GITHUB_STEP_SUMMARY", None)  # a benchmark's report is not the job's summary
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        doc = make_run(folder)
        base_cold, base = timed(lambda: (folder / "results.json").write_text(json.dumps(doc, indent=2), encoding="utf-8"))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cold, warm = timed(lambda: write_reports(folder, load_result(folder)))
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        html = (folder / "report.html").stat().st_size
        md = (folder / "summary.md").stat().st_size
    print(f"run: {CASES} cases x {len(MODELS)} models x {SAMPLES} samples = {len(doc['results'])} rows")
    print(f"baseline json.dumps -> results.json: {base * 1000:.0f} ms (first {base_cold * 1000:.0f} ms)")
    print(f"load_result + write_reports (summaries, comparisons, summary.md, report.html): first {cold:.2f} s (with matplotlib import), "
          f"best {warm:.2f} s = {warm / base:.1f}x the json.dumps baseline  [target < {MAX_SECONDS:.0f} s]")
    print(f"report.html {html / 1e6:.2f} MB, summary.md {md / 1e3:.0f} kB  [target < {MAX_BYTES / 2**20:.0f} MB]")
    print(f"peak RSS growth while rendering: {(rss_after - rss_before) / 1024:.0f} MB")
    ok = cold < MAX_SECONDS and html < MAX_BYTES
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
