"""No credit without Gerbil code.

A Python answer to a Gerbil question used to score about 0.39 on average, because every
``not-calls``/``not-mentions`` check passes when there is no code to inspect; that floor
squeezed every base-vs-fine-tuned delta. Two rules remove it:

- a case *asks for code* when it has a weighted ``parses`` assertion; an answer to such a case
  whose code does not read as Scheme, or that has none, scores 0 on the case;
- a negated code-aware assertion (``not-calls``, ``not-mentions``, ``not-form``...) earns no
  credit when the answer has no Scheme code at all: absence of a wrong call in no code is not
  evidence of anything.

"Reads as Scheme" is judged on each code unit of :mod:`.answer` (its Scheme-tagged or untagged
fenced blocks, or the whole answer when it has none): at least half of its non-comment text lies
inside bracketed forms headed by a name, the shape of Lisp code and not of prose or Python
(``print(len(x))`` is mostly a name before a bracket).
"""

from __future__ import annotations

from .answer import Answer
from .reader import Form, Span, Symbol, spans

#: Assertion types that look at the answer's code; under ``not-`` they need code to earn credit.
CODE_TYPES = frozenset({"calls", "calls-any", "mentions", "mentions-any", "imports", "imports-any", "defines", "argument-order",
                        "defines-any", "form", "form-any", "parses", "resolves"})
SCHEME_SHARE = 0.5


def _visible(text: str, skip: list[Span]) -> int:
    """Non-whitespace characters of ``text`` outside the ``skip`` spans (comments)."""
    total = sum(1 for c in text if not c.isspace())
    return total - sum(sum(1 for c in text[s.start:s.end] if not c.isspace()) for s in skip)


def reads_as_scheme(text: str, data: tuple) -> bool:
    """Whether one code unit is Scheme code rather than prose or another language."""
    if not any(_named_form(d) for d in data):
        return False
    all_spans = spans(text)
    # comments, REPL prompts and printed results (#<point #12>, 42, "text") are neither code nor prose
    neutral = [s for s in all_spans if s.depth == 0 and (s.kind == "comment" or _is_output(text[s.start:s.end]))]
    total = _visible(text, neutral)
    inside = 0
    for s in all_spans:
        glued = s.start > 0 and not text[s.start - 1].isspace() and text[s.start - 1] not in "([{'`,"
        if s.kind == "datum" and s.depth == 0 and text[s.start] in "([{'`" and not glued:  # print(x) is not Lisp
            inner = [c for c in all_spans if c.kind == "comment" and s.start <= c.start < s.end]
            inside += _visible(text[s.start:s.end], [Span(c.kind, c.start - s.start, c.end - s.start, 0)
                                                     for c in inner])
    return total > 0 and inside >= SCHEME_SHARE * total


def _named_form(d: object) -> bool:
    """A form headed by a name (or a form); a quoted atom (``'0``, ``'done``) reads as one but is no form."""
    if not (isinstance(d, Form) and d.items and type(d.items[0]) in (Symbol, Form)):
        return False
    return not (d.items[0] in ("quote", "quasiquote") and len(d.items) == 2 and not isinstance(d.items[1], Form))


def _is_output(token: str) -> bool:
    """A top-level REPL prompt ``>`` or a printed value (``#<...>``, ``#t``, a number or string)."""
    return token == ">" or token[0] in '#"0123456789' or token[0] in "+-" and token[1:2].isdigit()


def _has_scheme_code(ans: Answer) -> bool:
    return any(r.data and reads_as_scheme(u.text, r.data) for u, r in zip(ans.units, ans.reads))


def has_scheme_code(ans: Answer) -> bool:
    """The answer has at least one code unit that reads as Scheme (computed once per answer)."""
    return ans.derived(_has_scheme_code)


def asks_for_code(assertions) -> bool:
    """A case asks for code when it has a weighted, non-negated ``parses`` assertion."""
    return any(a.type == "parses" and a.weight > 0 for a in assertions)
