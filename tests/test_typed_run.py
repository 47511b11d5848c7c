"""The typed run's boundaries: what reports and gates may depend on.

The renderers, the analysis modules and the run types take a ``RunResult`` and their own
small options (``ReportOptions``, ``GateLimits``); none of them may reach back into the pytest
plugin or its flag bag (``RunOptions``), so ``report``/``compare`` never build a fake one.
Checked on the source with :mod:`ast`, wherever the modules live (flat or in packages).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gerbil_eval"
#: modules of the run, its analysis and its reports, flat (before the package moves) or in their folders
CHECKED = ("render", "run", "analysis", "compare.py", "summary.py", "gates.py", "stats.py")
FORBIDDEN = ("gerbil_eval.plugin", "gerbil_eval.options")


def package_of(path: Path) -> list[str]:
    """The package a module file is in, as name parts (``gerbil_eval/render/html.py`` -> gerbil_eval, render)."""
    return list(path.relative_to(PACKAGE.parent).parts[:-1])


def imported_modules(source: str, package: list[str]) -> set[str]:
    """Absolute names of every module a module of ``package`` imports (relative imports resolved,
    lazy ones inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def checked_files() -> list[Path]:
    files = []
    for name in CHECKED:
        target = PACKAGE / name
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target] if target.exists() else []
    return files


def test_reports_analysis_and_run_types_never_import_the_plugin_or_its_options() -> None:
    files = checked_files()
    assert len(files) >= 10, files  # the renderers, the run types and the analysis modules are all found
    offenders = {str(f.relative_to(PACKAGE)): sorted(m for m in imported_modules(f.read_text(encoding="utf-8"),
                                                                                 package_of(f))
                                                     if m.startswith(FORBIDDEN))
                 for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_import_check_sees_relative_and_lazy_imports() -> None:
    """The check itself can fail: a lazy ``from ..options import RunOptions`` inside a function is caught."""
    lazy = "import os\ndef f():\n    from ..options import RunOptions\n    from . import tables\n"
    assert imported_modules(lazy, ["gerbil_eval", "render"]) >= {
        "os", "gerbil_eval.options", "gerbil_eval.options.RunOptions", "gerbil_eval.render.tables"}
    assert "gerbil_eval.plugin" in imported_modules("from .plugin import EvalRun\n", ["gerbil_eval"])
