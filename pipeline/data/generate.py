"""Turn recipes, doc sections and source definitions into chat examples, deterministically.

No model is called: each generator is a fixed template, so the same inputs always give the
same examples and a reviewer can predict what the model was taught. Question wording varies
between a few phrasings, chosen by a CRC of the recipe id or section heading (stable across
runs and machines, unlike ``hash()``; the same heading on two pages gets the same question,
so a copied page shows up as a duplicate).

Generators (``Example.generator``):

- ``recipe-howto``: "How do I <title> in Gerbil Scheme?" → the recipe's code in a ``scheme``
  fence, then its notes.
- ``recipe-explain`` (recipes with notes): "What does this Gerbil Scheme code do?" + the code
  → the title as a sentence, then the notes.
- ``doc-section``: "What does `<binding>` do in Gerbil Scheme (module `<m>`)?" for a heading
  that names a binding, else "Explain <heading> (from the Gerbil docs on <page>)." → the
  section body.
- ``source-definition``: "Show the definition of `<name>` in Gerbil's `<path>`." → the form.
- ``source-explain`` (definitions with a leading comment): "What does `<name>` in `<path>`
  do?" → the comment, then the form.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator

from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT  # the project's one system prompt; re-exported

from .cookbook import Recipe
from .gerbil_sources import SourceDefinition
from .markdown_docs import DocSection

#: Fence info strings that mean Scheme code; they (and bare fences) become ```scheme.
SCHEME_FENCES = frozenset({"", "scheme", "gerbil", "lisp", "racket", "scm", "ss"})
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")
_BINDING = re.compile(r"^`?([^\s`]+)`?$")

_HOWTO = ("How do I {t} in Gerbil Scheme?", "Show me how to {t} in Gerbil Scheme.",
          "In Gerbil Scheme, how can I {t}?")
_DOC_BINDING = ("What does `{h}` do in Gerbil Scheme{m}?", "Explain `{h}` in Gerbil Scheme{m}.")
_DOC_TOPIC = ("Explain {h} (from the Gerbil documentation on {p}).",
              "What does the Gerbil documentation on {p} say about {h}?")


@dataclass(frozen=True)
class Example:
    """One conversation. ``origin`` names the input entry it came from, for every message about it."""

    id: str
    source: str          # "cookbook" | "docs" | "sources": the manifest's per-source key
    origin: str          # e.g. "cookbook:hash-iteration", "docs:gerbil-docs/guide/intro.md#Intro"
    generator: str
    messages: tuple[dict[str, str], ...]
    subject: str = ""    # what it is about (doc heading, source name); near duplicates must share it

    @property
    def prompt(self) -> str:
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")

    @property
    def answer(self) -> str:
        return "\n".join(m["content"] for m in self.messages if m["role"] == "assistant")

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


def pick(templates: tuple[str, ...], key: str) -> str:
    """A phrasing chosen by a stable checksum of ``key``."""
    return templates[zlib.crc32(key.encode("utf-8")) % len(templates)]


def normalize_fences(markdown: str) -> str:
    """Tag every Scheme (or untagged) code fence ``scheme``; other languages keep their tag."""
    out, open_fence = [], None
    for line in markdown.splitlines():
        m = _FENCE.match(line)
        if m and open_fence is None:
            open_fence = m.group(2)
            lang = m.group(3).lower()
            line = f"{m.group(1)}{m.group(2)}{'scheme' if lang in SCHEME_FENCES else lang}"
        elif m and m.group(2).startswith(open_fence) and not m.group(3):
            open_fence = None
        out.append(line)
    return "\n".join(out)


def fenced(code: str) -> str:
    return f"```scheme\n{code.strip()}\n```"


def _lower_first(title: str) -> str:
    """'Compute SHA256' → 'compute SHA256', but keep acronyms and identifiers ('JSON', 'gxc')."""
    word = title.split(" ", 1)[0]
    return title if word[1:2].isupper() or not word[:1].isupper() else title[0].lower() + title[1:]


def _conversation(system: str, user: str, assistant: str) -> tuple[dict[str, str], ...]:
    return ({"role": "system", "content": system}, {"role": "user", "content": user.strip()},
            {"role": "assistant", "content": normalize_fences(assistant.strip())})


def _example(source: str, origin: str, generator: str, system: str, user: str, answer: str,
             subject: str = "") -> Example:
    return Example(f"{origin}/{generator}", source, origin, generator, _conversation(system, user, answer), subject)


def recipe_examples(recipe: Recipe, system: str) -> Iterator[Example]:
    origin = f"cookbook:{recipe.id}"
    title = recipe.title.rstrip(".")
    howto = pick(_HOWTO, recipe.id).format(t=_lower_first(title))
    yield _example("cookbook", origin, "recipe-howto", system, howto,
                   f"{fenced(recipe.code)}\n\n{recipe.notes}")
    if recipe.notes:
        yield _example("cookbook", origin, "recipe-explain", system,
                       f"What does this Gerbil Scheme code do?\n\n{fenced(recipe.code)}",
                       f"{title}.\n\n{recipe.notes}")


def doc_examples(section: DocSection, system: str) -> Iterator[Example]:
    binding = _BINDING.match(section.heading)
    if binding and section.level > 1:
        module = f" (module `{section.module}`)" if section.module else ""
        question = pick(_DOC_BINDING, section.heading).format(h=binding.group(1), m=module)
    else:
        question = pick(_DOC_TOPIC, section.heading).format(h=section.heading, p=section.page_title)
    yield _example("docs", section.origin, "doc-section", system, question, section.body, section.heading)


def source_examples(definition: SourceDefinition, system: str) -> Iterator[Example]:
    where = f"`{definition.name}` in Gerbil's `{definition.path}`"
    yield _example("sources", definition.origin, "source-definition", system,
                   f"Show the definition of {where}.", fenced(definition.code), definition.origin)
    if definition.comment:
        yield _example("sources", definition.origin, "source-explain", system, f"What does {where} do?",
                       f"{definition.comment}\n\n{fenced(definition.code)}", definition.origin)


def generate(recipes: Iterable[Recipe], sections: Iterable[DocSection],
             definitions: Iterable[SourceDefinition], system: str = DEFAULT_SYSTEM_PROMPT) -> list[Example]:
    """All examples, in input order: recipes, then doc sections, then source definitions."""
    examples: list[Example] = []
    for recipe in recipes:
        examples.extend(recipe_examples(recipe, system))
    for section in sections:
        examples.extend(doc_examples(section, system))
    for definition in definitions:
        examples.extend(source_examples(definition, system))
    return examples
