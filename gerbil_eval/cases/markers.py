"""Case categories and tags as pytest markers: the name rule and the checks, shared by collection and ``lint``.

A tag is free text (``std/iter``, ``0.18.1``); a marker name must be an identifier pytest
accepts — ``MarkGenerator`` refuses names starting with ``_`` — so a label that does not start
with a letter gets the prefix ``tag_``. And a label must not become one of pytest's own markers
that change how an item runs: a case tagged ``skip`` would be skipped, one tagged ``xfail``
could never fail the run.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .loader import Case

#: pytest's own markers that change how an item runs.
RESERVED_MARKERS = frozenset({"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings"})
#: Put before a label that does not start with a letter (``0.18.1`` -> ``tag_0_18_1``).
PREFIX = "tag_"


def marker_name(text: str) -> str:
    """A category or tag as a valid marker name: ``hash-tables`` -> ``hash_tables``, ``0.18.1`` -> ``tag_0_18_1``."""
    name = re.sub(r"\W", "_", text.strip())
    return name if name[:1].isalpha() else PREFIX + name


def marker_problems(case: Case) -> list[str]:
    """One message per category or tag of ``case`` that cannot be a marker (naming the label and what to do)."""
    return [f"{what} {label!r} is a pytest marker that changes how the item runs; rename it"
            for what, label in [("category", case.category), *(("tag", t) for t in case.tags)]
            if marker_name(label) in RESERVED_MARKERS]
