"""``python -m pipeline inspect FILE.gguf``: metadata and tensor table of any GGUF file.

A sanity check users can run on an adapter (or a base) before handing it to llama.cpp or
Ollama: architecture, adapter type and alpha, and each tensor's name, shape, type and size.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import gguf
from tabulate import tabulate

from ..convert.gguf_reader import read_gguf

#: Arrays longer than this (tokenizer vocabularies) are summarised, not printed.
MAX_ARRAY_ITEMS = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print a GGUF file's metadata (key = value; long arrays such as vocabularies are summarised) and its "
        "tensor table: name, shape in ggml order (ne0 first, as llama.cpp reports it), type, bytes."
    )
    parser.add_argument("file", type=Path, metavar="FILE.gguf", help="any GGUF file: adapter or model")


def field_text(field: gguf.ReaderField) -> str:
    """One metadata value as text; long arrays as their length and element type."""
    if field.types and field.types[0] == gguf.GGUFValueType.ARRAY and len(field.data) > MAX_ARRAY_ITEMS:
        element = field.types[-1].name.lower() if len(field.types) > 1 else "?"
        return f"[{len(field.data)} x {element}]"
    value: Any = field.contents()
    return repr(value) if isinstance(value, str) else str(value)


def tensor_rows(reader: gguf.GGUFReader) -> list[tuple[str, str, str, int]]:
    """(name, shape, type, bytes) per tensor, in file order."""
    return [
        (t.name, "{" + ", ".join(str(int(n)) for n in t.shape) + "}", t.tensor_type.name, int(t.n_bytes))
        for t in reader.tensors
    ]


def run(args: argparse.Namespace) -> int:
    reader = read_gguf(args.file)
    print(f"{args.file}: {len(reader.fields)} metadata keys, {len(reader.tensors)} tensors")
    for name, field in reader.fields.items():
        print(f"  {name} = {field_text(field)}")
    rows = tensor_rows(reader)
    print(tabulate(rows, headers=["tensor", "shape", "type", "bytes"], intfmt=","))
    print(f"total tensor bytes: {sum(row[3] for row in rows):,}")
    return 0
