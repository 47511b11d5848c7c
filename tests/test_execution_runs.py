"""Runs with and without execution, end to end through pytest (``pytester``, ``--replay``: no model):
the loud "not run" line and ``config.execution`` in results.json, ``--require-exec`` as exit 4,
``gxi --version`` recorded, and ``compare`` refusing to mix a run with execution and one without."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .gerbil_support import gerbil_home

CASES = """\
cases:
  - id: adds
    prompt: Write add.
    assert:
      - {type: contains, value: add}
      - {type: runs}
      - {type: checks, value: "(check (add 2 3) => 5)"}
  - id: only-exec
    prompt: Write sub.
    assert:
      - {type: runs}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(pytester.path / "cache"))
    monkeypatch.delenv("GERBIL_HOME", raising=False)
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "exec.yaml").write_text(CASES)
    answer = "```scheme\n(def (add a b) (+ a b))\n(def (sub a b) (- a b))\n```"
    (pytester.path / "answers.jsonl").write_text("".join(
        json.dumps({"model": "m", "case_id": c, "sample": 0, "content": answer}) + "\n" for c in ("adds", "only-exec")))
    return pytester


def results(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "reports" / "latest" / "results.json").read_text())


def test_without_gerbil_execution_is_not_run_loudly_and_compare_refuses_the_mix(project: pytest.Pytester) -> None:
    without = project.runpytest_subprocess("--replay", "answers.jsonl", "-p", "no:cacheprovider", "-rs")
    without.assert_outcomes(passed=1, skipped=1)  # `only-exec` has nothing that can be judged
    without.stdout.fnmatch_lines(["*EXECUTION NOT RUN: 3 execution assertions*no Gerbil was found*install Gerbil*"])
    doc = results(project)
    assert doc["config"]["execution"]["enabled"] is False and doc["config"]["execution"]["not_run"] == 3
    skipped = next(r for r in doc["results"] if r["case_id"] == "only-exec")
    assert skipped["not_run"] and skipped["score"] is None
    assert "EXECUTION NOT RUN" in (project.path / "reports" / "latest" / "summary.md").read_text()
    run_without = (project.path / "reports" / "latest").resolve()

    gxi = gerbil_home() / "bin" / "gxi"
    with_exec = project.runpytest_subprocess("--replay", "answers.jsonl", "--gxi", str(gxi), "-p", "no:cacheprovider")
    with_exec.assert_outcomes(passed=2)
    info = results(project)["config"]["execution"]
    assert info["enabled"] and info["gxi_version"].startswith("Gerbil v") and info["not_run"] == 0
    assert info["assertions_run"] == 3
    run_with = (project.path / "reports" / "latest").resolve()

    compare = subprocess.run([sys.executable, "-m", "gerbil_eval", "compare", str(run_without), str(run_with),
                              "-o", str(project.path / "cmp")], capture_output=True, text=True, cwd=project.path)
    assert compare.returncode == 4, compare.stderr
    assert "cannot compare" in compare.stderr and "without execution" in compare.stderr
    assert len(compare.stderr.strip().splitlines()) == 1


def test_require_exec_without_gerbil_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--replay", "answers.jsonl", "--require-exec", "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--require-exec: no Gerbil found*"])


def test_a_gxi_that_is_not_there_is_named(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("--replay", "answers.jsonl", "--require-exec", "--gxi", str(tmp_path / "gxi"),
                               "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*--gxi {tmp_path / 'gxi'}: not an executable file*"])
