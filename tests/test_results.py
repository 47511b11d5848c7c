"""Run folder outputs: result rows, results.json/csv, `latest`, and the per-model summary."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from gerbil_eval.cases.loader import Assertion, Case
from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.run.load import load_result
from gerbil_eval.run.folder import ResponseLog, create_run_dir, update_latest, write_results
from gerbil_eval.run.types import ROW_FIELDS, Response, ResultRow, estimate_tokens
from gerbil_eval.safety.redact import register_secret
from gerbil_eval.scoring.score import score_answer
from gerbil_eval.analysis.totals import build_result, summarize

CASE = Case(id="hash-iteration", messages=({"role": "user", "content": "iterate"},), category="hash-tables",
            tags=("std/iter",), assertions=(Assertion("calls", ["hash-for-each"]), Assertion("not-calls", ["maphash"])))
CONFIG = {"models": [{"name": "m", "base_url": "http://h/v1", "role": "candidate"}], "temperature": 0.0,
          "max_tokens": None, "samples": 1, "seed": None, "cases": [CASE.id], "replay": None}


def row(sample: int, answer: str | None, *, latency: float | None = 1.0, error: str | None = None,
        tokens: int | None = 10) -> ResultRow:
    response = Response("m", CASE.id, sample, answer, latency_s=latency, completion_tokens=tokens,
                        total_tokens=None if tokens is None else tokens + 5, error=error)
    return ResultRow.of("m", "candidate", CASE, response, None if error else score_answer(CASE, answer or ""), None)


def test_row_has_the_documented_fields_and_assertion_details():
    r = row(0, "```scheme\n(hash-for-each f h)\n```").to_dict()
    assert tuple(r) == tuple(f for f in ROW_FIELDS if f not in ("tokens_estimated", "not_run")), \
        "results.json rows keep their keys; the two flags appear only when true"
    assert r["score"] == 1.0 and r["passed"] is True and r["role"] == "candidate"
    assert [a["type"] for a in r["assertions"]] == ["calls", "not-calls"]
    error = row(1, None, error="HTTP 500").to_dict()
    assert error["score"] is None and error["passed"] is None and error["assertions"] == []


def test_a_row_without_reported_usage_counts_tokens_from_the_answer_and_says_so():
    r = row(0, "(hash-for-each f h)", tokens=None)
    assert (r.completion_tokens, r.total_tokens, r.tokens_estimated) == (9, 9, True)
    assert r.to_dict()["tokens_estimated"] is True
    assert not row(1, "(hash-for-each f h)").tokens_estimated and not row(2, None, error="x", tokens=None).tokens_estimated


def test_results_json_and_csv_are_written_and_read_back(tmp_path: Path):
    register_secret("sk-never-written")
    rows = [row(0, "(hash-for-each f h)"), row(1, "(maphash f h)", tokens=None),
            row(2, None, error="HTTP 401 for key sk-never-written")]
    write_results(tmp_path, build_result("run-1", "2026-01-01T00:00:00+00:00", CONFIG, rows))
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["results"][:2] == [r.to_dict() for r in rows[:2]]
    assert doc["summary"]["m"]["tokens_estimated"] is True and doc["summary"]["m"]["errors"] == 1
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert tuple(parsed[0]) == ROW_FIELDS, "results.csv has a column for every row field"
    assert [r["passed"] for r in parsed] == ["True", "False", ""] and parsed[0]["tags"] == "std/iter"
    assert [r["tokens_estimated"] for r in parsed] == ["False", "True", "False"]
    assert json.loads(parsed[1]["assertions"])[1]["passed"] is False
    for name in ("results.json", "results.csv"):
        text = (tmp_path / name).read_text()
        assert "sk-never-written" not in text and "HTTP 401 for key ***" in text
    back = load_result(tmp_path)
    assert back.rows == tuple(dataclasses.replace(r, error=r.error and r.error.replace("sk-never-written", "***"))
                              for r in rows), "a saved run reads back as the same typed rows"
    assert back.summaries == build_result("run-1", "", CONFIG, back.rows).summaries


def test_a_report_dir_that_cannot_hold_a_run_folder_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(GerbilEvalError, match=r"^--report-dir .*a-file: cannot create the run folder there \(Not a directory\)$"):
        create_run_dir(tmp_path / "a-file", "run-1")


def test_latest_points_at_the_newest_run_and_is_replaced(tmp_path: Path):
    for name in ("run-a", "run-b"):
        (tmp_path / name).mkdir()
        update_latest(tmp_path, tmp_path / name)
    assert (tmp_path / "latest").resolve() == (tmp_path / "run-b").resolve()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_response_log_appends_one_flushed_line_per_response(tmp_path: Path):
    log = ResponseLog(tmp_path / "responses.jsonl")
    log.append(Response("m", "c", 0, "answer"))
    assert json.loads((tmp_path / "responses.jsonl").read_text())["content"] == "answer"  # visible before close
    log.close()


def test_summary_counts_errors_apart_and_computes_percentiles():
    rows = [row(i, "(hash-for-each f h)" if i < 3 else "(maphash f h)", latency=float(i + 1)) for i in range(5)]
    rows.append(row(5, None, error="timed out", latency=None))
    s = summarize(rows, ["m", "absent"])
    m = s["m"]
    assert (m.samples, m.passed, m.failed, m.errors) == (6, 3, 2, 1)
    assert m.pass_rate == pytest.approx(0.6) and m.mean_score == pytest.approx(0.6)
    assert m.latency_p50 == 3.0 and m.latency_p95 == pytest.approx(4.8)
    assert m.tokens_per_s == pytest.approx(50 / 15) and m.total_tokens == 75
    assert s["absent"].samples == 0 and s["absent"].mean_score is None


def test_token_estimate_counts_words_and_punctuation():
    assert estimate_tokens("(hash-ref h 'a)") == 8
    assert estimate_tokens(None) == 0


def test_long_lines_from_two_writers_never_interleave(tmp_path: Path):
    """Two logs on one file (two xdist workers): every line stays whole, however long."""
    import threading

    logs = [ResponseLog(tmp_path / "responses.jsonl") for _ in range(2)]

    def write(log: ResponseLog, letter: str) -> None:
        for i in range(50):
            log.append(Response("m", f"{letter}{i}", 0, letter * 100_000))

    threads = [threading.Thread(target=write, args=(log, letter)) for log, letter in zip(logs, "ab")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "responses.jsonl").read_text().splitlines()]
    assert len(lines) == 100 and all(r["content"] == r["case_id"][0] * 100_000 for r in lines)
