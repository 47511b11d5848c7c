"""Check an adapter against its base and decide every output tensor before writing any byte.

Everything that can be refused is refused here, from metadata alone (names and shapes), so a
bad adapter fails fast and leaves no output file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import gguf

from .bases import BaseConfig
from .errors import AdapterError
from .naming import AdapterNaming, LoraTensorName
from .peft_adapter import AdapterConfig

T = gguf.MODEL_TENSOR


@dataclass(frozen=True)
class LoraPair:
    """One converted module: its A and B tensors and how B must be transformed."""

    module: str
    gguf_base: str  # e.g. blk.0.attn_q.weight; the outputs are <gguf_base>.lora_a / .lora_b
    a_key: str
    b_key: str
    rank: int
    n_in: int
    n_out: int
    b_scale: float  # 1.0 unless alpha_pattern/rank_pattern/rsLoRA need a per-module correction
    permute_heads: int  # llama q/k: heads for the RoPE row permutation of B; 0 = none

    def outputs(self) -> tuple[tuple[str, tuple[int, int]], tuple[str, tuple[int, int]]]:
        """(GGUF name, numpy shape) of lora_a then lora_b: the order they are declared and written.

        PEFT's torch shapes are kept: A (r, in) becomes ggml ne {in, r} and B (out, r) ne {r, out},
        which is what llama.cpp's loader checks against the base weight.
        """
        return ((f"{self.gguf_base}.lora_a", (self.rank, self.n_in)), (f"{self.gguf_base}.lora_b", (self.n_out, self.rank)))


@dataclass(frozen=True)
class ConversionPlan:
    architecture: str
    alpha: float  # adapter.lora.alpha; llama.cpp scales every pair by alpha / rank
    pairs: tuple[LoraPair, ...]


def gguf_alpha(config: AdapterConfig) -> float:
    """The global alpha for llama.cpp, whose scale is alpha/rank.

    rsLoRA scales by alpha/sqrt(r); writing alpha*sqrt(r) makes llama.cpp's alpha/r equal it.
    """
    return config.lora_alpha * math.sqrt(config.r) if config.use_rslora else config.lora_alpha


def _widths(base: BaseConfig) -> dict[gguf.MODEL_TENSOR, tuple[int, int]]:
    """(in, out) of every base weight a LoRA pair may target."""
    h, q, kv, ffn = base.hidden_size, base.q_width, base.kv_width, base.intermediate_size
    return {
        T.ATTN_Q: (h, q), T.ATTN_K: (h, kv), T.ATTN_V: (h, kv), T.ATTN_OUT: (q, h),
        T.FFN_GATE: (h, ffn), T.FFN_UP: (h, ffn), T.FFN_DOWN: (ffn, h), T.OUTPUT: (h, base.vocab_size),
    }


def _permute_heads(base: BaseConfig, kind: gguf.MODEL_TENSOR) -> int:
    """llama.cpp's llama conversion permutes q rows by n_head and k rows by n_head_kv; qwen2 never."""
    if base.architecture != "llama":
        return 0
    return {T.ATTN_Q: base.n_head, T.ATTN_K: base.n_head_kv}.get(kind, 0)


def build_plan(shapes: Mapping[str, tuple[int, ...]], config: AdapterConfig, base: BaseConfig) -> ConversionPlan:
    """Pair every A with its B, check shapes against ``base``, compute scales and permutations."""
    naming = AdapterNaming(base.architecture, base.n_layer)
    halves: dict[str, dict[str, LoraTensorName]] = {}
    for key in shapes:
        name = naming.classify(key)
        halves.setdefault(name.module, {})[name.half] = name
    if not halves:
        raise AdapterError(f"{config.path.parent}: the adapter holds no LoRA tensors")
    widths, alpha = _widths(base), gguf_alpha(config)
    pairs = []
    for module, pair in halves.items():
        missing = {"A", "B"} - pair.keys()
        if missing:
            present = next(iter(pair.values()))
            raise AdapterError(f"tensor {present.key!r} has no lora_{missing.pop()} partner; the adapter file is incomplete")
        a, b = pair["A"], pair["B"]
        if a.kind is T.OUTPUT and base.tie_word_embeddings:
            raise AdapterError(f"tensor {a.key!r}: LoRA on lm_head, but {base.name} ties lm_head to the embeddings, so llama.cpp has no output weight to apply it to")
        n_in, n_out = widths[a.kind]
        rank = config.rank_for(module)
        for name, want in ((a, (rank, n_in)), (b, (n_out, rank))):
            if tuple(shapes[name.key]) != want:
                raise AdapterError(
                    f"tensor {name.key!r} has shape {list(shapes[name.key])} but base {base.name} with rank {rank} needs {list(want)}: "
                    "wrong base model (--base-config) or r/rank_pattern?"
                )
        b_scale = config.scale_for(module) / (alpha / rank)
        pairs.append(LoraPair(
            module, a.gguf_base, a.key, b.key, rank, n_in, n_out,
            1.0 if math.isclose(b_scale, 1.0, rel_tol=1e-9) else b_scale,
            _permute_heads(base, a.kind),
        ))
    return ConversionPlan(base.architecture, alpha, tuple(sorted(pairs, key=_file_order)))


def _file_order(pair: LoraPair) -> tuple[int, str]:
    """Block by block in numeric order (blk.2 before blk.10), non-block tensors last.

    The input's order (alphabetical in safetensors, insertion order in a .bin) must not
    change the output file.
    """
    block, _, rest = pair.gguf_base.removeprefix("blk.").partition(".")
    return (int(block), rest) if block.isdigit() and rest else (1 << 30, pair.gguf_base)
