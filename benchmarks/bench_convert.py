"""Benchmark: convert a Qwen2.5-7B-shaped rank-16 all-linear bf16 adapter; time and peak RSS.

Every measurement runs in a fresh child process and its peak RSS comes from that child's own
rusage (``os.wait4``, the per-child form of ``getrusage(RUSAGE_CHILDREN)``), so the figures
do not mix. Baselines measured in the same run:

* ``imports``: the interpreter with numpy + gguf + the converter imported (the RSS floor);
* ``read-all``: reading every tensor from the safetensors file into float32 (the I/O floor);
* ``buffered``: the same conversion with ``GGUFWriter.add_tensor`` holding every tensor until
  ``write_tensors_to_file`` (what streaming avoids).

Targets (exit 1 when missed): streaming conversion's peak RSS above the imports floor is under
a quarter of the buffered writer's, and it takes at most 4x the time of just reading the tensors.

Run: ``.venv/bin/python benchmarks/bench_convert.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE_ADAPTER = """
import sys
from pathlib import Path
from pipeline.convert.bases import BUILTIN_BASES
from tests.lora_factory import lora_tensors, write_adapter_dir
base = BUILTIN_BASES["Qwen/Qwen2.5-7B-Instruct"]
write_adapter_dir(Path(sys.argv[1]), base, lora_tensors(base, 16, dtype="bf16"), 16)
"""
IMPORTS = "import numpy, gguf, pipeline.convert.convert"
READ_ALL = """
import sys
from pathlib import Path
from pipeline.convert.peft_adapter import open_tensors
source = open_tensors(Path(sys.argv[1]))
print(sum(source.read(k).nbytes for k in source.shapes))
"""
BUFFERED = """
import sys
from pathlib import Path
import gguf
from pipeline.convert.bases import builtin_base
from pipeline.convert.peft_adapter import open_tensors, read_adapter_config
from pipeline.convert.plan import build_plan
from pipeline.convert.writer import pair_tensors
adapter, out = Path(sys.argv[1]), sys.argv[2]
config = read_adapter_config(adapter)
source = open_tensors(adapter)
plan = build_plan(source.shapes, config, builtin_base(config.base_model_name_or_path))
writer = gguf.GGUFWriter(out, plan.architecture)
for pair in plan.pairs:
    for name, values in pair_tensors(pair, source):
        writer.add_tensor(name, values)
writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
"""


def measure(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process.

    Linux counts a forked child's pre-exec pages in its ru_maxrss, so this parent stays small:
    the adapter is generated (with torch) in a child too.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {' '.join(argv)}")
    return elapsed, usage.ru_maxrss * 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median time is reported (default 3)")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        adapter = Path(tmp) / "adapter"
        subprocess.run([py, "-c", MAKE_ADAPTER, str(adapter)], cwd=ROOT, check=True)
        size = (adapter / "adapter_model.safetensors").stat().st_size
        out = str(Path(tmp) / "adapter.gguf")
        cases = {
            "imports (RSS floor)": [py, "-c", IMPORTS],
            "read-all tensors (I/O floor)": [py, "-c", READ_ALL, str(adapter)],
            "convert --outtype f32 (streaming)": [py, "-m", "pipeline", "convert", str(adapter), "-o", out, "--force"],
            "convert --outtype f16 (streaming)": [py, "-m", "pipeline", "convert", str(adapter), "-o", out, "--force", "--outtype", "f16"],
            "f32, buffered GGUFWriter.add_tensor": [py, "-c", BUFFERED, str(adapter), out],
        }
        results = {}
        for name, argv in cases.items():
            runs = [measure(argv) for _ in range(args.repeat)]
            results[name] = (statistics.median(t for t, _ in runs), max(r for _, r in runs))
    floor_t, floor_rss = results["imports (RSS floor)"]
    read_t = results["read-all tensors (I/O floor)"][0]
    print(f"adapter: Qwen2.5-7B shape, 28 layers x 7 modules, rank 16, bf16, {size / 1e6:.1f} MB on disk; median of {args.repeat}")
    print(f"{'measurement':38} {'time s':>7} {'x read-all':>10} {'peak RSS MB':>12} {'above floor MB':>15}")
    for name, (secs, rss) in results.items():
        print(f"{name:38} {secs:7.2f} {secs / read_t:10.2f} {rss / 1e6:12.1f} {(rss - floor_rss) / 1e6:15.1f}")
    print(f"(imports alone take {floor_t:.2f} s; 'above floor' = peak RSS minus the imports-only process)")
    stream_t, stream_rss = results["convert --outtype f32 (streaming)"]
    buffered_rss = results["f32, buffered GGUFWriter.add_tensor"][1]
    memory_ok = stream_rss - floor_rss < (buffered_rss - floor_rss) / 4
    time_ok = stream_t <= 4 * read_t
    print(f"target: streaming memory < 1/4 of buffered above floor: {'met' if memory_ok else 'MISSED'}; "
          f"time <= 4x read-all: {'met' if time_ok else 'MISSED'} ({stream_t / read_t:.2f}x)")
    return 0 if memory_ok and time_ok else 1


if __name__ == "__main__":
    sys.exit(main())
