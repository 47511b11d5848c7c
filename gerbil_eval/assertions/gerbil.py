"""Gerbil-aware assertions: they look at what the code *does*, read by a real reader.

All of them see only the code of the answer (see :mod:`gerbil_eval.answer`), so
prose never trips them, and they work on read data, so strings, comments,
``#;`` datum comments and ``#\\(`` characters never do either.

- ``calls``: a symbol at the head of a ``( ... )`` form in expression position (see
  :mod:`.codeindex`: not formals, bindings, patterns or quoted data; ``[a b]`` is ``@list`` and
  ``{m obj}`` a method call, so neither calls ``a``/``m``).
- ``mentions``: a symbol anywhere, compared whole (``hash-ref`` is not ``hash-ref/default``);
  a value ending in ``:`` names a keyword (``weak-keys:``), and ``port`` never matches ``port:``.
- ``imports``: a module in an ``(import ...)``, also inside ``only-in``/``except-in``/
  ``rename-in``/``prefix-in``/``group-in``; ``std/iter`` and ``:std/iter`` are the same.
- ``defines``: a name bound by ``def``, ``define``, ``defstruct`` (+ its constructor,
  predicate, accessors), ``defmethod {name type}``, ``defvalues``, ``defrules``...
- ``parses`` / ``code-block``: the code reads completely / the answer has a fenced block.

``form`` patterns live in :mod:`.forms`.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Iterable

from rapidfuzz import fuzz, process

from . import values
from .registry import Outcome, register
from .codeindex import code_index
from ..answer import Answer
from ..bindings.scope import DEFINERS
from ..reader import Datum, Form, Keyword, Symbol

_TYPE_DEFINERS = frozenset({"defstruct", "defclass"})
_MULTI_DEFINERS = frozenset({"defvalues", "define-values"})
_IMPORT_SELECTORS = frozenset({"only-in", "except-in", "rename-in", "prefix-in"})
_IMPORT_PHASES = frozenset({"for-syntax", "for-template", "begin"})


def _module_name(name: str) -> str:
    return name[1:] if name.startswith(":") else name


def _import_specs(spec: Datum, out: dict[str, None]) -> None:
    """Add the modules named by one import spec to ``out``."""
    if isinstance(spec, str) and not isinstance(spec, Keyword):
        out.setdefault(_module_name(spec), None)
        return
    if not isinstance(spec, Form) or not spec.items or type(spec.items[0]) is not Symbol:
        return
    head, args = spec.items[0], spec.items[1:]
    if head in _IMPORT_SELECTORS and args:
        _import_specs(args[0], out)
    elif head == "group-in" and args and isinstance(args[0], str):
        prefix = _module_name(args[0])
        for sub in args[1:]:
            if isinstance(sub, str):
                out.setdefault(f"{prefix}/{sub}", None)
    elif head in _IMPORT_PHASES:
        for sub in args:
            _import_specs(sub, out)


def imported_modules(ans: Answer) -> dict[str, None]:
    """Modules imported anywhere in the code, without leading colon, in order."""
    out: dict[str, None] = {}
    for form in ans.forms:
        if form.open == "(" and form.items and form.items[0] == "import" and type(form.items[0]) is Symbol:
            for spec in form.items[1:]:
                _import_specs(spec, out)
    return out


def _bound_name(target: Datum) -> str | None:
    """The name in ``f``, ``(f x)``, ``((f a) b)`` (curried), ``(point base)``, ``{name type}``."""
    while isinstance(target, Form) and target.items:
        target = target.items[0]
    return str(target) if type(target) is Symbol else None


def _struct_names(name: str, fields: Datum) -> list[str]:
    """defstruct/defclass also define make-NAME, NAME?, NAME-FIELD and NAME-FIELD-set!."""
    out = [f"make-{name}", f"{name}?"]
    if isinstance(fields, Form):
        for f in fields.items:
            if type(f) is Symbol:
                out += [f"{name}-{f}", f"{name}-{f}-set!"]
    return out


def defined_names(ans: Answer) -> dict[str, None]:
    """Names the code defines, in order."""
    out: dict[str, None] = {}
    for form in ans.forms:
        items = form.items
        if form.open != "(" or len(items) < 2 or type(items[0]) is not Symbol or items[0] not in DEFINERS:
            continue
        head, target = items[0], items[1]
        if head in _MULTI_DEFINERS and isinstance(target, Form):
            names = [str(x) for x in target.items if type(x) is Symbol and x != "."]
        else:
            name = _bound_name(target)
            names = [name] if name else []
            if name and head in _TYPE_DEFINERS and len(items) > 2:
                names += _struct_names(name, items[2])
        for n in names:
            out.setdefault(n, None)
    return out


def _hint(missing: Iterable[str], present: Collection[str]) -> str:
    """Near misses from the code ("code has: hash-walk"), so a failing reason says what to fix."""
    if not present:
        return " (code has none)"
    close: dict[str, None] = {}
    choices = list(present)
    for m in missing:
        for c, _score, _i in process.extract(m, choices, scorer=fuzz.ratio, score_cutoff=60, limit=3):
            close.setdefault(c, None)
    return f" (code has: {', '.join(list(close)[:4])})" if close else ""


def membership(wanted: tuple[str, ...], present: Collection[str], verb: str, base_verb: str,
               any_: bool, key=lambda s: s, hint: bool = True) -> Outcome:
    """All (or any) of ``wanted`` are in ``present``; reasons name what is found or missing.

    ``hint`` adds near misses from the code to a negative finding; it is off under ``not-``,
    where that finding is the passing reason and near misses would only be noise.
    """
    found = [w for w in wanted if key(w) in present]
    missing = [w for w in wanted if w not in found]
    near = lambda names: _hint(map(key, names), present) if hint else ""  # noqa: E731
    if any_:
        if found:
            return Outcome.of(True, f"{verb} {', '.join(found)}")
        return Outcome.of(False, f"{verb} none of {', '.join(wanted)}{near(wanted)}")
    if not missing:
        return Outcome.of(True, f"{verb} {', '.join(wanted)}")
    return Outcome.of(False, f"does not {base_verb} {', '.join(missing)}{near(missing)}")


def _register_membership(name: str, verb: str, base_verb: str, present_of: Callable[[Answer], Collection[str]],
                         key: Callable[[str], str] = lambda s: s) -> None:
    """Register ``name`` (all of the values) and ``name-any`` (any of them)."""
    for suffix, any_ in (("", False), ("-any", True)):
        def check(v: Any, ans: Answer, a: Any, _c: dict, any_: bool = any_) -> Outcome:
            return membership(values.as_tuple(v), present_of(ans), verb, base_verb, any_, key, hint=not a.negated)
        register(name + suffix, values.symbols)(check)


_register_membership("calls", "calls", "call", lambda ans: ans.derived(code_index).calls)
_register_membership("mentions", "mentions", "mention", lambda ans: ans.derived(code_index).symbols)
_register_membership("imports", "imports", "import", lambda ans: ans.derived(imported_modules), _module_name)
_register_membership("defines", "defines", "define", lambda ans: ans.derived(defined_names))


# --- whole-code checks ---------------------------------------------------------------------------

@register("parses", values.no_value)
def parses(_v: None, ans: Answer, _a: Any, _c: dict) -> Outcome:
    """Every Scheme code block reads completely; an answer with no Scheme code at all fails."""
    if not any(r.data for r in ans.reads):
        return Outcome.of(False, "no Scheme code to read")
    for unit, result in zip(ans.units, ans.reads):
        if result.errors:
            where = f"code block at line {unit.line}" if unit.line else "the answer"
            return Outcome.of(False, f"{where} does not read: {result.errors[0]}")
    n = len(ans.units)
    return Outcome.of(True, f"{n} code block{'s' if n != 1 else ''} read completely" if ans.blocks
                      else "the answer reads completely")


@register("code-block", values.no_value)
def code_block(_v: None, ans: Answer, _a: Any, _c: dict) -> Outcome:
    """The answer has at least one fenced code block (any language)."""
    n = len(ans.blocks)
    return Outcome.of(n > 0, f"has {n} fenced code block{'s' if n != 1 else ''}" if n else "has no fenced code block")
