"""``argument-order``: known procedures get their arguments in the right order.

Swapped arguments are the commonest near miss that every name check passes: ``(hash-get key
table)``, ``(assgetq cfg 'port)``, ``(pregexp-match str pattern)``, ``(with-lock thunk m)``. When
both arguments are variables no pattern over literals sees it, so this check infers what each
variable holds — from its definition in the code (``(def cfg '((port . 80)))`` is a list,
``(make-hash-table)`` a table, ``(def (show k v) ...)`` a procedure) or, failing that, from its
name (``table``, ``key``, ``pattern``, ``thunk``) — and compares that with the role each position
of the procedure plays. Only clear mismatches count: a variable of unknown kind is never blamed.
"""

from __future__ import annotations

import re
from typing import Any

from . import values
from .registry import Outcome, register
from ..answer import Answer
from ..reader import Char, Datum, Form, Keyword, Symbol, write_datum

TABLE, KEY, LIST, STRING, PATTERN, PROC, MUTEX, CHAR, SEP = (
    "table", "key", "list", "string", "pattern", "procedure", "mutex", "char", "separator")

#: procedure -> role of each leading argument
SIGNATURES: dict[str, tuple[str, ...]] = {
    **{n: (TABLE, KEY) for n in ("hash-get", "hash-ref", "hash-key?", "hash-remove!", "hash-put!", "hash-update!",
                                  "hash-ref/default")},
    **{n: (PROC, TABLE) for n in ("hash-for-each", "hash-map", "hash-filter")},
    **{n: (KEY, LIST) for n in ("assgetq", "assgetv", "assget", "agetq", "agetv", "aget", "pgetq", "pgetv", "pget")},
    **{n: (PATTERN, STRING) for n in ("pregexp-match", "pregexp-match-positions", "pregexp-replace",
                                       "pregexp-replace*", "pregexp-split")},
    "with-catch": (PROC, PROC),
    "with-lock": (MUTEX, PROC),
    "string-join": (LIST, SEP),
    "string-split": (STRING, CHAR),
}
#: Names that say what a variable holds.
_NAME_KINDS = (
    (TABLE, r"(h|ht|tbl|table|hash|hashtable|cache|counts|dict|index|registry|opts|options|config-table)"),
    (KEY, r"(k|key|word|name|field|id)"),
    (LIST, r"(lst|xs|items|list|alist|plist|cfg|config|pairs|parts|words|strs|strings)"),
    (STRING, r"(s|str|string|text|line|input|subject|haystack)"),
    (PATTERN, r"(pat|pattern|rx|re|regex|regexp)"),
    (PROC, r"(f|fn|proc|thunk|handler|callback|show|print-entry|body)"),
    (MUTEX, r"(m|mx|mutex|lock)"),
    (SEP, r"(sep|separator|delim|delimiter|joiner)"),
)
_HANDLER, _THUNK = re.compile(r"(handler|on-error|catcher|h)\Z"), re.compile(r"(thunk|body|work|action|try-it)\Z")
_TABLE_MAKERS = re.compile(r"(make-hash-table.*|hash|hash-eq|hash-eqv|list->hash-table.*|plist->hash-table|hash-copy)\Z")
_LIST_MAKERS = frozenset({"list", "@list", "cons", "iota", "map", "filter", "reverse", "append"})


def _literal_kind(d: Datum) -> str | None:
    if isinstance(d, Form) and d.open == "(" and len(d.items) == 2 and d.items[0] == Symbol("quote"):
        return LIST if isinstance(d.items[1], Form) else KEY
    if isinstance(d, Form) and d.open == "[":
        return LIST
    if isinstance(d, Form) and d.items and type(d.items[0]) is Symbol:
        head = str(d.items[0])
        if head in ("lambda", "λ"):
            return PROC
        if _TABLE_MAKERS.match(head):
            return TABLE
        if head == "make-mutex":
            return MUTEX
        if head == "pregexp":
            return PATTERN
        if head in _LIST_MAKERS:
            return LIST
    if type(d) is str:
        return STRING
    if isinstance(d, Char):
        return CHAR
    return None


