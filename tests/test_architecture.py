"""The package's shape, checked: no import cycles, every package saying what it is and what it may
import, docs/architecture.md naming exactly the modules that exist, one public API, hooks kept thin.
(That render/, run/ and analysis/ never import the plugin is tests/test_typed_run.py's check.)

The import graph is read with the standard library's ``ast`` (no module is imported to build it).
An edge is an ``import``/``from ... import`` anywhere in a module, at the top or inside a function,
except under ``if TYPE_CHECKING:`` (those never run). ``from pkg import name`` is an edge to the
submodule when ``name`` is one, else to ``pkg``.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gerbil_eval", "pipeline")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py"))


MODULES = {module_name(p): p for package in PACKAGES for p in source_files(package)}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, *, type_checking: bool = False) -> set[str]:
    """The project modules ``name`` imports (with ``type_checking``, also those under TYPE_CHECKING)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if type_checking else _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        for target in (t for t in targets if t in MODULES and t != name):
            out.add(target)
            # importing a.b.c runs a/b/__init__.py first (unless it is this module's own package,
            # already being imported): an edge the import statement does not spell out
            parts = target.split(".")
            out.update(parent for parent in (".".join(parts[:i]) for i in range(1, len(parts)))
                       if parent in MODULES and not (name == parent or name.startswith(parent + ".")))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_relative_and_submodule_imports_are_edges():
    """The graph must see what the package writes most: ``from ..x import y`` and ``from . import sub``."""
    assert "gerbil_eval.errors" in imports_of("gerbil_eval.fetch.client")
    assert "gerbil_eval.analysis.stats" in imports_of("gerbil_eval.analysis.comparison")


def test_importing_a_submodule_is_an_edge_to_its_package():
    """``from ..assertions.gerbil import X`` runs ``assertions/__init__.py``, which imports every
    handler: a cycle through that file fails at run time as surely as one spelled out."""
    edges = imports_of("gerbil_eval.assertions.resolves")
    assert "gerbil_eval.bindings" in edges  # from ..bindings.scope import ...
    assert "gerbil_eval.assertions" not in edges  # its own package: already being imported


def test_the_import_graph_has_no_cycles():
    graph = {name: imports_of(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_every_package_says_what_it_is_and_what_it_may_import():
    for name, path in MODULES.items():
        if path.name != "__init__.py" or not name.startswith("gerbil_eval"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc, f"{path.relative_to(ROOT)} has no docstring"
        if name != "gerbil_eval":
            assert "May import" in doc, f"{path.relative_to(ROOT)}: the docstring must say what the package may import"


ARCHITECTURE = ROOT / "docs" / "architecture.md"
_NAMED = re.compile(r"`(gerbil_eval/[\w/]*?(?:\.py|/))`")


def test_architecture_doc_names_exactly_the_modules_that_exist():
    """Every ``gerbil_eval/...py`` or ``gerbil_eval/.../`` named in docs/architecture.md exists, and every
    module of the package (``__init__.py`` aside) is named there."""
    named = set(_NAMED.findall(ARCHITECTURE.read_text()))
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    modules = {p.relative_to(ROOT).as_posix() for p in source_files("gerbil_eval") if p.name != "__init__.py"}
    unnamed = sorted(modules - named)
    assert not unnamed, f"modules missing from docs/architecture.md: {unnamed}"


def test_the_public_api_imports():
    """The names README and docs show are the ones ``gerbil_eval.__all__`` lists, and each one imports."""
    import gerbil_eval

    for name in gerbil_eval.__all__:
        assert getattr(gerbil_eval, name) is not None
    shown = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for names in re.findall(r"from gerbil_eval import ([\w, ]+)", doc.read_text()):
            shown.update(n.strip() for n in names.split(","))
    assert shown and shown <= set(gerbil_eval.__all__), sorted(shown - set(gerbil_eval.__all__))


def test_the_plugin_hooks_stay_a_thin_shell():
    """Hook code (plugin/hooks.py) stays under 250 lines; the run's work lives in plugin/session.py,
    and no other module of the package implements a pytest hook except the xdist hand-off."""
    import _pytest.hookspec
    import xdist.newhooks

    assert len((ROOT / "gerbil_eval" / "plugin" / "hooks.py").read_text().splitlines()) <= 250
    specs = {n for m in (_pytest.hookspec, xdist.newhooks) for n in dir(m) if n.startswith("pytest_")}
    hooked = {name for name, path in MODULES.items() if name.startswith("gerbil_eval")
              and set(re.findall(r"^\s*def (pytest_\w+)\(", path.read_text(), re.M)) & specs}
    assert hooked == {"gerbil_eval.plugin.hooks", "gerbil_eval.plugin.xdist"}
