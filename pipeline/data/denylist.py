"""Which cookbook recipes must not become training examples, and why.

The cookbook is not the source of truth: some recipes contradict the Gerbil sources
(``gerbil-facts.md`` Appendix A), and the "v0.19" recipes import modules that do not exist
in the Gerbil the model targets (v0.18.1). Training on them would teach the model the very
mistakes the eval cases check for, so they are dropped and listed, with the reason, in the
manifest. Users add their own with ``--exclude-ids FILE``. The module rule also applies to
doc sections: the v0.18 docs still import the v0.17-only ``:gerbil/gambit/threads`` in 29
sections, and the gerbil-mcp stdlib map names ``:std/os/env`` and ``:std/misc/red-black``.
"""

from __future__ import annotations

import re
from pathlib import Path

from gerbil_eval.safety.inputs import read_text

from . import DataError
from .cookbook import Recipe
from .markdown_docs import DocSection

#: Recipes whose central claim the Gerbil/Gambit sources contradict (facts Appendix A).
CONTRADICTED = {
    "void-is-truthy-use-hash-get-not-hash-ref":
        "claims hash-ref without default returns #!void; it raises for a missing key (runtime/hash.ss)",
    "write-json-arity-one-parameterize":
        "claims write-json has arity 1; it is (write-json obj [output]) (std/text/json/util.ss)",
    "write-xml-arity-one-parameterize":
        "claims write-xml has arity 1; it is (write-xml sxml [port]) (std/markup/sxml/xml.ss)",
    "base64-encode-decode":
        "claims base64-encode takes a string; it takes a u8vector and base64-decode returns one (std/text/base64.ssi)",
    "for-destructuring-compile-workaround":
        "recommends (car kv) over in-hash; in-hash yields two values, use ((values k v) (in-hash ht))",
    "sort-filter-not-builtin":
        "claims filter needs an import; filter is a Gambit prelude builtin",
}

#: Module paths that do not exist in Gerbil v0.18.1 (facts Appendix A/B); a trailing "/" is a prefix.
MISSING_MODULES = (
    ":std/encoding/json", ":std/log", ":std/time", ":std/list/", ":std/sync/", ":std/json",
    ":std/regex", ":std/regexp", ":std/os/env", ":std/misc/red-black", ":std/http", ":std/net/http",
    ":std/crypto/sha256", ":std/base64", ":std/hex", ":std/uuid", ":std/csv", ":gerbil/gambit/threads",
)
_MODULE = re.compile(r":[A-Za-z0-9_/+.-]+")


def _missing_module(module: str) -> bool:
    return any(module.startswith(m) if m.endswith("/") else module == m for m in MISSING_MODULES)


def missing_modules(*texts: str) -> list[str]:
    """Module paths named in ``texts`` that Gerbil v0.18.1 does not have."""
    return sorted({m for text in texts for m in _MODULE.findall(text) if _missing_module(m)})


def _missing_reason(modules: list[str]) -> str | None:
    return f"uses module(s) absent from Gerbil v0.18.1: {', '.join(modules)}" if modules else None


def section_exclusion_reason(section: DocSection) -> str | None:
    """Why a doc section is excluded, or None to keep it."""
    return _missing_reason(missing_modules(section.body))


def exclusion_reason(recipe: Recipe, extra: dict[str, str]) -> str | None:
    """Why ``recipe`` is excluded, or None to keep it. ``extra`` comes from ``--exclude-ids``."""
    if recipe.id in extra:
        return extra[recipe.id]
    if recipe.id in CONTRADICTED:
        return f"contradicts the Gerbil sources: {CONTRADICTED[recipe.id]}"
    if recipe.deprecated:
        return f"deprecated in the cookbook (superseded by {recipe.superseded_by or 'nothing'})"
    return _missing_reason(missing_modules(" ".join(recipe.imports), recipe.code))


def load_exclude_file(path: Path) -> dict[str, str]:
    """Read ``--exclude-ids``: one recipe id per line, optional reason after whitespace, ``#`` comments."""
    if not path.is_file():
        raise DataError(f"{path}: --exclude-ids file not found")
    excluded = {}
    for line in read_text(path, f"--exclude-ids {path}", 16 << 20).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rid, _, reason = line.partition(" ")
            excluded[rid] = f"excluded by {path.name}: {reason.strip() or 'no reason given'}"
    return excluded
