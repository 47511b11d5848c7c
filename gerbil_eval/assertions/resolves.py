"""``resolves``: every name the answer's code uses exists where the code says it comes from.

A fine-tune's wrong answers look idiomatic: ``(read-file path)`` (the procedure is
``read-file-string``), ``for/collect`` without ``(import :std/iter)``, ``(import :std/json)``.
This assertion checks each operator, referenced identifier and imported module against the
binding index of the Gerbil the facts sheet targets (:mod:`gerbil_eval.bindings`): a name must
be bound by the code itself (:mod:`gerbil_eval.bindings.scope`), be in the prelude, or be
exported by a module the code imports. The answer resolves when this holds on at least one
Gerbil version (master snapshot or v0.18.1 release), or on the pinned one
(``{version: v0.18.1}``). A known name whose module the code does not import fails unless the
case allows snippet-style answers (``{imports: optional}``); an unknown name always fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from .registry import Outcome, register
from ..answer import Answer
from ..bindings.index import PRELUDE, BindingIndex, is_internal, load_index
from ..bindings.scope import Usage, usage_of
from ..reader import Datum, Form, Keyword, Symbol

_OPTIONS = {"imports": ("required", "optional"), "version": None}
_SELECTORS = frozenset({"only-in", "except-in", "rename-in", "prefix-in"})
_PHASES = frozenset({"for-syntax", "for-template", "begin", "phi:"})


def _options(value: Any, _base: Path) -> dict[str, str]:
    """``None`` or ``{imports: required|optional, version: master|v0.18.1}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"takes no value or a mapping like {{imports: optional}}, got {value!r:.40}")
    versions = load_index().versions
    out: dict[str, str] = {}
    for key, v in value.items():
        if key == "imports":
            if v not in _OPTIONS["imports"]:
                raise ValueError(f"imports must be required or optional, got {v!r:.40}")
        elif key == "version":
            if v not in versions:
                raise ValueError(f"version must be one of {', '.join(versions)}, got {v!r:.40}")
        else:
            raise ValueError(f"unknown option {key!r:.40}; allowed: imports, version")
        out[key] = v
    return out


def _module_of(ref: Datum) -> str | None:
    """``:std/iter``; None for a relative module (``./util``, ``"util"``) or anything else."""
    return str(ref) if type(ref) is Symbol and ref.startswith(":") else None


def _relative(ref: Datum) -> bool:
    return (isinstance(ref, str) and type(ref) is not Symbol and not isinstance(ref, Keyword)) or \
        (type(ref) is Symbol and _module_of(ref) is None)


class _Version:
    """The problems of one usage on one Gerbil version."""

    def __init__(self, index: BindingIndex, version: str, usage: Usage, optional_imports: bool) -> None:
        self.index, self.version, self.optional = index, version, optional_imports
        self.problems: list[str] = []
        self.relative_import = False
        available = set(index.prelude.get(version, ()))
        for spec in usage.imports:
            available |= self.spec_names(spec)
        for name, operator in usage.free.items():
            if name in available or _not_a_reference(name):
                continue
            self.name_problem(name, operator)

    def spec_names(self, spec: Datum) -> set[str]:
        """Names one import spec brings in; records a missing module or a name it lacks."""
        if isinstance(spec, Form) and spec.items and isinstance(spec.items[0], (Symbol, Keyword)):
            head, args = str(spec.items[0]), spec.items[1:]
            if head in _PHASES:
                return set().union(*(self.spec_names(s) for s in args)) if args else set()
            if head in _SELECTORS and args:
                names = self.spec_names(args[0])
                return self.select(head, args, names, args[0])
            if head == "group-in" and args and _module_of(args[0]):
                return set().union(*(self.spec_names(Symbol(f"{_module_of(args[0])}/{s}")) for s in args[1:]))
            return set()
        if type(spec) is Symbol and spec.startswith(("std/", "gerbil/")):  # gxi: "Bad syntax; illegal import"
            self.problems.append(f"`{spec}` is not a module path (library modules start with a colon: `:{spec}`)")
            return set()
        if _relative(spec):
            self.relative_import = True
            return set()
        module = _module_of(spec)
        if module is None:
            return set()
        if not self.index.has_module(module, self.version):
            if self.index.modules.get(module):
                self.problems.append(f"`{module}` is not a module in {self.version}")
            else:
                near = self.index.nearest_module(module)
                self.problems.append(f"`{module}` is not a module" + (f" (nearest: {near})" if near else ""))
            return set()
        return set(self.index.exports(module, self.version))

    def select(self, head: str, args: tuple[Datum, ...], names: set[str], source: Datum) -> set[str]:
        module = _module_of(source) if not isinstance(source, Form) else None
        known = bool(names) or module is None

        def check(name: str) -> None:
            if known and name not in names and module and self.index.has_module(module, self.version):
                self.problems.append(f"`{module}` does not export `{name}`")

        if head == "only-in":
            wanted = {str(x) for x in args[1:] if type(x) is Symbol}
            for n in sorted(wanted):
                check(n)
            return names & wanted
        if head == "except-in":
            return names - {str(x) for x in args[1:] if type(x) is Symbol}
        if head == "rename-in":
            renames = {str(p.items[0]): str(p.items[1]) for p in args[1:]
                       if isinstance(p, Form) and len(p.items) == 2 and all(type(x) is Symbol for x in p.items)}
            for n in sorted(renames):
                check(n)
            return {renames.get(n, n) for n in names} | {v for k, v in renames.items() if not names}
        if head == "prefix-in" and len(args) > 1:
            return {f"{args[1]}{n}" for n in names}
        return names

    def name_problem(self, name: str, operator: bool) -> None:
        index = self.index
        if not index.known(name) or all(is_internal(m) for m in index.homes(name) if m != PRELUDE) \
                and not any(name in p for p in index.prelude.values()):
            if self.relative_import or not operator:  # the code's own module may define it;
                return  # a free variable no module defines is a placeholder for the user's value
            near = index.nearest_name(name)
            if not looks_like(name, near):
                return  # the answer's own helper, (do-work), unless it is a near miss of a real name
            hint = f" (nearest: `{near[0]}` in {near[1]})" if near else ""
            self.problems.append(f"`{name}` is not defined by Gerbil{hint}")
            return
        homes = [h for h in index.homes(name, self.version) if h != PRELUDE and not is_internal(h)]
        if self.relative_import and homes:  # the code's own module may re-export it
            return
        if not homes:
            others = [v for v in index.versions if any(not is_internal(h) for h in index.homes(name, v))]
            self.problems.append(f"`{name}` is not defined in {self.version} (only in {', '.join(others)})")
        elif not self.optional:
            self.problems.append(f"`{name}` is exported by {homes[0]}, which the code does not import")


