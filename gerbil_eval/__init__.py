"""gerbil-eval: YAML cases for Gerbil Scheme answers, scored by a real Gerbil reader.

The public surface below needs neither pytest nor openai, so the scorer can be
used from notebooks, other harnesses and the pipeline's gates.
"""

from __future__ import annotations

from .cases import Assertion, Case, load_cases
from .errors import CaseError, GerbilEvalError, InfraError
from .lint import LintProblem, lint_cases
from .reader import read, read_gerbil
from .scoring import AssertionResult, CaseScore, score_answer

__all__ = [
    "Assertion", "AssertionResult", "Case", "CaseError", "CaseScore", "GerbilEvalError", "InfraError",
    "LintProblem", "lint_cases", "load_cases", "read", "read_gerbil", "score_answer",
]
