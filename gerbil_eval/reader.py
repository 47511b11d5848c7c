"""A reader for Gerbil Scheme source: tokenizer plus datum reader.

The code-aware assertions (``calls``, ``imports``, ``form``...) must not be
fooled by a ``(`` inside a string, a ``#\\(`` character, a commented-out call
or a ``#;`` datum comment, so they work on data read by this reader rather
than on regexes over raw text.

One pass serves both modes: :func:`read` always returns every datum it could
read (tolerant: an answer cut off mid-form still yields its symbols) together
with the list of problems found; ``parses`` is simply "no problems".
The reader is iterative (no recursion limit on deep nesting) and drives one
compiled regex, so scoring hundreds of answers stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union


class Symbol(str):
    """A symbol, e.g. ``hash-ref``, ``:std/iter``, ``...``."""

    __slots__ = ()


class Keyword(str):
    """A keyword object such as ``port:`` (stored with its trailing colon)."""

    __slots__ = ()


class Char(str):
    """A character literal, stored as written after ``#\\`` (``(``, ``space``, ``x41``)."""

    __slots__ = ()


class Special(str):
    """A ``#!`` object such as ``#!void``, ``#!eof``, ``#!optional`` (stored with ``#!``),
    or a printed object ``#<point #12>`` from REPL output (stored as written)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Form:
    """A compound datum. ``open`` is ``(``, ``[``, ``{``, ``#(`` (vector) or ``#u8(``."""

    open: str
    items: tuple["Datum", ...]
    line: int = 0


#: A read datum. Strings are plain ``str``; ``#t``/``#f`` are ``bool``.
Datum = Union[Form, Symbol, Keyword, Char, Special, str, bool, int, float, Fraction]


@dataclass(frozen=True, slots=True)
class ReadError:
    """One problem met while reading, with the 1-based line where it starts."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Everything readable in a source text, plus what stopped a complete read."""

    data: tuple[Datum, ...]
    errors: tuple[ReadError, ...] = ()

    @property
    def complete(self) -> bool:
        """True when the text reads as Gerbil data with no problem at all."""
        return not self.errors


CLOSERS = {"(": ")", "[": "]", "{": "}", "#(": ")", "#u8(": ")"}
QUOTE_NAMES = {
    "'": "quote", "`": "quasiquote", ",": "unquote", ",@": "unquote-splicing",
    "#'": "syntax", "#`": "quasisyntax", "#,": "unsyntax", "#,@": "unsyntax-splicing",
}
_SPECIALS = {"#!void", "#!eof", "#!optional", "#!rest", "#!key", "#!default", "#!unbound", "#!fx", "#!flo"}
_CHAR_NAMES = {
    "space", "newline", "tab", "nul", "null", "return", "linefeed", "altmode", "backspace",
    "delete", "escape", "alarm", "rubout", "page", "vtab", "bel", "esc", "del",
}
_DELIM = r"\s()\[\]{}\";'`,"
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line_comment>;[^\n]*)
  | (?P<shebang>\#!/[^\n]*)
  | (?P<block_comment>\#\|)
  | (?P<datum_comment>\#;)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<bad_string>")
  | (?P<heredoc>\#<<(?P<tag>[^\n]+)\n(?P<body>.*?)\n(?P=tag)(?=\n|\Z))
  | (?P<printed>\#<(?!<))
  | (?P<char>\#\\(?:[A-Za-z][A-Za-z0-9]*|.))
  | (?P<open>[(\[{]|\#\(|\#u8\()
  | (?P<close>[)\]}])
  | (?P<quote>'|`|,@|,|\#'|\#`|\#,@|\#,)
  | (?P<pipe>\|(?:[^|\\]|\\.)*\|)
  | (?P<hash>\#[^DELIM]*)
  | (?P<atom>[^DELIM]+)
    """.replace("DELIM", _DELIM),
    re.VERBOSE | re.DOTALL,
)
_BARE = re.compile(r"[^DELIM|]+".replace("DELIM", _DELIM))
_PRINTED_MARK = re.compile(r"\#<|>(?=[DELIM]|\Z)".replace("DELIM", _DELIM))
_BLOCK_MARK = re.compile(r"\#\||\|\#")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NUMBER_START = frozenset("0123456789+-.")
_RATIO = re.compile(r"[+-]?\d+/\d+\Z")
_RADIX = {"x": 16, "b": 2, "o": 8, "d": 10}
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]+;?|[\s\S])")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "0": "\0", "\\": "\\", '"': '"'}


def _unescape(body: str) -> str:
    """Decode the escapes of a string literal body (``\\n``, ``\\x41;``, ``\\"``)."""
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] == "x" and len(esc) > 1:
            return chr(min(int(esc[1:].rstrip(";"), 16), 0x10FFFF))
        return _ESCAPES.get(esc, "" if esc == "\n" else esc)

    return _ESCAPE.sub(one, body)


def _atom(text: str) -> Datum:
    """Classify a bare token: number, keyword or symbol."""
    if text[0] in _NUMBER_START and _DECIMAL.match(text):
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:  # more digits than Python converts: still a number token, kept as text
            return Symbol(text)
    if text[0] in _NUMBER_START and _RATIO.match(text):
        num, den = text.split("/")
        return Fraction(int(num), int(den)) if int(den) else Symbol(text)
    if len(text) > 1 and text.endswith(":") and not text.endswith("::"):
        return Keyword(text)
    return Symbol(text)


def _hash_atom(text: str) -> Datum | None:
    """Classify a ``#...`` token; None when it is not valid Gerbil/Gambit syntax."""
    if text.startswith("##") and len(text) > 2:  # Gambit primitives: ##gc, ##current-time
        return Symbol(text)
    if text[1:].isdigit():  # Gambit REPL object reference (#8 after #<Atom #8> was printed)
        return Special(text)
    low = text.lower()
    if low in ("#t", "#true"):
        return True
    if low in ("#f", "#false"):
        return False
    if low in _SPECIALS:
        return Special(low)
    if len(low) > 2 and low[1] in "ei":  # exactness prefix: #e1.5, #i3, #e#x10
        rest = low[2:]
        if rest[:2] in ("#x", "#b", "#o", "#d"):  # one radix prefix may follow, nothing else
            return _hash_atom(rest)
        if rest.startswith("#"):
            return None
        return _atom(rest) if _DECIMAL.match(rest) or _RATIO.match(rest) else None
    if len(low) > 2 and low[1] in _RADIX:
        if low[1] == "d" and _DECIMAL.match(low[2:]):
            return _atom(low[2:])
        if "_" in low:  # Python's int() takes 1_0; Gambit's reader does not
            return None
        try:
            return int(low[2:], _RADIX[low[1]])
        except ValueError:
            return None
    return None


@dataclass
class _Frame:
    open: str | None
    line: int
    items: list[Datum] = field(default_factory=list)
    pending: list[tuple[str, int]] = field(default_factory=list)  # quote prefixes and #;


class _Reader:
    """One read of one text; holds the position-to-line bookkeeping."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.errors: list[ReadError] = []
        self._line = 1
        self._line_pos = 0

    def line_at(self, pos: int) -> int:
        """1-based line of ``pos``; positions are asked for in increasing order."""
        if pos > self._line_pos:
            self._line += self.text.count("\n", self._line_pos, pos)
            self._line_pos = pos
        return self._line

    def error(self, pos: int, message: str) -> None:
        self.errors.append(ReadError(self.line_at(pos), message))

    def skip_nested(self, pos: int, marks: re.Pattern[str], opener: str, what: str) -> int:
        """Position after the construct opened at ``pos`` whose ``marks`` nest (``#| |#``, ``#< >``)."""
        depth = 0
        for m in marks.finditer(self.text, pos):
            depth += 1 if m.group() == opener else -1
            if depth == 0:
                return m.end()
        self.error(pos, f"unterminated {what}")
        return len(self.text)

    def emit(self, frame: _Frame, datum: Datum) -> None:
        """Add a finished datum to ``frame``, applying its pending quote prefixes and ``#;``."""
        while frame.pending:
            kind, line = frame.pending.pop()
            if kind == "#;":
                return
            datum = Form("(", (Symbol(QUOTE_NAMES[kind]), datum), line)
        frame.items.append(datum)

    def dangling(self, frame: _Frame, pos: int, where: str) -> None:
        """Report quote prefixes or ``#;`` with no datum after them."""
        for kind, _line in frame.pending:
            self.error(pos, f"{kind} has no datum after it before {where}")
        frame.pending.clear()

    def read(self) -> ReadResult:
        text, n = self.text, len(self.text)
        stack = [_Frame(None, 1)]
        pos = 0
        while pos < n:
            m = _TOKEN.match(text, pos)
            assert m is not None  # every character starts some token
            kind, tok, start, pos = m.lastgroup, m.group(), pos, m.end()
            top = stack[-1]
            if kind == "atom":  # the most common token: fast path
                if "|" in tok:
                    self.error(start, f"unbalanced '|' in {tok!r}")
                if top.pending:
                    self.emit(top, _atom(tok))
                else:
                    top.items.append(_atom(tok))
                continue
            if kind in ("ws", "line_comment", "shebang"):
                continue
            if kind == "block_comment":
                pos = self.skip_nested(start, _BLOCK_MARK, "#|", "block comment #| ... |#")
            elif kind == "datum_comment" or kind == "quote":
                top.pending.append((tok, self.line_at(start)))
            elif kind == "open":
                stack.append(_Frame(tok, self.line_at(start)))
            elif kind == "close":
                if top.open is None:
                    self.error(start, f"unbalanced '{tok}' with no open bracket")
                    continue
                if CLOSERS[top.open] != tok:
                    self.error(start, f"'{top.open}' opened on line {top.line} is closed by '{tok}'")
                self.dangling(top, start, f"'{tok}'")
                stack.pop()
                self.emit(stack[-1], Form(top.open, tuple(top.items), top.line))
            elif kind == "string":
                self.emit(top, _unescape(tok[1:-1]))
            elif kind == "bad_string":
                self.error(start, "unterminated string")
                self.emit(top, _unescape(text[start + 1:]))
                pos = n
            elif kind == "printed":
                # REPL output such as #<point #12 x: 1>; its '>' is one followed by a delimiter,
                # so #<procedure #2 string->symbol> is one datum.
                pos = self.skip_nested(start, _PRINTED_MARK, "#<", "printed object #<...>")
                self.emit(top, Special(text[start:pos]))
            elif kind == "heredoc":
                self.emit(top, m.group("body"))
            elif kind == "char":
                name = tok[2:]
                if len(name) > 1 and name.lower() not in _CHAR_NAMES and not re.fullmatch(r"[xXuU][0-9A-Fa-f]+", name):
                    self.error(start, f"unknown character name {tok}")
                self.emit(top, Char(name))
            elif kind == "pipe":
                self.emit(top, Symbol(re.sub(r"\\(.)", r"\1", tok[1:-1], flags=re.DOTALL)))
            elif kind == "hash":
                datum = _hash_atom(tok)
                if datum is None:
                    self.error(start, f"unknown # syntax {tok!r}")
                    datum = Symbol(tok)
                self.emit(top, datum)
        self.dangling(stack[-1], n, "the end")
        while len(stack) > 1:
            frame = stack.pop()
            self.errors.append(ReadError(frame.line, f"'{frame.open}' is never closed"))
            self.dangling(frame, n, "the end")
            self.emit(stack[-1], Form(frame.open, tuple(frame.items), frame.line))  # type: ignore[arg-type]
        return ReadResult(tuple(stack[0].items), tuple(self.errors))


def read(text: str) -> ReadResult:
    """Read every datum of ``text``; never raises. ``result.complete`` says whether it all read."""
    return _Reader(text).read()


@dataclass(frozen=True, slots=True)
class Span:
    """Where one datum or one line comment lies: ``text[start:end]``, at bracket ``depth`` (0 = top)."""

    kind: str  # "datum" or "comment"
    start: int
    end: int
    depth: int


def spans(text: str) -> list[Span]:
    """Every datum (at any depth, quote prefixes included) and every ``;`` comment of ``text``,
    in the order they end; what :mod:`gerbil_eval.annotations` uses to pair a ``; =>`` comment
    with the expression before it. Tolerant like :func:`read`: never raises. Datums removed by
    ``#;`` are left out, as are block comments."""
    helper = _Reader(text)
    out: list[Span] = []
    frames: list[tuple[int, list[tuple[str, int]]]] = [(0, [])]  # (start, pending prefixes)
    pos, n = 0, len(text)

    def finish(start: int, end: int) -> None:
        pending = frames[-1][1]
        while pending:
            kind, at = pending.pop()
            if kind == "#;":
                return
            start = at
        out.append(Span("datum", start, end, len(frames) - 1))

    while pos < n:
        m = _TOKEN.match(text, pos)
        assert m is not None
        kind, start, pos = m.lastgroup, pos, m.end()
        if kind in ("ws", "shebang"):
            continue
        if kind == "line_comment":
            out.append(Span("comment", start, pos, len(frames) - 1))
        elif kind == "block_comment":
            pos = helper.skip_nested(start, _BLOCK_MARK, "#|", "block comment")
        elif kind in ("datum_comment", "quote"):
            frames[-1][1].append((m.group(), start))
        elif kind == "open":
            frames.append((start, []))
        elif kind == "close":
            if len(frames) > 1:
                opened = frames.pop()[0]
                finish(opened, pos)
        else:
            if kind == "printed":
                pos = helper.skip_nested(start, _PRINTED_MARK, "#<", "printed object")
            elif kind == "bad_string":
                pos = n
            finish(start, pos)
    return out


def read_gerbil(text: str) -> tuple[Datum, ...]:
    """Read ``text`` tolerantly and return the data (what the code-aware checks use)."""
    return read(text).data


def walk_forms(data: tuple[Datum, ...]) -> list[Form]:
    """Every :class:`Form` in ``data``, outer before inner, in source order (iterative)."""
    out: list[Form] = []
    todo = [d for d in reversed(data) if isinstance(d, Form)]
    while todo:
        form = todo.pop()
        out.append(form)
        todo.extend(d for d in reversed(form.items) if isinstance(d, Form))
    return out


def write_datum(datum: Datum, limit: int = 80) -> str:
    """Render ``datum`` back as Gerbil text for messages, cut to about ``limit`` characters."""
    parts: list[str] = []
    size = 0
    todo: list[object] = [datum]
    while todo and size <= limit:
        d = todo.pop()
        if isinstance(d, _Text):
            s = d.s
        elif isinstance(d, Form):
            q = d.items[0] if len(d.items) == 2 and d.open == "(" else None
            prefix = next((k for k, v in QUOTE_NAMES.items() if q is not None and type(q) is Symbol and v == q), None)
            if prefix is not None:
                todo.append(d.items[1])
                s = prefix
            else:
                todo.append(_Text(CLOSERS[d.open]))
                for i, item in enumerate(reversed(d.items)):
                    todo.append(item)
                    if i < len(d.items) - 1:
                        todo.append(_Text(" "))
                s = d.open
        else:
            s = _atom_text(d)
        parts.append(s)
        size += len(s)
    text = "".join(parts)
    return text if not todo and len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class _Text:
    s: str


def _atom_text(d: object) -> str:
    if isinstance(d, bool):
        return "#t" if d else "#f"
    if isinstance(d, Char):
        return "#\\" + d
    if isinstance(d, Symbol):
        plain = d and d[0] != "#" and _BARE.fullmatch(d) and type(_atom(d)) is Symbol
        return str(d) if plain else "|" + d.replace("\\", "\\\\").replace("|", "\\|") + "|"
    if isinstance(d, (Keyword, Special)):
        return str(d)
    if isinstance(d, str):
        return '"' + d.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(d)
