"""``convert_adapter``: PEFT folder in, GGUF adapter out, every check before the first byte."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .bases import BaseConfig, builtin_base, load_base_config
from .errors import AdapterError
from .peft_adapter import AdapterConfig, open_tensors, read_adapter_config
from .plan import build_plan
from .writer import write_adapter


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    architecture: str
    base: str
    pairs: int
    ranks: tuple[int, ...]
    alpha: float
    outtype: str
    data_bytes: int


def resolve_base(config: AdapterConfig, base_config: Path | None) -> BaseConfig:
    """``--base-config`` wins; otherwise the built-in table by ``base_model_name_or_path``."""
    if base_config is not None:
        return load_base_config(base_config)
    if not config.base_model_name_or_path:
        raise AdapterError(f"{config.path}: no base_model_name_or_path; pass --base-config PATH with the base model's config.json")
    return builtin_base(config.base_model_name_or_path)


def convert_adapter(
    adapter_dir: Path, output: Path, *, base_config: Path | None = None, outtype: str = "f32",
    force: bool = False, progress: bool = False,
) -> ConvertResult:
    """Convert the PEFT LoRA in ``adapter_dir`` to a GGUF adapter at ``output``."""
    if output.exists() and not force:
        raise AdapterError(f"{output}: already exists; pass --force to overwrite it")
    if output.is_dir():
        raise AdapterError(f"{output}: is a directory; pass a file name such as adapter.gguf")
    config = read_adapter_config(adapter_dir)
    base = resolve_base(config, base_config)
    source = open_tensors(adapter_dir)
    plan = build_plan(source.shapes, config, base)
    data_bytes = write_adapter(output, plan, source, outtype, progress=progress)
    return ConvertResult(
        output, plan.architecture, base.name, len(plan.pairs),
        tuple(sorted({p.rank for p in plan.pairs})), plan.alpha, outtype, data_bytes,
    )
