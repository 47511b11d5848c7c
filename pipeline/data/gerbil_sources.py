"""Extract module-level definitions, with their leading comments, from Gerbil ``.ss`` files.

A definition plus the ``;`` comment block right above it is a natural question/answer pair
("what does X do?" → comment and code). The scanner knows strings, ``#\\x`` characters,
``;`` and ``#| |#`` comments and all three bracket kinds, so a ``(`` inside a string or a
commented-out form never shifts the form boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .tree import read_tree

_DEF_HEAD = re.compile(r"[(\[]\s*(def[\w/*!?<>=+-]*|define[\w/*!?<>=+-]*)\s+[(\[]?\s*([^\s()\[\]]+)")
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class SourceDefinition:
    """A top-level ``(def... name ...)`` form of one source file."""

    root: str
    path: str      # relative to the tree root, POSIX-style
    kind: str      # def, defstruct, defclass, defrules, define-syntax, ...
    name: str
    comment: str   # the ``;`` lines directly above, markers stripped
    code: str

    @property
    def origin(self) -> str:
        return f"sources:{self.root}/{self.path}:{self.name}"


def _skip_block_comment(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        if text.startswith("#|", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("|#", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _form_end(text: str, i: int) -> int:
    """Index just past the bracketed form starting at ``text[i]``; len(text) if unbalanced."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == ";":
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("#|", i):
            i = _skip_block_comment(text, i) - 1
        elif text.startswith("#\\", i):
            i += 2
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def top_level_forms(text: str) -> list[tuple[str, str]]:
    """``(leading comment, form text)`` for every top-level bracketed form."""
    forms, comment, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == ";":
            end = text.find("\n", i)
            end = n if end < 0 else end
            comment.append(text[i:end].lstrip(";").strip())
            i = end
        elif text.startswith("#|", i):
            i, comment = _skip_block_comment(text, i), []
        elif c in _OPEN:
            end = _form_end(text, i)
            forms.append(("\n".join(comment).strip(), text[i:end]))
            i, comment = end, []
        else:
            if text.startswith("\n\n", i) or not c.isspace():
                comment = []  # a blank line or a stray atom detaches a comment block
            i += 1
    return forms


def definitions(text: str, root: str, path: str) -> list[SourceDefinition]:
    """The definitions among the top-level forms of one file."""
    found = []
    for comment, form in top_level_forms(text):
        m = _DEF_HEAD.match(form)
        if m:
            found.append(SourceDefinition(root, path, m.group(1), m.group(2), comment, form))
    return found


def load_source_tree(root: Path) -> list[SourceDefinition]:
    """All definitions of all ``.ss`` files under ``root``; a tree with none is a usage error."""
    name = root.resolve().name  # "." names the current folder
    return [d for rel, text in read_tree(root, ".ss", "--sources", "Gerbil source") for d in definitions(text, name, rel)]
