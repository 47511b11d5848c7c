"""Synthetic PEFT LoRA folders shaped like a real base, written with safetensors' torch writer.

Shared by tests/test_convert.py and benchmarks/bench_convert.py so both convert the same
7B-shaped adapter. Values are seeded random numbers: the converter must move them exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.convert.bases import BaseConfig

PREFIX = "base_model.model.model.layers"
#: PEFT module path per all-linear target, with the (in, out) widths it has on ``base``.
ALL_LINEAR = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def module_widths(base: BaseConfig, module: str) -> tuple[int, int]:
    """(in, out) of a projection on ``base``, from HF's definitions of these layers."""
    h, q, kv, ffn = base.hidden_size, base.q_width, base.kv_width, base.intermediate_size
    return {
        "self_attn.q_proj": (h, q), "self_attn.k_proj": (h, kv), "self_attn.v_proj": (h, kv),
        "self_attn.o_proj": (q, h), "mlp.gate_proj": (h, ffn), "mlp.up_proj": (h, ffn), "mlp.down_proj": (ffn, h),
    }[module]


def lora_tensors(base: BaseConfig, rank: int, *, dtype: str = "bf16", seed: int = 0, layers: int | None = None) -> dict[str, Any]:
    """PEFT-named lora_A (r, in) / lora_B (out, r) tensors for every layer and all-linear module."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch_dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[dtype]
    tensors = {}
    for layer in range(base.n_layer if layers is None else layers):
        for module in ALL_LINEAR:
            n_in, n_out = module_widths(base, module)
            key = f"{PREFIX}.{layer}.{module}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(rank, n_in, generator=gen) / n_in**0.5).to(torch_dtype)
            tensors[f"{key}.lora_B.weight"] = (torch.randn(n_out, rank, generator=gen) * 0.01).to(torch_dtype)
    return tensors


def write_adapter_dir(folder: Path, base: BaseConfig, tensors: dict[str, Any], rank: int, **config: Any) -> Path:
    """Write ``adapter_config.json`` (PEFT's keys; ``config`` overrides) and ``adapter_model.safetensors``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base.name,
        "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0, "bias": "none", "use_rslora": False,
        "use_dora": False, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {},
        "target_modules": [m.rsplit(".", 1)[-1] for m in ALL_LINEAR],
        **config,
    }
    (folder / "adapter_config.json").write_text(json.dumps(doc), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "adapter_model.safetensors"))
    return folder
