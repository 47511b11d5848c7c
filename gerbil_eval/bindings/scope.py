"""Which names a piece of Gerbil code references without binding them, and what it imports.

``resolves`` must not blame a correct answer for a name it binds itself, so this walker knows
Gerbil's binding forms: ``def``/``define`` (also inside bodies, visible to the whole body),
``lambda``/``def`` parameters with optional ``(x default)``, keyword ``kw: (x default)``, rest
``. rest`` and contract ``(x :- type)`` forms, ``let``/``let*``/``letrec`` (named, single
``(let (x 1) ...)`` and pattern bindings), ``let-values``, ``receive``, ``do``, ``match``/``with``
patterns, ``for`` clauses (with ``when``/``unless`` filters), ``try``/``catch``, ``if-let``,
``defstruct``/``defclass``/``deferror-class`` generated names, and the macros the code defines
(their templates and every use of them are not checked: a macro may bind anything).
Quoted data, strings, keywords, characters and ``#`` syntaxes are never references; a
quasiquote is data except its ``unquote`` parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..reader import Datum, Form, Keyword, Symbol
from .build import generated_names

#: Heads that bind the name in their second position (``(def f ...)``, ``(def (f x) ...)``): what
#: the ``defines`` assertion looks for, and forms a program keeps at its top level.
DEFINERS = frozenset({
    "def", "def*", "define", "defconst", "defalias", "defrule", "defrules", "defsyntax", "defsyntax-call",
    "defsyntax-for-match", "define-syntax", "define-syntax-rule", "defmacro", "define-macro", "defmethod",
    "defstruct", "defclass", "deferror-class", "definterface", "defproto", "defmessage", "defcall-actor",
    "define-record-type", "define-type", "define-structure", "defparameter", "define-parameter",
    "defvalues", "define-values", "defraise/context", "defgeneric", "defspecific",
})

_LAMBDAS = frozenset({"lambda", "λ", "lambda%"})
_DEFINES = frozenset({"def", "define", "defconst", "defalias", "defparameter", "define-parameter", "defvar",
                      "define-constant", "defgeneric"})
_MACRO_DEFINERS = frozenset({"defrules", "defrule", "defsyntax", "define-syntax", "defmacro", "define-macro",
                             "defsyntax-call", "define-syntax-rule", "defraise/context", "defsyntax-for-match",
                             "defrules*", "defsyntax-parameter"})
_TYPE_DEFINERS = frozenset({"defstruct", "defclass", "defmessage", "defrecord"})
_LETS = frozenset({"let", "let*", "letrec", "letrec*", "rec", "alet", "alet*", "and-let*"})
_VALUES_LETS = frozenset({"let-values", "let*-values", "letrec-values", "letrec*-values", "define-values"})
_FORS = frozenset({"for", "for*", "for/collect", "for/fold"})
_MATCHES = frozenset({"match", "match*", "<-", "<<"})
_IF_LETS = frozenset({"if-let", "when-let", "awhen", "aif"})
_OPAQUE = frozenset({"quote", "quote-syntax", "syntax", "quasisyntax", "syntax-rules", "syntax-case", "ast-case",
                     "declare", "export", "include", "c-lambda", "c-declare", "c-define-type", "c-define",
                     "c-initialize", "define-c-lambda", "define-c-lambda/const-pointer", "begin-syntax",
                     "cond-expand", "define-type", "define-structure", "extern", "provide"})
_PATTERN_WORDS = frozenset({"_", "...", "else", "=>", "?", "and", "or", "not", "cons", "list", "@list",
                            "vector", "values", "apply", "quote", "quasiquote", "unquote", "cons*", "box"})
_FOR_FILTERS = frozenset({"when", "unless"})


@dataclass
class Usage:
    """The free names of some code (each with whether it was used as an operator), its imports,
    and whether it uses names that a relative (user-written) module could provide."""

    free: dict[str, bool] = field(default_factory=dict)  # name -> used as operator somewhere
    imports: list[Datum] = field(default_factory=list)
    macros: set[str] = field(default_factory=set)

    def use(self, name: str, operator: bool) -> None:
        self.free[name] = self.free.get(name, False) or operator


def _name(d: Datum) -> str | None:
    return str(d) if type(d) is Symbol else None


def pattern_names(pattern: Datum, out: set[str], refs: list[Datum]) -> None:
    """Names a ``match``/``with``/``for`` pattern binds; ``(? pred ...)`` predicates go to ``refs``."""
    todo = [pattern]
    while todo:
        p = todo.pop()
        n = _name(p)
        if n is not None:
            if n not in _PATTERN_WORDS:
                out.add(n)
            continue
        if not isinstance(p, Form) or not p.items:
            continue
        head = _name(p.items[0])
        if p.open == "(" and head == "?" and len(p.items) > 1:
            refs.append(p.items[1])
            todo.extend(p.items[2:])
        elif p.open == "(" and head in ("quote", "quote-syntax"):
            continue
        elif p.open == "(" and head == "apply" and len(p.items) > 1:
            refs.append(p.items[1])
            todo.extend(p.items[2:])
        elif p.open == "(" and head is not None and head not in _PATTERN_WORDS:
            todo.extend(p.items[1:])  # (point x y): a struct or class pattern
        else:
            todo.extend(p.items)


class Walker:
    """One walk over the code of an answer; results in :attr:`usage`."""

    def __init__(self) -> None:
        self.usage = Usage()

    # -- scopes ----------------------------------------------------------------------------------

    def body_definitions(self, body: Iterable[Datum]) -> set[str]:
        """Names defined at the level of ``body`` (visible to all of it, also before the definition)."""
        out: set[str] = set()
        for d in body:
            if not isinstance(d, Form) or not d.items or d.open != "(":
                continue
            head = _name(d.items[0])
            if head == "begin":
                out |= self.body_definitions(d.items[1:])
            elif head is not None and len(d.items) > 1:
                out |= self.definition_names(head, d)
        return out

    def definition_names(self, head: str, form: Form) -> set[str]:
        items = form.items
        target = items[1]
        if head in _DEFINES or head in _MACRO_DEFINERS or head in ("def*", "defmethod-alias", "defproto",
                                                                   "definterface", "interface"):
            while isinstance(target, Form) and target.items and target.open == "(":
                target = target.items[0]
            name = _name(target)
            if name is None:
                return set()
            if head in _MACRO_DEFINERS:
                self.usage.macros.add(name)
            if head in ("definterface", "interface"):
                methods = [_name(m.items[0]) for m in items[2:] if isinstance(m, Form) and m.items]
                return {name, f"{name}?", f"is-{name}?", f"make-{name}", f"{name}::t"} | {
                    f"{name}-{m}" for m in methods if m}
            return {name}
        if head in _TYPE_DEFINERS or head == "deferror-class":
            name = _name(target) or (_name(target.items[0]) if isinstance(target, Form) and target.items else None)
            if name is None:
                return set()
            fields = [(_name(f) or (_name(f.items[0]) if isinstance(f, Form) and f.items else None))
                      for f in (items[2].items if len(items) > 2 and isinstance(items[2], Form) else ())]
            names = set(generated_names(head, name, [f for f in fields if f]))
            if head == "deferror-class" and len(items) > 3 and _name(items[3]):
                names.add(str(items[3]))
            return names
        if head in ("defvalues", "define-values") and isinstance(target, Form):
            return {n for n in map(_name, target.items) if n and n != "."}
        if head == "define-record-type" and len(items) > 2:
            names = {n for n in (_name(items[1]), _name(items[3]) if len(items) > 3 else None) if n}
            if isinstance(items[2], Form) and items[2].items and _name(items[2].items[0]):
                names.add(str(items[2].items[0]))
            for spec in items[4:]:
                if isinstance(spec, Form):
                    names |= {n for n in map(_name, spec.items[1:]) if n}
            return names
        if (head.startswith("def") or head == "c-define") and head not in ("defmethod", "defspecific"):
            # library definers, also define-c-lambda and (c-define (f x) ...):
            while isinstance(target, Form) and target.items and target.open == "(":  # (defcall-actor (f w) ...)
                target = target.items[0]
            return {str(target)} if _name(target) else set()
        if head in ("begin-ffi", "begin-foreign") and isinstance(target, Form):
            return {n for n in map(_name, target.items) if n}
        if head == "extern":
            return {n for n in map(_name, items[1:]) if n}
        return set()

    # -- the walk ----------------------------------------------------------------------------------

    def walk_body(self, body: Iterable[Datum], bound: frozenset[str]) -> None:
        body = list(body)
        inner = bound | self.body_definitions(body)
        for d in body:
            self.expr(d, inner)

    def formals(self, formals: Datum, bound: frozenset[str]) -> frozenset[str]:
        """Bind the parameters of ``formals``; their default expressions are walked in order."""
        names = set(bound)
        if type(formals) is Symbol:
            return frozenset(names | {str(formals)})
        if not isinstance(formals, Form):
            return frozenset(names)
        for item in formals.items:
            if isinstance(item, Keyword) or item == Symbol("."):
                continue
            n = _name(item)
            if n is not None:
                names.add(n)
            elif isinstance(item, Form) and item.items and _name(item.items[0]):
                if len(item.items) > 1 and _name(item.items[1]) not in (":-", ":~", ":="):
                    self.expr(item.items[1], frozenset(names))  # (port 80): the default is an expression
                names.add(str(item.items[0]))
        return frozenset(names)

    def expr(self, d: Datum, bound: frozenset[str]) -> None:
        n = _name(d)
        if n is not None:
            if n not in bound:
                self.usage.use(n, False)
            return
        if not isinstance(d, Form) or not d.items:
            return
        if d.open in ("#(", "#u8("):
            return
        if d.open == "{":  # {method obj arg ...}: the method name is not a variable
            for x in d.items[1:]:
                self.expr(x, bound)
            return
        if d.open == "[":
            for x in d.items:
                self.expr(x, bound)
            return
        head = _name(d.items[0])
        if head is None:
            for x in d.items:
                self.expr(x, bound)
            return
        if head in bound and head not in ("def", "lambda", "let"):  # a local procedure or macro
            if head in self.usage.macros:
                return
            for x in d.items[1:]:
                self.expr(x, bound)
            return
        self.usage.use(head, True)
        self.special(head, d, bound)

    def special(self, head: str, d: Form, bound: frozenset[str]) -> None:
        """Walk the arguments of a form whose operator is ``head``, minding binding forms."""
        items, n = d.items, len(d.items)
        rest = items[1:]
        if head in _OPAQUE:
            return
        if head == "quasiquote":
            self.unquotes(rest, bound)
        elif head == "import":
            self.usage.imports.extend(rest)
        elif head in ("module",):
            self.walk_body(items[2:], bound)
        elif head in _MACRO_DEFINERS:
            return
        elif head in _LAMBDAS and n > 1:
            self.walk_body(items[2:], self.formals(items[1], bound))
        elif head in _DEFINES and n > 1:
            self.define(head, d, bound)
        elif head in ("case-lambda", "def*"):
            for clause in items[2 if head == "def*" else 1:]:
                if isinstance(clause, Form) and clause.items:
                    self.walk_body(clause.items[1:], self.formals(clause.items[0], bound))
        elif head == "defmethod" and n > 2:
            if isinstance(items[1], Form) and items[1].open == "(":  # (defmethod (f (a <type>)) body): generic
                self.walk_body(items[2:], self.formals(Form("(", items[1].items[1:]), bound))
            else:
                self.walk_body(items[2:], bound)
        elif head in _TYPE_DEFINERS or head in ("deferror-class", "define-record-type", "definterface",
                                                 "interface", "defvalues", "begin-ffi", "begin-foreign"):
            if head in ("defvalues",) and n > 2:
                self.expr(items[2], bound)
            return
        elif head in _LETS:
            self.let(head, d, bound)
        elif head in _VALUES_LETS and n > 1:
            self.let_values(head, d, bound)
        elif head in ("let/cc", "let/esc") and n > 2 and _name(items[1]):
            self.walk_body(items[2:], bound | {str(items[1])})
        elif head == "receive" and n > 2:
            self.expr(items[2], bound)
            self.walk_body(items[3:], self.formals(items[1], bound))
        elif head == "do" and n > 2:
            self.do(d, bound)
        elif head in _FORS and n > 2:
            self.for_(head, d, bound)
        elif head in _MATCHES and n > 1:
            start = 1 if head in ("<-", "<<") else 2
            for x in items[1:start]:
                self.expr(x, bound)
            for clause in items[start:]:
                self.clause(clause, bound)
        elif head in ("with", "with*") and n > 2:
            self.with_(head, d, bound)
        elif head in _IF_LETS and n > 2:
            self.if_let(head, d, bound)
        elif head == "try":
            self.try_(rest, bound)
        elif head == "case" and n > 1:
            self.expr(items[1], bound)
            for clause in items[2:]:
                if isinstance(clause, Form) and clause.items:
                    for x in clause.items[1:]:
                        self.expr(x, bound)
        elif head == "@" and n > 1:  # (@ obj slot ...): slot names are not variables
            self.expr(items[1], bound)
        elif head == "set!" and n > 1 and type(items[1]) is Symbol:
            self.expr(items[1], bound)
            for x in items[2:]:
                self.expr(x, bound)
        elif head == "begin":
            self.walk_body(rest, bound)
        elif head in ("hash", "hash-eq", "hash-eqv"):  # (hash (key value) ...): keys are data
            for pair in rest:
                if isinstance(pair, Form):
                    for x in pair.items[1:]:
                        self.expr(x, bound)
        elif head.startswith("def") and n > 2 and head not in ("defmethod", "defspecific"):
            self.define(head, d, bound)  # a library's definer, e.g. (defcall-actor (balance w) ...)
        else:
            for x in rest:
                if not isinstance(x, Keyword):
                    self.expr(x, bound)

    def define(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        target = items[1]
        if isinstance(target, Form) and target.open == "(":  # (def (f x) body), curried ((f a) b)
            params: list[Datum] = []
            while isinstance(target, Form) and target.items and target.open == "(":
                params.append(Form("(", target.items[1:]))
                target = target.items[0]
            inner = bound | ({str(target)} if _name(target) else set())
            for p in reversed(params):
                inner = self.formals(p, inner)
            self.walk_body(items[2:], inner)
        else:
            for x in items[2:]:
                self.expr(x, bound)

    def let(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        i = 1
        inner = set(bound)
        if len(items) > 2 and type(items[1]) is Symbol:  # named let
            inner.add(str(items[1]))
            i = 2
        if i >= len(items):
            return
        spec = items[i]
        pairs: list[Datum] = [spec] if _single(spec) else list(spec.items) if isinstance(spec, Form) else []
        sequential = head not in ("let", "alet")
        for pair in pairs:
            if isinstance(pair, Form) and pair.items:
                scope = frozenset(inner) if sequential or head.startswith("letrec") else bound
                for x in pair.items[1:]:
                    self.expr(x, scope)
                names: set[str] = set()
                pattern_names(pair.items[0], names, [])
                inner |= names
            elif _name(pair):
                inner.add(str(pair))
        self.walk_body(items[i + 1:], frozenset(inner))

    def let_values(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        if head == "define-values":
            if len(items) > 2:
                self.expr(items[2], bound)
            return
        inner = set(bound)
        if isinstance(items[1], Form):
            for pair in items[1].items:
                if isinstance(pair, Form) and pair.items:
                    for x in pair.items[1:]:
                        self.expr(x, frozenset(inner) if "*" in head else bound)
                    inner |= set(self.formals(pair.items[0], frozenset()))
        self.walk_body(items[2:], frozenset(inner))

    def do(self, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        inner = set(bound)
        specs = items[1].items if isinstance(items[1], Form) else ()
        for spec in specs:
            if isinstance(spec, Form) and spec.items and _name(spec.items[0]):
                inner.add(str(spec.items[0]))
        for spec in specs:
            if isinstance(spec, Form):
                for x in spec.items[1:2]:
                    self.expr(x, bound)
                for x in spec.items[2:]:
                    self.expr(x, frozenset(inner))
        for x in items[2:]:
            if isinstance(x, Form) and x is items[2]:
                for y in x.items:
                    self.expr(y, frozenset(inner))
            else:
                self.expr(x, frozenset(inner))

    def for_(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        inner = set(bound)
        i = 1
        if head == "for/fold":  # (for/fold ((acc init) ...) clauses body) or (for/fold (acc init) ...)
            acc = items[1]
            accs = [acc] if _single(acc) else list(acc.items) if isinstance(acc, Form) else []
            for a in accs:
                if isinstance(a, Form) and a.items:
                    for x in a.items[1:]:
                        self.expr(x, bound)
                    inner |= {str(a.items[0])} if _name(a.items[0]) else set()
            i = 2
        if i >= len(items):
            return
        spec = items[i]
        clauses = [spec] if _single(spec) else list(spec.items) if isinstance(spec, Form) else []
        sequential = head == "for*"
        filters: list[Datum] = []
        for clause in clauses:
            if not isinstance(clause, Form) or not clause.items:
                continue
            parts = list(clause.items)
            k = 1
            while k < len(parts):
                word = _name(parts[k]) or (str(parts[k]) if isinstance(parts[k], Keyword) else None)
                if word in _FOR_FILTERS or word in ("when:", "unless:"):
                    filters.extend(parts[k + 1:k + 2])
                    k += 2
                else:
                    self.expr(parts[k], frozenset(inner) if sequential else bound)
                    k += 1
            refs: list[Datum] = []
            names: set[str] = set()
            pattern_names(parts[0], names, refs)
            for r in refs:
                self.expr(r, bound)
            inner |= names
        for f in filters:
            self.expr(f, frozenset(inner))
        self.walk_body(items[i + 1:], frozenset(inner))

    def clause(self, clause: Datum, bound: frozenset[str]) -> None:
        """A ``match`` clause ``(pattern body ...)``, also ``(pattern (where guard) body ...)``."""
        if not isinstance(clause, Form) or not clause.items:
            return
        names: set[str] = set()
        refs: list[Datum] = []
        pattern_names(clause.items[0], names, refs)
        for r in refs:
            self.expr(r, bound)
        self.walk_body(clause.items[1:], bound | names)

    def with_(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        spec = items[1]
        pairs: list[Datum] = []
        if isinstance(spec, Form) and spec.items:
            first = spec.items[0]
            # (with (pat e) ...) or (with ((point x y) e) ...) is one binding; ((p1 e1) (p2 e2)) several
            one = len(spec.items) == 2 and (not isinstance(first, Form) or first.open == "["
                                            or (bool(first.items) and _name(first.items[0]) is not None))
            pairs = [spec] if one else list(spec.items)
        inner = set(bound)
        for pair in pairs:
            if isinstance(pair, Form) and pair.items:
                for x in pair.items[1:]:
                    self.expr(x, frozenset(inner) if head == "with*" else bound)
                refs: list[Datum] = []
                pattern_names(pair.items[0], inner, refs)
                for r in refs:
                    self.expr(r, bound)
        self.walk_body(items[2:], frozenset(inner))

    def if_let(self, head: str, d: Form, bound: frozenset[str]) -> None:
        items = d.items
        spec = items[1]
        inner = set(bound) | ({"it"} if head in ("awhen", "aif") else set())
        if head in ("awhen", "aif") and not (isinstance(spec, Form) and len(spec.items) == 2 and _name(spec.items[0])):
            self.expr(spec, bound)
            pairs: list[Datum] = []
        else:
            pairs = [spec] if _single(spec) else list(spec.items) if isinstance(spec, Form) else []
        for pair in pairs:
            if isinstance(pair, Form) and pair.items:
                for x in pair.items[1:]:
                    self.expr(x, frozenset(inner))
                pattern_names(pair.items[0], inner, [])
        for x in items[2:]:
            self.expr(x, frozenset(inner))

    def try_(self, body: tuple[Datum, ...], bound: frozenset[str]) -> None:
        plain: list[Datum] = []
        for x in body:
            head = _name(x.items[0]) if isinstance(x, Form) and x.items else None
            if head == "catch" and isinstance(x, Form) and len(x.items) > 1:
                spec = x.items[1]
                inner = set(bound)
                if isinstance(spec, Form) and spec.items:
                    if len(spec.items) == 2:  # (catch (pred e) ...)
                        self.expr(spec.items[0], bound)
                    if _name(spec.items[-1]):
                        inner.add(str(spec.items[-1]))
                elif spec != Symbol("_"):  # (catch pred => K): both are references, nothing is bound
                    self.expr(spec, bound)
                self.walk_body([y for y in x.items[2:] if y != Symbol("=>")], frozenset(inner))
            elif head == "finally" and isinstance(x, Form):
                self.walk_body(x.items[1:], bound)
            else:
                plain.append(x)
        self.walk_body(plain, bound)

    def unquotes(self, data: Iterable[Datum], bound: frozenset[str]) -> None:
        todo = list(data)
        while todo:
            x = todo.pop()
            if isinstance(x, Form) and x.items:
                head = _name(x.items[0])
                if x.open == "(" and head in ("unquote", "unquote-splicing") and len(x.items) == 2:
                    self.expr(x.items[1], bound)
                else:
                    todo.extend(x.items)


def _single(spec: Datum) -> bool:
    """Gerbil's one-binding shorthand ``(x 1)`` / ``([a . b] lst)`` / ``((values a b) e)``,
    told from a list of bindings ``((x 1) (y 2))``."""
    if not isinstance(spec, Form) or spec.open != "(" or not spec.items:
        return False
    first = spec.items[0]
    if not isinstance(first, Form):
        return True
    return first.open == "[" or (bool(first.items) and _name(first.items[0]) == "values")


def usage_of(data: Iterable[Datum]) -> Usage:
    """The free names, imports and macros of top-level ``data`` (a whole answer's code)."""
    walker = Walker()
    walker.walk_body(data, frozenset())
    return walker.usage
