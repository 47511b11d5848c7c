"""Case files: the dataclasses and a loader that rejects every mistake before a request is sent.

A YAML file is a list of cases, or ``{defaults: {...}, cases: [...]}``. Every
problem — unknown key or assertion type, wrong value shape, invalid regex,
missing prompt, duplicate id — is one :class:`CaseFileError` line naming the
file, line, case id and field, because a typo such as ``asserts:`` that
silently disabled a check would make a model look better than it is.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..assertions.registry import REGISTRY, known_types, lookup, split_type
from ..errors import CaseError, GerbilEvalError
from ..safety.inputs import read_text
from ..safety.shown import short_repr
from ..safety.yaml_bounds import YamlRefused, check_expanded_size

CASE_KEYS = ("id", "topic", "prompt", "messages", "category", "tags", "threshold", "system", "assert",
             "reference", "counterexamples", "description", "notes")
DEFAULT_KEYS = ("category", "tags", "threshold", "system")
ASSERT_KEYS = ("type", "value", "weight", "threshold")
ROLES = ("system", "user", "assistant")
_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
CASE_SUFFIXES = (".yaml", ".yml")
#: The case library installed with the package (``cases/`` of the source tree, shipped in the wheel).
INSTALLED_LIBRARY = Path(__file__).resolve().parent.parent / "library"
#: A case file larger than this is refused unread (the shipped library's largest is 24 KB).
MAX_CASE_FILE_BYTES = 4 << 20


@dataclass(frozen=True)
class Assertion:
    """One check on an answer. ``value`` is normalised (lists become tuples) and JSON-serialisable."""

    type: str
    value: Any = None
    weight: float = 1.0
    threshold: float | None = None
    #: Folder that relative references (a ``python`` module) resolve against: the case file's.
    base_dir: str = field(default=".", compare=False, repr=False)
    line: int = field(default=0, compare=False, repr=False)  # where it is written, for lint messages

    def __hash__(self) -> int:  # value may be a JSON object (equals), which is not hashable
        return hash((self.type, repr(self.value), self.weight, self.threshold))

    @property
    def base_type(self) -> str:
        """The type without ``not-``: ``base_type`` of ``not-calls-any`` is ``calls-any``."""
        return split_type(self.type)[0]

    @property
    def negated(self) -> bool:
        return split_type(self.type)[1]


@dataclass(frozen=True)
class Case:
    """One prompt and the assertions its answer must satisfy."""

    id: str
    messages: tuple[dict[str, str], ...]
    category: str
    tags: tuple[str, ...]
    assertions: tuple[Assertion, ...]
    threshold: float | None = None
    topic: str | None = None
    reference: str | None = None
    counterexamples: tuple[str, ...] = ()
    source: str = ""
    prompt: str | None = None
    line: int = 0  # line of the case in ``source``

    def __hash__(self) -> int:  # messages hold dicts; a case is identified by its id and file
        return hash((self.id, self.source))


class CaseFileError(CaseError):
    """A :class:`CaseError` that also keeps its parts, for lint and tests."""

    def __init__(self, file: str, line: int, case_id: str | None, field: str | None, message: str) -> None:
        self.file, self.line, self.case_id, self.field, self.message = file, line, case_id, field, message
        where = f"{file}:{line}" if line else file
        parts = [where] + ([f"case {case_id}"] if case_id else []) + ([field] if field else []) + [message]
        super().__init__(": ".join(parts).replace("\r", "\\r").replace("\n", "\\n"))  # always one line


class _Bad(Exception):
    """Raised by field validators; the caller adds file, line and case id."""

    def __init__(self, field: str | None, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.field, self.message, self.line = field, message, line


# --- YAML with line numbers and duplicate-key detection -------------------------------------------

class _LineDict(dict):
    """A mapping that remembers the line it starts on and the line of each key."""

    line = 0
    lines: dict[Any, int] = {}


def _line_of(mapping: Any, key: str | None = None) -> int:
    """Line of ``key`` in a loaded mapping (or of the mapping itself); 0 when unknown."""
    lines: dict[str | None, int] = getattr(mapping, "lines", {})
    start: int = getattr(mapping, "line", 0)
    return lines.get(key) or start


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    pass


def _construct_map(loader: Any, node: yaml.MappingNode) -> Any:
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in data
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {short_repr(key)}", key_node.start_mark)
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {short_repr(key)}", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        if isinstance(key, str):
            data.lines[key] = key_node.start_mark.line + 1


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _parse_yaml(path: Path, shown: str) -> Any:
    """The document of a case file, within caps on file size and on what its aliases expand to."""
    try:
        text = read_text(path, shown, MAX_CASE_FILE_BYTES)
    except GerbilEvalError as exc:
        raise CaseFileError(shown, 0, None, None, str(exc).removeprefix(f"{shown}: ")) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_expanded_size(node)
        return loader.construct_document(node)
    except YamlRefused as exc:
        raise CaseFileError(shown, 0, None, None, str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise CaseFileError(shown, mark.line + 1 if mark else 0, None, None, f"YAML syntax error: {what}") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. an impossible date such as 2024-13-45
        raise CaseFileError(shown, 0, None, None, f"YAML error: {short_repr(str(exc), 200)}") from None
    except RecursionError:
        raise CaseFileError(shown, 0, None, None, "YAML nests too deeply") from None
    finally:
        loader.dispose()


# --- field validators ------------------------------------------------------------------------------

def _suggest(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_keys(mapping: dict, allowed: tuple[str, ...], field: str | None, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            shown = key if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else short_repr(key)
            hint = _suggest(key, allowed) or f"; allowed: {', '.join(allowed)}"
            raise _Bad(f"{field}.{shown}" if field else shown, f"unknown {what} key '{shown}'{hint}",
                       _line_of(mapping, str(key)))


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(field, f"must be a non-empty string, got {short_repr(value)}")
    return value


def _number(value: Any, field: str, low: float, high: float) -> float:
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        bounds = f"between {low:g} and {high:g}" if math.isfinite(high) else f"{low:g} or more"
        raise _Bad(field, f"must be a number {bounds}, got {short_repr(value)}")
    return number


def _tags(value: Any, field: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) and t.strip() for t in items):
        raise _Bad(field, f"must be a tag or a list of non-empty strings, got {short_repr(value)}")
    return tuple(t.strip() for t in items)


def _messages(value: Any, case_system: str | None) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise _Bad("messages", "must be a non-empty list of {role, content}")
    out = []
    for i, msg in enumerate(value, 1):
        field = f"messages #{i}"
        if not isinstance(msg, dict):
            raise _Bad(field, f"must be a mapping {{role, content}}, got {short_repr(msg)}")
        _check_keys(msg, ("role", "content"), field, "message")
        if msg.get("role") not in ROLES:
            raise _Bad(f"{field}.role", f"must be one of {', '.join(ROLES)}, got {short_repr(msg.get('role'))}")
        out.append({"role": msg["role"], "content": _text(msg.get("content"), f"{field}.content")})
    if not any(m["role"] == "user" for m in out):
        raise _Bad("messages", "needs at least one message with role: user")
    if case_system is not None and any(m["role"] == "system" for m in out):
        raise _Bad("system", "is given twice: as 'system:' and as a system message; keep one")
    return tuple(out)


def _assertion(raw: Any, index: int, base_dir: Path, allow_python: bool) -> Assertion:
    try:
        return _assertion_fields(raw, index, base_dir, allow_python)
    except _Bad as bad:
        bad.line = bad.line or _line_of(raw, (bad.field or "").rsplit(".", 1)[-1])
        raise


def _assertion_fields(raw: Any, index: int, base_dir: Path, allow_python: bool) -> Assertion:
    field = f"assert #{index}"
    if not isinstance(raw, dict):
        raise _Bad(field, f"must be a mapping like {{type: calls, value: hash-ref}}, got {short_repr(raw)}")
    _check_keys(raw, ASSERT_KEYS, field, "assertion")
    type_name = raw.get("type")
    entry = lookup(type_name) if isinstance(type_name, str) else None
    if entry is None or not isinstance(type_name, str):
        hint = _suggest(type_name, known_types()) or (f"; known: {', '.join(sorted(REGISTRY))} "
                                                      "(each may be prefixed with not-)")
        raise _Bad(f"{field}.type", f"unknown assertion type {short_repr(type_name)}{hint}")
    field = f"assert #{index} ({type_name})"
    if entry.load is not None and not allow_python:
        raise _Bad(f"{field}", "runs Python code from the case's folder; case files are data unless you opt in: "
                               "pass --allow-python (lint --allow-python) if you trust this file")
    try:
        value = entry.validate(raw.get("value"), base_dir)
        if entry.load is not None:
            entry.load(value, base_dir)
    except ValueError as exc:
        raise _Bad(f"{field}.value", str(exc)) from None
    threshold = raw.get("threshold")
    if threshold is not None:
        if entry.default_threshold is None:
            takers = ", ".join(sorted(n for n, e in REGISTRY.items() if e.default_threshold is not None))
            raise _Bad(f"{field}.threshold", f"does not apply to {entry.name}; only to {takers} "
                                            "(a case-level threshold goes on the case)")
        threshold = _number(threshold, f"{field}.threshold", *entry.threshold_range)
    weight = _number(raw.get("weight", 1), f"{field}.weight", 0.0, math.inf)
    return Assertion(type=type_name, value=value, weight=weight, threshold=threshold, base_dir=str(base_dir),
                     line=_line_of(raw))


def assertion_from_dict(raw: Any, base_dir: Path = Path("."), source: str = "<assertion>", *,
                        allow_python: bool = False) -> Assertion:
    """Validate one assertion mapping outside a file (programmatic use); raises CaseFileError."""
    try:
        return _assertion(raw, 1, base_dir, allow_python)
    except _Bad as bad:
        raise CaseFileError(source, 0, None, bad.field, bad.message) from None


def _defaults(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _Bad("defaults", f"must be a mapping of {', '.join(DEFAULT_KEYS)}")
    _check_keys(raw, DEFAULT_KEYS, "defaults", "defaults")
    out: dict[str, Any] = {}
    if "category" in raw:
        out["category"] = _text(raw["category"], "defaults.category")
    if "tags" in raw:
        out["tags"] = _tags(raw["tags"], "defaults.tags")
    if raw.get("threshold") is not None:
        out["threshold"] = _number(raw["threshold"], "defaults.threshold", 0.0, 1.0)
    if "system" in raw:
        out["system"] = _text(raw["system"], "defaults.system")
    return out


def _case_threshold(raw: dict, defaults: dict[str, Any]) -> float | None:
    """The case's threshold, else the file's; ``threshold: null`` on a case drops the file's."""
    if "threshold" not in raw:
        return defaults.get("threshold")
    return None if raw["threshold"] is None else _number(raw["threshold"], "threshold", 0.0, 1.0)


