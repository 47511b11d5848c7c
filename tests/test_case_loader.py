"""Case files: what loads, and one clear line (file, line, case id, field) for every mistake."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gerbil_eval import CaseError, load_cases
from gerbil_eval.cases.loader import CaseFileError, case_files, parse_file

GOOD_CASE = """\
  - id: hash-iteration
    prompt: How do I iterate over a hash table?
    assert:
      - {type: calls-any, value: [hash-for-each, hash-map]}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> CaseFileError:
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    return info.value


# --- what loads ------------------------------------------------------------------------------------

def test_list_file_defaults_category_to_the_file_stem(tmp_path):
    [case] = load_cases([write(tmp_path, "hash-tables.yaml", GOOD_CASE)])
    assert case.id == "hash-iteration"
    assert case.category == "hash-tables"
    assert case.messages == ({"role": "user", "content": "How do I iterate over a hash table?"},)
    assert case.prompt == "How do I iterate over a hash table?"
    assert case.assertions[0].value == ("hash-for-each", "hash-map")
    assert case.line == 1 and case.source == str(tmp_path / "hash-tables.yaml")


def test_defaults_apply_and_cases_override_them(tmp_path):
    path = write(tmp_path, "x.yaml", """\
        defaults: {category: hashes, tags: [hash], threshold: 0.75, system: Answer in Gerbil.}
        cases:
          - id: a
            prompt: p
            tags: [std/iter, hash]
            assert: [{type: code-block}]
          - id: b
            prompt: q
            category: other
            threshold: 0
            system: Be brief.
            assert: [{type: code-block}]
        """)
    a, b = load_cases([path])
    assert (a.category, a.tags, a.threshold) == ("hashes", ("hash", "std/iter"), 0.75)
    assert a.messages[0] == {"role": "system", "content": "Answer in Gerbil."}
    assert (b.category, b.threshold) == ("other", 0.0)
    assert b.messages == ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"})


def test_threshold_null_on_a_case_drops_the_file_default(tmp_path):
    path = write(tmp_path, "x.yaml", """\
        defaults: {threshold: 0.75}
        cases:
          - {id: a, prompt: p, assert: [{type: code-block}]}
          - {id: b, prompt: p, threshold: null, assert: [{type: code-block}]}
        """)
    assert [c.threshold for c in load_cases([path])] == [0.75, None]


def test_messages_are_sent_as_given(tmp_path):
    path = write(tmp_path, "m.yaml", """\
        - id: chat
          messages:
            - {role: system, content: You are terse.}
            - {role: user, content: Hi}
            - {role: assistant, content: Hello.}
            - {role: user, content: Write (def x 1)}
          assert: [{type: calls, value: def}]
        """)
    [case] = load_cases([path])
    assert [m["role"] for m in case.messages] == ["system", "user", "assistant", "user"]
    assert case.prompt is None


