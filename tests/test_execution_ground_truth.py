"""Ground truth from outside the project: Gerbil's own v0.18.1 unit tests, through our executor.

Each ``(test-case "name" body ...)`` of a module's ``*-test.ss`` becomes one check,
``(check (let () body ... #t) => #t)``: its inner ``check`` forms raise on failure outside a
test suite, so the check fails with Gerbil's own "FAILED: got [expected: want]" message. The
file's imports and top-level helpers are the program. They all pass; with one expected value
changed, the test case holding it fails, naming the value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import assertion_from_dict
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.sandbox import Limits
from gerbil_eval.reader import read, spans

from .gerbil_support import gerbil_home, shared_dir

MODULES = ["iter", "sugar", "misc/hash", "misc/list", "misc/string", "text/json/json"]
_CASE = re.compile(r'\(test-case\s+"(?:[^"\\]|\\.)*"')


def split_test_file(path: Path, module_dir: str) -> tuple[str, list[str]]:
    """(program, checks) of a Gerbil ``*-test.ss``: relative imports made absolute, the suite's
    test cases turned into checks."""
    text = path.read_text(encoding="utf-8")
    program: list[str] = []
    checks: list[str] = []
    for span in (s for s in spans(text) if s.kind == "datum" and s.depth == 0):
        form = text[span.start:span.end]
        head = read(form).data[0].items[0] if read(form).data and hasattr(read(form).data[0], "items") else None
        if head == "export":
            continue
        if head == "import":  # "hash" and ./api name modules beside the test file
            absolute = lambda m: f":std/{module_dir}/{m.group(1)}".replace("//", "/")  # noqa: E731
            form = re.sub(r'(?<=\s)"([\w/-]+)"', absolute, form)
            form = re.sub(r"(?<=[\s(])\./([\w/-]+)", absolute, form)
        if "(test-suite" in form[:80]:
            inner = [s for s in spans(form) if s.kind == "datum" and s.depth == 2]
            for s in inner:
                case = form[s.start:s.end]
                m = _CASE.match(case)
                if m and path.name not in case:  # checks the name of its own source file; ours is main.ss
                    checks.append(f"(check (let () {case[m.end():-1]}\n #t) => #t)")
            continue
        program.append(form)
    return "\n".join(program), checks


@pytest.fixture(scope="module")
def ctx() -> dict:
    home = gerbil_home()
    return {"execution": ExecSettings(gxi=str(home / "bin" / "gxi"), limits=Limits(timeout=60, cpu_seconds=60),
                                      cache=False)}


def run_checks(program: str, checks: list[str], ctx: dict):
    answer = analyse(f"```scheme\n{program}\n```")
    return evaluate(assertion_from_dict({"type": "checks", "value": "\n".join(checks)}), answer, ctx)


@pytest.mark.parametrize("module", MODULES)
def test_gerbils_own_checks_pass_and_a_changed_expectation_fails(module: str, ctx: dict) -> None:
    src = shared_dir("data", "gerbil-src-v0.18.1", "src", "std")
    path = src / f"{module}-test.ss"
    module_dir = str(Path(module).parent) if "/" in module else ""
    program, checks = split_test_file(path, module_dir)
    assert checks, f"no test cases found in {path}"
    out = run_checks(program, checks, ctx)
    assert out.passed, f"{path}: {out.reason}"
    # one expected value changed: the first `=> ATOM)` expects a value no code produces
    literal = re.compile(r"=> ([^()\s]+)\)")
    target = next(i for i, c in enumerate(checks) if literal.search(c))
    mutated = list(checks)
    mutated[target] = literal.sub("=> 'gerbil-eval-mutant)", mutated[target], count=1)
    bad = run_checks(program, mutated, ctx)
    assert not bad.passed and bad.score == pytest.approx((len(checks) - 1) / len(checks)), bad.reason
    assert "expected gerbil-eval-mutant" in bad.reason, bad.reason
