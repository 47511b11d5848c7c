"""Build the binding index from Gerbil and Gambit source trees.

Which names exist, and where, is read from the module files themselves (the same ones
``gxc`` compiles), not from documentation: per module its ``(export ...)`` forms —
``#t``, explicit names, ``struct-out``, ``rename-out``, ``except-out``, ``prefix-out`` and
``(import: ...)`` re-exports, followed through relative and absolute module paths and
submodules — and the names its definition forms generate (``defstruct``/``defclass``:
``make-T``, ``T?``, ``T-field``, ``T-field-set!``; ``deferror-class``; ``defrules``;
``extern`` lists; ``include``d ``.scm`` files). What needs no import is the prelude
(``:gerbil/core``, which re-exports its runtime externs) plus, for the master snapshot whose
prelude has the whole Gambit primitive set, Gambit's and R7RS's global names.

Only phase-0 exports count (``phi:``/``for-syntax`` parts are macro-time names). The reading
over-approximates where the source is dynamic (every definition of a file, also inside
``cond-expand`` branches), because refusing a real name would fail a correct answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..reader import Datum, Form, Keyword, Symbol, read

#: Folder names of the shared data the index is built from, and the version each one is.
SOURCES = {"master": "gerbil-src", "v0.18.1": "gerbil-src-v0.18.1"}
GAMBIT_FOLDER = "gambit-namespace"
PRELUDE = ":gerbil/core"
#: Definition forms whose target is not a plain ``(def NAME ...)``-shaped name.
_SKIP_DEFINERS = frozenset({"defmethod", "define-method", "defmessage-handler"})
_TYPE_DEFINERS = frozenset({"defstruct", "defclass", "define-struct", "define-class", "defshadow-class",
                            "defsystem-class", "defrecord", "defmessage"})
_MULTI_DEFINERS = frozenset({"defvalues", "define-values"})
_PHASE_SPECS = frozenset({"phi:", "for-syntax", "for-template"})
_MAX_FILE = 2_000_000


#: Library macros that define *and export* names built from their argument (read off their
#: templates): ``(define-digest sha256)`` in :std/crypto/digest.
EXPORTING_MACROS = {
    "define-digest": lambda n: [n, f"digest::{n}", f"make-{n}-digest", f"{n}-digest?"],
}


def symbol(d: Datum) -> str | None:
    """``d`` as a name when it is a plain symbol."""
    return str(d) if type(d) is Symbol else None


def generated_names(kind: str, name: str, fields: list[str]) -> list[str]:
    """Names a type definition creates: ``T::t``, ``make-T``, ``T?``, ``T-f``, ``T-f-set!`` (also
    ``&T-f`` unchecked accessors); a class is also its own constructor (``(Point x: 1)``)."""
    out = [name, f"{name}::t", f"make-{name}", f"{name}?"]
    for f in fields:
        out += [f"{name}-{f}", f"{name}-{f}-set!", f"&{name}-{f}", f"&{name}-{f}-set!"]
    return out


def field_names(spec: Datum) -> list[str]:
    """Slot names of ``(x y (z :- :fixnum) ...)``."""
    out: list[str] = []
    if isinstance(spec, Form):
        for item in spec.items:
            name = symbol(item) or (symbol(item.items[0]) if isinstance(item, Form) and item.items else None)
            if name and name != ".":
                out.append(name)
    return out


def definition_names(form: Form) -> list[str]:
    """The names one definition form binds (empty when it is no definition)."""
    items = form.items
    head = symbol(items[0]) if items else None
    if head is None or len(items) < 2:
        return []
    target = items[1]
    if head == "extern":
        out: list[str] = []
        after_keyword = False
        for x in items[1:]:  # (extern namespace: #f name (name internal) ...)
            if after_keyword or isinstance(x, Keyword):
                after_keyword = not after_keyword
                continue
            name = symbol(x) or (symbol(x.items[0]) if isinstance(x, Form) and x.items else None)
            if name:
                out.append(name)
        return out
    if head in ("begin-ffi", "begin-foreign") and isinstance(target, Form):
        return [s for s in map(symbol, target.items) if s]
    if head == "deferror-class":
        name = symbol(target) or (symbol(target.items[0]) if isinstance(target, Form) and target.items else None)
        if not name:
            return []
        alias = symbol(items[3]) if len(items) > 3 else None
        return generated_names("defclass", name, field_names(items[2]) if len(items) > 2 else []) + ([alias] if alias else [])
    if head in _TYPE_DEFINERS:
        name = symbol(target) or (symbol(target.items[0]) if isinstance(target, Form) and target.items else None)
        return generated_names(head, name, field_names(items[2]) if len(items) > 2 else []) if name else []
    if head == "defruntime":  # a .ssi interface: (defruntime name ...) for procedures defined in Scheme
        return [s for s in map(symbol, items[1:]) if s]
    if head in _MULTI_DEFINERS and isinstance(target, Form):
        return [s for s in map(symbol, target.items) if s and s != "."]
    if not (head.startswith("def") or head.startswith("define")) or head in _SKIP_DEFINERS:
        return []
    while isinstance(target, Form) and target.items and target.open == "(":
        target = target.items[0]  # (def (f x) ...), curried ((f a) b)
    name = symbol(target)
    return [name] if name else []


@dataclass
class ModuleSource:
    """One module (or submodule) as read: its definitions, exports and imports."""

    id: str
    path: Path
    defs: dict[str, None] = field(default_factory=dict)
    exports: list[Datum] = field(default_factory=list)
    imports: list[Datum] = field(default_factory=list)
    submodules: dict[str, "ModuleSource"] = field(default_factory=dict)
    parent: "ModuleSource | None" = None


def _read_file(path: Path) -> tuple[Datum, ...]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:_MAX_FILE]
    except OSError:
        return ()
    return read(text).data


def _collect(module: ModuleSource, data: tuple[Datum, ...], folder: Path, depth: int = 0) -> None:
    """Fill ``module`` from top-level ``data``, descending into begin/cond-expand/include/module."""
    for d in data:
        if not isinstance(d, Form) or not d.items or d.open != "(":
            continue
        head = symbol(d.items[0])
        if head == "export":
            module.exports.extend(d.items[1:])
        elif head == "import":
            module.imports.extend(d.items[1:])
        elif head in ("begin", "cond-expand", "begin-syntax") or (head == "else" and depth):
            parts = [x for x in d.items[1:] if isinstance(x, Form)]
            if head == "cond-expand":  # every branch: which one runs depends on the build
                parts = [y for x in parts for y in x.items[1:] if isinstance(y, Form)]
            _collect(module, tuple(parts), folder, depth + 1)
        elif head == "include" and len(d.items) > 1 and isinstance(d.items[1], str) and depth < 4:
            path = (folder / d.items[1]).resolve()
            _collect(module, _read_file(path), path.parent, depth + 1)
        elif head == "module" and len(d.items) > 1 and symbol(d.items[1]):
            sub = ModuleSource(f"{module.id}#{d.items[1]}", module.path, parent=module)
            module.submodules[str(d.items[1])] = sub
            _collect(sub, d.items[2:], folder, depth + 1)
            for name in sub.defs:  # over-approximate: a file's submodule helpers are rarely hidden
                module.defs.setdefault(name, None)
        elif head in EXPORTING_MACROS and len(d.items) > 1 and symbol(d.items[1]):
            for name in EXPORTING_MACROS[head](str(d.items[1])):
                module.defs.setdefault(name, None)
                module.exports.append(Symbol(name))
        else:
            for name in definition_names(d):
                module.defs.setdefault(name, None)


def module_id(path: Path, src: Path) -> str:
    """``src/std/text/json.ss`` -> ``:std/text/json``; the release keeps its prelude modules in
    ``src/gerbil/prelude/`` (``prelude/core.ss`` is ``:gerbil/core``)."""
    rel = path.relative_to(src).with_suffix("").as_posix()  # .ss and .ssi alike
    return ":" + rel.replace("gerbil/prelude/", "gerbil/", 1)


def is_module_file(path: Path) -> bool:
    """A module of the library: not a test, not a compiler ``.ssxi`` annotation file, not a build script."""
    name = path.name
    if name.endswith(".ssi"):  # the interface of a module written in Scheme (std/text/base64)
        return not path.with_suffix(".ss").exists()
    return (name.endswith(".ss") and not name.endswith(("-test.ss", "-test-support.ss")) and not name.endswith(".ssxi.ss")
            and name != "build.ss" and "/test/" not in path.as_posix())


class Tree:
    """All modules of one source tree and their resolved phase-0 exports."""

    def __init__(self, src: Path) -> None:
        self.src = src
        self.modules: dict[str, ModuleSource] = {}
        for path in sorted([*src.rglob("*.ss"), *src.rglob("*.ssi")]):
            if is_module_file(path):
                mod = ModuleSource(module_id(path, src), path)
                _collect(mod, _read_file(path), path.parent)
                self.modules[mod.id] = mod
        self._exports: dict[str, dict[str, None]] = {}
        self._busy: set[str] = set()

    def resolve(self, ref: Datum, where: ModuleSource) -> ModuleSource | None:
        """The module an import reference names: ``:std/foo``, ``./foo``, ``"core/runtime"``, a submodule."""
        name = symbol(ref) if type(ref) is Symbol else (ref if isinstance(ref, str) and not isinstance(ref, Keyword) else None)
        if not name:
            return None
        scope: ModuleSource | None = where
        while scope is not None:  # submodules of this module or its parents
            if name in scope.submodules:
                return scope.submodules[name]
            scope = scope.parent
        if name.startswith(":"):
            return self.modules.get(name)
        base = where.path.parent
        target = (base / name).resolve()
        try:
            return self.modules.get(module_id(target.with_suffix(".ss"), self.src.resolve()))
        except ValueError:
            return None

    def exports(self, mod: ModuleSource) -> dict[str, None]:
        """Phase-0 names ``mod`` exports (memoised; an import cycle contributes nothing)."""
        if mod.id in self._exports:
            return self._exports[mod.id]
        if mod.id in self._busy:
            return {}
        self._busy.add(mod.id)
        out: dict[str, None] = {}
        for spec in mod.exports:
            for name in self._spec(spec, mod):
                out.setdefault(name, None)
        self._busy.discard(mod.id)
        self._exports[mod.id] = out
        return out

    def _spec(self, spec: Datum, mod: ModuleSource) -> list[str]:
        if spec is True:
            return list(mod.defs)
        name = symbol(spec)
        if name:
            return [name]
        if not isinstance(spec, Form) or not spec.items:
            return []
        first = spec.items[0]
        head, args = (str(first) if isinstance(first, (Symbol, Keyword)) else None), spec.items[1:]
        if head in _PHASE_SPECS or head is None:
            return []
        if head == "import:":
            return [n for ref in args for n in self._imported(ref, mod)]
        if head == "struct-out":  # the struct may be defined here or in an imported module
            visible = list(mod.defs) + [n for ref in mod.imports for n in self._imported(ref, mod)]
            return [n for t in args if symbol(t) for n in self._struct_names(str(t), visible)]
        if head == "rename:" and len(args) == 2 and symbol(args[1]):
            return [str(args[1])]
        if head == "rename-out" and args:
            inner = self._spec(args[0], mod) if not (isinstance(args[0], Form) and len(args[0].items) == 2
                                                     and all(symbol(x) for x in args[0].items)) else []
            renames = {str(p.items[0]): str(p.items[1]) for p in args if isinstance(p, Form) and len(p.items) == 2
                       and symbol(p.items[0]) and symbol(p.items[1])}
            return [renames.get(n, n) for n in inner] + [n for n in renames.values() if n not in inner]
        if head == "except-out" and args:
            drop = {symbol(x) for x in args[1:]}
            return [n for n in self._spec(args[0], mod) if n not in drop]
        if head == "prefix-out" and len(args) == 2 and symbol(args[1]):
            return [f"{args[1]}{n}" for n in self._spec(args[0], mod)]
        return []

    def _imported(self, ref: Datum, mod: ModuleSource) -> list[str]:
        """Names re-exported by ``(import: ref)``; ``ref`` may itself be an import spec."""
        if isinstance(ref, Form) and ref.items and symbol(ref.items[0]) in ("except-in", "only-in", "rename-in",
                                                                            "prefix-in"):
            return list(_filter_import(ref, lambda r: self._imported(r, mod)))
        target = self.resolve(ref, mod)
        return list(self.exports(target)) if target is not None else []

    @staticmethod
    def _struct_names(name: str, visible: list[str]) -> list[str]:
        prefix = f"{name}-"
        return [n for n in dict.fromkeys(visible) if n in (name, f"{name}::t", f"make-{name}", f"{name}?")
                or n.startswith(prefix) or n.startswith(f"&{prefix}")]


def _filter_import(spec: Form, names_of) -> dict[str, None]:
    """Apply an ``only-in``/``except-in``/``rename-in``/``prefix-in`` spec to the names of its module."""
    head, args = str(spec.items[0]), spec.items[1:]
    names = dict.fromkeys(names_of(args[0])) if args else {}
    if head == "only-in":
        keep = {symbol(x) for x in args[1:]}
        return {n: None for n in names if n in keep}
    if head == "except-in":
        drop = {symbol(x) for x in args[1:]}
        return {n: None for n in names if n not in drop}
    if head == "rename-in":
        renames = {str(p.items[0]): str(p.items[1]) for p in args[1:] if isinstance(p, Form) and len(p.items) == 2}
        return {renames.get(n, n): None for n in names}
    if head == "prefix-in" and len(args) > 1:
        return {f"{args[1]}{n}": None for n in names}
    return names


def gambit_globals(folder: Path) -> dict[str, list[str]]:
    """Names in Gambit's ``gambit#.scm`` and ``r7rs#.scm`` ``##namespace`` lists, per file stem."""
    out: dict[str, list[str]] = {}
    for name in ("r7rs#.scm", "gambit#.scm"):
        text = (folder / name).read_text(encoding="utf-8")
        names: list[str] = []
        for d in read(text).data:
            if isinstance(d, Form) and d.items and d.items[0] == "##namespace":
                for spec in d.items[1:]:
                    if isinstance(spec, Form):
                        names += [str(x) for x in spec.items if type(x) is Symbol]
        out[name.split("#")[0]] = names
    return out


