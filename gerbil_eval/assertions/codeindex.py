"""What the code calls and mentions: one walk per answer that knows Gerbil's binding forms.

A call is a symbol at the head of a ``( ... )`` form *in expression position*. Without
knowing the binding forms, ``(def (main args) ...)`` would "call" ``main``, ``(lambda (k v)
...)`` would call ``k`` and ``(let ((list (iota 3))) ...)`` would call ``list``; then a
``not-calls`` check fails a correct answer that merely names a helper or a variable like the
forbidden procedure. So formals, binding lists, ``match``/``case``/macro patterns, ``cond``
clauses and quoted data are walked for their symbols but never as calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..answer import Answer
from ..reader import Datum, Form, Keyword, Symbol


class Mode(Enum):
    """How the walker reads a datum: as an expression, or as one of the non-call positions."""

    CODE = "code"          # an expression: (f x) calls f
    DATA = "data"          # quoted data, patterns, binding names: symbols only
    FORMALS = "formals"    # (f x (y 1) . rest): names, and (name default) pairs
    BINDINGS = "bindings"  # ((x 1) (y 2)), or Gerbil's single (x 1) / ([k . v] alist)
    BINDING = "binding"    # (pattern expr ...): pattern is data, the rest code
    CLAUSE = "clause"      # (pattern body ...) of match/case/syntax-case: pattern is data
    CLAUSE_F = "clause-f"  # (formals body ...) of case-lambda/def*
    TEST = "test"          # (test body ...) of cond: all code, but the clause is no call


_LAMBDAS = frozenset({"lambda", "λ", "receive"})
_FORMAL_DEFINERS = frozenset({"def", "define", "defrule", "defsyntax", "define-syntax", "defmacro", "define-macro",
                              "defsyntax-call", "define-syntax-rule"})
_CASE_LAMBDAS = {"case-lambda": 1, "def*": 2}
_LETS = frozenset({"let", "let*", "letrec", "letrec*", "let-values", "let*-values", "letrec-values", "parameterize",
                   "with", "with*", "for", "for*", "for/collect", "for/fold", "if-let", "when-let", "alet", "alet*",
                   "and-let*", "do", "rec"})
_CLAUSES_FROM = {"match": 2, "match*": 2, "case": 2, "syntax-rules": 2, "syntax-case": 3, "ast-case": 3,
                 "defrules": 3}
#: Macro forms whose item just before the clauses is the literal list: data, never a call.
_MACRO_LITERALS = frozenset({"syntax-rules", "syntax-case", "ast-case", "defrules"})
_QUOTES = frozenset({"quote", "quasiquote"})
# import/export specs stay code: (only-in :std/sugar try) "calls" only-in, which cases rely on.
_ALL_DATA = _QUOTES | frozenset({"defstruct", "defclass", "deferror-class",
                       "definterface", "defvalues", "define-values", "declare"})
_BACK_TO_CODE = frozenset({"unquote", "unquote-splicing"})


@dataclass(frozen=True, slots=True)
class CodeIndex:
    """The answer's calls (ordered, first occurrence first) and every symbol and keyword it has."""

    calls: dict[str, None]
    symbols: frozenset[str]


def _expression_modes(head: str, items: tuple[Datum, ...]) -> list[Mode]:
    """The mode of each item of an expression form whose head is the symbol ``head``."""
    n = len(items)
    modes = [Mode.CODE] * n
    if head in _ALL_DATA:
        return [Mode.DATA] * n
    if head in _LAMBDAS or head in _FORMAL_DEFINERS:
        if n > 1 and isinstance(items[1], Form) and items[1].open == "(":
            modes[1] = Mode.FORMALS
    elif head in _CASE_LAMBDAS:
        modes[_CASE_LAMBDAS[head]:] = [Mode.CLAUSE_F] * (n - _CASE_LAMBDAS[head])
    elif head in _LETS:
        first = 2 if n > 2 and type(items[1]) is Symbol else 1  # named let: (let loop ((i 0)) ...)
        for i in range(first, min(n, first + (2 if head == "for/fold" else 1))):
            modes[i] = Mode.BINDINGS
    elif head in _CLAUSES_FROM:
        modes[_CLAUSES_FROM[head]:] = [Mode.CLAUSE] * max(0, n - _CLAUSES_FROM[head])
        if head in _MACRO_LITERALS and n > _CLAUSES_FROM[head] - 1:  # (syntax-rules (else) ...): names, not a call
            modes[_CLAUSES_FROM[head] - 1] = Mode.DATA
    elif head == "cond":
        modes[1:] = [Mode.TEST] * (n - 1)
    return modes


def _single_binding(first: Datum) -> bool:
    """Gerbil's one-binding forms ``(let (x 1) ...)``, ``(for ([k . v] alist) ...)``,
    ``(for ((values k v) (in-hash h)) ...)``, told from lists of bindings ``((x 1) (y 2))``."""
    if not isinstance(first, Form) or first.open != "(":
        return True
    return bool(first.items) and type(first.items[0]) is Symbol and first.items[0] == "values"


def _item_modes(form: Form, mode: Mode) -> tuple[list[Mode], str | None]:
    """Modes for the items of ``form`` read in ``mode``, and the call it makes (if any)."""
    items = form.items
    n = len(items)
    head = items[0] if n and type(items[0]) is Symbol else None
    if form.open in ("#(", "#u8("):
        return [Mode.DATA] * n, None
    if mode is Mode.DATA:
        back = form.open == "(" and head in _BACK_TO_CODE  # ,x inside a quasiquote
        return [Mode.CODE if back else Mode.DATA] * n, None
    if mode is Mode.FORMALS:
        return [Mode.BINDING if isinstance(x, Form) else Mode.DATA for x in items], None
    if mode is Mode.BINDINGS:
        return ([Mode.DATA] + [Mode.CODE] * (n - 1) if _single_binding(items[0]) else [Mode.BINDING] * n), None
    if mode in (Mode.BINDING, Mode.CLAUSE):
        return [Mode.DATA] + [Mode.CODE] * (n - 1), None
    if mode is Mode.CLAUSE_F:
        return [Mode.FORMALS if isinstance(items[0], Form) else Mode.DATA] + [Mode.CODE] * (n - 1), None
    if mode is Mode.TEST:
        return [Mode.CODE] * n, None
    if form.open != "(" or head is None:  # [a b] is @list, {m obj} a method call, ((f) x) no named call
        return [Mode.CODE] * n, None
    return _expression_modes(head, items), (None if head in _QUOTES else head)


def code_index(ans: Answer) -> CodeIndex:
    """Walk the answer's code once (iteratively: deep nesting is fine)."""
    calls: dict[str, None] = {}
    symbols: set[str] = set()
    todo: list[tuple[Datum, Mode]] = [(d, Mode.CODE) for d in reversed(ans.data)]
    while todo:
        d, mode = todo.pop()
        if type(d) is Symbol or type(d) is Keyword:  # a keyword keeps its colon: port: is not port
            symbols.add(d)
        elif isinstance(d, Form) and d.items:
            modes, call = _item_modes(d, mode)
            if call is not None:
                calls.setdefault(call, None)
            todo.extend(zip(reversed(d.items), reversed(modes)))
    return CodeIndex(calls, frozenset(symbols))
