"""An answer's code as a program for ``gxi``, and the driver that reports what happened in it.

Assembly (the rule the docs describe):

- The program is the answer's Scheme code blocks (or the whole answer when it has no fence) in
  order, as one file: definitions and expressions run top to bottom, as ``gxi file.ss`` runs them.
- A block written as a REPL transcript (``> expr`` lines, each followed by what the REPL printed)
  contributes the typed expressions only; what it printed becomes a *claim* about that expression.
- An expression followed by a ``; => value`` / ``;; => value`` comment is a claim too; one followed
  by ``; error`` (or ``; => error ...``) claims that it raises. Each claimed expression is evaluated
  *in place* (its state is the program's at that point), its value recorded; an expression
  claimed to raise is caught so the program goes on, as the answer meant.
- Answers often show alternatives that cannot run together (one block with Gambit's
  ``current-time``, a later one importing ``:std/srfi/19`` that shadows it). When the blocks
  fail together, each block is run on its own, preceded by the ``import`` forms of all blocks
  (see :mod:`.executor` for how the verdicts combine).

The driver adds a prelude (plain Gerbil core, no imports: an import here would hide an answer's
missing ``(import :std/sugar)``), then after the program a "done" record and the case's checks,
each caught on its own. Records go to a results file in the run's folder, one line each, strings
hex-encoded; the program's own output stays on stdout. The program runs in the same process as
the driver, so a program written *against* the harness could forge records: the sandbox keeps it
from harming the machine, not from lying about itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..annotations import Claim, claims, transcript
from ..answer import Answer
from ..bindings.scope import DEFINERS
from ..reader import Form, Symbol, read, spans

RESULTS_FILE = ".gerbil-eval-results"
MAIN_FILE = "main.ss"
#: Blocks run on their own at most (the fallback costs one run each).
MAX_UNITS = 8
#: Characters of a message or value kept per record.
MAX_FIELD = 2000
#: Heads that must stay at top level: a claim on such a form is not evaluated in place.
_TOP_LEVEL_ONLY = DEFINERS | {"import", "export", "begin", "include", "module", "declare", "cond-expand",
                              "extern", "begin-syntax", "begin-foreign", "begin-ffi", "c-declare", "c-define"}

PRELUDE = rf"""(def __ge-port (open-output-file (list path: "{RESULTS_FILE}" append: #t)))
(def (__ge-cut s) (if (> (string-length s) {MAX_FIELD}) (substring s 0 {MAX_FIELD}) s))
(def (__ge-hex s)
  (let ((b (string->utf8 (__ge-cut s))))
    (call-with-output-string ""
      (lambda (p)
        (write-char #\x p)
        (let loop ((i 0))
          (when (< i (u8vector-length b))
            (let ((x (u8vector-ref b i))) (when (< x 16) (write-char #\0 p)) (display (number->string x 16) p))
            (loop (+ i 1))))))))
(def (__ge-emit . fields)
  (for-each (lambda (f) (display (if (string? f) (__ge-hex f) f) __ge-port) (write-char #\space __ge-port)) fields)
  (newline __ge-port)
  (force-output __ge-port))
(def (__ge-msg e) (call-with-output-string "" (lambda (p) (display-exception e p))))
(def (__ge-written v) (call-with-output-string "" (lambda (p) (write v p))))
(def (__ge-shown v) (call-with-output-string "" (lambda (p) (display v p))))
(def (__ge-claim i err? thunk)
  (let* ((out (open-output-string))
         (r (with-catch (lambda (e) (cons #f e))
                        (lambda () (cons #t (parameterize ((current-output-port out)) (thunk))))))
         (printed (get-output-string out)))
    (display printed)
    (if (car r)
      (begin (__ge-emit 'claim i 'value (__ge-written (cdr r)) (__ge-shown (cdr r)) printed) (cdr r))
      (begin (__ge-emit 'claim i 'raise (__ge-msg (cdr r)) "" printed)
             (if err? (void) (raise (cdr r)))))))
(def (__ge-check i form must-be-true? thunk)
  (__ge-emit 'start i)
  (let ((r (with-catch (lambda (e) (cons #f (__ge-msg e)))
                       (lambda () (cons #t (parameterize ((current-output-port (open-output-string))) (thunk)))))))
    (cond ((not (car r)) (__ge-emit 'check i 'fail (cdr r)))
          ((and must-be-true? (not (cdr r))) (__ge-emit 'check i 'fail (string-append form " returned #f")))
          (else (__ge-emit 'check i 'pass)))))
"""


@dataclass(frozen=True)
class ClaimSpec:
    """A claim the program evaluates: index into the program's claims, and the claim itself."""

    index: int
    claim: Claim


@dataclass(frozen=True)
class Unit:
    """One code block ready to run: its code (claims instrumented), its imports, its claims."""

    code: str
    imports: tuple[str, ...]
    claims: tuple[ClaimSpec, ...]
    line: int  # line of the block in the answer (0: the whole answer)


def _head(datum: object) -> str | None:
    if isinstance(datum, Form) and datum.open in "([" and datum.items and type(datum.items[0]) is Symbol:
        return str(datum.items[0])
    return None


def _wrappable(expr: str) -> bool:
    """A claimed expression that can be evaluated in place (an expression, not a definition)."""
    data = read(expr).data
    return len(data) == 1 and _head(data[0]) not in _TOP_LEVEL_ONLY and not (
        type(data[0]) is Symbol and str(data[0]).endswith(":"))


def _wrap(index: int, claim: Claim, expr: str) -> str:
    return f"(__ge-claim {index} {'#t' if claim.error else '#f'} (lambda () {expr}\n))"


def _imports(code: str) -> tuple[str, ...]:
    """The text of the top-level ``(import ...)`` forms of ``code``."""
    out = []
    for span in spans(code):
        if span.kind == "datum" and span.depth == 0:
            text = code[span.start:span.end]
            if _head(read(text).data[0] if read(text).data else None) == "import":
                out.append(text)
    return tuple(out)


def _repl_unit(text: str, turns: list, first_index: int, line: int) -> Unit:
    """A transcript block: typed expressions kept (printed results become claims), other code lines kept."""
    lines = text.split("\n")
    keep: list[str] = []
    specs: list[ClaimSpec] = []
    by_first = {t.first: t for t in turns}
    skip_until = 0
    for n, source in enumerate(lines, 1):
        if n <= skip_until:
            continue
        turn = by_first.get(n)
        if turn is None:
            keep.append(source)
            continue
        skip_until = turn.last
        if turn.printed and _wrappable(turn.expr):
            from ..annotations import is_error_value

            claim = Claim(turn.expr, turn.printed, is_error_value(turn.printed), line + turn.last - turn.printed.count("\n"), "repl")
            index = first_index + len(specs)
            specs.append(ClaimSpec(index, claim))
            keep.append(_wrap(index, claim, turn.expr))
        else:
            keep.append(turn.expr)
    code = "\n".join(keep)
    return Unit(code, _imports(code), tuple(specs), line)


_SHEBANG = re.compile(r"\A#![ \t]*/[^\n]*")


def _code_unit(text: str, first_index: int, line: int) -> Unit:
    """A plain block: each ``; =>`` claim's expression wrapped in place, from the end so offsets hold.
    A script's ``#!/usr/bin/env gxi`` line is blanked: it is for the shell, and only on a file's
    first line, which the block is not once the driver is in front of it."""
    text = _SHEBANG.sub(lambda m: " " * len(m.group(0)), text)
    found = [c for c in claims(text) if c.kind == "comment" and c.span is not None and _wrappable(c.expr)]
    specs = [ClaimSpec(first_index + i, Claim(c.expr, c.value, c.error, c.line + line, c.kind, c.span))
             for i, c in enumerate(found)]
    code = text
    done: list[tuple[int, int]] = []  # wrapped so far (all start later): (end in ``text``, characters added)
    for spec in sorted(specs, key=lambda s: s.claim.span[0], reverse=True):  # type: ignore[index]
        start, end = spec.claim.span  # type: ignore[misc]
        # a claim inside this one ("(list 1 ; => 1\n 2) ; => (1 2)") is wrapped already: its end moved
        now = end + sum(added for e, added in done if e <= end)
        wrapped = _wrap(spec.index, spec.claim, code[start:now])
        done.append((end, len(wrapped) - (now - start)))
        code = code[:start] + wrapped + code[now:]
    return Unit(code, _imports(text), tuple(specs), line)


def _units(ans: Answer) -> tuple[Unit, ...]:
    out: list[Unit] = []
    index = 0
    for block in ans.units[:MAX_UNITS]:
        if not block.text.strip():
            continue
        turns = transcript(block.text)
        unit = (_repl_unit(block.text, turns, index, block.line) if turns
                else _code_unit(block.text, index, block.line))
        index += len(unit.claims)
        out.append(unit)
    return tuple(out)


def answer_units(ans: Answer) -> tuple[Unit, ...]:
    """The answer's code blocks as runnable units (computed once per answer)."""
    return ans.derived(_units)


def last_procedure(ans: Answer) -> str | None:
    """The name of the last top-level procedure the code defines (``(def (f ...) ...)``, ``(define f (lambda ...))``)."""
    name = None
    for datum in ans.data:
        head = _head(datum)
        if head not in {"def", "define", "def*", "defn"} or len(datum.items) < 3:  # type: ignore[union-attr]
            continue
        target, body = datum.items[1], datum.items[2]  # type: ignore[union-attr]
        if isinstance(target, Form) and target.items and type(target.items[0]) is Symbol:
            name = str(target.items[0])
        elif type(target) is Symbol and _head(body) in {"lambda", "case-lambda", "match-lambda"}:
            name = str(target)
    return name


def check_forms(text: str) -> tuple[str, ...]:
    """The top-level forms of a case's ``checks`` text, each as its source text."""
    return tuple(text[s.start:s.end] for s in spans(text) if s.kind == "datum" and s.depth == 0)


def driver(code: str, checks: tuple[str, ...], nonce: str) -> str:
    """The whole file ``gxi`` runs: prelude, the program, the done record, then each check caught on its own."""
    parts = [PRELUDE, code, f'\n(__ge-emit (quote done))\n(display "{nonce}")\n(force-output)']
    if checks:
        parts.append("(import :std/test)")
        for i, form in enumerate(checks):
            head = _head(read(form).data[0]) if read(form).data else None
            is_check = bool(head and head.startswith("check"))
            shown = form if len(form) <= 200 else form[:197] + "..."
            parts.append(f"(__ge-check {i} {_scheme_string(shown)} {'#f' if is_check else '#t'} (lambda () {form}\n))")
    parts.append("(__ge-emit (quote end))")
    return "\n".join(parts) + "\n"


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nonce_of(*parts: str) -> str:
    """A marker that separates the program's stdout from the checks' (stable, so runs cache)."""
    return "<<gerbil-eval-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20] + ">>"


@dataclass(frozen=True)
class Record:
    kind: str
    index: int | None
    status: str | None
    fields: tuple[str, ...]


_FIELD = re.compile(r"x([0-9a-f]*)\Z")


def parse_records(text: str) -> list[Record]:
    """The driver's records, skipping any line that is not one (the file may end mid-line)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] not in {"claim", "check", "start", "done", "end"}:
            continue
        index = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        status = parts[2] if len(parts) > 2 else None
        fields = []
        for p in parts[3:]:
            m = _FIELD.match(p)
            if m and len(m.group(1)) % 2 == 0:
                fields.append(bytes.fromhex(m.group(1)).decode("utf-8", "replace"))
        out.append(Record(parts[0], index, status, tuple(fields)))
    return out
