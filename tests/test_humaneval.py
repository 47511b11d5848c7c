"""The Gerbil HumanEval (benchmarks/humaneval/): it loads as cases, how many problems translate, and
hand-translated canonical solutions of a sample pass their translated checks in the real gxi
(a wrong variant of each fails), which validates the translation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gerbil_eval.cases.loader import load_cases
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.sandbox import Limits
from gerbil_eval.plugin.suites import asked_for
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


SELECTION_LIBRARY = """\
cases:
  - id: lib-case
    prompt: Say add.
    tags: [seed]
    assert:
      - {type: contains, value: add}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with a one-case library and the real translation of two HumanEval problems under
    ``benchmarks/humaneval/``, and recorded answers: five samples each, 3 of 5 right for
    humaneval-2, none right for humaneval-13."""
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(pytester.path / "cache"))
    monkeypatch.setenv("GERBIL_HOME", str(gerbil_home()))
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "lib.yaml").write_text(SELECTION_LIBRARY)
    real = yaml.safe_load((HERE / "humaneval.yaml").read_text(encoding="utf-8"))
    two = {**real, "cases": [c for c in real["cases"] if c["id"] in ("humaneval-2", "humaneval-13")]}
    (pytester.path / "benchmarks" / "humaneval").mkdir(parents=True)
    (pytester.path / "benchmarks" / "humaneval" / "humaneval.yaml").write_text(yaml.safe_dump(two))
    wrong = "```scheme\n(def (truncate_number number) 0)\n(def (greatest_common_divisor a b) 1)\n```"
    records = [{"model": "m", "case_id": "lib-case", "sample": s, "content": "add"} for s in range(5)]
    records += [{"model": "m", "case_id": "humaneval-2", "sample": s,
                 "content": f"```scheme\n{CANONICAL['humaneval-2']}```" if s < 3 else wrong} for s in range(5)]
    records += [{"model": "m", "case_id": "humaneval-13", "sample": s, "content": wrong} for s in range(5)]
    (pytester.path / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return pytester


def test_dash_m_humaneval_runs_the_benchmark_with_pass_at_k(project: pytest.Pytester) -> None:
    """`pytest --model M -m humaneval --samples 5`, as the issue writes it (no --cases): the
    benchmark's problems are collected, the library's are not, and pass@1..5 are reported."""
    result = project.runpytest_subprocess("--replay", "answers.jsonl", "-m", "humaneval", "--samples", "5",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=7, deselected=5)
    # pass@k per model in the run's table: (3/5 + 0)/2 at k=1, (1 + 0)/2 at k=5
    result.stdout.re_match_lines([r"model .* pass@1 +pass@2 +pass@3 +pass@4 +pass@5$",
                                  r"m +candidate +2 .* 0\.30 +0\.45 +0\.50 +0\.50 +0\.50$"])
    result.stdout.fnmatch_lines(["FAILED benchmarks/humaneval/humaneval.yaml::humaneval-2[[]m-s3[]]*"])


@pytest.mark.parametrize("args, collected", [
    ((), ["lib-case"]),                                    # make eval / pytest --model M: the library only
    (("-m", "not seed"), []),                              # a negative expression does not pull the benchmark in
    (("-m", "humaneval or seed"), ["humaneval-13", "humaneval-2", "lib-case"]),
    (("-m", "humaneval", "--cases", "cases"), []),         # --cases names the sources: the benchmark is not added
])
def test_the_benchmark_is_collected_only_when_dash_m_asks_for_it(project: pytest.Pytester, args: tuple,
                                                                  collected: list[str]) -> None:
    result = project.runpytest_subprocess("--replay", "answers.jsonl", "--collect-only", "-q", *args,
                                          "-p", "no:cacheprovider")
    ids = sorted({line.split("::")[1].split("[")[0] for line in result.outlines if "::" in line})
    assert ids == collected, result.outlines


@pytest.mark.parametrize("markexpr, wanted", [
    ("humaneval", True), ("humaneval and not seed", True), ("humaneval or seed", True), ("(humaneval)", True),
    ("", False), ("seed", False), ("not seed", False), ("not humaneval", False), ("humaneval or not seed", False),
    ("humaneval and", False),  # malformed: pytest itself reports it
])
def test_the_suite_is_asked_for_only_by_an_expression_that_needs_its_marker(markexpr: str, wanted: bool) -> None:
    assert asked_for(markexpr, "humaneval") is wanted
