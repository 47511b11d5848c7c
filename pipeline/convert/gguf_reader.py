"""Opening a GGUF file with gguf's reader, a missing or non-GGUF file reported as one line.

Shared by ``pipeline inspect`` and the merge (which reads the base and the adapter).
"""

from __future__ import annotations

from pathlib import Path

import gguf

from .errors import AdapterError


def read_gguf(path: Path) -> gguf.GGUFReader:
    """Open ``path`` with gguf's reader, turning a missing or non-GGUF file into one line."""
    if not path.is_file():
        raise AdapterError(f"{path}: no such file")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":  # e.g. the PEFT folder's adapter_model.safetensors: say so, not numpy's complaint
        raise AdapterError(f"{path}: not a readable GGUF file (it starts with {magic!r}, not b'GGUF'; "
                           "python -m pipeline convert turns a PEFT adapter into one)")
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError, IndexError) as exc:  # the reader reports bad magic/truncation this way
        raise AdapterError(f"{path}: not a readable GGUF file ({exc})") from None
