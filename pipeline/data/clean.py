"""Drop examples that would teach nothing or teach the same thing twice.

Rules, applied in this order (the first that matches names the reason in the manifest):

- ``empty``: a message with no text, or an answer under ``min_answer_chars`` characters.
- ``huge``: more than ``max_chars`` characters in all (it would be truncated in training).
- ``duplicate``: the same question and answer (whitespace and case ignored) as an earlier example.
- ``near-duplicate``: same generator and same subject (the doc heading or source name; none
  for recipes), and the answer scores at least ``near_threshold`` (``rapidfuzz.fuzz.ratio``
  on normalised text) against an earlier kept example. The subject condition keeps reference
  sections that differ only in the name they document (``sha1`` / ``sha224``, ``ebits-ref`` /
  ``ebytes-ref``: distinct facts, 95-99% similar text) while catching copied pages
  (``std/markup/sxml.md`` and ``sxml/README.md``) and re-issued recipes (``*-v19`` copies).

Similarity uses ``rapidfuzz.process.cdist`` within each (generator, subject) block — blocking
makes the ~2,600 doc sections cost almost nothing, and the 752 recipes are one block — in row
chunks so memory stays bounded; never a Python double loop.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from rapidfuzz import fuzz, process

from .generate import Example

DEFAULT_MAX_CHARS = 12_000      # ~3,000 tokens: well inside a 8k training context with the system prompt
DEFAULT_MIN_ANSWER_CHARS = 20
DEFAULT_NEAR_THRESHOLD = 95.0   # rapidfuzz score, 0..100
BLOCK_ROWS = 512


@dataclass(frozen=True)
class Dropped:
    """An example left out of the output, and why (listed in the manifest)."""

    id: str
    origin: str
    reason: str       # empty | huge | duplicate | near-duplicate | excluded | contaminated
    detail: str = ""  # e.g. the id it duplicates, or the eval case it leaks


def normalise(text: str) -> str:
    """Case-folded text with whitespace runs collapsed: what "the same text" means here."""
    return " ".join(text.casefold().split())


def _size_problem(example: Example, max_chars: int, min_answer_chars: int) -> Dropped | None:
    if any(not m["content"].strip() for m in example.messages) or len(example.answer.strip()) < min_answer_chars:
        return Dropped(example.id, example.origin, "empty", f"answer has {len(example.answer.strip())} characters")
    if example.chars > max_chars:
        return Dropped(example.id, example.origin, "huge", f"{example.chars} characters > --max-chars {max_chars}")
    return None


def _near_duplicates(group: list[Example], threshold: float) -> dict[int, int]:
    """Map index → index of the earlier example it nearly duplicates, within one block."""
    answers = [normalise(e.answer) for e in group]
    dup_of: dict[int, int] = {}
    for start in range(0, len(group), BLOCK_ROWS):
        scores = process.cdist(answers[start:start + BLOCK_ROWS], answers, scorer=fuzz.ratio,
                               score_cutoff=threshold, dtype=np.uint8, workers=-1)
        for row, col in zip(*np.nonzero(scores)):
            i = start + int(row)
            j = int(col)
            if j < i and i not in dup_of and j not in dup_of:
                dup_of[i] = j
    return dup_of


def clean(examples: Iterable[Example], max_chars: int = DEFAULT_MAX_CHARS,
          min_answer_chars: int = DEFAULT_MIN_ANSWER_CHARS,
          near_threshold: float = DEFAULT_NEAR_THRESHOLD) -> tuple[list[Example], list[Dropped]]:
    """Return ``(kept, dropped)``; ``kept`` keeps the input order."""
    kept, dropped, seen = [], [], {}
    for example in examples:
        problem = _size_problem(example, max_chars, min_answer_chars)
        key = (normalise(example.prompt), normalise(example.answer))
        if problem is None and key in seen:
            problem = Dropped(example.id, example.origin, "duplicate", f"same as {seen[key]}")
        if problem:
            dropped.append(problem)
        else:
            seen[key] = example.id
            kept.append(example)
    blocks: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in kept:
        blocks[example.generator, example.subject].append(example)
    near: set[str] = set()
    for group in (b for b in blocks.values() if len(b) > 1):
        for i, j in sorted(_near_duplicates(group, near_threshold).items()):
            near.add(group[i].id)
            dropped.append(Dropped(group[i].id, group[i].origin, "near-duplicate", f"near {group[j].id}"))
    return [e for e in kept if e.id not in near], dropped
