"""End to end: a replayed pytest run with a fine-tune and its base gives the comparison table.

``pytest --replay FILE --model ft --baseline base`` through ``pytester`` in a subprocess, as
a user types it: recorded answers are scored by the real case loader and scorer, then the
plugin prints the table, writes the run folder and applies the gates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

GOOD = "```scheme\n(hash-for-each (lambda (k v) (displayln k)) h)\n```"
BAD = "Use maphash:\n```scheme\n(maphash (lambda (k v) k) h)\n```"
N = 12


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(pytester.path / "cache"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(var, raising=False)
    lines = ["defaults: {category: hash-tables}", "cases:"]
    for i in range(N):
        category = "" if i % 2 else "\n    category: iteration"
        lines += [f"  - id: case-{i:02d}{category}", f"    prompt: prompt {i}", "    assert:",
                  "      - {type: calls, value: hash-for-each}", "      - {type: not-calls, value: maphash}"]
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "hash.yaml").write_text("\n".join(lines) + "\n")
    return pytester


def replay(project: pytest.Pytester, name: str, good: dict[str, int]) -> Path:
    """A replay file: model -> how many of the cases (from the first) it answers well."""
    path = project.path / name
    path.write_text("".join(json.dumps({"model": m, "case_id": f"case-{i:02d}", "sample": 0,
                                        "content": GOOD if i < n else BAD}) + "\n"
                            for m, n in good.items() for i in range(N)))
    return path


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", "--report-dir", "reports", *args)


def latest(project: pytest.Pytester) -> Path:
    return (project.path / "reports" / "latest").resolve()


def test_replayed_run_with_a_baseline_prints_and_writes_the_comparison(project: pytest.Pytester) -> None:
    file = replay(project, "answers.jsonl", {"ft": 12, "base": 3})
    result = run(project, "--replay", str(file), "--model", "ft", "--baseline", "base")
    assert result.ret == 0, "baseline failures never fail the run"
    out = result.stdout.str()
    assert "== ft vs base ==" in out
    assert "ft is better than base (+0.75, 95% CI +0." in out  # 9 of 12 cases gain 1.0
    assert "McNemar p=0.004)" in out  # 9 discordant pairs, all one way: 2/2**9
    assert re.search(r"^wins / losses / ties +9 / 0 / 3 *$", out, re.M)
    assert "hash-tables" in out and "iteration" in out
    run_dir = latest(project)
    assert f"report: {Path('reports') / run_dir.name / 'report.html'}" in out.splitlines()
    doc = json.loads((run_dir / "results.json").read_text())
    assert {r["role"] for r in doc["results"] if r["model"] == "base"} == {"baseline"}
    md = (run_dir / "summary.md").read_text()
    assert "**ft is better than base" in md and all(f"| case-{i:02d} " in md for i in range(N))
    html = (run_dir / "report.html").read_text()
    assert all(f'id="case-case-{i:02d}"' in html for i in range(N)) and "maphash" in html


def test_gates_fail_the_replayed_run_with_one_line_each(project: pytest.Pytester) -> None:
    file = replay(project, "answers.jsonl", {"ft": 12, "base": 12})
    result = run(project, "--replay", str(file), "--model", "ft", "--baseline", "base", "--require-better")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["GATE FAILED: --require-better: no significant difference between ft and base *"])
    ok = run(project, "--replay", str(file), "--model", "ft", "--baseline", "base", "--max-regression", "0")
    assert ok.ret == 0 and "GATE FAILED" not in ok.stdout.str()


def test_compare_to_an_earlier_run_gates_a_regression(project: pytest.Pytester) -> None:
    release = run(project, "--replay", str(replay(project, "release.jsonl", {"ft": 12})), "--model", "ft")
    assert release.ret == 0
    release_dir = latest(project)
    now = run(project, "--replay", str(replay(project, "now.jsonl", {"ft": 8})), "--model", "ft",
              "--compare-to", str(release_dir), "--max-regression", "0.1")
    assert now.ret == 1  # 4 cases now fail, and the mean dropped 0.33
    out = now.stdout.str()
    assert f"== ft vs ft ({release_dir.name}) ==" in out
    assert f"GATE FAILED: --max-regression 0.10: ft mean score 0.67 is 0.33 below ft ({release_dir.name}) (1.00)" in out
