"""``fuzzy``: how closely the answer contains ``value``, scored fractionally.

Uses rapidfuzz's ``partial_ratio`` (best-matching substring), so a correct idiom
embedded in a long answer still scores high, and a near-miss scores partly.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz

from . import values
from .registry import Outcome, register, threshold_of
from ..answer import Answer


@register("fuzzy", values.text, default_threshold=0.8)
def fuzzy_check(value: str, ans: Answer, a: Any, _ctx: dict) -> Outcome:
    """Score = partial_ratio(value, answer) / 100; passes at the threshold (default 0.8)."""
    ratio = fuzz.partial_ratio(value, ans.text) / 100.0
    limit = threshold_of(a)
    ok = ratio >= limit
    return Outcome(ok, ratio, f"similarity {ratio:.2f} {'>=' if ok else '<'} {limit:g}")
