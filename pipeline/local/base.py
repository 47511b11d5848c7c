"""The base model of a local fine-tune: a GGUF file or a Hugging Face folder, no hub download.

The default is the SmolLM2-135M-Instruct GGUF the harness already serves (``make eval``):
transformers dequantizes it (``gguf_file=``) into float weights, LoRA is trained on those,
and the converted adapter is applied by llama.cpp on the very same GGUF. Its tokenizer and
chat template come from the same file, so training and serving format prompts alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError

#: HF id of the embedded model, recorded as the adapter's base so `pipeline convert` knows it.
EMBEDDED_BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SUPPORTED_TYPES = ("llama", "qwen2")


@dataclass(frozen=True)
class BaseSpec:
    """Where the base lives: ``folder`` plus ``gguf_file`` (a GGUF) or None (an HF folder)."""

    folder: Path
    gguf_file: str | None
    name: str  # recorded as base_model_name_or_path in adapter_config.json

    @property
    def gguf_path(self) -> Path | None:
        return self.folder / self.gguf_file if self.gguf_file else None

    def load_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve_base(base: Path | None) -> BaseSpec:
    """``--base``: None for the embedded model, a ``.gguf`` file, or a folder with ``config.json``."""
    if base is None:
        from gerbil_eval.server import default_model_path

        path = default_model_path()
        return BaseSpec(path.parent, path.name, EMBEDDED_BASE_ID)
    if base.is_file() and base.suffix.lower() == ".gguf":
        return BaseSpec(base.parent, base.name, str(base.resolve()))
    if base.is_dir() and (base / "config.json").is_file():
        return BaseSpec(base, None, str(base.resolve()))
    raise GerbilEvalError(f"--base {base}: expected a .gguf file or a Hugging Face model folder with config.json")


def pick_device(requested: str) -> str:
    """``--device auto`` is CUDA when torch sees a GPU, else CPU; an unavailable CUDA is one clear error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise GerbilEvalError("--device cuda: torch sees no CUDA device (this torch build may be CPU-only); use --device cpu")
    return requested


def autocast_dtype(device: str) -> Any:
    """Mixed precision: bf16 where the hardware has it (recent GPUs, AVX-512 BF16 CPUs), fp16 on older GPUs.

    The LoRA weights and the optimizer stay float32; only the matmuls run in the low precision.
    On a CPU without native bf16 it would be slower than float32, so float32 is kept there.
    """
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_bf16() else None


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_base(spec: BaseSpec) -> tuple[Any, Any]:
    """(tokenizer, float32 model) of the base; refuses architectures the converter cannot write."""
    import torch
    import transformers

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(spec.folder, **spec.load_kwargs())
        model = transformers.AutoModelForCausalLM.from_pretrained(spec.folder, dtype=torch.float32, **spec.load_kwargs())
    except (OSError, ValueError) as exc:
        raise GerbilEvalError(f"--base {spec.gguf_path or spec.folder}: cannot be loaded by transformers ({exc})") from None
    if model.config.model_type not in SUPPORTED_TYPES:
        raise GerbilEvalError(f"--base: architecture {model.config.model_type!r} is not supported "
                              f"(supported: {', '.join(SUPPORTED_TYPES)}, the ones `pipeline convert` writes)")
    if not tokenizer.chat_template:
        raise GerbilEvalError(f"--base {spec.gguf_path or spec.folder}: the tokenizer has no chat template; "
                              "a chat model's template is needed to train assistant turns")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model
