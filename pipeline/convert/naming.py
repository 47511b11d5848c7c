"""PEFT tensor names -> GGUF tensor names, via the ``gguf`` package's own name map.

Using ``gguf.get_tensor_name_map`` for the architecture keeps the names identical to the ones
llama.cpp's base conversion wrote, which is what the loader pairs adapter tensors with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gguf

from .errors import AdapterError

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<half>[AB])\.weight$")
_LAYER = re.compile(r"\.layers\.(\d+)\.")

#: The linear layers a llama.cpp LoRA adapter can target in qwen2/llama graphs.
LORA_TARGETS = frozenset({
    gguf.MODEL_TENSOR.ATTN_Q, gguf.MODEL_TENSOR.ATTN_K, gguf.MODEL_TENSOR.ATTN_V, gguf.MODEL_TENSOR.ATTN_OUT,
    gguf.MODEL_TENSOR.FFN_GATE, gguf.MODEL_TENSOR.FFN_UP, gguf.MODEL_TENSOR.FFN_DOWN, gguf.MODEL_TENSOR.OUTPUT,
})


@dataclass(frozen=True)
class LoraTensorName:
    """One half of a LoRA pair, with the base weight it modifies."""

    key: str  # as stored in the adapter file
    module: str  # HF module name, e.g. model.layers.0.self_attn.q_proj
    half: str  # "A" or "B"
    kind: gguf.MODEL_TENSOR
    gguf_base: str  # base weight name in GGUF, e.g. blk.0.attn_q.weight


def model_arch(architecture: str) -> gguf.MODEL_ARCH:
    """The ``gguf`` enum for a GGUF architecture name such as ``qwen2``."""
    for arch, name in gguf.MODEL_ARCH_NAMES.items():
        if name == architecture:
            return arch
    raise AdapterError(f"architecture {architecture!r} is unknown to the installed gguf package; upgrade gguf")


class AdapterNaming:
    """Classifies adapter keys for one base: a LoRA half to convert, or a refusal naming the key."""

    def __init__(self, architecture: str, n_layer: int) -> None:
        self.n_layer = n_layer
        self._map = gguf.get_tensor_name_map(model_arch(architecture), n_layer)

    def classify(self, key: str) -> LoraTensorName:
        """Map ``key`` or raise :class:`AdapterError` saying why it cannot be in a GGUF adapter."""
        self._check_layer(key)
        match = _LORA_KEY.match(key)
        if match is None:
            raise AdapterError(self._refusal(key))
        module = match["module"]
        found = self._map.get_type_and_name(module + ".weight", try_suffixes=(".weight",))
        if found is None or found[0] not in LORA_TARGETS:
            raise AdapterError(f"tensor {key!r}: LoRA on module {module!r} is not supported (only attention and MLP projections and lm_head)")
        return LoraTensorName(key, module, match["half"], found[0], found[1])

    def _check_layer(self, key: str) -> None:
        layer = _LAYER.search(key)
        if layer and int(layer[1]) >= self.n_layer:
            raise AdapterError(f"tensor {key!r} is for layer {layer[1]} but the base has {self.n_layer} layers: wrong base model?")

    def _refusal(self, key: str) -> str:
        """Why a non-LoRA key is refused, in the user's terms."""
        if "lora_magnitude_vector" in key:
            return f"tensor {key!r} is a DoRA magnitude vector; llama.cpp cannot apply DoRA: train a plain LoRA"
        if "lora_embedding_" in key:
            return f"tensor {key!r}: LoRA on the token embeddings is not supported; leave embed_tokens out of target_modules"
        if key.endswith(".bias"):
            return f"tensor {key!r}: a trained bias cannot be carried by a GGUF LoRA adapter; train with bias='none' and lora_bias=False"
        stripped = key.removeprefix("base_model.model.").replace(".modules_to_save.default", "")
        if "modules_to_save" in key or self._map.get_name(stripped, try_suffixes=(".weight",)) is not None:
            return (f"tensor {key!r} is a full copy of a base weight (modules_to_save); a GGUF adapter holds only "
                    "LoRA pairs: retrain without modules_to_save or merge the adapter into the base")
        return f"tensor {key!r} is not a LoRA A/B weight; cannot convert it"
