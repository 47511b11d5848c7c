"""``manifest.json``: what went into a build, what came out, and what was left out and why.

A training run is only reproducible and auditable if its data can be traced: the manifest
records the inputs' SHA-256 (a docs or sources tree hashes its file list and contents), the
options, counts per source and per format, a token estimate, every dropped or flagged example
with its reason, and the outputs' SHA-256. It holds no timestamp, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from .clean import Dropped
from .generate import Example

CHARS_PER_TOKEN = 4  # the usual rule of thumb for English and code with BPE tokenizers


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_path(path: Path, suffixes: tuple[str, ...] = ()) -> str:
    """A file's SHA-256, or a tree's: over the sorted relative paths and contents of its files."""
    if path.is_file():
        return sha256_bytes(path.read_bytes())
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and (not suffixes or p.suffix in suffixes)):
        digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256_bytes(file.read_bytes()).encode("ascii") + b"\n")
    return digest.hexdigest()


def token_estimate(examples: Iterable[Example]) -> int:
    """Approximate training tokens (characters / 4; no tokenizer is loaded for this)."""
    return sum(e.chars for e in examples) // CHARS_PER_TOKEN


def counts_by_source(examples: Iterable[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.source for e in examples).items()))


def build_manifest(*, inputs: list[dict[str, Any]], options: dict[str, Any], input_counts: dict[str, int],
                   generated: Sequence[Example], kept: Sequence[Example], train: Sequence[Example],
                   validation: Sequence[Example], dropped: Sequence[Dropped], repaired: Sequence[str],
                   contamination: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Assemble the manifest document (plain JSON types only)."""
    return {
        "inputs": inputs,
        "options": options,
        "counts": {
            "inputs": input_counts,
            "generated": counts_by_source(generated),
            "kept": counts_by_source(kept),
            "by_generator": dict(sorted(Counter(e.generator for e in kept).items())),
            "dropped": dict(sorted(Counter(d.reason for d in dropped).items())),
            "formats": {name: info["records"] for name, info in outputs.items()},
            "split": {"train": len(train), "validation": len(validation)},
        },
        "tokens": {"method": f"characters / {CHARS_PER_TOKEN}", "all": token_estimate(kept),
                   "train": token_estimate(train), "validation": token_estimate(validation)},
        "repaired_recipes": sorted(repaired),
        "dropped": [asdict(d) for d in dropped],
        "contamination": contamination,
        "outputs": outputs,
    }
