"""Claims an answer makes about results, checked against facts a case knows.

"``hash-ref`` returns ``#f`` for a missing key" is a wrong answer even when every name in its
code exists. A case lists the facts it knows (``{type: facts, value: [hash-ref-missing-raises]}``);
each fact here knows how that belief is contradicted:

- in code, by a ``; =>`` comment or a REPL transcript (:mod:`.annotations`) claiming a value for
  a matching expression (``(hash-ref h 'zz)   ; => #f``);
- in prose, and in the text of code comments, by a sentence that attributes the wrong behaviour
  to the procedure ("hash-ref gives back #f when the key is absent", "later tables override").

A sentence that negates the claim ("hash-ref does not return #f", "arrays become lists, not
vectors") or attributes it to another procedure ("unlike hash-ref, hash-get returns #f") does not
contradict. Only the facts the original verify prompts check and a few more are known; an unknown
fact id is a load-time error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .annotations import Claim, answer_claims
from .answer import Answer
from .reader import Form, Keyword, Symbol

#: Values that stand for "nothing found" in a claim: what hash-ref does *not* return.
_NOTHING = re.compile(r"(?i)^\s*(#f|#false|false|#!void|void|\(void\)|nil|null|none|'\(\)|nothing|undefined)\b")
_NEGATION = re.compile(r"(?i)\b(no|not|never|no longer|instead of|rather than|neither|nor|cannot|can't|won't|doesn't|"
                       r"don't|isn't|aren't|wouldn't|unlike)\b|n't\b")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?](?=\s|$)|\n|$)")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_COMMENT = re.compile(r";+([^\n]*)")
_THREE_ARGS = re.compile(r"\s+[^\s)]+\s+[^\s)]+\s+[^\s)]+")


@dataclass(frozen=True)
class Fact:
    """One fact: its id, what is true, and how claims contradict it."""

    id: str
    truth: str
    #: (subject regex, predicate regex): a sentence saying ``subject ... predicate`` with no
    #: negation and no other procedure between them contradicts the fact.
    prose: tuple[tuple[str, str], ...] = ()
    #: A code claim that contradicts the fact.
    code: Callable[[Claim], bool] | None = None


def _call(claim: Claim, name: str, arity: int | None = None) -> bool:
    d = claim.datum
    return (isinstance(d, Form) and d.open == "(" and bool(d.items) and type(d.items[0]) is Symbol
            and d.items[0] == name and (arity is None or len(d.items) - 1 == arity))


def _calls_any(claim: Claim, names: tuple[str, ...]) -> bool:
    """``claim.expr`` calls one of ``names`` anywhere."""
    return any(re.search(rf"\({re.escape(n)}[\s)]", claim.expr) for n in names)


_MERGE = r"(?<![\w-])hash-merge(?![\w/!-])|(?<![\w-])merg(e|es|ed|ing)\b(?!-)"
def _let_hash_strong_missing(claim: Claim) -> bool:
    """``(let-hash h .zzz) ; => #f``: a strong ``.key`` reference claimed to give nothing."""
    d = claim.datum
    if not (_call(claim, "let-hash") and isinstance(d, Form) and len(d.items) > 2):
        return False
    last = d.items[-1]
    strong = type(last) is Symbol and last.startswith(".") and not last.startswith((".?", ".."))
    return strong and not claim.error and bool(_NOTHING.match(claim.value))


_JSON_READERS = ("string->json-object", "read-json", "bytes->json-object", "port->json-object")

