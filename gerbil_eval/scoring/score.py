"""Score one answer against one case: every assertion in [0, 1], then a weighted mean.

Rules (promptfoo's, with its ``threshold: 0`` quirk fixed):

- The case score is the mean of the assertion scores weighted by ``weight`` (default 1).
- A weight-0 assertion is reported but neither counts toward the score nor fails the case.
- With a case ``threshold`` the case passes iff score >= threshold (0 honoured: always passes)
  and no weighted ``resolves``/``facts`` assertion fails (they are gates, see ``GATES``).
- Without one it passes iff every weighted assertion passes.
- A case that asks for code (a weighted ``parses``) scores 0 on an answer without Scheme code
  (:mod:`.code_rule`): no credit from ``not-`` checks that found nothing in no code.
- An assertion that was not run (execution without Gerbil) counts as weight 0 here.
- A case whose assertions all weigh 0 has nothing to judge: score 0, and it passes
  (``lint`` flags such cases, so this only happens on purpose, e.g. to record metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..answer import Answer, analyse
from ..code_rule import asks_for_code, has_scheme_code
from ..assertions.registry import evaluate
from ..cases.loader import Case


#: Assertion types whose failure fails the case even under a case ``threshold``: code that calls
#: a procedure Gerbil does not have, or an answer that states a false result, is wrong however
#: well it scores otherwise.
GATES = frozenset({"resolves", "facts"})
#: The reason of a code case answered without Gerbil code (see :mod:`.code_rule`).
NO_CODE = "no Gerbil code: the case asks for code, so an answer without Scheme code scores 0"


@dataclass(frozen=True)
class AssertionResult:
    """One assertion's verdict on one answer."""

    type: str
    value: Any
    weight: float
    passed: bool
    score: float
    reason: str
    #: not run (an execution assertion without Gerbil): left out of the score and of the verdict
    not_run: bool = False


@dataclass(frozen=True)
class CaseScore:
    """A case's verdict on one answer, with the per-assertion detail."""

    score: float
    passed: bool
    reason: str
    assertions: tuple[AssertionResult, ...]
    #: what the scorer changed about the answer before scoring it (e.g. cut to --max-answer-bytes); "" if nothing
    note: str = ""

    @property
    def not_run(self) -> bool:
        """Every weighted assertion was not run (execution without Gerbil): the case was not judged."""
        weighted = [r for r in self.assertions if r.weight > 0]
        return bool(weighted) and all(r.not_run for r in weighted)

    @property
    def failures(self) -> tuple[AssertionResult, ...]:
        """The weighted assertions that failed."""
        return tuple(r for r in self.assertions if r.weight > 0 and not r.passed and not r.not_run)


def _case_reason(results: tuple[AssertionResult, ...], score: float, passed: bool, threshold: float | None) -> str:
    """Short and human: what failed, or why the case passed anyway."""
    failed = [f"{r.type}: {r.reason}" for r in results if r.weight > 0 and not r.passed and not r.not_run]
    if threshold is not None:
        verdict = f"score {score:.2f} {'>=' if passed else '<'} threshold {threshold:g}"
        return verdict + (f"; failed {'; '.join(failed)}" if failed else "")
    if not failed:
        n = sum(1 for r in results if r.weight > 0 and not r.not_run)
        return f"all {n} assertions pass" if n else "no weighted assertions (all weights are 0)"
    return "; ".join(failed)


def check_assertion(case: Case, index: int, ans: Answer, context: dict) -> AssertionResult:
    """The verdict of the ``index``-th assertion of ``case`` on the analysed answer ``ans``."""
    a = case.assertions[index]
    out = evaluate(a, ans, context)
    return AssertionResult(a.type, a.value, a.weight, out.passed, out.score, out.reason, out.not_run)


def scoring_context(case: Case, context: dict | None) -> dict:
    """What ``python`` assertions receive: ``{"case", "model", "vars"}``, filled in when missing."""
    return {"case": case, "model": None, "vars": {}, **(context or {})}


def lacks_code(case: Case, ans: Answer) -> bool:
    """The case asks for code and the answer has none (the no-credit rule, see :mod:`.code_rule`)."""
    return asks_for_code(case.assertions) and not has_scheme_code(ans)


def combine(case: Case, rows: tuple[AssertionResult, ...], note: str = "", has_code: bool = True) -> CaseScore:
    """The case's verdict from its assertions' results (the rules in the module docstring).

    ``note`` (e.g. "answer cut to 1048576 bytes") is put in front of the reason; ``has_code`` is
    False when :func:`lacks_code` holds for the answer.
    """
    if not has_code:
        return CaseScore(0.0, False, f"{note}; {NO_CODE}" if note else NO_CODE, rows, note)
    counted = [r for r in rows if not r.not_run]
    total = sum(r.weight for r in counted)
    score = min(1.0, max(0.0, sum(r.score * r.weight for r in counted) / total)) if total > 0 else 0.0
    if total <= 0:
        passed = True
    elif case.threshold is not None:
        passed = score >= case.threshold - 1e-9  # float sums must not flip a tie
        passed = passed and not any(r.type in GATES and r.weight > 0 and not r.passed for r in rows)
    else:
        passed = all(r.passed for r in counted if r.weight > 0)
    reason = _case_reason(rows, score, passed, case.threshold if total > 0 else None)
    return CaseScore(score, passed, f"{note}; {reason}" if note else reason, rows, note)


def score_answer(case: Case, answer: str, context: dict | None = None) -> CaseScore:
    """Score ``answer`` against every assertion of ``case``, in this process and without a time limit
    (:mod:`gerbil_eval.scoring.pool` runs the same steps in worker processes with one).

    ``context`` is what ``python`` assertions receive (see :func:`scoring_context`). The answer
    is analysed (tokenized, read) once and shared by all assertions, and across calls with the
    same answer text.
    """
    ctx = scoring_context(case, context)
    ans = analyse(answer if isinstance(answer, str) else "")
    rows = tuple(check_assertion(case, i, ans, ctx) for i in range(len(case.assertions)))
    return combine(case, rows, has_code=not lacks_code(case, ans))