def _case(raw: dict, defaults: dict[str, Any], path: Path, shown: str, allow_python: bool) -> Case:
    _check_keys(raw, CASE_KEYS, None, "case")
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not _KEBAB.match(case_id):
        raise _Bad("id", f"must be kebab-case like 'hash-iteration', got {short_repr(case_id)}" if case_id is not None
                   else "missing id (give each case a unique kebab-case id)")
    prompt = raw.get("prompt")
    system = _text(raw["system"], "system") if "system" in raw else None
    if "prompt" in raw and "messages" in raw:
        raise _Bad("prompt", "give either prompt or messages, not both")
    if "messages" in raw:
        messages = _messages(raw["messages"], system)
    elif prompt is None:
        raise _Bad("prompt", "missing prompt (or messages)")
    else:
        messages = ({"role": "user", "content": _text(prompt, "prompt")},)
    system = system if system is not None else defaults.get("system")
    if system is not None and not any(m["role"] == "system" for m in messages):
        messages = ({"role": "system", "content": system},) + messages
    raw_asserts = raw.get("assert")
    if not isinstance(raw_asserts, list) or not raw_asserts:
        raise _Bad("assert", "missing: a case needs a non-empty list of assertions under 'assert:'"
                   if raw_asserts is None else "must be a non-empty list of assertions")
    counter = raw.get("counterexamples", [])
    if not isinstance(counter, list):
        raise _Bad("counterexamples", "must be a list of known-bad answers")
    tags = defaults.get("tags", ()) + (_tags(raw["tags"], "tags") if "tags" in raw else ())
    return Case(
        id=case_id,
        messages=messages,
        category=_text(raw["category"], "category") if "category" in raw else defaults.get("category", path.stem),
        tags=tuple(dict.fromkeys(tags)),
        assertions=tuple(_assertion(a, i, path.parent, allow_python) for i, a in enumerate(raw_asserts, 1)),
        threshold=_case_threshold(raw, defaults),
        topic=_text(raw["topic"], "topic") if raw.get("topic") is not None else None,
        reference=_text(raw["reference"], "reference") if raw.get("reference") is not None else None,
        counterexamples=tuple(_text(c, f"counterexamples #{i}") for i, c in enumerate(counter, 1)),
        source=shown,
        prompt=prompt if isinstance(prompt, str) else None,
        line=getattr(raw, "line", 0),
    )


