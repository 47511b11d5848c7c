"""An answer and the code in it, analysed once and shared by every assertion.

The code-aware checks look only at the code of an answer: the contents of its
fenced code blocks, or the whole answer when it has none. A warning in prose
("unlike Racket, there is no ``hash-table-walk``") must never trip
``not-calls``. Blocks fenced as clearly-not-Scheme (``sh``, ``json``, ...)
are not code for these checks.

:class:`Answer` memoises every derived view (blocks, reads, symbols...) so a
case with ten assertions tokenizes its answer once; :func:`analyse` memoises
whole answers, because the same answer is often scored against several cases
(lint, replays, baseline comparisons).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .reader import Datum, Form, ReadResult, read, walk_forms

T = TypeVar("T")

#: Fence language tags that are clearly not Scheme: these blocks are neither read nor
#: searched by the code-aware checks. Any other tag (or none) counts as Scheme.
NON_SCHEME_LANGS = frozenset({
    "sh", "bash", "shell", "console", "zsh", "fish", "shell-session", "powershell", "ps1", "bat", "cmd",
    "json", "jsonl", "yaml", "yml", "toml", "ini", "xml", "html", "css", "csv", "sql",
    "text", "txt", "plain", "plaintext", "output", "log", "diff", "patch", "markdown", "md",
    "python", "py", "javascript", "js", "typescript", "ts", "c", "cpp", "c++", "h", "rust", "go",
    "java", "makefile", "make", "dockerfile",
    # other Lisps: a block tagged so is an example of what not to write, like a prose warning
    "racket", "rkt", "clojure", "clj", "elisp", "emacs-lisp", "common-lisp", "commonlisp", "cl",
})
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*$")


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One fenced block: its language tag (lower case, may be empty) and contents."""

    lang: str
    text: str
    line: int  # 1-based line of the opening fence in the answer

    @property
    def is_scheme(self) -> bool:
        """Tagged Scheme-ish or untagged; an untagged block that opens with a ``$ `` prompt is a shell session."""
        if self.lang:
            return self.lang not in NON_SCHEME_LANGS
        return not self.text.lstrip().startswith("$ ")


def code_blocks(text: str) -> tuple[CodeBlock, ...]:
    """The fenced code blocks of a Markdown answer; an unclosed last block runs to the end."""
    if "```" not in text and "~~~" not in text:
        return ()
    blocks: list[CodeBlock] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t\r]*$")  # \r: CRLF answers
        i += 1
        body: list[str] = []
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append(CodeBlock(lang, "\n".join(body), start + 1))
        i += 1
    return tuple(blocks)


class Answer:
    """An answer string with lazily computed, cached views of its code."""

    __slots__ = ("text", "_memo")

    def __init__(self, text: str) -> None:
        self.text = text
        self._memo: dict[Any, Any] = {}

    def derived(self, fn: Callable[["Answer"], T]) -> T:
        """``fn(self)``, computed once per answer (assertion modules cache their views here)."""
        try:
            return self._memo[fn]
        except KeyError:
            value = self._memo[fn] = fn(self)
            return value

    @property
    def blocks(self) -> tuple[CodeBlock, ...]:
        """All fenced blocks, Scheme or not."""
        return self.derived(_blocks)

    @property
    def units(self) -> tuple[CodeBlock, ...]:
        """The code the Gerbil-aware checks see: the Scheme blocks, or (line 0) the whole
        answer when it has no fenced block at all."""
        return self.derived(_units)

    @property
    def reads(self) -> tuple[ReadResult, ...]:
        """One tolerant read per code unit (so an unclosed block cannot swallow the next one)."""
        return self.derived(_reads)

    @property
    def data(self) -> tuple[Datum, ...]:
        """Every top-level datum of the code, in order."""
        return self.derived(_data)

    @property
    def forms(self) -> tuple[Form, ...]:
        """Every compound form of the code, outer before inner."""
        return self.derived(_forms)


def _blocks(a: Answer) -> tuple[CodeBlock, ...]:
    return code_blocks(a.text)


def _units(a: Answer) -> tuple[CodeBlock, ...]:
    if not a.blocks:
        return (CodeBlock("", a.text, 0),)
    return tuple(b for b in a.blocks if b.is_scheme)


def _reads(a: Answer) -> tuple[ReadResult, ...]:
    return tuple(read(u.text) for u in a.units)


def _data(a: Answer) -> tuple[Datum, ...]:
    return tuple(d for r in a.reads for d in r.data)


def _forms(a: Answer) -> tuple[Form, ...]:
    return tuple(walk_forms(a.data))


@functools.lru_cache(maxsize=1024)
def analyse(text: str) -> Answer:
    """The shared :class:`Answer` for ``text`` (cached: each answer string is tokenized once)."""
    return Answer(text)
