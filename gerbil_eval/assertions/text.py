"""promptfoo's deterministic text assertions, on the whole answer, with its quirks fixed.

Fixed relative to promptfoo (see ../shared/reference/harness-notes.md §3):
``levenshtein`` honours ``threshold: 0`` and ``not-levenshtein`` negates; an
invalid ``regex`` is a load-time error, not a run-time fail that ``not-`` cannot flip.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from . import values
from .registry import Outcome, register, threshold_of
from ..answer import Answer


def quote(value: str, limit: int = 40) -> str:
    """A value as shown in reasons: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _json_equal(a: Any, b: Any) -> bool:
    """Deep equality as JSON means it: ``true`` is not ``1``, ``1`` equals ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@register("equals", values.any_json)
def equals(value: Any, ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    """An object/list value is compared as JSON; anything else as exact text."""
    if isinstance(value, (dict, list)):
        try:
            parsed = json.loads(ans.text)
        except (ValueError, RecursionError):
            return Outcome.of(False, "answer is not JSON, so it does not equal the expected JSON")
        same = _json_equal(parsed, value)
        return Outcome.of(same, "answer equals the expected JSON" if same else "answer's JSON differs from the expected JSON")
    expected = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if ans.text == expected:
        return Outcome.of(True, "answer equals the expected text")
    at = next((i for i, (x, y) in enumerate(zip(ans.text, expected)) if x != y), min(len(ans.text), len(expected)))
    return Outcome.of(False, f"answer differs from the expected text at character {at}")


def _contains(value: str, ans: Answer, fold: bool) -> Outcome:
    hay, needle = (ans.text.lower(), value.lower()) if fold else (ans.text, value)
    found = needle in hay
    return Outcome.of(found, f"{'contains' if found else 'does not contain'} {quote(value)}")


def _contains_many(items: tuple[str, ...], ans: Answer, fold: bool, need_all: bool) -> Outcome:
    items = values.as_tuple(items)
    hay = ans.text.lower() if fold else ans.text
    present = [v for v in items if (v.lower() if fold else v) in hay]
    missing = [v for v in items if v not in present]
    shown = lambda vs: ", ".join(quote(v) for v in vs)  # noqa: E731
    if need_all:
        if missing:
            return Outcome.of(False, f"missing {shown(missing)}")
        return Outcome.of(True, f"contains all of {shown(items)}")
    if present:
        return Outcome.of(True, f"contains {shown(present)}")
    return Outcome.of(False, f"contains none of {shown(items)}")


register("contains", values.text)(lambda v, ans, _a, _c: _contains(v, ans, fold=False))
register("icontains", values.text)(lambda v, ans, _a, _c: _contains(v, ans, fold=True))
register("contains-any", values.text_list)(lambda v, ans, _a, _c: _contains_many(v, ans, False, need_all=False))
register("contains-all", values.text_list)(lambda v, ans, _a, _c: _contains_many(v, ans, False, need_all=True))
register("icontains-any", values.text_list)(lambda v, ans, _a, _c: _contains_many(v, ans, True, need_all=False))
register("icontains-all", values.text_list)(lambda v, ans, _a, _c: _contains_many(v, ans, True, need_all=True))


def _regex_value(value: Any, base: Path) -> str:
    pattern = values.text(value, base)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {quote(pattern)}: {exc.msg} at position {exc.pos}") from None
    return pattern


@register("regex", _regex_value)
def regex(value: str, ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    """Python ``re.search``, no flags: matches anywhere, ``^``/``$`` anchor the whole answer."""
    m = re.search(value, ans.text)
    if m:
        return Outcome.of(True, f"matches /{value}/ at {quote(m.group())}")
    return Outcome.of(False, f"does not match /{value}/")


@register("starts-with", values.text)
def starts_with(value: str, ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    """Case-sensitive; leading whitespace of the answer counts (as in promptfoo)."""
    ok = ans.text.startswith(value)
    if ok:
        return Outcome.of(True, f"starts with {quote(value)}")
    return Outcome.of(False, f"starts with {quote(ans.text[: len(value)])}, not {quote(value)}")


@register("levenshtein", values.text_or_empty, default_threshold=5.0, threshold_range=(0.0, math.inf))
def levenshtein(value: str, ans: Answer, a: Any, _ctx: dict) -> Outcome:
    """Edit distance between answer and value <= threshold (default 5; 0 means identical)."""
    limit = threshold_of(a)
    dist = Levenshtein.distance(ans.text, value)
    ok = dist <= limit
    return Outcome.of(ok, f"edit distance {dist} {'<=' if ok else '>'} {limit:g}")
