"""Benchmark: local LoRA training of the embedded SmolLM2-135M on CPU; tokens/s and peak RSS.

Each configuration is the real command (``python -m pipeline train --backend local``) in a
fresh child process, on the same slice of a real training file with the same seed, so the
batches are identical. Tokens/s is the trainer's own count (tokens in the batches, padding
excluded) over the optimizer steps' wall time, so model loading is not in it; peak RSS is
the child's own (``os.wait4``), loading included. Configurations, measured in the same run:

* ``fp32``: float32 matmuls (``--precision fp32``), the baseline;
* ``bf16``: bf16 autocast (``--precision auto`` on a CPU with AVX-512 BF16), weights and
  optimizer still float32;
* ``bf16, 2 threads``: the same with one torch thread per core (the default) instead of one in all.

Target (exit 1 when missed): on a CPU with native bf16, ``auto`` is at least 1.3x as fast as
fp32 (otherwise it would not be the default). A GPU, when torch sees one, is measured too and
reported separately (``--device cuda``).

Run: ``.venv/bin/python benchmarks/bench_local_train.py [--training-file F] [--steps 8]``
(the training file defaults to ``demo-run/data/training_data_together.jsonl`` from ``make demo``).
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
TARGET_SPEEDUP = 1.3


def run_config(label: str, training: Path, steps: int, extra: list[str]) -> dict:
    """Train ``steps`` steps in a child process; its state file and rusage give the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pipeline", "train", "--backend", "local", "--workdir", tmp, "--training-file",
               str(training), "--max-steps", str(steps), "--batch-size", "4", "--max-seq-length", "256",
               "--save-every", "0", "--no-progress", *extra]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"{label}: training failed: {proc.stderr.read()[-2000:]}")
        training_doc = json.loads((Path(tmp) / "pipeline-state.json").read_text())["training"]
    return {"label": label, "tokens_per_s": training_doc["tokens_per_s"], "tokens": training_doc["tokens"],
            "train_s": training_doc["train_seconds"], "wall_s": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-file", type=Path, default=ROOT / "demo-run" / "data" / "training_data_together.jsonl")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    if not args.training_file.is_file():
        print(f"{args.training_file}: no training file; run `make demo` or `python -m pipeline data` first", file=sys.stderr)
        return 2
    import torch

    from pipeline.local.base import _cpu_has_bf16

    configs = [("fp32, 1 thread", ["--device", "cpu", "--precision", "fp32", "--threads", "1"]),
               ("bf16, 1 thread", ["--device", "cpu", "--precision", "auto", "--threads", "1"]),
               ("bf16, 2 threads", ["--device", "cpu", "--precision", "auto", "--threads", "2"])]
    if torch.cuda.is_available():
        configs.append(("cuda, auto precision", ["--device", "cuda"]))
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"local training, {args.steps} steps x 4 examples (<= 256 tokens) of {args.training_file.name}; load average {load}")
    rows = [run_config(label, args.training_file, args.steps, extra) for label, extra in configs]
    base = rows[0]["tokens_per_s"]
    print(f"{'config':<22}{'tokens/s':>10}{'x fp32':>8}{'train s':>9}{'wall s':>8}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{r['label']:<22}{r['tokens_per_s']:>10.1f}{r['tokens_per_s'] / base:>8.2f}{r['train_s']:>9.1f}"
              f"{r['wall_s']:>8.1f}{r['peak_rss_mb']:>13}")
    if _cpu_has_bf16():
        speedup = rows[1]["tokens_per_s"] / base
        ok = speedup >= TARGET_SPEEDUP
        print(f"target: bf16 autocast >= {TARGET_SPEEDUP}x fp32 on this bf16 CPU: {speedup:.2f}x -> {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    print("this CPU has no native bf16: --precision auto keeps fp32, no target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
