"""Split Markdown documentation trees into sections, one per heading, code blocks intact.

A section (heading + body up to the next heading of level 1-3) is the unit a question is
asked about: the Gerbil reference gives each binding its own ``##`` heading. Headings inside
fenced code blocks (``# comment`` lines in shell examples) are not headings, so the splitter
tracks fences. VuePress ``::: tip Title`` containers become a bold title line and YAML
front matter is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from .tree import read_tree

SPLIT_LEVEL = 3  # headings of level 1..3 start a section; deeper ones stay inside it
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_CONTAINER = re.compile(r"^:::\s*(\w+)?\s*(.*)$")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_PAGE_MODULE = re.compile(r"^\(import (:[^\s()]+)\)", re.MULTILINE)


@dataclass(frozen=True)
class DocSection:
    """One heading of one page. ``path`` is relative to the tree root, POSIX-style."""

    root: str          # the tree's folder name, to tell several trees apart
    path: str
    page_title: str    # the page's first heading
    heading: str
    level: int
    body: str
    module: str | None = None  # the page's "(import :std/x)" line: the module its bindings live in
    occurrence: int = 1        # 2, 3... when a page repeats a heading, to keep origins unique

    @property
    def origin(self) -> str:
        """Stable identifier used in example ids and messages."""
        suffix = f"~{self.occurrence}" if self.occurrence > 1 else ""
        return f"docs:{self.root}/{self.path}#{self.heading}{suffix}"


def _clean_line(line: str) -> str | None:
    """Rewrite a VuePress container marker; None drops the line."""
    m = _CONTAINER.match(line)
    if not m:
        return line
    return f"**{m.group(2).strip()}**" if m.group(2).strip() else None


def split_sections(text: str, root: str, path: str) -> list[DocSection]:
    """Sections of one Markdown page; text before the first heading belongs to the page title."""
    sections: list[DocSection] = []
    page_title = Path(path).stem
    heading, level, body = page_title, 1, []
    fence: str | None = None
    seen: dict[str, int] = {}

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            seen[heading] = seen.get(heading, 0) + 1
            sections.append(DocSection(root, path, page_title, heading, level, content, occurrence=seen[heading]))

    for line in _FRONT_MATTER.sub("", text).splitlines():
        fm = _FENCE.match(line)
        if fm and (fence is None or fm.group(1).startswith(fence)):
            fence = fm.group(1) if fence is None else None
        hm = _HEADING.match(line) if fence is None else None
        if hm and len(hm.group(1)) <= SPLIT_LEVEL:
            flush()
            heading, level, body = hm.group(2).strip(), len(hm.group(1)), []
            if not sections and level == 1:
                page_title = heading
            continue
        cleaned = _clean_line(line) if fence is None else line
        if cleaned is not None:
            body.append(cleaned)
    flush()
    m = _PAGE_MODULE.search(text)
    module = m.group(1) if m else None
    return [replace(s, page_title=page_title, module=module) for s in sections]


def load_markdown_tree(root: Path) -> list[DocSection]:
    """All sections of all pages under ``root``; a tree with no Markdown is a usage error."""
    name = root.resolve().name  # "." names the current folder
    return [s for rel, text in read_tree(root, ".md", "--docs", "Markdown") for s in split_sections(text, name, rel)]
