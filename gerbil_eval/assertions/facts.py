"""``facts``: no claim in the answer contradicts a fact the case knows (see :mod:`gerbil_eval.factcheck`).

``{type: facts, value: [hash-ref-missing-raises, hash-get-missing-false]}`` fails an answer that
says, in prose, in a code comment or in a ``; =>`` / REPL result, that ``hash-ref`` returns ``#f``
for a missing key. An answer that claims nothing passes: other assertions judge what it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import values
from .registry import Outcome, register
from ..answer import Answer
from ..factcheck import FACTS, contradictions


def _fact_ids(value: Any, base: Path) -> tuple[str, ...]:
    ids = values.symbols(value, base)
    unknown = [i for i in ids if i not in FACTS]
    if unknown:
        raise ValueError(f"unknown fact {unknown[0]!r}; known: {', '.join(sorted(FACTS))}")
    return ids


@register("facts", _fact_ids)
def facts(value: tuple[str, ...], ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    found = contradictions(values.as_tuple(value), ans)
    if found:
        return Outcome.of(False, "; ".join(found))
    return Outcome.of(True, f"no claim contradicts {', '.join(values.as_tuple(value))}")
