"""Read a PEFT LoRA folder: ``adapter_config.json`` and its tensors, one tensor at a time.

Tensors are read lazily so converting never holds the whole adapter in memory. Safetensors
files are read by byte range from their header: numpy has no bfloat16 and safetensors' numpy
backend refuses BF16 (PEFT's usual dtype), so reading raw bytes keeps torch optional.
``adapter_model.bin`` (a pickle) needs torch, imported only when that file is the input.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from gerbil_eval.safety.shown import short_repr

from .errors import AdapterError
from .jsonfile import read_json_object

CONFIG_NAME = "adapter_config.json"
SAFETENSORS_NAME = "adapter_model.safetensors"
BIN_NAME = "adapter_model.bin"


@dataclass(frozen=True)
class AdapterConfig:
    """The ``adapter_config.json`` keys that change what the GGUF adapter must contain."""

    path: Path
    r: int
    lora_alpha: float
    use_rslora: bool = False
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    base_model_name_or_path: str | None = None

    def rank_for(self, module: str) -> int:
        """PEFT's rank for ``module`` (e.g. ``model.layers.0.self_attn.q_proj``)."""
        return int(_pattern_value(self.rank_pattern, module, self.r))

    def alpha_for(self, module: str) -> float:
        """PEFT's alpha for ``module``."""
        return float(_pattern_value(self.alpha_pattern, module, self.lora_alpha))

    def scale_for(self, module: str) -> float:
        """The factor PEFT multiplies ``B(A x)`` by: alpha/r, or alpha/sqrt(r) with rsLoRA."""
        rank = self.rank_for(module)
        return self.alpha_for(module) / (math.sqrt(rank) if self.use_rslora else rank)


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """First pattern matching ``module`` the way PEFT's ``get_pattern_key`` does, else ``default``."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def read_adapter_config(adapter_dir: Path) -> AdapterConfig:
    """Parse and check ``adapter_config.json``; refuse what llama.cpp cannot represent."""
    path = adapter_dir / CONFIG_NAME
    if not adapter_dir.is_dir():
        raise AdapterError(f"{adapter_dir}: not a directory; pass the PEFT adapter folder")
    raw = read_json_object(path, "a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors")
    peft_type = raw.get("peft_type", "LORA")
    if peft_type != "LORA":
        raise AdapterError(f"{path}: peft_type is {peft_type!r}; only LORA adapters convert to GGUF")
    if raw.get("use_dora"):
        raise AdapterError(f"{path}: use_dora is true; llama.cpp cannot apply DoRA magnitudes: train a plain LoRA (use_dora: false)")
    if raw.get("modules_to_save"):
        raise AdapterError(
            f"{path}: modules_to_save {raw['modules_to_save']!r} stores full weight copies, which a GGUF adapter "
            "cannot carry: retrain without modules_to_save or merge the adapter into the base"
        )
    r = raw.get("r")
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise AdapterError(f"{path}: r must be a positive integer, got {r!r}")
    alpha = raw.get("lora_alpha")
    if not _positive(alpha):
        raise AdapterError(f"{path}: lora_alpha must be a positive finite number, got {short_repr(alpha)}")
    rank_pattern, alpha_pattern = raw.get("rank_pattern") or {}, raw.get("alpha_pattern") or {}
    for key, patterns in (("rank_pattern", rank_pattern), ("alpha_pattern", alpha_pattern)):
        if not isinstance(patterns, dict) or not all(_positive(v) for v in patterns.values()):
            raise AdapterError(f"{path}: {key} must map module patterns to positive finite numbers")
        if key == "rank_pattern" and not all(isinstance(v, int) for v in patterns.values()):
            raise AdapterError(f"{path}: rank_pattern must map module patterns to positive integers (ranks)")
        for pattern in patterns:  # PEFT reads each key as a regular expression
            try:
                re.compile(rf"(.*\.)?({pattern})$")
            except re.error as exc:
                raise AdapterError(f"{path}: {key} key {short_repr(pattern)} is not a valid regular expression "
                                   f"({exc})") from None
    base = raw.get("base_model_name_or_path")
    if base is not None and not isinstance(base, str):
        raise AdapterError(f"{path}: base_model_name_or_path must be a string (an HF id or a path), "
                           f"got {short_repr(base)}")
    return AdapterConfig(
        path=path,
        r=r,
        lora_alpha=float(alpha),
        use_rslora=bool(raw.get("use_rslora", False)),
        rank_pattern=rank_pattern,
        alpha_pattern=alpha_pattern,
        base_model_name_or_path=base,
    )


def _positive(value: Any) -> bool:
    """A positive finite number (JSON's NaN and Infinity are not: they would write a corrupt GGUF)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class TensorSource(Protocol):
    """Adapter tensors by name: shapes up front (from metadata), data one tensor at a time."""

    path: Path
    shapes: dict[str, tuple[int, ...]]

    def read(self, key: str) -> np.ndarray:
        """The tensor as float32 (exact for F32, F16 and BF16 inputs)."""
        ...


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the bits up, exactly."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


_SAFETENSORS_DTYPES: dict[str, tuple[np.dtype, Callable[[np.ndarray], np.ndarray]]] = {
    "F32": (np.dtype("<f4"), lambda a: a.astype(np.float32)),
    "F16": (np.dtype("<f2"), lambda a: a.astype(np.float32)),
    "BF16": (np.dtype("<u2"), _bf16_to_f32),
}


@dataclass(frozen=True)
class _Entry:
    offset: int  # absolute file offset of the tensor's first byte
    dtype: str
    shape: tuple[int, ...]


class SafetensorsSource:
    """Reads ``adapter_model.safetensors`` by byte range after checking the header against the file size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = _read_safetensors_header(path)
        self.shapes = {key: entry.shape for key, entry in self._entries.items()}

    def read(self, key: str) -> np.ndarray:
        entry = self._entries[key]
        storage, to_f32 = _SAFETENSORS_DTYPES[entry.dtype]
        count = math.prod(entry.shape)
        data = np.fromfile(self.path, dtype=storage, count=count, offset=entry.offset)
        if data.size != count:  # the file shrank after the header was checked
            raise AdapterError(f"{self.path}: tensor {key!r} is truncated; download the adapter again")
        return to_f32(data).reshape(entry.shape)

    def dtype(self, key: str) -> str:
        """The tensor's safetensors dtype name (F32, F16 or BF16)."""
        return self._entries[key].dtype

    def raw(self, key: str) -> np.ndarray:
        """The tensor's stored bytes, memory-mapped (for copying a tensor unchanged)."""
        entry = self._entries[key]
        count = math.prod(entry.shape) * _SAFETENSORS_DTYPES[entry.dtype][0].itemsize
        return np.memmap(self.path, dtype=np.uint8, mode="r", offset=entry.offset, shape=(count,))


def _read_safetensors_header(path: Path) -> dict[str, _Entry]:
    """Parse the safetensors header and check every tensor lies inside the file."""
    size = path.stat().st_size
    broken = f"{path}: not a complete safetensors file"
    with path.open("rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            raise AdapterError(f"{broken} ({size} bytes); download the adapter again")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > size - 8:
            raise AdapterError(f"{broken} (header of {header_len} bytes in a {size}-byte file); download the adapter again")
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise AdapterError(f"{broken} (unreadable header: {type(exc).__name__}); download the adapter again") from None
    if not isinstance(header, dict):
        raise AdapterError(f"{broken} (header is not a JSON object)")
    entries: dict[str, _Entry] = {}
    data_start = 8 + header_len
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(n) for n in info["shape"]), info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise AdapterError(f"{broken} (bad header entry for tensor {short_repr(key)})") from None
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (begin, end)) or min(shape, default=0) < 0:
            raise AdapterError(f"{broken} (tensor {short_repr(key)}: data_offsets and shape must be whole numbers >= 0)")
        if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
            raise AdapterError(f"{path}: tensor {short_repr(key)} has dtype {short_repr(dtype)}; LoRA tensors must be F32, F16 or BF16")
        if end - begin != math.prod(shape) * _SAFETENSORS_DTYPES[dtype][0].itemsize or begin < 0:
            raise AdapterError(f"{broken} (tensor {key!r}: byte range {begin}..{end} does not fit shape {list(shape)} {dtype})")
        if data_start + end > size:
            raise AdapterError(f"{path}: truncated: tensor {key!r} ends at byte {data_start + end} of a {size}-byte file; download the adapter again")
        entries[key] = _Entry(data_start + begin, dtype, shape)
    return entries


