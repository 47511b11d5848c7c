"""Write base + LoRA as one GGUF model with gguf's writer, streaming and atomically.

Every base tensor keeps its place, name and bytes, except the adapted weights, which become
``dequantize(W) + scale·B·A`` in F16, as llama.cpp's ``llama-export-lora`` does.
The metadata is the base's, key for key. Adapted weights are computed a block of rows at a time
and written through the writer's streaming API, so memory stays near one block, not one model;
the result appears at the output path only when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

import gguf
import numpy as np
from tqdm import tqdm

from gerbil_eval.fileio import atomic_path

from ..convert.gguf_reader import read_gguf
from .lora_gguf import LoraPair, MergeError, lora_pairs

#: Rows of an adapted weight processed at once: ~16M values (64 MB as float32) per block.
BLOCK_VALUES = 1 << 24
#: Keys the reader invents (GGUF.*) or the writer writes itself; never copied.
_SKIPPED_KEYS = (gguf.Keys.General.ARCHITECTURE,)


@dataclass(frozen=True)
class MergeResult:
    output: Path
    architecture: str
    merged: int  # base tensors the adapter changed
    tensors: int
    data_bytes: int


class _RowBlocks:
    """A tensor the writer streams: ``nbytes`` up front, then ``tofile`` writes block by block.

    ``GGUFWriter.write_tensor_data`` only needs ``nbytes`` and ``tofile`` (the same duck type
    gguf's own lazy tensors use), so an adapted weight never exists whole in memory.
    """

    def __init__(self, nbytes: int, blocks: Callable[[], Iterator[np.ndarray]], progress: tqdm) -> None:
        self.nbytes, self._blocks, self._progress = nbytes, blocks, progress

    def tofile(self, fout: IO[bytes]) -> None:
        for block in self._blocks():
            block.tofile(fout)
            self._progress.update(block.nbytes)


def merged_blocks(name: str, base: gguf.ReaderTensor, pair: LoraPair, out_dtype: np.dtype) -> Iterator[np.ndarray]:
    """``W + scale·B·A`` for blocks of rows of ``base``, encoded as ``out_dtype``; refuses f16 overflow."""
    scaled_b, a = pair.factors()
    rows, cols = int(base.shape[1]), int(base.shape[0])
    step = max(1, BLOCK_VALUES // cols)
    data = np.asarray(base.data)  # memory-mapped: (rows, cols) floats or (rows, bytes per row) blocks
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        w = gguf.quants.dequantize(data[start:stop], base.tensor_type).reshape(stop - start, cols)
        merged = (w.astype(np.float32, copy=False) + scaled_b[start:stop] @ a).astype(out_dtype)
        if not np.isfinite(merged).all():
            raise MergeError(f"tensor {name!r}: merged values overflow {out_dtype.name} (max |x| "
                             f"{np.abs(w + scaled_b[start:stop] @ a).max():.3g}); the adapter or its scale is broken")
        yield merged


def _copy_metadata(base: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    """Every key of the base, with its type, except the ones the reader or the writer makes."""
    for key, field in base.fields.items():
        if key.startswith("GGUF.") or key in _SKIPPED_KEYS:
            continue
        if key == gguf.Keys.General.ALIGNMENT:
            writer.add_custom_alignment(int(field.contents()))
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY and len(field.types) > 1 else None
        writer.add_key_value(key, field.contents(), vtype, sub_type)


def merge_gguf(base_path: Path, adapter_path: Path, output: Path, *, adapter_scale: float = 1.0,
               force: bool = False, progress: bool = False) -> MergeResult:
    """Merge the GGUF LoRA ``adapter_path`` into ``base_path`` and write ``output`` atomically."""
    if output.exists() and not force:
        raise MergeError(f"{output}: already exists; pass --force to overwrite it")
    if output.is_dir():
        raise MergeError(f"{output}: is a directory; pass a file name such as merged.gguf")
    base, adapter = read_gguf(base_path), read_gguf(adapter_path)
    if base.endianess != gguf.GGUFEndian.LITTLE:
        raise MergeError(f"{base_path}: a big-endian GGUF; merge works on little-endian files (all llama.cpp conversions)")
    pairs = {p.target: p for p in lora_pairs(adapter, str(adapter_path), base, str(base_path), adapter_scale)}
    arch = str(base.fields[gguf.Keys.General.ARCHITECTURE].contents())
    dtype = np.dtype(np.float16)
    plan = [(tensor, pairs.get(tensor.name), dtype) for tensor in base.tensors]  # (tensor, pair or None, output dtype)
    total = sum(int(t.n_elements) * d.itemsize if p else int(t.n_bytes) for t, p, d in plan)
    with atomic_path(output) as tmp:
        writer = gguf.GGUFWriter(tmp, arch)
        try:
            _copy_metadata(base, writer)
            for tensor, pair, dtype in plan:
                if pair is None:  # unchanged: its own bytes, quantized or not
                    data = np.asarray(tensor.data)
                    writer.add_tensor_info(tensor.name, data.shape, data.dtype, int(tensor.n_bytes), raw_dtype=tensor.tensor_type)
                else:
                    shape = (int(tensor.shape[1]), int(tensor.shape[0]))
                    writer.add_tensor_info(tensor.name, shape, dtype, int(tensor.n_elements) * dtype.itemsize)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            with tqdm(total=total, unit="B", unit_scale=True, desc="merge", disable=not progress) as bar:
                for tensor, pair, dtype in plan:
                    if pair is None:
                        data = np.asarray(tensor.data)
                        writer.write_tensor_data(data)
                        bar.update(data.nbytes)
                    else:
                        blocks = lambda t=tensor, p=pair, d=dtype: merged_blocks(t.name, t, p, d)  # noqa: E731
                        stream = _RowBlocks(int(tensor.n_elements) * dtype.itemsize, blocks, bar)
                        writer.write_tensor_data(stream)  # type: ignore[arg-type]
            writer.flush()
            assert writer.fout is not None
            os.fsync(writer.fout[0].fileno())
        finally:
            writer.close()
    return MergeResult(output, arch, len(pairs), len(plan), total)
