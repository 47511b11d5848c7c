"""``build_merged``: merge, then (optionally) quantize, with the F16 intermediate always removed.

Shared by ``pipeline merge`` and ``pipeline deploy ollama --merged``, so both make the same file.
"""

from __future__ import annotations

from pathlib import Path

from .lora_gguf import MergeError
from .merge_gguf import MergeResult, merge_gguf
from .quantize import quantize


def build_merged(base: Path, adapter: Path, output: Path, *, kind: str | None = None, adapter_scale: float = 1.0,
                 force: bool = False, progress: bool = False, threads: int = 0, verbose: bool = False) -> MergeResult:
    """Write ``output``: base + adapter merged (adapted weights F16), quantized to ``kind`` when given."""
    if output.exists() and not force:
        raise MergeError(f"{output}: already exists; pass --force to overwrite it")
    if kind is None:
        return merge_gguf(base, adapter, output, adapter_scale=adapter_scale, force=force, progress=progress)
    intermediate = output.with_name(f".{output.name}.f16-merge.gguf")
    try:
        result = merge_gguf(base, adapter, intermediate, adapter_scale=adapter_scale, force=True, progress=progress)
        quantize(intermediate, output, kind, threads=threads, progress=progress, verbose=verbose)
    finally:
        intermediate.unlink(missing_ok=True)
    return result
