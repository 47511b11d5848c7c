"""gerbil-eval: YAML cases for Gerbil Scheme answers, scored by a real Gerbil reader.

The names below are the public API, listed here and nowhere else (README and docs show only
these; ``tests/test_architecture.py`` imports each one); every other module is internal. They
need neither pytest nor openai, so the scorer can be used from notebooks, other harnesses and
the pipeline's gates.

The names are imported on first use (PEP 562 ``__getattr__``), not here: the pytest
plugin lives in this package and is loaded by every pytest run in an environment
that has gerbil-eval installed, which must not pay for YAML, the reader and the
scorer unless it evaluates something. ``from gerbil_eval import load_cases`` works
as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see; at run time see __getattr__
    from .cases.loader import Assertion, Case, load_cases
    from .errors import CaseError, GerbilEvalError, InfraError
    from .cases.lint import LintProblem, lint_cases
    from .reader import read, read_gerbil
    from .scoring.score import AssertionResult, CaseScore, score_answer

#: Each public name and the submodule that defines it.
_SOURCES = {
    "Assertion": "cases.loader", "Case": "cases.loader", "load_cases": "cases.loader",
    "CaseError": "errors", "GerbilEvalError": "errors", "InfraError": "errors",
    "LintProblem": "cases.lint", "lint_cases": "cases.lint",
    "read": "reader", "read_gerbil": "reader",
    "AssertionResult": "scoring.score", "CaseScore": "scoring.score", "score_answer": "scoring.score",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    """Import a public name's submodule the first time the name is used, then keep the name here."""
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