def parse_file(path: Path, *, allow_python: bool = False) -> tuple[list[Case], list[CaseFileError]]:
    """Every valid case of one file, and one error per invalid case (or one for the whole file).

    Nothing in the file is imported or run unless ``allow_python`` (``--allow-python``) is given.
    """
    shown = str(path)
    try:
        doc = _parse_yaml(path, shown)
    except CaseFileError as exc:
        return [], [exc]
    line = getattr(doc, "line", 0)
    try:
        if isinstance(doc, dict):
            _check_keys(doc, ("defaults", "cases"), None, "top-level")
            defaults, raw_cases = _defaults(doc.get("defaults")), doc.get("cases")
        else:
            defaults, raw_cases = {}, doc
        if not isinstance(raw_cases, list) or not raw_cases:
            raise _Bad(None, "expected a non-empty list of cases, or a mapping {defaults: ..., cases: [...]}")
    except _Bad as bad:
        return [], [CaseFileError(shown, bad.line or line, None, bad.field, bad.message)]
    cases: list[Case] = []
    errors: list[CaseFileError] = []
    seen: dict[str, Case] = {}
    for i, raw in enumerate(raw_cases, 1):
        raw_line = getattr(raw, "line", line)
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{i}"
        try:
            if not isinstance(raw, dict):
                raise _Bad(None, f"each case must be a mapping with id, prompt and assert; got {short_repr(raw)}")
            case = _case(raw, defaults, path, shown, allow_python)
        except _Bad as bad:
            key = re.split(r"[ .]", bad.field)[0] if bad.field else None
            errors.append(CaseFileError(shown, bad.line or _line_of(raw, key) or raw_line, label, bad.field, bad.message))
            continue
        if case.id in seen:
            errors.append(CaseFileError(shown, case.line, case.id, "id",
                                        f"duplicate id, also on line {seen[case.id].line}"))
            continue
        seen[case.id] = case
        cases.append(case)
    return cases, errors