class TorchBinSource:
    """Reads a pickled ``adapter_model.bin`` with torch (memory-mapped, weights only)."""

    def __init__(self, path: Path) -> None:
        try:
            import torch
        except ImportError:
            raise AdapterError(f"{path}: reading .bin adapters needs torch (pip install torch), or save the adapter as safetensors") from None
        self.path = path
        try:
            self._tensors = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # torch raises many types for a damaged pickle/zip
            raise AdapterError(f"{path}: cannot load ({type(exc).__name__}: {exc}); download the adapter again") from None
        if not isinstance(self._tensors, dict):
            raise AdapterError(f"{path}: expected a dict of tensors")
        self.shapes = {key: tuple(t.shape) for key, t in self._tensors.items()}

    def read(self, key: str) -> np.ndarray:
        return self._tensors[key].float().numpy()


def open_tensors(adapter_dir: Path) -> TensorSource:
    """The adapter's tensors: safetensors preferred, ``adapter_model.bin`` as PEFT's fallback."""
    if (adapter_dir / SAFETENSORS_NAME).is_file():
        return SafetensorsSource(adapter_dir / SAFETENSORS_NAME)
    if (adapter_dir / BIN_NAME).is_file():
        return TorchBinSource(adapter_dir / BIN_NAME)
    raise AdapterError(f"{adapter_dir}: no {SAFETENSORS_NAME} or {BIN_NAME}; pass the folder PEFT's save_pretrained wrote")
