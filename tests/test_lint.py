"""``python -m gerbil_eval lint``: references pass, counterexamples fail, every problem one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gerbil_eval import lint_cases
from gerbil_eval.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

GOOD = """\
- id: hash-iteration
  topic: hash-iteration
  prompt: How do I iterate over a hash table?
  assert:
    - {type: calls-any, value: [hash-for-each, hash-map]}
    - {type: not-calls-any, value: [hash-table-walk, maphash]}
  reference: |
    ```scheme
    (hash-for-each (lambda (k v) (displayln k)) h)
    ```
  counterexamples:
    - "(hash-table-walk h (lambda (k v) k))"
    - "(maphash (lambda (k v) k) h)"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def lines(problems) -> list[str]:
    return [str(p) for p in problems]


def test_good_file_has_no_problems_and_prints_a_summary(tmp_path, capsys):
    path = write(tmp_path, "good.yaml", GOOD)
    assert lint_cases([path], strict=True) == []
    assert main(["lint", "--strict", str(path)]) == 0
    assert capsys.readouterr().out == "OK: 1 cases in 1 files; 1 references pass, 2 counterexamples fail\n"


def test_failing_reference_is_reported_with_the_failing_assertion(tmp_path):
    path = write(tmp_path, "x.yaml", GOOD.replace("(hash-for-each (lambda", "(hash-walk (lambda"))
    assert lines(lint_cases([path])) == [
        f"{path}:5: hash-iteration: reference fails: assert #1 (calls-any): calls none of hash-for-each, hash-map "
        "(code has: hash-walk)"]


def test_failing_reference_under_a_threshold_gives_the_score(tmp_path):
    text = GOOD.replace("  assert:\n", "  threshold: 0.75\n  assert:\n").replace("(hash-for-each (lambda", "(maphash (lambda")
    path = write(tmp_path, "x.yaml", text)
    assert lines(lint_cases([path])) == [
        f"{path}:6: hash-iteration: reference fails (score 0.00 < threshold 0.75): assert #1 (calls-any): calls none "
        "of hash-for-each, hash-map; assert #2 (not-calls-any): calls maphash"]


def test_passing_counterexample_is_reported(tmp_path):
    path = write(tmp_path, "x.yaml", GOOD.replace('"(maphash (lambda (k v) k) h)"', '"(hash-map f h)"'))
    [problem] = lint_cases([path])
    assert problem.case_id == "hash-iteration"
    assert problem.message == "counterexample #2 passes (all 2 assertions pass); add an assertion it fails"


def test_missing_reference_and_counterexamples_only_matter_with_strict(tmp_path):
    bare = "- id: bare\n  prompt: p\n  assert: [{type: code-block}]\n"
    path = write(tmp_path, "x.yaml", bare)
    assert lint_cases([path]) == []
    assert lines(lint_cases([path], strict=True)) == [
        f"{path}:1: bare: no reference answer (required with --strict)",
        f"{path}:1: bare: has 0 counterexample(s); --strict needs at least 2",
    ]


def test_negated_all_of_list_is_flagged_as_a_likely_mistake(tmp_path):
    text = GOOD.replace("{type: not-calls-any, value: [hash-table-walk, maphash]}",
                        "{type: not-calls, value: [hash-table-walk, maphash]}")
    path = write(tmp_path, "x.yaml", text)
    assert lines(lint_cases([path])) == [
        f"{path}:6: hash-iteration: assert #2 (not-calls) with 2 values passes when any one is absent; "
        "to forbid each, use not-calls-any"]


def test_all_zero_weights_is_a_problem(tmp_path):
    path = write(tmp_path, "x.yaml", "- id: w\n  prompt: p\n  assert: [{type: code-block, weight: 0}]\n")
    assert lines(lint_cases([path])) == [f"{path}:1: w: every assertion has weight 0, so the case can never fail"]


def test_every_bad_file_is_reported_not_just_the_first(tmp_path, capsys):
    write(tmp_path, "a.yaml", "- id: a\n  prompt: p\n  assert: [{type: calls}]\n")
    write(tmp_path, "b.yaml", "- id: b\n  promt: p\n  assert: [{type: code-block}]\n")
    write(tmp_path, "c.yaml", GOOD)
    assert main(["lint", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path}/a.yaml:3: a: assert #1 (calls).value: needs a name or a list of names, got None",
        f"{tmp_path}/b.yaml:2: b: promt: unknown case key 'promt' (did you mean 'prompt'?)",
        "2 problem(s) in 1 cases; --explain CASE-ID shows each assertion on each answer",
    ]


