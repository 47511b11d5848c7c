"""``--format hf``: merge a PEFT LoRA into a Hugging Face safetensors base, for vLLM-style servers.

The base folder (``config.json`` + ``model.safetensors`` or shards with their index) is copied
shard for shard; each adapted weight becomes ``W + s·B·A`` with PEFT's own per-module factor
``s`` (``alpha/r``, rsLoRA's ``alpha/sqrt(r)``, ``rank_pattern``/``alpha_pattern``), in the
weight's own dtype. The adapter is checked with the converter's rules (DoRA, modules_to_save,
shapes against the base config) before anything is written. Tensors stream one at a time; the
output folder appears by rename when complete.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import gguf
import numpy as np
from tqdm import tqdm

from ..convert.bases import load_base_config
from ..convert.peft_adapter import SafetensorsSource, open_tensors, read_adapter_config
from ..convert.plan import build_plan
from .lora_gguf import MergeError

_ENCODE = {
    "F32": lambda v: v.astype("<f4"),
    "F16": lambda v: v.astype("<f2"),
    "BF16": lambda v: gguf.quants.quantize(np.ascontiguousarray(v, dtype=np.float32), gguf.GGMLQuantizationType.BF16),
}
_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}


def _shards(base_dir: Path) -> list[Path]:
    shards = sorted(base_dir.glob("*.safetensors"))
    if not shards:
        raise MergeError(f"{base_dir}: no *.safetensors weights; --format hf needs the base model's Hugging Face folder")
    return shards


def _write_shard(source: SafetensorsSource, target: Path, updates: dict[str, tuple[np.ndarray, np.ndarray]],
                 bar: tqdm) -> None:
    """Copy one safetensors shard, replacing each key in ``updates`` by ``W + scaled_B @ A``."""
    header, offset = {}, 0
    for key, shape in source.shapes.items():
        size = int(np.prod(shape)) * _ITEMSIZE[source.dtype(key)]
        header[key] = {"dtype": source.dtype(key), "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header_bytes = json.dumps({"__metadata__": {"format": "pt"}, **header}, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    with target.open("wb") as out:
        out.write(struct.pack("<Q", len(header_bytes)) + header_bytes)
        for key in source.shapes:
            if key in updates:
                scaled_b, a = updates[key]
                merged = source.read(key) + scaled_b @ a
                data = np.asarray(_ENCODE[source.dtype(key)](merged))
                if not np.isfinite(merged).all() or (source.dtype(key) == "F16" and not np.isfinite(data.view(np.float16)).all()):
                    raise MergeError(f"tensor {key!r}: merged values overflow {source.dtype(key)}")
            else:
                data = source.raw(key)
            data.tofile(out)
            bar.update(data.nbytes)


def merge_hf(base_dir: Path, adapter_dir: Path, output: Path, *, adapter_scale: float = 1.0,
             force: bool = False, progress: bool = False) -> int:
    """Write the merged model folder ``output``; return the number of adapted weights."""
    if output.exists() and not force:
        raise MergeError(f"{output}: already exists; pass --force to overwrite it")
    if output.is_file() or (output.is_dir() and any(output.iterdir()) and not (output / "config.json").is_file()):
        raise MergeError(f"{output}: exists and is not a model folder; pass a new folder name")
    if not (base_dir / "config.json").is_file():
        raise MergeError(f"{base_dir}: no config.json; --format hf takes the base model's Hugging Face folder")
    config = read_adapter_config(adapter_dir)
    base = load_base_config(base_dir / "config.json")
    lora = open_tensors(adapter_dir)
    plan = build_plan(lora.shapes, config, base)
    wanted = {f"{pair.module}.weight": pair for pair in plan.pairs}
    shards = [SafetensorsSource(p) for p in _shards(base_dir)]
    found = {key for s in shards for key in s.shapes}
    missing = sorted(set(wanted) - found)
    if missing:
        raise MergeError(f"{base_dir}: has no weight {missing[0]!r} for the adapter's LoRA pair: wrong base model?")
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for item in base_dir.iterdir():  # config, tokenizer, generation config, shard index
            if item.is_file() and item.suffix != ".safetensors":
                shutil.copy2(item, staging / item.name)
        total = sum(s.path.stat().st_size for s in shards)
        with tqdm(total=total, unit="B", unit_scale=True, desc="merge (hf)", disable=not progress) as bar:
            for shard in shards:
                updates = {}
                for key in shard.shapes.keys() & wanted.keys():
                    pair = wanted[key]
                    scale = config.scale_for(pair.module) * adapter_scale
                    updates[key] = (lora.read(pair.b_key) * np.float32(scale), lora.read(pair.a_key))
                _write_shard(shard, staging / shard.path.name, updates, bar)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(wanted)
