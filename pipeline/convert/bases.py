"""Base-model shapes the converter needs: architecture, layer and head counts, widths.

They come from the base model's ``config.json`` (``--base-config``) or from a built-in table
keyed by the adapter's ``base_model_name_or_path``; never from the network and never from base
weights, so converting a 7B adapter needs neither a download nor 15 GB of RAM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AdapterError
from .jsonfile import read_json_object

#: HF ``architectures[0]`` -> GGUF architecture name. Only these two are converted and tested:
#: qwen2 (the production base) and llama (Llama 3, SmolLM2), which needs the q/k permutation.
HF_ARCHITECTURES = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama"}
#: HF ``model_type`` -> GGUF architecture, for configs without ``architectures`` (e.g. saved
#: from a model transformers loaded out of a GGUF file).
HF_MODEL_TYPES = {"qwen2": "qwen2", "llama": "llama"}


@dataclass(frozen=True)
class BaseConfig:
    """The base model facts a LoRA adapter's shapes and q/k permutation depend on."""

    name: str
    architecture: str  # GGUF name: "qwen2" or "llama"
    n_layer: int
    n_head: int
    n_head_kv: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    head_dim: int = 0  # 0: hidden_size // n_head, as in the HF configs that omit it

    @property
    def q_width(self) -> int:
        """Output width of q_proj (= input width of o_proj)."""
        return self.n_head * (self.head_dim or self.hidden_size // self.n_head)

    @property
    def kv_width(self) -> int:
        """Output width of k_proj and v_proj (grouped-query attention shrinks it)."""
        return self.n_head_kv * (self.head_dim or self.hidden_size // self.n_head)


def _qwen25(size: str, layers: int, heads: int, kv: int, hidden: int, ffn: int, vocab: int, tied: bool) -> dict[str, BaseConfig]:
    """Both the Instruct and the base checkpoint of one Qwen2.5 size (identical shapes)."""
    return {
        name: BaseConfig(name, "qwen2", layers, heads, kv, hidden, ffn, vocab, tied)
        for name in (f"Qwen/Qwen2.5-{size}-Instruct", f"Qwen/Qwen2.5-{size}")
    }


def _llama(name: str, layers: int, heads: int, kv: int, hidden: int, ffn: int, vocab: int, tied: bool) -> dict[str, BaseConfig]:
    return {name: BaseConfig(name, "llama", layers, heads, kv, hidden, ffn, vocab, tied)}


_LLAMA3_8B = (32, 32, 8, 4096, 14336, 128256, False)

#: Published config.json values of the common bases, keyed by Hugging Face id.
BUILTIN_BASES: dict[str, BaseConfig] = {
    **_qwen25("0.5B", 24, 14, 2, 896, 4864, 151936, True),
    **_qwen25("1.5B", 28, 12, 2, 1536, 8960, 151936, True),
    **_qwen25("3B", 36, 16, 2, 2048, 11008, 151936, True),
    **_qwen25("7B", 28, 28, 4, 3584, 18944, 152064, False),
    **_qwen25("14B", 48, 40, 8, 5120, 13824, 152064, False),
    **_qwen25("32B", 64, 40, 8, 5120, 27648, 152064, False),
    **_qwen25("72B", 80, 64, 8, 8192, 29568, 152064, False),
    **_llama("HuggingFaceTB/SmolLM2-135M-Instruct", 30, 9, 3, 576, 1536, 49152, True),
    **_llama("HuggingFaceTB/SmolLM2-360M-Instruct", 32, 15, 5, 960, 2560, 49152, True),
    **_llama("HuggingFaceTB/SmolLM2-1.7B-Instruct", 24, 32, 32, 2048, 8192, 49152, True),
    **_llama("meta-llama/Meta-Llama-3-8B-Instruct", *_LLAMA3_8B),
    **_llama("meta-llama/Meta-Llama-3-8B", *_LLAMA3_8B),
    **_llama("meta-llama/Llama-3.1-8B-Instruct", *_LLAMA3_8B),
    **_llama("meta-llama/Meta-Llama-3.1-8B-Instruct", *_LLAMA3_8B),
    # Together's fine-tuning names for the same checkpoints (pipeline train --model ...-Reference)
    **_llama("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", *_LLAMA3_8B),
    **_llama("meta-llama/Meta-Llama-3.1-8B-Reference", *_LLAMA3_8B),
    **_llama("meta-llama/Llama-3.1-8B", *_LLAMA3_8B),
}

_BY_LAST_PART = {name.rsplit("/", 1)[-1].lower(): cfg for name, cfg in BUILTIN_BASES.items()}


def builtin_base(name_or_path: str) -> BaseConfig:
    """Look ``base_model_name_or_path`` up by HF id or by its last path part.

    The last-part match matters because trainers often record a local path such as
    ``/root/models/Qwen2.5-7B-Instruct`` or a mirror such as ``unsloth/Qwen2.5-7B-Instruct``.
    """
    found = BUILTIN_BASES.get(name_or_path) or _BY_LAST_PART.get(name_or_path.rstrip("/").rsplit("/", 1)[-1].lower())
    if found is None:
        raise AdapterError(
            f"adapter_config.json: base_model_name_or_path {name_or_path!r} is not a built-in base; "
            "pass --base-config PATH with the base model's config.json"
        )
    return found


def load_base_config(path: Path) -> BaseConfig:
    """Read the fields the converter needs from a Hugging Face ``config.json``."""
    raw = read_json_object(path, "--base-config takes the base model's config.json")
    archs = raw.get("architectures") or []
    hf_arch = archs[0] if isinstance(archs, list) and archs else None
    architecture = HF_ARCHITECTURES.get(str(hf_arch)) if hf_arch else HF_MODEL_TYPES.get(str(raw.get("model_type")))
    if architecture is None:
        raise AdapterError(
            f"{path}: architectures[0] is {hf_arch!r} (model_type {raw.get('model_type')!r}); "
            f"supported: {', '.join(HF_ARCHITECTURES)}"
        )

    def integer(key: str, default: int | None = None) -> int:
        value: Any = raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise AdapterError(f"{path}: {key} must be a positive integer, got {value!r}")
        return value

    n_head = integer("num_attention_heads")
    return BaseConfig(
        name=str(path),
        architecture=architecture,
        n_layer=integer("num_hidden_layers"),
        n_head=n_head,
        n_head_kv=integer("num_key_value_heads", n_head),
        hidden_size=integer("hidden_size"),
        intermediate_size=integer("intermediate_size"),
        vocab_size=integer("vocab_size"),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        head_dim=integer("head_dim") if raw.get("head_dim") is not None else 0,
    )