def root_forms(src: Path) -> list[str]:
    """The expander's own syntax (``begin``, ``import``, ``quote``, ``if``, ``_``, ``else``...): the
    first names of the ``*core-macro-expanders*`` table in ``gerbil/expander/root.ss``."""
    for d in _read_file(src / "gerbil" / "expander" / "root.ss"):
        if isinstance(d, Form) and len(d.items) == 3 and d.items[:2] == (Symbol("def"), Symbol("*core-macro-expanders*")):
            table = d.items[2]
            entries = table.items[1].items if isinstance(table, Form) and len(table.items) == 2 else ()
            return [str(e.items[0]) for e in entries if isinstance(e, Form) and e.items and symbol(e.items[0])]
    return []


_PUBLIC = re.compile(r"[^%]")  # names starting with % are expander internals, never in user code


_TOKEN = re.compile(r"[^\s()\[\]{}\"';`,|]+")


def usage_counts(src: Path, names: set[str]) -> dict[str, int]:
    """How often each of ``names`` occurs in the tree's ``.ss`` files (tests included): which of
    two similar names people actually write, for the nearest-name suggestion."""
    counts: dict[str, int] = {}
    for path in src.rglob("*.ss"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:_MAX_FILE]
        except OSError:
            continue
        for tok in _TOKEN.findall(text):
            if tok in names:
                counts[tok] = counts.get(tok, 0) + 1
    return counts


