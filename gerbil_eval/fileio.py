"""File helpers: atomic output (a reader never sees a half-written report, model or dataset) and hashing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once: setting and restoring the umask per file would race with other threads.
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it only if the block succeeds.

    For writers that open the file themselves (gguf's GGUFWriter). The file gets the
    usual mode (mkstemp's 0600 would hide a report or an adapter from other users).
    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = True,
                **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    ``fsync=False`` skips flushing to disk, for entries whose loss costs little (cache).
    """
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    # errors="replace": a lone surrogate from an endpoint or a replay file becomes "?" instead of
    # failing the write half-way through a run
    with atomic_open(path, "w", encoding="utf-8", errors="replace", newline="") as fh:
        fh.write(text)


def strict_json_value(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None: ``json.dumps`` would write ``NaN``,
    which is not JSON and breaks every strict reader (browsers, jq, other languages)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict_json_value(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json_value(v) for v in data]
    return data


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented, key-sorted, strict (no NaN) UTF-8 JSON to ``path`` atomically."""
    text = json.dumps(strict_json_value(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (training files and adapters can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
