"""Per-tensor transforms: llama's q/k row permutation, alpha folding, output encoding."""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from .errors import AdapterError

#: --outtype -> GGML type of every LoRA tensor.
OUTTYPES = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16, "bf16": gguf.GGMLQuantizationType.BF16}


def permute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder B's rows the way llama.cpp's ``LlamaModel.permute`` reorders q/k weight rows.

    HF stores each head's rotary halves as [first half; second half]; GGUF interleaves them.
    The base weight W was permuted at conversion, so the update B@A must be permuted the same
    way, which touches only B's rows (A's rows are the rank dimension).
    """
    out = b.shape[0]
    if out % (2 * n_head):
        raise AdapterError(f"cannot permute a lora_B of {out} rows into {n_head} heads: wrong head count in the base config?")
    return b.reshape(n_head, 2, out // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


@dataclass(frozen=True)
class Layout:
    """What ``GGUFWriter.add_tensor_info`` must be told before the data exists (for streaming)."""

    shape: tuple[int, ...]  # numpy shape of the encoded array
    dtype: np.dtype
    nbytes: int
    raw_dtype: gguf.GGMLQuantizationType | None


def layout(shape: tuple[int, ...], outtype: str) -> Layout:
    """The encoded array's layout for a float tensor of ``shape``; matches :func:`encode`."""
    count = int(np.prod(shape))
    if outtype == "bf16":  # gguf's BF16 quantizer returns the 2-byte values as uint8
        return Layout((*shape[:-1], shape[-1] * 2), np.dtype(np.uint8), count * 2, OUTTYPES["bf16"])
    dtype = np.dtype(np.float32 if outtype == "f32" else np.float16)
    return Layout(tuple(shape), dtype, count * dtype.itemsize, None)


def encode(name: str, values: np.ndarray, outtype: str) -> np.ndarray:
    """Encode float32 ``values`` as ``outtype`` with gguf's own quantizer; refuse f16 overflow."""
    with np.errstate(over="ignore"):  # overflow is checked below and reported as one line
        encoded = gguf.quants.quantize(np.ascontiguousarray(values, dtype=np.float32), OUTTYPES[outtype])
    if outtype == "f16" and not np.isfinite(encoded).all() and np.isfinite(values).all():
        raise AdapterError(f"tensor {name!r} has values beyond the f16 range (max |x| {np.abs(values).max():.3g}); use --outtype f32 or bf16")
    return encoded
