"""``python -m pipeline convert ADAPTER_DIR -o adapter.gguf``: the converter's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..convert.convert import convert_adapter
from ..convert.tensors import OUTTYPES

DEFAULT_OUTTYPE = "f32"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Convert a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors or .bin) "
        "into a GGUF LoRA adapter for llama.cpp (--lora) and Ollama (ADAPTER). Refuses, with the key or "
        "tensor named, what llama.cpp cannot apply: DoRA, modules_to_save copies, LoRA on biases or "
        "embeddings, unknown modules, half pairs, shapes that do not fit the base."
    )
    parser.add_argument("adapter_dir", type=Path, metavar="ADAPTER_DIR", help="the folder PEFT's save_pretrained wrote")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.gguf", help="output GGUF adapter (written atomically)")
    parser.add_argument(
        "--base-config", type=Path, metavar="config.json",
        help="the base model's config.json (architecture, layers, heads, widths). Default: the built-in table "
        "for adapter_config.json's base_model_name_or_path (Qwen2.5 0.5B-72B, SmolLM2, Llama 3.x 8B)",
    )
    parser.add_argument(
        "--outtype", choices=sorted(OUTTYPES), default=DEFAULT_OUTTYPE,
        help=f"type of every LoRA tensor (default: {DEFAULT_OUTTYPE}: exact for bf16/f16/f32 adapters; "
        "the adapter is small next to the base, so halving it buys little; f16 refuses values beyond its range)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def run(args: argparse.Namespace) -> int:
    result = convert_adapter(
        args.adapter_dir, args.output, base_config=args.base_config, outtype=args.outtype,
        force=args.force, progress=sys.stderr.isatty(),
    )
    ranks = "/".join(str(r) for r in result.ranks)
    print(
        f"wrote {result.output}: {result.architecture} adapter for {result.base}, {result.pairs} LoRA pairs "
        f"(rank {ranks}), {result.outtype.upper()}, alpha {result.alpha:g}, {result.data_bytes / 1e6:.1f} MB of tensors"
    )
    return 0
