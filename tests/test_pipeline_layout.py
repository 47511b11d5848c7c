"""The pipeline package's layout: one command module per command, and the import rules its
packages' docstrings state (read with the standard library's ``ast``, nothing imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline.__main__ import COMMANDS

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"
#: package -> pipeline packages/modules it must never import (as its __init__ docstring says)
FORBIDDEN = {
    "together": ("pipeline.deploy", "pipeline.commands"),
    "deploy": ("pipeline.together", "pipeline.local", "pipeline.commands"),
    "local": ("pipeline.together", "pipeline.deploy", "pipeline.commands"),
    "convert": ("pipeline.data", "pipeline.together", "pipeline.local", "pipeline.deploy", "pipeline.merge",
                "pipeline.commands"),
    "merge": ("pipeline.together", "pipeline.local", "pipeline.deploy", "pipeline.data", "pipeline.commands"),
    "data": ("pipeline.together", "pipeline.local", "pipeline.deploy", "pipeline.convert", "pipeline.merge",
             "pipeline.commands"),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against its package)."""
    package = path.relative_to(PIPELINE.parent).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_every_command_is_the_module_named_after_it_in_pipeline_commands() -> None:
    modules = {name: module for name, (module, _help) in COMMANDS.items()}
    assert modules == {name: f"pipeline.commands.{name.replace('-', '_')}" for name in COMMANDS}
    on_disk = {p.stem for p in (PIPELINE / "commands").glob("*.py") if p.stem != "__init__"}
    assert on_disk == {name.replace("-", "_") for name in COMMANDS}, "a module in pipeline/commands/ that is no command"
    for name in on_disk:
        tree = ast.parse((PIPELINE / "commands" / f"{name}.py").read_text(encoding="utf-8"))
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert {"add_arguments", "run"} <= functions, f"pipeline/commands/{name}.py"


def test_no_concept_package_holds_a_command_module() -> None:
    stray = [p.relative_to(PIPELINE).as_posix() for p in PIPELINE.rglob("*.py")
             if p.parent.name != "commands" and (p.stem in ("cli", "command") or p.stem.endswith("_cmd"))]
    assert stray == []


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PIPELINE.glob("*/__init__.py")))
def test_each_package_docstring_says_what_it_is_and_what_it_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((PIPELINE / package / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()[0]) > 20, f"pipeline/{package}/__init__.py: no docstring saying what it is"
    assert "May import" in doc, f"pipeline/{package}/__init__.py: its docstring does not say what it may import"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_keep_to_their_import_rules(package: str) -> None:
    broken = sorted(f"{path.relative_to(PIPELINE).as_posix()} imports {name}"
                    for path in (PIPELINE / package).rglob("*.py") for name in imported_modules(path)
                    if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]))
    assert broken == []


def test_the_import_rule_check_sees_relative_imports() -> None:
    """The checker itself: ``from ..deploy.ollama import X`` inside pipeline/together/ is pipeline.deploy.ollama."""
    names = imported_modules(PIPELINE / "commands" / "run.py")
    assert "pipeline.deploy.ollama" in names and "pipeline.together.train" in names
