"""Caps on a parsed YAML document before it becomes Python objects.

Aliases make a 1.5 KB file expand to gigabytes ("billion laughs": each level repeats the
previous one ten times). PyYAML shares aliased nodes, so the *composed* graph stays small;
:func:`check_expanded_size` walks it once (memoised per node, so linear in the file) and
counts what construction would produce: nodes, and characters of scalars, as if every alias
were copied. A recursive alias (a list containing itself) expands forever and is refused too.
"""

from __future__ import annotations

import yaml

#: The shipped library expands to well under 100k nodes and 1 MB of text.
MAX_NODES = 500_000
MAX_CHARS = 5_000_000


class YamlRefused(ValueError):
    """The document would expand beyond a cap; the message says which."""


def check_expanded_size(root: yaml.Node, max_nodes: int = MAX_NODES, max_chars: int = MAX_CHARS) -> None:
    """Raise :class:`YamlRefused` if ``root`` expands beyond ``max_nodes`` nodes or ``max_chars`` characters."""
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            nodes, chars = 1, 0
            for child in _children(node):
                n, c = sizes[id(child)]
                nodes, chars = nodes + n, chars + c
            if nodes > max_nodes:
                raise YamlRefused(f"expands to more than {max_nodes:,} nodes (aliases repeat their anchor); "
                                   "refusing to load it")
            if chars > max_chars:
                raise YamlRefused(f"expands to more than {max_chars:,} characters (aliases repeat their anchor); "
                                   "refusing to load it")
            sizes[key] = (nodes, chars)
            continue
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = (1, len(node.value))
            continue
        if key in on_path:
            raise YamlRefused("has a recursive alias (a collection that contains itself); refusing to load it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
