"""Write the GGUF adapter with ``gguf.GGUFWriter``, streaming one tensor at a time.

``GGUFWriter.add_tensor`` keeps every array in memory until ``write_tensors_to_file``, which
would hold the whole adapter. Instead all tensor infos are declared first (shapes are known
from the plan), the header, KV and tensor-info blocks are written, then each tensor is read,
transformed and passed to ``write_tensor_data`` in the same order: peak memory stays near one
tensor. The file is written beside the target under a temporary name and renamed on success,
so a failed conversion never leaves a partial adapter at the output path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import gguf
import numpy as np
from tqdm import tqdm

from gerbil_eval.fileio import atomic_path

from .plan import ConversionPlan, LoraPair
from .peft_adapter import TensorSource
from .tensors import encode, layout, permute_rows


def pair_tensors(pair: LoraPair, source: TensorSource) -> Iterator[tuple[str, np.ndarray]]:
    """The pair's GGUF tensors (A then B) as float32, B permuted and scaled as planned."""
    (a_name, _), (b_name, _) = pair.outputs()
    yield a_name, source.read(pair.a_key)
    b = source.read(pair.b_key)
    if pair.permute_heads:
        b = permute_rows(b, pair.permute_heads)
    if pair.b_scale != 1.0:
        b = b * np.float32(pair.b_scale)
    yield b_name, b


def write_adapter(target: Path, plan: ConversionPlan, source: TensorSource, outtype: str, *, progress: bool = False) -> int:
    """Write ``plan`` to ``target`` atomically; return the number of tensor-data bytes written."""
    with atomic_path(target) as tmp:
        writer = gguf.GGUFWriter(tmp, plan.architecture)
        try:
            writer.add_type(gguf.GGUFType.ADAPTER)
            writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
            writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, plan.alpha)
            total = 0
            for pair in plan.pairs:
                for name, shape in pair.outputs():
                    info = layout(shape, outtype)
                    writer.add_tensor_info(name, info.shape, info.dtype, info.nbytes, raw_dtype=info.raw_dtype)
                    total += info.nbytes
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            with tqdm(total=total, unit="B", unit_scale=True, desc="convert", disable=not progress) as bar:
                for pair in plan.pairs:
                    for name, values in pair_tensors(pair, source):
                        encoded = encode(name, values, outtype)
                        writer.write_tensor_data(encoded)
                        bar.update(encoded.nbytes)
            writer.flush()
            assert writer.fout is not None
            os.fsync(writer.fout[0].fileno())
        finally:
            writer.close()
    return total
