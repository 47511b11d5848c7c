"""--replay files: the documented JSONL shape, defaults, and one-line errors naming file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fetch.replay import load_replay, replayed_models


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_minimal_lines_default_to_sample_0_and_the_later_line_wins(tmp_path):
    path = write(tmp_path, {"model": "m", "case_id": "c", "content": "first"}, "",
                 {"model": "m", "case_id": "c", "sample": 0, "content": "second"},
                 {"model": "b", "case_id": "c", "sample": 2, "content": "x", "latency_s": 0.5})
    answers = load_replay(path)
    assert answers[("m", "c", 0)].content == "second"
    assert answers[("b", "c", 2)].latency_s == 0.5
    assert replayed_models(answers) == ["m", "b"]


def test_a_recorded_failure_replays_as_an_error(tmp_path):
    answers = load_replay(write(tmp_path, {"model": "m", "case_id": "c", "content": None, "error": "HTTP 500"}))
    assert answers[("m", "c", 0)].error == "HTTP 500" and answers[("m", "c", 0)].content is None


@pytest.mark.parametrize("line,message", [
    ("{not json", "answers.jsonl:2: not valid JSON"),
    ('["a"]', "answers.jsonl:2: expected a JSON object"),
    ({"case_id": "c", "content": "x"}, "answers.jsonl:2: field 'model' must be a non-empty string"),
    ({"model": "m", "case_id": "c", "sample": -1, "content": "x"}, "answers.jsonl:2: field 'sample' must be an integer >= 0"),
    ({"model": "m", "case_id": "c", "content": 3}, "answers.jsonl:2: field 'content' must be a string"),
    ({"model": "m", "case_id": "c", "content": "x", "latency_s": "slow"},
     "answers.jsonl:2: field 'latency_s' must be a number or null, got 'slow'"),
    ({"model": "m", "case_id": "c", "content": "x", "completion_tokens": 1.5},
     "answers.jsonl:2: field 'completion_tokens' must be an integer or null"),
])
def test_bad_lines_are_one_line_errors_naming_file_and_line(tmp_path, line, message):
    path = write(tmp_path, {"model": "m", "case_id": "ok", "content": "x"}, line)
    with pytest.raises(GerbilEvalError) as info:
        load_replay(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(GerbilEvalError, match="--replay .*nope.jsonl: no such file"):
        load_replay(tmp_path / "nope.jsonl")


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes(b'{"model": "m", "case_id": "c", "content": "\xff"}\n')
    with pytest.raises(GerbilEvalError, match=r"--replay .*answers.jsonl: not UTF-8 text \(invalid start byte at byte \d+\)"):
        load_replay(path)