def test_duplicate_ids_across_files(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    assert lines(lint_cases([tmp_path])) == [
        f"{tmp_path}/b.yaml:1: hash-iteration: id: duplicate id, also in {tmp_path}/a.yaml:1"]


def test_missing_path_is_a_problem(tmp_path):
    assert lines(lint_cases([tmp_path / "nope"])) == [f"{tmp_path / 'nope'}: no such case file or folder"]


def test_explain_shows_each_assertion_on_each_answer(tmp_path, capsys):
    path = write(tmp_path, "x.yaml", GOOD.replace('"(maphash (lambda (k v) k) h)"', '"(hash-map f h)"'))
    assert main(["lint", str(path), "--explain", "hash-iteration"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:10] == [
        f"hash-iteration ({path}:1; every weighted assertion must pass)",
        "  reference: passes, score 1.00",
        "    ok   #1 calls-any (weight 1): calls hash-for-each",
        "    ok   #2 not-calls-any (weight 1): calls none of hash-table-walk, maphash",
        "  counterexample #1: fails, score 0.00",
        "    FAIL #1 calls-any (weight 1): calls none of hash-for-each, hash-map",
        "    FAIL #2 not-calls-any (weight 1): calls hash-table-walk",
        "  counterexample #2: passes, score 1.00   <-- should fail",
        "    ok   #1 calls-any (weight 1): calls hash-map",
        "    ok   #2 not-calls-any (weight 1): calls none of hash-table-walk, maphash",
    ]


def test_explain_unknown_id_is_a_usage_error_with_a_suggestion(tmp_path, capsys):
    assert main(["lint", str(write(tmp_path, "x.yaml", GOOD)), "--explain", "hash-iteraton"]) == 4
    assert "--explain hash-iteraton: no such case id (did you mean 'hash-iteration'?)" in capsys.readouterr().err


FACTS = """\
# Facts
### 1. hash-get-vs-hash-ref
text
### 4. hash-iteration
### Not a topic heading
"""


def test_facts_topics_must_each_be_covered_and_case_topics_must_exist(tmp_path):
    facts = write(tmp_path, "facts.md", FACTS)
    cases = write(tmp_path, "x.yaml", GOOD + GOOD.replace("id: hash-iteration", "id: other")
                  .replace("topic: hash-iteration", "topic: hash-iterations"))
    assert lines(lint_cases([cases], facts=facts)) == [
        f"{facts}: topic hash-get-vs-hash-ref (### 1) has no case with 'topic: hash-get-vs-hash-ref'",
        f"{cases}:14: other: topic 'hash-iterations' is not a topic of {facts} (did you mean 'hash-iteration'?)",
    ]


def test_facts_file_without_topics_is_a_usage_error(tmp_path, capsys):
    facts = write(tmp_path, "facts.md", "# nothing here\n")
    assert main(["lint", str(write(tmp_path, "x.yaml", GOOD)), "--facts", str(facts)]) == 4
    assert capsys.readouterr().err == (f"gerbil_eval: error: {facts}: no topic headings like '### 4. hash-iteration' "
                                       "in this facts file\n")


def test_command_line_gives_one_line_and_no_traceback(tmp_path):
    bad = write(tmp_path, "x.yaml", "- id: c\n  prompt: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "gerbil_eval", "lint", str(bad)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.splitlines()[0].startswith(f"{bad}:3: YAML syntax error:")


def test_help_explains_the_options():
    proc = subprocess.run([sys.executable, "-m", "gerbil_eval", "lint", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps lines at the terminal width
    for words in ("--strict", "--facts", "--explain", "at least 2 counterexamples", "exits 1"):
        assert words in text


@pytest.mark.skipif(not (SHARED / "reference" / "gerbil-facts.md").is_file(), reason="../shared/reference not present")
def test_facts_sheet_topics_are_read(tmp_path):
    from gerbil_eval.cases.lint import read_fact_topics

    topics = read_fact_topics(SHARED / "reference" / "gerbil-facts.md")
    assert len(topics) == 74
    assert topics["hash-iteration"] == "4"