def test_folders_are_searched_recursively_sorted_and_other_files_ignored(tmp_path):
    write(tmp_path, "b.yaml", GOOD_CASE.replace("hash-iteration", "b-case"))
    write(tmp_path, "a/z.yml", GOOD_CASE.replace("hash-iteration", "z-case"))
    write(tmp_path, "a/README.md", "# not a case file")
    write(tmp_path, ".hidden/c.yaml", "not: [valid")
    assert [c.id for c in load_cases([tmp_path])] == ["z-case", "b-case"]
    assert case_files(str(tmp_path)) == [tmp_path / "a/z.yml", tmp_path / "b.yaml"]


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(CaseError, match=re.escape(f"{tmp_path / 'nope'}: no such case file or folder")):
        load_cases([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match=r"no case files \(\*\.yaml, \*\.yml\) in this folder"):
        load_cases([tmp_path / "empty"])


# --- one line per mistake, naming file, line, case id and field ----------------------------------

@pytest.mark.parametrize("yaml_text, expected", [
    pytest.param("""\
        - id: c1
          prompt: p
          assert: [{type: calls-ary, value: x}]
        """, "x.yaml:3: case c1: assert #1.type: unknown assertion type 'calls-ary' (did you mean 'calls-any'?)",
        id="unknown-type"),
    pytest.param("""\
        - id: c1
          prompt: p
          assert:
            - {type: regex, value: "(unclosed"}
        """, "x.yaml:4: case c1: assert #1 (regex).value: invalid regex '(unclosed': missing ), unterminated subpattern "
        "at position 0",
        id="invalid-regex"),
    pytest.param("- {id: c1, assert: [{type: code-block}]}", "x.yaml:1: case c1: prompt: missing prompt (or messages)",
                 id="missing-prompt"),
    pytest.param("""\
        - id: c1
          prompt: p
          asserts: [{type: code-block}]
        """, "x.yaml:3: case c1: asserts: unknown case key 'asserts' (did you mean 'assert'?)", id="unknown-key"),
    pytest.param("- {id: c1, prompt: p, assert: [{type: calls, value: 3}]}",
                 "x.yaml:1: case c1: assert #1 (calls).value: needs a name or a list of names, got 3", id="value-shape"),
    pytest.param("- {id: Hash_Iteration, prompt: p, assert: [{type: code-block}]}",
                 "x.yaml:1: case Hash_Iteration: id: must be kebab-case like 'hash-iteration', got 'Hash_Iteration'",
                 id="not-kebab"),
    pytest.param("- {prompt: p, assert: [{type: code-block}]}",
                 "x.yaml:1: case #1: id: missing id (give each case a unique kebab-case id)", id="missing-id"),
    pytest.param("""\
        - id: c1
          prompt: p
        """, "x.yaml:1: case c1: assert: missing: a case needs a non-empty list of assertions under 'assert:'",
        id="missing-assert"),
    pytest.param("""\
        - id: c1
          prompt: p
          messages: [{role: user, content: q}]
          assert: [{type: code-block}]
        """, "x.yaml:2: case c1: prompt: give either prompt or messages, not both", id="prompt-and-messages"),
    pytest.param("""\
        - id: c1
          messages: [{role: robot, content: q}]
          assert: [{type: code-block}]
        """, "x.yaml:2: case c1: messages #1.role: must be one of system, user, assistant, got 'robot'",
        id="bad-role"),
    pytest.param("""\
        - id: c1
          messages: [{role: system, content: q}]
          assert: [{type: code-block}]
        """, "x.yaml:2: case c1: messages: needs at least one message with role: user", id="no-user-message"),
    pytest.param("""\
        - id: c1
          prompt: p
          counterexamples: just one string
          assert: [{type: code-block}]
        """, "x.yaml:3: case c1: counterexamples: must be a list of known-bad answers", id="counterexamples-shape"),
    pytest.param("""\
        - id: c1
          prompt: p
          assert: [{type: code-block}]
        - id: c1
          prompt: q
          assert: [{type: code-block}]
        """, "x.yaml:4: case c1: id: duplicate id, also on line 1", id="duplicate-in-file"),
    pytest.param("""\
        - id: c1
          prompt: p
          prompt: q
          assert: [{type: code-block}]
        """, "x.yaml:3: YAML syntax error: duplicate key 'prompt'", id="duplicate-yaml-key"),
    pytest.param("""\
        - id: c1
          prompt: "unclosed
          assert: [{type: code-block}]
        """, "x.yaml:4: YAML syntax error: while scanning a quoted scalar found unexpected end of stream",
        id="yaml-syntax"),
    pytest.param("""\
        defaults: {categroy: x}
        cases: []
        """, "x.yaml:1: defaults.categroy: unknown defaults key 'categroy' (did you mean 'category'?)",
        id="defaults-key"),
    pytest.param("""\
        default: {category: x}
        cases: []
        """, "x.yaml:1: default: unknown top-level key 'default' (did you mean 'defaults'?)", id="top-level-key"),
    pytest.param("", "x.yaml: expected a non-empty list of cases, or a mapping {defaults: ..., cases: [...]}",
                 id="empty-file"),
    pytest.param("""\
        - just a string
        """, "x.yaml: case #1: each case must be a mapping with id, prompt and assert; got 'just a string'",
        id="case-not-mapping"),
])
def test_each_mistake_is_one_line_naming_file_case_and_field(tmp_path, yaml_text, expected):
    err = load_error(write(tmp_path, "x.yaml", yaml_text))
    assert str(err) == f"{tmp_path}/{expected}"
    assert "\n" not in str(err)


@pytest.mark.parametrize("threshold, shown", [("1.5", "1.5"), ("-0.1", "-0.1"), ("yes", "True"), ("'0.5'", "'0.5'")])
def test_bad_case_threshold_names_its_line_and_value(tmp_path, threshold, shown):
    err = load_error(write(tmp_path, "x.yaml", f"- id: c1\n  prompt: p\n  threshold: {threshold}\n"
                                               "  assert: [{type: code-block}]\n"))
    assert str(err) == f"{tmp_path}/x.yaml:3: case c1: threshold: must be a number between 0 and 1, got {shown}"


def test_duplicate_id_across_files_names_both_files(tmp_path):
    first = write(tmp_path, "a.yaml", GOOD_CASE)
    second = write(tmp_path, "b.yaml", "# another file\n" + GOOD_CASE)
    err = load_error(tmp_path)
    assert str(err) == f"{second}:2: case hash-iteration: id: duplicate id, also in {first}:1"
    assert (err.file, err.case_id, err.field) == (str(second), "hash-iteration", "id")


def test_error_is_raised_before_anything_else_loads(tmp_path):
    """A bad second file stops the load even though the first is fine: nothing partial is returned."""
    write(tmp_path, "a.yaml", GOOD_CASE)
    write(tmp_path, "b.yaml", "- id: x\n  prompt: p\n  assert: [{type: nope}]\n")
    with pytest.raises(CaseError, match="b.yaml:3: case x: assert #1.type: unknown assertion type 'nope'; known: argument-order, calls, "):
        load_cases([tmp_path])


def test_parse_file_collects_every_bad_case_and_keeps_the_good_ones(tmp_path):
    path = write(tmp_path, "x.yaml", GOOD_CASE + """\
  - id: bad-one
    prompt: p
    assert: [{type: calls}]
  - id: bad-two
    assert: [{type: code-block}]
""")
    cases, errors = parse_file(path)
    assert [c.id for c in cases] == ["hash-iteration"]
    assert [(e.case_id, e.field) for e in errors] == [("bad-one", "assert #1 (calls).value"), ("bad-two", "prompt")]


def test_impossible_yaml_date_is_a_case_error(tmp_path):
    err = load_error(write(tmp_path, "x.yaml", "- id: c1\n  prompt: 2024-13-45\n  assert: [{type: code-block}]\n"))
    assert str(err).startswith(f"{tmp_path}/x.yaml: YAML error:")


def test_non_utf8_file_is_a_case_error(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"- id: c\xff\n")
    assert "not UTF-8 text" in str(load_error(path))


@pytest.mark.parametrize("weight", ["1e400", "10" * 200, ".nan", ".inf", "'2'"])
def test_weights_that_are_not_finite_numbers_are_rejected(tmp_path, weight):
    err = load_error(write(tmp_path, "x.yaml", f"- id: c\n  prompt: p\n  assert: [{{type: code-block, weight: {weight}}}]\n"))
    assert "assert #1 (code-block).weight: must be a number 0 or more" in str(err)