FACTS: dict[str, Fact] = {f.id: f for f in (
    Fact("hash-ref-missing-raises",
         "hash-ref without a default raises on a missing key",
         prose=((r"hash-ref(?![/\w-])", r"\b(returns?|returning|gives?( back)?|yields?|evaluates? to|produces?|results? in)\s+"
                 r"(`?#f\b|`?#false|false\b|`?#!void|void\b|nothing\b|null\b|nil\b|an? empty)"),),
         code=lambda c: _call(c, "hash-ref", 2) and not c.error and bool(_NOTHING.match(c.value))),
    Fact("hash-get-missing-false",
         "hash-get returns #f for a missing key and never raises",
         prose=((r"hash-get(?![/\w-])", r"\b(raises?|throws?|signals?|errors?( out)?)\b"),
                (r"hash-get(?![/\w-])", r"\b(returns?|gives?|yields?)\s+(`?#!void|void\b|an? error)")),
         code=lambda c: _call(c, "hash-get") and (c.error or c.value.strip() in ("#!void", "(void)", "void"))),
    Fact("json-arrays-are-lists",
         "JSON arrays read as lists by default",
         prose=((r"(?<![\w-])(json )?arrays?(?![\w-])",
                 r"\b(become|becomes|are|is|parse[sd]?\s+(in)?to|decode[sd]?\s+(in)?to|maps?( to)?|mapped to|turn into|"
                 r"come back as|(are )?returned as|(are )?read as|converts? to|converted to|represented as|as)\s+"
                 r"(scheme |a |gambit )?(vectors?\b|#\()"),),
         code=lambda c: _calls_any(c, _JSON_READERS) and c.value.lstrip().startswith("#(")),
    Fact("hash-merge-left-wins",
         "hash-merge keeps the value of the leftmost table that has the key",
         prose=((_MERGE, r"\b(later|last|right(most)?|second|subsequent|overrid\w*)\b[^.;]*?"
                 r"\b(overrid\w*|wins?|take precedence|takes? priority|replaces?|overwrites?|clobbers?)\b"),
                (_MERGE, r"\b(overrides|overwrites)\b[^.]*\b(earlier|first|left(most)?)\b")),
         code=None),
    Fact("in-range-end-exclusive",
         "(in-range n) stops before n: the end is exclusive",
         prose=((r"in-range|\bend\b|\brange\b", r"\binclusive\b|\bincludes? (the )?end\b"),),
         code=None),
    Fact("let-hash-dot-raises",
         "in let-hash, .key is (hash-ref h 'key): a missing key raises (.?key gives #f)",
         code=lambda c: _let_hash_strong_missing(c)),
    Fact("keyword-string-without-colon",
         "keyword->string drops the colon: (keyword->string port:) is \"port\"",
         code=lambda c: (_call(c, "keyword->string", 1) and isinstance(c.datum.items[1], Keyword)  # type: ignore[union-attr]
                         and c.value.strip().strip('"') == str(c.datum.items[1]))),  # type: ignore[union-attr]
)}


def prose_of(ans: Answer) -> list[str]:
    """Sentences of the answer's prose and of its code comments (fenced code removed)."""
    text = ans.text
    comments = [m.group(1) for unit in ans.units for m in _COMMENT.finditer(unit.text)] if ans.blocks else []
    outside = _FENCE.sub("\n", text)
    out: list[str] = []
    for chunk in [outside, *comments]:
        out += [s.strip() for s in _SENTENCE.findall(chunk) if s.strip()]
    return out


def _contradicting_sentence(fact: Fact, sentence: str) -> bool:
    for subject, predicate in fact.prose:
        for m in re.finditer(subject, sentence, re.IGNORECASE):
            rest = sentence[m.end():]
            p = re.search(predicate, rest, re.IGNORECASE)
            if p is None:
                continue
            gap = rest[:p.start()]
            if _NEGATION.search(gap) or _NEGATION.search(rest[p.start():p.end()]):
                continue
            if re.search(r"hash-(get|ref)|\bwhile\b|\bwhereas\b|\bbut\b", gap, re.IGNORECASE):
                continue  # the predicate belongs to another subject
            if re.search(r"default|fallback", gap, re.IGNORECASE) or _THREE_ARGS.match(gap):
                continue  # (hash-ref h k #f) returns its default: that is right
            after = rest[p.end():p.end() + 40]
            if re.match(r"[^.;]*\b(not|never)\b", after, re.IGNORECASE) and fact.id == "json-arrays-are-lists":
                continue
            return True
    return False


def contradictions(fact_ids: tuple[str, ...], ans: Answer) -> list[str]:
    """One reason per claim of the answer that contradicts one of the facts."""
    out: list[str] = []
    sentences = prose_of(ans) if any(FACTS[f].prose for f in fact_ids) else []
    for fid in fact_ids:
        fact = FACTS[fid]
        if fact.code is not None:
            for claim in answer_claims(ans):
                if fact.code(claim):
                    shown = "raises" if claim.error else claim.value
                    out.append(f"line {claim.line} claims {claim.expr} => {shown[:40]}, but {fact.truth}")
        for sentence in sentences:
            if _contradicting_sentence(fact, sentence):
                out.append(f"\"{sentence[:70]}\" contradicts: {fact.truth}")
                break
    return out