def load_file(path: Path, *, allow_python: bool = False) -> list[Case]:
    """The cases of one file; raises the first :class:`CaseFileError`."""
    cases, errors = parse_file(path, allow_python=allow_python)
    if errors:
        raise errors[0]
    return cases


def case_files(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """Files to load: given files as they are, folders searched for ``*.yaml``/``*.yml``, sorted."""
    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.suffix in CASE_SUFFIXES and f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(path).parts))
            if not found:
                raise CaseFileError(str(path), 0, None, None, "no case files (*.yaml, *.yml) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CaseFileError(str(path), 0, None, None, "no such case file or folder")
    return list(dict.fromkeys(files))


def duplicate_errors(cases: Iterable[Case]) -> list[CaseFileError]:
    """One error per id that appears in two files, naming both."""
    first: dict[str, Case] = {}
    errors = []
    for case in cases:
        other = first.setdefault(case.id, case)
        if other is not case:
            errors.append(CaseFileError(case.source, case.line, case.id, "id",
                                        f"duplicate id, also in {other.source}:{other.line}"))
    return errors


def load_cases(paths: Iterable[str | Path] | str | Path, *, allow_python: bool = False) -> list[Case]:
    """Load and validate every case under ``paths``; raises :class:`CaseError` on the first problem."""
    cases = [case for f in case_files(paths) for case in load_file(f, allow_python=allow_python)]
    dups = duplicate_errors(cases)
    if dups:
        raise dups[0]
    return cases
