"""Claims that Scheme code makes about its own results: ``; =>`` comments and REPL transcripts.

Answers show what an expression evaluates to in two common ways::

    (hash-get h 'missing)   ; => #f
    (hash-ref h 'missing)   ;; => error: key not found

    > (hash-get h 'missing)
    #f

A wrong belief stated this way ("``hash-ref`` returns ``#f``") is a wrong answer even when every
name in the code exists, so the claims are extracted once, here, as data: the expression's source
text, the claimed value's text, and whether the claim is that evaluating the expression raises
(an *error demonstration*: ``; error``, ``; => error``, ``*** ERROR IN ...``). The claims checker
compares them with facts a case knows; the executor (issue 17) runs them. Neither concern lives
here: this module only finds the claims, with the project's reader (so a ``;`` inside a string
or a ``#\\;`` character is never a comment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .answer import Answer
from .reader import Datum, Span, read, spans

#: ``=>`` and its common spellings: ``;=>``, ``;; ==>``, ``; ⇒``, ``; →``.
_ARROW = re.compile(r";+[ \t]*(?:=+>|⇒|→)[ \t]*(?P<value>.*?)\s*\Z", re.DOTALL)
#: A comment that says the expression raises, without an arrow: ``; error``, ``;; raises ...``.
_BARE_ERROR = re.compile(r";+[ \t]*(?P<value>(?:error|raises|throws|signals)\b.*?)\s*\Z", re.IGNORECASE | re.DOTALL)
#: A claimed value that is an error rather than a value.
_ERROR_VALUE = re.compile(r"(?:\*{3}[ \t]*)?(?:error|raises|throws|signals|exception)\b", re.IGNORECASE)
#: A REPL prompt line: ``> expr`` (Gerbil's and Gambit's prompt), also ``gxi> expr``.
_PROMPT = re.compile(r"^[ \t]*(?:gxi|gerbil|gsi)?> (?P<input>.*\S)[ \t]*$")
_BLANK_LINE = re.compile(r"\n[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim: evaluating ``expr`` gives ``value`` (or, when ``error``, raises).

    ``kind`` is ``"comment"`` (a ``; =>`` comment) or ``"repl"`` (a ``> expr`` line and the lines
    printed after it). ``line`` is the 1-based line of the claimed value in the text it was
    extracted from (in the whole answer for :func:`answer_claims`).
    """

    expr: str
    value: str
    error: bool
    line: int
    kind: str
    #: Where ``expr`` lies in the text it was extracted from (``text[start:end]``), so the executor
    #: can evaluate the claimed expression in place; None for a REPL claim (its text is not code).
    span: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def datum(self) -> Datum | None:
        """The expression as read by the project's reader (the last datum, for ``> a b``)."""
        data = read(self.expr).data
        return data[-1] if data else None


def is_error_value(value: str) -> bool:
    """True when a claimed value says the evaluation raises (``error: ...``, ``*** ERROR IN``)."""
    return bool(_ERROR_VALUE.match(value.strip()))


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _subject(all_spans: list[Span], index: int, text: str) -> Span | None:
    """The datum a comment (``all_spans[index]``) is about: the last one before it in the same
    bracket, separated from it only by whitespace and comments, with no blank line between."""
    comment = all_spans[index]
    for span in reversed(all_spans[:index]):
        if span.kind == "comment" or span.depth > comment.depth:
            continue
        if span.depth < comment.depth:  # a bracket closed before this comment's bracket opened
            return None
        gap = text[span.end:comment.start]
        return None if _BLANK_LINE.search(gap) else span
    return None


def comment_claims(text: str) -> list[Claim]:
    """Claims made by ``; => value`` comments (any number of ``;``, also ``;=>``) and by bare
    ``; error`` / ``; raises ...`` comments right after an expression, in source order."""
    out: list[Claim] = []
    all_spans = spans(text)
    for i, span in enumerate(all_spans):
        if span.kind != "comment":
            continue
        comment = text[span.start:span.end]
        m = _ARROW.match(comment) or _BARE_ERROR.match(comment)
        if m is None:
            continue
        subject = _subject(all_spans, i, text)
        if subject is None:
            continue
        value = m.group("value")
        out.append(Claim(text[subject.start:subject.end], value, is_error_value(value) or m.re is _BARE_ERROR,
                         _line_of(text, span.start), "comment", (subject.start, subject.end)))
    return out


def _expression_text(source: str) -> str | None:
    """``source`` without comments and surrounding space, if it is one or more complete data."""
    if not read(source).complete:
        return None
    data = [s for s in spans(source) if s.kind == "datum" and s.depth == 0]
    return source[data[0].start:data[-1].end] if data else None


@dataclass(frozen=True, slots=True)
class Turn:
    """One REPL exchange: the expression typed at a ``> `` prompt and what the REPL printed after it
    (``""`` when nothing). Lines are 1-based and inclusive: ``first`` is the prompt's line, ``last``
    the last line of the exchange."""

    expr: str
    printed: str
    first: int
    last: int


def transcript(text: str) -> list[Turn]:
    """The REPL exchanges of ``text``: a ``> expr`` line (the expression may continue on the next
    lines until it reads completely) followed by the lines the REPL printed, up to the next prompt
    or blank line. The executor turns them back into code; :func:`repl_claims` into claims."""
    out: list[Turn] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _PROMPT.match(lines[i])
        if m is None:
            i += 1
            continue
        first = i
        source = m.group("input")
        i += 1
        while not read(source).complete and i < len(lines) and lines[i].strip() and not _PROMPT.match(lines[i]):
            source += "\n" + lines[i]
            i += 1
        expr = _expression_text(source)
        if expr is None or (expr[0] not in "('[`#" and " " in expr):  # a Markdown quote, not a REPL line
            continue
        start = i
        while i < len(lines) and lines[i].strip() and not _PROMPT.match(lines[i]):
            i += 1
        printed = "\n".join(line.rstrip() for line in lines[start:i]).strip()
        out.append(Turn(expr, printed, first + 1, max(i, start)))
    return out


def repl_claims(text: str) -> list[Claim]:
    """Claims made by REPL transcripts (see :func:`transcript`): each exchange that printed
    something claims it. A prompt with no printed lines claims nothing (``> (def x 1)``).
    """
    return [Claim(t.expr, t.printed, is_error_value(t.printed), _first_printed_line(t), "repl")
            for t in transcript(text) if t.printed]


def _first_printed_line(turn: Turn) -> int:
    return turn.last - turn.printed.count("\n")


def claims(text: str) -> list[Claim]:
    """Every claim of a piece of Scheme code: ``; =>`` comments and REPL transcripts, by line."""
    return sorted(comment_claims(text) + repl_claims(text), key=lambda c: c.line)


def _answer_claims(ans: Answer) -> tuple[Claim, ...]:
    out: list[Claim] = []
    for unit in ans.units:
        offset = unit.line  # a fenced block's code starts on the line after its fence
        for c in claims(unit.text):
            out.append(Claim(c.expr, c.value, c.error, c.line + offset, c.kind, c.span))
    return tuple(out)


def answer_claims(ans: Answer) -> tuple[Claim, ...]:
    """The claims in an answer's Scheme code (its Scheme blocks, or the whole answer when it has
    no fence), with lines counted in the whole answer; computed once per answer."""
    return ans.derived(_answer_claims)
