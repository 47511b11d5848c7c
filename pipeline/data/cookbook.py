"""Load and validate a gerbil-mcp ``cookbooks.json``, repairing double-escaped code.

The cookbook is hand-edited JSON. A typo must be reported with its line and column, and a
misspelt field name must not silently drop content, so every record is checked against the
known field set. About 30 recipes were stored JSON-encoded twice (their ``code`` has literal
``\\n`` and ``\\"`` sequences and no real newline); :func:`repair_code` undoes that without
touching real ``"\\n"`` escapes inside Scheme strings of correctly stored recipes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gerbil_eval.safety.inputs import read_text

from . import DataError

REQUIRED_FIELDS = ("id", "title", "code")
#: Every field seen in gerbil-mcp's cookbook; anything else is a typo or a schema change.
KNOWN_FIELDS = frozenset(
    {"id", "title", "tags", "imports", "code", "notes", "related", "gerbil_version",
     "valid_for", "deprecated", "superseded_by"}
)
_STR_FIELDS = ("id", "title", "code", "notes", "gerbil_version", "superseded_by")
_LIST_FIELDS = ("tags", "imports", "related", "valid_for")
_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class Recipe:
    """One cookbook entry, with ``code`` already repaired."""

    id: str
    title: str
    code: str
    notes: str = ""
    tags: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    gerbil_version: str | None = None
    deprecated: bool = False
    superseded_by: str | None = None
    repaired: bool = False  # True when code was double-escaped and has been fixed


def _unescape(match: re.Match[str]) -> str:
    token = match.group(1)
    return chr(int(token[1:], 16)) if token[0] == "u" else _ESCAPES[token]


def newline_outside_strings(code: str) -> bool:
    """True if ``code`` has a line break that is not inside a Scheme string literal.

    A correctly stored one-line recipe such as ``(display "a\\n")`` would, if wrongly
    unescaped, gain a newline *inside* its string; a double-escaped multi-line recipe gains
    newlines between forms. This lexer (strings, ``#\\x`` characters, ``;`` comments) tells
    the two apart.
    """
    i, n, in_string = 0, len(code), False
    while i < n:
        c = code[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == "#" and code.startswith("#\\", i):
            i += 2
        elif c == '"':
            in_string = True
        elif c == "\n":
            return True
        i += 1
    return False


def repair_code(code: str) -> tuple[str, bool]:
    """Return ``(code, repaired)``: undo one level of JSON escaping when the code was stored twice.

    Only code with no real line break and literal ``\\n`` sequences is a candidate, and the
    repair is kept only when it yields line breaks between forms (see
    :func:`newline_outside_strings`). Five recipes also carry the stray closing quote of the
    first encoding; a trailing unescaped ``"`` is dropped.
    """
    if "\n" in code or "\\n" not in code:
        return code, False
    body = code[:-1] if code.endswith('"') and not code.endswith('\\"') else code
    fixed = _JSON_ESCAPE.sub(_unescape, body)
    if not newline_outside_strings(fixed):
        return code, False
    return fixed, True


def _json_error(path: Path, exc: json.JSONDecodeError) -> DataError:
    return DataError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")


def _check_record(path: Path, index: int, raw: object) -> dict:
    where = f"{path}: entry {index}"
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object with fields {', '.join(REQUIRED_FIELDS)}, got {type(raw).__name__}")
    if isinstance(raw.get("id"), str):
        where = f"{path}: entry {index} (id {raw['id']!r})"
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise DataError(f"{where}: unknown field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(KNOWN_FIELDS))}")
    for name in REQUIRED_FIELDS:
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise DataError(f"{where}: field {name!r} is required and must be a non-empty string")
    for name in _STR_FIELDS:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise DataError(f"{where}: field {name!r} must be a string, got {type(raw[name]).__name__}")
    for name in _LIST_FIELDS:
        value = raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataError(f"{where}: field {name!r} must be a list of strings")
    if not isinstance(raw.get("deprecated", False), bool):
        raise DataError(f"{where}: field 'deprecated' must be true or false")
    return raw


def parse_recipe(raw: dict) -> Recipe:
    """Build a :class:`Recipe` from a validated record."""
    code, repaired = repair_code(raw["code"])
    return Recipe(
        id=raw["id"],
        title=raw["title"].strip(),
        code=code.strip("\n"),
        notes=(raw.get("notes") or "").strip(),
        tags=tuple(raw.get("tags", ())),
        imports=tuple(raw.get("imports", ())),
        related=tuple(raw.get("related", ())),
        gerbil_version=raw.get("gerbil_version"),
        deprecated=raw.get("deprecated", False),
        superseded_by=raw.get("superseded_by"),
        repaired=repaired,
    )


def load_cookbook(path: Path) -> list[Recipe]:
    """Read, validate and repair every recipe; raises :class:`DataError` naming file, entry and field."""
    if not path.is_file():
        raise DataError(f"{path}: cookbook file not found (pass --cookbook path/to/cookbooks.json)")
    text = read_text(path, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(path, exc) from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply; a cookbook is a flat list of recipes") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of recipes, got {type(data).__name__}")
    recipes, seen = [], {}
    for index, raw in enumerate(data):
        recipe = parse_recipe(_check_record(path, index, raw))
        if recipe.id in seen:
            raise DataError(f"{path}: entry {index}: duplicate id {recipe.id!r} (first at entry {seen[recipe.id]})")
        seen[recipe.id] = index
        recipes.append(recipe)
    return recipes
