"""Seeded train/validation split that keeps every input entry on one side.

The two examples generated from one recipe share its code; putting one in training and the
other in validation would make the validation loss measure recall of seen code. The split is
therefore drawn over origins (recipe, doc section, source definition), not examples, with
``random.Random(seed)`` over the sorted origins: the same inputs and seed give the same split.
"""

from __future__ import annotations

import random
from typing import Sequence

from .generate import Example


def split(examples: Sequence[Example], val_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Return ``(train, validation)``, both in input order."""
    origins = sorted({e.origin for e in examples})
    random.Random(seed).shuffle(origins)
    n_val = round(len(origins) * val_fraction)
    if val_fraction > 0 and len(origins) > 1:
        n_val = min(max(n_val, 1), len(origins) - 1)
    held_out = set(origins[:n_val])
    return [e for e in examples if e.origin not in held_out], [e for e in examples if e.origin in held_out]
