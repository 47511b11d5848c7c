"""Opt-in case suites: benchmarks collected only when the ``-m`` expression asks for them.

The Gerbil HumanEval (``benchmarks/humaneval/humaneval.yaml``, 151 problems, category and tag
``humaneval``) is a benchmark beside the case library, not part of it: ``make eval`` and
``pytest --model M`` leave it out, ``pytest --model M -m humaneval --samples 5`` runs it. This
follows pytest's habit for opt-in tests (a marker selects them) without collecting 151 items
that every other run would deselect.

The rule: with the default case sources (no ``--cases``), a suite is added when the marker
expression selects an item carrying the suite's marker but not an item without markers —
``-m humaneval``, ``-m "humaneval and not seed"``, ``-m "humaneval or seed"`` add it,
``-m "not seed"`` does not. ``--cases`` names the sources explicitly and replaces all defaults
(``--cases benchmarks/humaneval`` runs it too).

A suite is read from the project (``benchmarks/...`` under the invocation folder or the rootdir),
else from the copy installed with the package (``gerbil_eval/humaneval.yaml`` is a symlink to the
project's file, shipped as package data like the case library).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from _pytest.mark.expression import Expression  # pytest's own -m grammar (no public API)


@dataclass(frozen=True)
class Suite:
    marker: str        # the -m name that selects it
    path: Path         # relative to the project root
    installed: Path    # the copy shipped with the package


SUITES = (
    Suite("humaneval", Path("benchmarks/humaneval/humaneval.yaml"), Path(__file__).resolve().parents[1] / "humaneval.yaml"),
)


def asked_for(markexpr: str, marker: str) -> bool:
    """Whether ``-m markexpr`` selects items marked ``marker`` and not unmarked ones.

    A malformed expression selects nothing here (pytest reports it itself)."""
    if not markexpr.strip():
        return False
    try:
        expr = Expression.compile(markexpr)
    except Exception:  # noqa: BLE001 - ParseError in pytest 8, SyntaxError in 9; pytest reports it itself
        return False
    return expr.evaluate(lambda name, **_kw: name == marker) and not expr.evaluate(lambda _name, **_kw: False)


def suite_paths(markexpr: str, bases: Iterable[Path]) -> list[Path]:
    """The case files of the suites ``markexpr`` asks for: the project's copy under the first of
    ``bases`` that has it, else the installed one."""
    found = []
    for suite in SUITES:
        if asked_for(markexpr, suite.marker):
            local = [b / suite.path for b in bases if (b / suite.path).is_file()]
            found.append(local[0] if local else suite.installed)
    return found
