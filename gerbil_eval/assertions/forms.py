"""``form`` / ``form-any``: Gerbil-syntax patterns matched against every form of the code.

Argument order and arity near-misses (``(hash-get h k #f)``, ``(hash-for-each h f)``) are the
commonest wrong answers, and no symbol-level check sees them. A pattern is read by the same
reader as the answer: ``_`` matches one datum, ``...`` any run of datums (also in the middle),
``_string`` ``_symbol`` ``_keyword`` ``_char`` ``_number`` ``_boolean`` ``_list`` ``_quoted`` one
datum of that kind, any other atom itself. A ``( )`` pattern also matches ``[ ]`` (Gerbil reads
both as lists in most positions); a ``[ ]`` or ``{ }`` pattern only its own kind, so
``(let ([_ _] ...) ...)`` catches Racket-style bindings.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from . import values
from .registry import Outcome, register
from ..answer import Answer
from ..safety.shown import short_repr
from ..reader import Char, Datum, Form, Keyword, Symbol, read, write_datum


@functools.lru_cache(maxsize=1024)
def parse_pattern(text: str) -> Form:
    """Read a ``form`` pattern; ValueError when it does not read as exactly one form."""
    result = read(text)
    if result.errors:
        raise ValueError(f"pattern {text!r} does not read: {result.errors[0]}")
    if len(result.data) != 1 or not isinstance(result.data[0], Form):
        raise ValueError(f"pattern {text!r} must be one bracketed form like '(hash-get _ _)'; "
                         "use mentions for a single symbol")
    return result.data[0]


def _same_atom(p: Datum, d: Datum) -> bool:
    numeric = (int, float)
    if isinstance(p, numeric) and isinstance(d, numeric) and not isinstance(p, bool) and not isinstance(d, bool):
        return p == d
    return type(p) is type(d) and p == d


def _is_quoted(d: Datum) -> bool:
    return isinstance(d, Form) and d.open == "(" and len(d.items) == 2 and type(d.items[0]) is Symbol \
        and d.items[0] == "quote"


#: Typed wildcards: each matches one datum of its kind, so ``(string-split _ _string)`` catches
#: a string separator whatever the string is.
TYPED_WILDCARDS: dict[str, Callable[[Datum], bool]] = {
    "_string": lambda d: type(d) is str,
    "_symbol": lambda d: type(d) is Symbol,
    "_keyword": lambda d: type(d) is Keyword,
    "_char": lambda d: type(d) is Char,
    "_number": lambda d: isinstance(d, (int, float, Fraction)) and not isinstance(d, bool),
    "_boolean": lambda d: isinstance(d, bool),
    "_list": lambda d: isinstance(d, Form) and d.open in ("(", "["),
    "_quoted": _is_quoted,
}


def matches(pattern: Datum, datum: Datum) -> bool:
    """``_`` matches one datum, ``...`` any run of datums, ``_string`` etc. one datum of a kind;
    a ``( )`` pattern also matches ``[ ]``."""
    if type(pattern) is Symbol and pattern[:1] == "_":
        if pattern == "_":
            return True
        typed = TYPED_WILDCARDS.get(pattern)
        if typed is not None:
            return typed(datum)
    if isinstance(pattern, Form):
        if not isinstance(datum, Form):
            return False
        if pattern.open != datum.open and not (pattern.open == "(" and datum.open == "["):
            return False
        return _match_items(pattern.items, 0, datum.items, 0)
    return _same_atom(pattern, datum)


def _match_items(ps: tuple[Datum, ...], i: int, ds: tuple[Datum, ...], j: int) -> bool:
    while i < len(ps):
        p = ps[i]
        if type(p) is Symbol and p == "...":
            if i == len(ps) - 1:
                return True
            return any(_match_items(ps, i + 1, ds, k) for k in range(j, len(ds) + 1))
        if j >= len(ds) or not matches(p, ds[j]):
            return False
        i, j = i + 1, j + 1
    return j == len(ds)


def _patterns(value: Any, base: Path) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(p, str) for p in items):
        raise ValueError(f"needs a pattern string or a list of them, got {short_repr(value)}")
    for p in items:
        parse_pattern(p)
    return tuple(items)


def _same_head(pattern: Form, ans: Answer) -> list[str]:
    """Forms with the pattern's head symbol, shown as near misses."""
    head = pattern.items[0] if pattern.items else None
    if type(head) is not Symbol or head in ("_", "..."):
        return []
    return [write_datum(f, 50) for f in ans.forms if f.items and type(f.items[0]) is Symbol and f.items[0] == head][:1]


def _form_check(value: tuple[str, ...], ans: Answer, any_: bool, hint: bool) -> Outcome:
    """Some form matches every pattern (any one, for ``form-any``); near misses shown when ``hint``."""
    hits: list[str] = []
    misses: list[str] = []
    for text in values.as_tuple(value):
        pattern = parse_pattern(text)
        hit = next((f for f in ans.forms if matches(pattern, f)), None)
        if hit is None:
            near = _same_head(pattern, ans) if hint else []
            misses.append(text + (f" (code has: {'; '.join(near)})" if near else ""))
        else:
            hits.append(f"{write_datum(hit, 50)} matches {text}")
    if hits and (any_ or not misses):
        return Outcome.of(True, "; ".join(hits))
    return Outcome.of(False, "no form matches " + "; ".join(misses))


register("form", _patterns)(lambda v, ans, a, _c: _form_check(v, ans, False, hint=not a.negated))
register("form-any", _patterns)(lambda v, ans, a, _c: _form_check(v, ans, True, hint=not a.negated))
