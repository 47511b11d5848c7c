"""Read every file of one kind under an input folder, in a stable order, as UTF-8 text.

Docs and source trees are read the same way and fail the same way: a missing folder, a
folder without a single file of the kind (almost always a wrong path) or a file that is not
UTF-8 is one clear error naming the path and the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import DataError


def read_tree(root: Path, suffix: str, option: str, kind: str) -> Iterator[tuple[str, str]]:
    """``(path relative to root, text)`` for each ``*suffix`` file, sorted by path."""
    if not root.is_dir():
        raise DataError(f"{root}: {option} folder not found (pass {option} DIR with {kind} ({suffix}) files)")
    files = sorted(p for p in root.rglob(f"*{suffix}") if p.is_file())
    if not files:
        raise DataError(f"{root}: no {kind} ({suffix}) files in this {option} folder; pass the folder that holds them")
    for file in files:
        try:
            yield file.relative_to(root).as_posix(), file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{file}: not UTF-8 text (byte {exc.start})") from None
