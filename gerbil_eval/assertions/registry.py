"""The assertion registry: one entry per base type, negation handled here once.

The handler modules register themselves on import; :mod:`gerbil_eval.assertions` imports them all,
so importing anything from this module (which imports the package first) sees a full registry.

Shape follows promptfoo's ``src/assertions/``: a table from type name to a small
handler. Every entry also validates its ``value`` at load time, so a bad case
file fails before any request is sent, not half-way through a run.
Handlers return facts ("calls hash-map", "contains 'x'") that read correctly
whether the assertion is negated or not; ``not-`` flips pass and score exactly
(``score -> 1 - score``), for every type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..answer import Answer, analyse
from ..code_rule import CODE_TYPES, asks_for_code, has_scheme_code

if TYPE_CHECKING:
    from ..cases.loader import Assertion


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one assertion concluded about one answer."""

    passed: bool
    score: float
    reason: str
    #: The check itself is broken (a user ``python`` function raised or returned nonsense):
    #: the assertion fails, and ``not-`` must not turn that into a pass.
    broken: bool = False
    #: The check could not run here (execution assertions without Gerbil): neither pass nor fail,
    #: left out of the score, and ``not-`` leaves it so.
    not_run: bool = False

    @classmethod
    def of(cls, passed: bool, reason: str) -> "Outcome":
        """A pass/fail outcome scored 1 or 0."""
        return cls(passed, 1.0 if passed else 0.0, reason)

    @classmethod
    def skipped(cls, reason: str) -> "Outcome":
        """A check that was not run (see ``not_run``)."""
        return cls(False, 0.0, reason, not_run=True)

    @classmethod
    def failure(cls, reason: str) -> "Outcome":
        """A check that could not judge the answer: fails, negated or not."""
        return cls(False, 0.0, reason, broken=True)


Check = Callable[[Any, Answer, "Assertion", dict], Outcome]
Validate = Callable[[Any, Path], Any]


@dataclass(frozen=True, slots=True)
class AssertionType:
    """A registered base type: its check, its load-time value validator, its threshold default."""

    name: str
    check: Check
    validate: Validate
    #: None when the type takes no ``threshold``; else the default used when none is given.
    default_threshold: float | None = None
    #: Bounds a given threshold must lie in.
    threshold_range: tuple[float, float] = (0.0, 1.0)
    #: For a type that runs code from the case's folder (``python``): called at load time with the
    #: validated value and the case file's folder, and only when the user opted in with
    #: ``--allow-python``. A type that has it is refused without the flag.
    load: Callable[[Any, Path], None] | None = None
    #: Seconds this check may take when it bounds its own run time (e.g. a sandboxed subprocess
    #: with its own timeout): the scoring worker waits this long for it instead of ``--score-timeout``.
    time_limit: float | None = None


REGISTRY: dict[str, AssertionType] = {}
#: Reasons are for a terminal line and a report cell: longer ones are cut.
MAX_REASON = 300


def register(name: str, validate: Validate, default_threshold: float | None = None,
             threshold_range: tuple[float, float] = (0.0, 1.0), load: Callable[[Any, Path], None] | None = None,
             time_limit: float | None = None) -> Callable[[Check], Check]:
    """Decorator: register ``check`` under ``name`` (without the ``not-`` prefix)."""

    def deco(check: Check) -> Check:
        REGISTRY[name] = AssertionType(name, check, validate, default_threshold, threshold_range, load, time_limit)
        return check

    return deco


def split_type(type_name: str) -> tuple[str, bool]:
    """``"not-calls-any"`` -> ``("calls-any", True)``."""
    if type_name.startswith("not-"):
        return type_name[4:], True
    return type_name, False


def lookup(type_name: str) -> AssertionType | None:
    """The registered entry for ``type_name`` (``not-`` allowed), or None."""
    return REGISTRY.get(split_type(type_name)[0])


def known_types() -> list[str]:
    """Every accepted type name, for messages and suggestions."""
    return sorted(REGISTRY) + sorted(f"not-{t}" for t in REGISTRY)


def evaluate(assertion: "Assertion", answer: str | Answer, context: dict) -> Outcome:
    """Run one assertion on ``answer``; ``not-`` negates pass and score exactly.

    A negated code-aware check earns nothing on an answer without Scheme code (see
    :mod:`gerbil_eval.code_rule`), unless ``context["case"]`` does not ask for code.

    A broken check (a user ``python`` function that raises or returns nonsense; it
    reports that as :meth:`Outcome.failure`) fails with its reason, under ``not-`` too,
    as promptfoo's invalid-regex quirk is fixed at load time.
    """
    base, negated = split_type(assertion.type)
    entry = REGISTRY[base]
    ans = answer if isinstance(answer, Answer) else analyse(answer)
    out = entry.check(assertion.value, ans, assertion, context)
    score = out.score if math.isfinite(out.score) else 0.0
    score = min(1.0, max(0.0, score))
    reason = out.reason if len(out.reason) <= MAX_REASON else out.reason[: MAX_REASON - 3] + "..."
    if out.broken:
        return Outcome.failure(reason)
    if negated and base in CODE_TYPES and _code_expected(context) and not has_scheme_code(ans):
        return Outcome(False, 0.0, "no Scheme code to inspect")  # nothing inspected, nothing earned
    if out.not_run:
        return Outcome.skipped(reason)
    if negated:
        return Outcome(not out.passed, 1.0 - score, reason)
    return Outcome(out.passed, score, reason)


def _code_expected(context: dict) -> bool:
    """A ``not-`` code check earns credit only on code, in a case that asks for code (or alone)."""
    case = context.get("case")
    return case is None or asks_for_code(case.assertions)


def threshold_of(assertion: "Assertion") -> float:
    """The assertion's threshold, or its type's default."""
    if assertion.threshold is not None:
        return assertion.threshold
    entry = lookup(assertion.type)
    assert entry is not None and entry.default_threshold is not None
    return entry.default_threshold