def _definitions(ans: Answer) -> dict[str, str]:
    """What the code's own top-level definitions hold."""
    kinds: dict[str, str] = {}
    for form in ans.forms:
        items = form.items
        if form.open != "(" or len(items) < 3 or type(items[0]) is not Symbol or items[0] not in ("def", "define"):
            continue
        target = items[1]
        if isinstance(target, Form) and target.items and type(target.items[0]) is Symbol:
            kinds[str(target.items[0])] = PROC
        elif type(target) is Symbol:
            kind = _literal_kind(items[2])
            if kind:
                kinds[str(target)] = kind
    return kinds


def _kind(d: Datum, defs: dict[str, str]) -> str | None:
    if type(d) is Symbol:
        name = str(d)
        by_name = next((kind for kind, pattern in _NAME_KINDS if re.fullmatch(pattern, name)), None)
        if name in defs and not (defs[name] == STRING and by_name):  # (def pattern "a+") is a pattern
            return defs[name]
        return by_name
    return _literal_kind(d)


def _mismatch(role: str, kind: str | None) -> bool:
    if kind is None:
        return False
    compatible = {TABLE: {TABLE}, KEY: {KEY, STRING}, LIST: {LIST}, STRING: {STRING}, PATTERN: {PATTERN, STRING},
                  PROC: {PROC}, MUTEX: {MUTEX}, CHAR: {CHAR, STRING}, SEP: {SEP, STRING, CHAR}}
    return kind not in compatible[role]


def swapped(ans: Answer) -> list[str]:
    """Calls of known procedures whose arguments are of the kind another position wants."""
    defs = _definitions(ans)
    out: list[str] = []
    for form in ans.forms:
        items = form.items
        if _raise_message_first(items, defs):
            out.append(f"{write_datum(form, 50)}: a defraise/context helper takes the where context first, "
                       "then the message")
            continue
        if form.open != "(" or not items or type(items[0]) is not Symbol or items[0] not in SIGNATURES:
            continue
        name, roles = str(items[0]), SIGNATURES[str(items[0])]
        args = [a for a in items[1:len(roles) + 1] if not isinstance(a, Keyword)]
        if len(args) < len(roles):
            continue
        kinds = [_kind(a, defs) for a in args]
        if name == "with-catch":  # both are procedures: only their names tell handler from thunk
            first, second = (str(a) if type(a) is Symbol else "" for a in args)
            if _THUNK.search(first) and _HANDLER.search(second):
                out.append(f"{write_datum(form, 50)}: with-catch takes the handler first, then the thunk")
            continue
        if name == "string-split" and kinds[0] == CHAR:
            out.append(f"{write_datum(form, 50)}: string-split takes the string first, then the separator")
            continue
        wrong = [i for i, (role, kind) in enumerate(zip(roles, kinds)) if _mismatch(role, kind)]
        # a swap: some argument holds what another position wants
        if wrong and any(kinds[i] in _accepts(roles[j]) for i in wrong for j in range(len(roles)) if j != i):
            want = ", ".join(roles)
            out.append(f"{write_datum(form, 50)}: {name} takes ({want})")
    return out


def _raise_message_first(items: tuple[Datum, ...], defs: dict[str, str]) -> bool:
    """``(raise-foo "message" ...)``: helpers made by ``defraise/context`` (the std ones too) take
    the ``where`` context first; a procedure of that name the code defines itself is its own."""
    return (len(items) > 1 and type(items[0]) is Symbol and items[0].startswith("raise-")
            and defs.get(str(items[0])) != PROC and type(items[1]) is str)


def _accepts(role: str) -> set[str]:
    return {TABLE: {TABLE}, KEY: {KEY}, LIST: {LIST}, STRING: {STRING}, PATTERN: {PATTERN}, PROC: {PROC},
            MUTEX: {MUTEX}, CHAR: {CHAR}, SEP: {SEP}}[role]


@register("argument-order", values.no_value)
def argument_order(_v: None, ans: Answer, _a: Any, _ctx: dict) -> Outcome:
    found = ans.derived(swapped)
    if found:
        return Outcome.of(False, "; ".join(found))
    return Outcome.of(True, "known procedures get their arguments in order")
