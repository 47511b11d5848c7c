"""The Gerbil HumanEval (benchmarks/humaneval/): it loads as cases, how many problems translate, and
hand-translated canonical solutions of a sample pass their translated checks in the real gxi
(a wrong variant of each fails), which validates the translation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gerbil_eval.cases.loader import load_cases
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.sandbox import Limits
from gerbil_eval.scoring.score import score_answer

from .gerbil_support import gerbil_home

HERE = Path(__file__).resolve().parents[1] / "benchmarks" / "humaneval"
CANONICAL = yaml.safe_load((HERE / "canonical.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cases() -> dict:
    return {c.id: c for c in load_cases(HERE / "humaneval.yaml")}


def test_the_translation_loads_as_humaneval_cases(cases: dict) -> None:
    assert len(cases) == 151  # of 164; the 13 left out are listed with reasons in the file's header
    assert all(c.category == "humaneval" and c.assertions[0].base_type == "checks" for c in cases.values())
    header = (HERE / "humaneval.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert "151 translate, 13 left out" in header


@pytest.mark.parametrize("case_id", sorted(CANONICAL))
def test_canonical_solutions_pass_and_a_wrong_one_fails(case_id: str, cases: dict) -> None:
    home = gerbil_home()
    ctx = {"execution": ExecSettings(gxi=str(home / "bin" / "gxi"), limits=Limits(timeout=20, cpu_seconds=20))}
    case = cases[case_id]
    good = score_answer(case, f"```scheme\n{CANONICAL[case_id]}```", ctx)
    assert good.passed, good.reason
    name = case.assertions[0].value["function"]
    wrong = f"```scheme\n{CANONICAL[case_id]}(set! {name} (lambda args 42))\n```"
    bad = score_answer(case, wrong, ctx)
    assert not bad.passed and "expected" in bad.reason, bad.reason