def build_index(data: Path) -> dict:
    """The index as plain data: ``{"versions", "prelude": {version: [names]},
    "modules": {module: {version: [names]}}, "uses": {name: count}}``, sorted, ready for JSON."""
    gambit = gambit_globals(data / GAMBIT_FOLDER)
    prelude: dict[str, list[str]] = {}
    modules: dict[str, dict[str, list[str]]] = {}
    for version, folder in SOURCES.items():
        tree = Tree(data / folder / "src")
        names = set(tree.exports(tree.modules[PRELUDE])) if PRELUDE in tree.modules else set()
        names |= set(gambit["r7rs"]) | set(root_forms(data / folder / "src"))
        if version == "master":  # G's prelude carries the whole Gambit primitive set (facts: version fact 10)
            names |= set(gambit["gambit"])
        prelude[version] = sorted(n for n in names if _PUBLIC.match(n))
        for mod_id, mod in tree.modules.items():
            if mod_id == PRELUDE:
                continue
            exported = sorted(n for n in tree.exports(mod) if _PUBLIC.match(n))
            modules.setdefault(mod_id, {})[version] = exported
    every = set().union(*prelude.values(), *(n for per in modules.values() for n in per.values()))
    uses = usage_counts(data / SOURCES["master"] / "src", every)
    return {"versions": list(SOURCES), "prelude": prelude, "modules": dict(sorted(modules.items())),
            "uses": dict(sorted(uses.items()))}
