"""Read a GGUF LoRA adapter and pair it with its base, with llama.cpp's own acceptance rules.

The checks mirror ``llama_adapter_lora_init`` (general.type ``adapter``, adapter.type ``lora``,
same architecture, ``.lora_a``/``.lora_b`` pairs whose shapes fit the base weight), so a file the
merge accepts is one llama.cpp would apply at run time, and the merged weights equal what it
computes: ``W·x + scale·B(A·x)`` with ``scale = alpha / rank`` (``adapter_scale`` when alpha is 0).
rsLoRA and PEFT's rank/alpha patterns are already folded into alpha and ``lora_b`` by
``pipeline convert``, so no per-module rule is needed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np

from gerbil_eval.errors import GerbilEvalError

SUFFIXES = (".lora_a", ".lora_b")


class MergeError(GerbilEvalError):
    """The base, the adapter or the output cannot be merged as given; one line naming which."""


@dataclass(frozen=True)
class LoraPair:
    """One adapted base weight: its LoRA halves and the factor llama.cpp applies to ``B·A``."""

    target: str  # base tensor name, e.g. blk.0.attn_q.weight
    a: gguf.ReaderTensor  # ggml ne {in, r}
    b: gguf.ReaderTensor  # ggml ne {r, out}
    rank: int
    scale: float

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale·B, A)`` in float32, numpy order: the update of the base weight is their product."""
        return float32_matrix(self.b) * np.float32(self.scale), float32_matrix(self.a)


def float32_matrix(tensor: gguf.ReaderTensor) -> np.ndarray:
    """A 2-D tensor as float32 in numpy order (rows = ggml ne1), dequantized with gguf's quants."""
    values = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)
    return values.reshape(int(tensor.shape[1]), int(tensor.shape[0])).astype(np.float32, copy=False)


def string_field(reader: gguf.GGUFReader, key: str) -> str | None:
    field = reader.fields.get(key)
    return None if field is None else str(field.contents())


def lora_pairs(adapter: gguf.GGUFReader, adapter_name: str, base: gguf.GGUFReader, base_name: str,
               adapter_scale: float = 1.0) -> list[LoraPair]:
    """Every pair of ``adapter`` matched to its base tensor; refuse what llama.cpp would refuse."""
    if string_field(base, gguf.Keys.General.TYPE) == "adapter":
        raise MergeError(f"{base_name}: is an adapter, not a base model; pass the base model's GGUF first")
    kind, lora_type = string_field(adapter, gguf.Keys.General.TYPE), string_field(adapter, gguf.Keys.Adapter.TYPE)
    if kind != "adapter" or lora_type != "lora":
        raise MergeError(f"{adapter_name}: not a GGUF LoRA adapter (general.type {kind!r}, adapter.type {lora_type!r}); "
                         "python -m pipeline convert makes one from a PEFT folder")
    arch, base_arch = (string_field(r, gguf.Keys.General.ARCHITECTURE) for r in (adapter, base))
    if arch != base_arch:
        raise MergeError(f"{adapter_name}: adapter for {arch!r} but {base_name} is {base_arch!r}: wrong base model?")
    alpha_field = adapter.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    alpha = float(alpha_field.contents()) if alpha_field is not None else 0.0
    base_tensors = {t.name: t for t in base.tensors}
    halves: dict[str, dict[str, gguf.ReaderTensor]] = {}
    for tensor in adapter.tensors:
        if tensor.name.endswith("_norm.weight"):
            continue  # written by some converters, ignored by llama.cpp's loader: ignored here too
        target, suffix = tensor.name[:-7], tensor.name[-7:]
        if suffix not in SUFFIXES:
            raise MergeError(f"{adapter_name}: tensor {tensor.name!r} is not a .lora_a/.lora_b half")
        halves.setdefault(target, {})[suffix] = tensor
    if not halves:
        raise MergeError(f"{adapter_name}: holds no LoRA tensors")
    pairs = []
    for target, pair in halves.items():
        if len(pair) != 2:
            raise MergeError(f"{adapter_name}: LoRA tensor pair for {target!r} is missing one half")
        base_tensor = base_tensors.get(target)
        if base_tensor is None:
            raise MergeError(f"{adapter_name}: LoRA tensor {target!r} does not exist in {base_name}: wrong base model?")
        if target.startswith("token_embd"):
            raise MergeError(f"{adapter_name}: LoRA on {target!r} (the embeddings) cannot be merged; retrain without it")
        a, b = pair[".lora_a"], pair[".lora_b"]
        n_in, n_out = (int(n) for n in base_tensor.shape[:2])
        rank = int(b.shape[0])
        if len(base_tensor.shape) != 2 or [int(n) for n in a.shape] != [n_in, rank] or [int(n) for n in b.shape] != [rank, n_out]:
            raise MergeError(
                f"{adapter_name}: {target!r}: lora_a {list(map(int, a.shape))} / lora_b {list(map(int, b.shape))} do not fit "
                f"the base weight {list(map(int, base_tensor.shape))} (ggml order): wrong base model?")
        scale = adapter_scale * alpha / rank if alpha else adapter_scale
        pairs.append(LoraPair(target, a, b, rank, scale))
    return pairs
