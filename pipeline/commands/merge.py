"""``python -m pipeline merge BASE ADAPTER -o OUT [--quantize q4_k_m|q8_0|f16] [--format hf]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..merge.lora_gguf import MergeError
from ..merge.quantize import FTYPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Merge a LoRA adapter into its base model: one self-contained model to `ollama create` (FROM merged.gguf, "
        "no ADAPTER), copy or serve anywhere. GGUF: adapted weights become dequantize(W) + scale*B*A in F16 (as "
        "llama-export-lora writes them), every other tensor and all metadata are the base's; --quantize then runs "
        "llama.cpp's own quantizer. --format hf: BASE is a Hugging Face model folder and ADAPTER a PEFT folder; the "
        "output is a safetensors model folder (for vLLM-style servers)."
    )
    parser.add_argument("base", type=Path, metavar="BASE", help="base model GGUF (or HF folder with --format hf)")
    parser.add_argument("adapter", type=Path, metavar="ADAPTER",
                        help="GGUF LoRA adapter from `pipeline convert` (or the PEFT folder with --format hf)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="merged model file (folder with --format hf)")
    parser.add_argument("--quantize", choices=sorted(FTYPES), default=None,
                        help="quantize the merged GGUF with llama.cpp (q4_k_m: Ollama's default library type; "
                        "default: no quantization, adapted weights F16, the rest as in the base)")
    parser.add_argument("--format", choices=("gguf", "hf"), default="gguf", help="output format (default gguf)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="adapter strength, as llama.cpp's --lora-scaled (default 1.0, what llama-server --lora applies)")
    parser.add_argument("--threads", type=int, default=0, help="quantizer threads (default: all cores)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's quantizer messages")


def run(args: argparse.Namespace) -> int:
    progress = sys.stderr.isatty()
    started = time.perf_counter()
    if args.format == "hf":
        from ..merge.hf import merge_hf

        if args.quantize:
            raise MergeError("--quantize applies to GGUF output; quantize the HF folder with your serving engine's tools")
        merged = merge_hf(args.base, args.adapter, args.output, adapter_scale=args.scale, force=args.force, progress=progress)
        print(f"wrote {args.output}/: {merged} weights merged ({time.perf_counter() - started:.1f} s)")
        return 0
    from ..merge.build import build_merged

    result = build_merged(args.base, args.adapter, args.output, kind=args.quantize, adapter_scale=args.scale,
                          force=args.force, progress=progress, threads=args.threads, verbose=args.verbose)
    size = args.output.stat().st_size
    kind = args.quantize.upper() if args.quantize else "F16 merge"
    print(f"wrote {args.output}: {result.architecture}, {result.merged} of {result.tensors} tensors merged, {kind}, "
          f"{size / 1e6:.1f} MB ({time.perf_counter() - started:.1f} s)")
    return 0
