"""Load-time validators for assertion values.

Each returns the normalised value stored on :class:`~gerbil_eval.cases.loader.Assertion`
(JSON-serialisable: it is written to results.json) or raises ``ValueError``
with a message the case loader prefixes with file, case id and field.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def no_value(value: Any, _base: Path) -> None:
    """For ``parses`` and ``code-block``: a value is a mistake, not something to ignore."""
    if value is not None:
        raise ValueError(f"takes no value, got {_describe(value)}; remove 'value:'")
    return None


def text(value: Any, _base: Path) -> str:
    """A non-empty string; numbers are accepted and compared as their text (promptfoo)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"needs a non-empty string, got {_describe(value)}")
    out = value if isinstance(value, str) else str(value)
    if out == "":
        raise ValueError("needs a non-empty string, got ''")
    return out


def split_commas(value: str) -> list[str]:
    """promptfoo's comma-separated list, exactly as its current parser reads it.

    Fields are separated by commas; whitespace around a field is dropped; an unquoted field that
    is empty after trimming is skipped (``",a,,"`` is ``["a"]``). A field in double quotes keeps
    its commas and spaces, may be empty (``'"",a'`` is ``["", "a"]``), and inside it ``""`` and
    ``\\"`` stand for a quote and ``\\\\`` for a backslash (any other backslash is kept).
    After a closing quote only whitespace and a comma may follow. ValueError names what is wrong.
    """
    out: list[str] = []
    i, n = 0, len(value)
    while i <= n:
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == '"':
            field, i = _quoted_field(value, i + 1)
            while i < n and value[i].isspace():
                i += 1
            if i < n and value[i] != ",":
                raise ValueError(f"cannot split {_describe(value)} on commas: expected a comma after the "
                                 f"quoted field at character {i}")
            out.append(field)
        else:
            end = value.find(",", i)
            end = n if end < 0 else end
            field = value[i:end].strip()
            if field:
                out.append(field)
            i = end
        i += 1  # past the comma (or the end)
    return out


def _quoted_field(value: str, i: int) -> tuple[str, int]:
    """The content of a quoted field opening before ``i``, and the position after its closing quote."""
    chars: list[str] = []
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n and value[i + 1] in '"\\':
            chars.append(value[i + 1])
            i += 2
        elif c == '"' and i + 1 < n and value[i + 1] == '"':
            chars.append('"')
            i += 2
        elif c == '"':
            return "".join(chars), i + 1
        else:
            chars.append(c)
            i += 1
    raise ValueError(f"cannot split {_describe(value)} on commas: a quoted field is never closed")


def _items(value: Any, split: Callable[[str], list[str]], shape: str) -> list[Any]:
    """A list value as given, or a string split into one; never empty."""
    if isinstance(value, str):
        items: list[Any] = split(value)
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(f"needs {shape}, got {_describe(value)}")
    if not items:
        raise ValueError("needs at least one item")
    return items


def text_list(value: Any, base: Path) -> tuple[str, ...]:
    """A list of strings, or one comma-separated string (``"a, b, c"``) split as promptfoo does.

    As in promptfoo, a string may yield empty items (``'""'``) or none (``" , "``): they load,
    and ``lint`` warns about them (an empty item is in every answer; no item at all makes
    ``-any`` always fail and ``-all`` always pass)."""
    if isinstance(value, str):
        return tuple(split_commas(value))
    items = _items(value, split_commas, "a list of strings or a comma-separated string")
    try:
        return tuple(text(v, base) for v in items)
    except ValueError as exc:
        raise ValueError(f"every item {exc}") from None


def text_or_empty(value: Any, base: Path) -> str:
    """A string that may be empty (``levenshtein`` compares with ``""`` too, as promptfoo does)."""
    return "" if value == "" else text(value, base)


def symbols(value: Any, _base: Path) -> tuple[str, ...]:
    """Gerbil names: one string or a list; a string may list several, separated by commas."""
    items = _items(value, lambda v: [s.strip() for s in v.split(",") if s.strip()], "a name or a list of names")
    for item in items:
        if not isinstance(item, str) or not item.strip() or any(c.isspace() for c in item.strip()):
            raise ValueError(f"needs names without spaces, got {_describe(item)}")
    return tuple(item.strip() for item in items)


def as_tuple(value: Any) -> tuple[Any, ...]:
    """A list-typed value as a tuple, also when an Assertion was built in code with one string."""
    return (value,) if isinstance(value, str) else tuple(value)


def any_json(value: Any, _base: Path) -> Any:
    """``equals``: a string, number, or an object/list compared as JSON."""
    if value is None:
        raise ValueError("needs a value to compare the answer with")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be plain YAML data (strings, numbers, lists, mappings): {exc}") from None
    return value
