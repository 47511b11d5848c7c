"""Tiny GGUF base models with seeded random weights, written with gguf's writer (no torch).

For tests and benchmarks that need a real model file llama.cpp loads: a qwen2 or llama
architecture of any shape, F32 weights (or F16 for large synthetic layer sets), a placeholder
byte-level vocabulary (token ids are fed directly), and the ``BaseConfig`` the converter and
``tests/lora_factory.py`` need to build a matching adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import gguf
import numpy as np

from pipeline.convert.bases import BaseConfig

ROPE_THETA = 10000.0
RMS_EPS = 1e-6


def write_gguf_model(path: Path, arch: str, config: BaseConfig, tensors: Mapping[str, np.ndarray], *,
                     context: int = 256) -> None:
    """Write ``tensors`` (GGUF names, numpy order) as a loadable ``arch`` model with ``config``'s hyper-parameters."""
    writer = gguf.GGUFWriter(path, arch)
    writer.add_context_length(context)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.n_layer)
    writer.add_head_count(config.n_head)
    writer.add_head_count_kv(config.n_head_kv)
    writer.add_rope_freq_base(ROPE_THETA)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_tokenizer_model("gpt2")  # token ids are fed directly; the vocabulary only has to load
    writer.add_tokenizer_pre("default")
    writer.add_token_list([f"<t{i}>" for i in range(config.vocab_size)])
    writer.add_token_types([1] * config.vocab_size)
    writer.add_token_merges(["<t1> <t2>"])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    for name, values in tensors.items():
        writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def random_tensors(config: BaseConfig, *, seed: int = 0, std: float = 0.1, dtype: type = np.float32,
                   layers: int | None = None) -> dict[str, np.ndarray]:
    """GGUF-named weights of ``config`` (qwen2 gets its q/k/v biases); norms near 1, the rest N(0, std)."""
    rng = np.random.default_rng(seed)
    h, q, kv, ffn, vocab = config.hidden_size, config.q_width, config.kv_width, config.intermediate_size, config.vocab_size

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(dtype)

    def norm() -> np.ndarray:
        return (1.0 + rng.standard_normal(h, dtype=np.float32) * 0.05).astype(np.float32)

    tensors = {"token_embd.weight": w(vocab, h), "output_norm.weight": norm()}
    if not config.tie_word_embeddings:
        tensors["output.weight"] = w(vocab, h)
    for i in range(config.n_layer if layers is None else layers):
        blk = f"blk.{i}"
        tensors |= {f"{blk}.attn_norm.weight": norm(), f"{blk}.attn_q.weight": w(q, h), f"{blk}.attn_k.weight": w(kv, h),
                    f"{blk}.attn_v.weight": w(kv, h), f"{blk}.attn_output.weight": w(h, q), f"{blk}.ffn_norm.weight": norm(),
                    f"{blk}.ffn_gate.weight": w(ffn, h), f"{blk}.ffn_up.weight": w(ffn, h), f"{blk}.ffn_down.weight": w(h, ffn)}
        if config.architecture == "qwen2":
            tensors |= {f"{blk}.attn_q.bias": w(q).astype(np.float32), f"{blk}.attn_k.bias": w(kv).astype(np.float32),
                        f"{blk}.attn_v.bias": w(kv).astype(np.float32)}
    return tensors


def tiny_config(arch: str, *, hidden: int = 256, layers: int = 2, vocab: int = 256) -> BaseConfig:
    """A small model whose widths are multiples of 256, so llama.cpp's k-quants apply unchanged."""
    return BaseConfig(f"tiny-{arch}", arch, layers, 4, 2, hidden, 2 * hidden, vocab, False)


def write_config_json(config: BaseConfig, path: Path) -> Path:
    """The HF ``config.json`` fields ``pipeline convert --base-config`` reads."""
    hf_arch = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}[config.architecture]
    path.write_text(json.dumps({
        "architectures": [hf_arch], "num_hidden_layers": config.n_layer, "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_head_kv, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size, "vocab_size": config.vocab_size,
        "tie_word_embeddings": config.tie_word_embeddings}), encoding="utf-8")
    return path


def write_lora_gguf(path: Path, shapes: Mapping[str, tuple[int, int]], *, arch: str, rank: int, alpha: float,
                    seed: int = 7, b_std: float = 0.1, drop: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A GGUF LoRA adapter as `pipeline convert` writes it, for base weights of numpy ``shapes`` (out, in).

    Returns each pair's (A, B) in numpy order; ``drop`` leaves one half out (a broken adapter).
    """
    rng = np.random.default_rng(seed)
    pairs = {}
    writer = gguf.GGUFWriter(path, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, (n_out, n_in) in shapes.items():
        a = rng.standard_normal((rank, n_in), dtype=np.float32) / np.float32(np.sqrt(n_in))
        b = rng.standard_normal((n_out, rank), dtype=np.float32) * np.float32(b_std)
        pairs[name] = (a, b)
        for suffix, values in ((".lora_a", a), (".lora_b", b)):
            if name + suffix != drop:
                writer.add_tensor(name + suffix, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return pairs