#: Name families of Gerbil's own vocabulary: an unknown ``json-parse``, ``hash-table-walk``,
#: ``for/list`` or ``in-list`` claims to be part of Gerbil, where ``do-work`` or ``circle-area``
#: is the answer's own helper.
GERBIL_FAMILIES = frozenset({
    "string", "hash", "list", "char", "vector", "u8vector", "bytes", "thread", "file", "directory", "path",
    "json", "http", "actor", "time", "date", "read", "csv", "sxml", "xml", "regexp", "pregexp", "env",
    "random", "socket", "channel", "mutex", "for", "in", "spawn", "base64", "sha256", "digest", "sqlite",
    "getopt", "format", "sort", "assoc", "alist", "plist", "struct", "class", "error", "exception",
})


def looks_like(name: str, near: tuple[str, str] | None) -> bool:
    """An unknown operator is a near miss of a real name (``read-file`` for ``read-file-string``,
    ``hash-ref!``, ``string-contains?``) or claims a Gerbil family (``json-parse``), rather than
    being the answer's own helper (``do-work``)."""
    family = re.split(r"[-/]", name, maxsplit=1)
    if len(family) == 2 and family[0] in GERBIL_FAMILIES:
        return True
    if near is None:
        return False
    real = near[0]
    if real.startswith(name) and "-" in name:
        return True
    return fuzz.ratio(name, real) >= 85


def _not_a_reference(name: str) -> bool:
    """Names the walker cannot judge: Gambit ``##`` primitives, ``:type`` and ``:module`` names,
    ``let-hash`` ``.field`` references, dotted ``obj.field`` access, ``#`` objects."""
    return name.startswith(("##", ":", ".", "#")) or "." in name[1:]


def _usage(ans: Answer) -> Usage:
    return usage_of(ans.data)


def judge(usage: Usage, index: BindingIndex, options: dict[str, str]) -> Outcome:
    """Pass when some allowed version has no problem; the reason names each offender."""
    versions = [options["version"]] if "version" in options else list(index.versions)
    # snippet style means code that leaves imports out altogether; code that writes an import
    # list is a program, and a program without one of its imports does not run
    optional = options.get("imports") == "optional" and not usage.imports
    results = {v: _Version(index, v, usage, optional).problems for v in versions}
    fine = [v for v, problems in results.items() if not problems]
    if fine:
        n = len(usage.free)
        return Outcome.of(True, f"all {n} names the code uses resolve on {' and '.join(fine)}")
    common = [p for p in results[versions[0]] if all(p in results[v] for v in versions)]
    parts = list(dict.fromkeys(common))
    for v in versions:
        own = [p for p in results[v] if p not in common and not p.endswith(f" in {v}")
               and f" in {v} (" not in p]
        lacks = [p for p in results[v] if p not in common and p not in own]
        parts += lacks + ([f"on {v}: " + "; ".join(own)] if own else [])
    return Outcome.of(False, "; ".join(parts))


@register("resolves", _options)
def resolves(value: dict[str, str] | None, ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    """Every name and module of the code exists (see the module docstring)."""
    if not any(r.data for r in ans.reads):  # whether code was due is the case's rule (no credit without code)
        return Outcome.of(True, "no Scheme code: nothing to resolve")
    return judge(ans.derived(_usage), load_index(), value or {})
