"""The reports a user reads: terminal table, summary.md, report.html, and the compare/report commands."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

from gerbil_eval.__main__ import main
from gerbil_eval.render import terminal_report, write_reports
from gerbil_eval.run.load import load_result
from gerbil_eval.analysis.totals import with_reference

from .rundocs import make_doc, result_of, save_run

CATS = {"hello": "basics", "loop": "basics", "hash": "stdlib", "ffi|c": "ffi"}
FT = {"hello": 1.0, "loop": 1.0, "hash": 1.0, "ffi|c": 0.5}
BASE = {"hello": 1.0, "loop": 0.0, "hash": 0.5, "ffi|c": 0.0}
EVIL = "(def (f) 1)\n</code></pre><script>alert('x')</script> & <b>bold</b>"


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under GitHub Actions these reports must not land on the real job page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def answers_for(doc: dict) -> dict[tuple[str, str, int], str]:
    out = {(r["model"], r["case_id"], r["sample"]): f";; {r['model']} answer to {r['case_id']}\n(def (main) 'ok)"
           for r in doc["results"]}
    out[("qwen2.5:7b", "loop", 0)] = EVIL
    return out


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, dict]:
    doc = make_doc([("gerbil-qwen", "candidate", FT), ("qwen2.5:7b", "baseline", BASE)], categories=CATS, run_id="run-1")
    return save_run(tmp_path / "reports" / "run-1", doc, answers_for(doc)), doc


def terminal(doc: dict, tmp_path: Path) -> str:
    """The terminal report of ``doc`` as the plugin prints it, the report path under tmp_path/reports."""
    return terminal_report(result_of(doc), tmp_path / "reports" / doc["run_id"] / "report.html")


def test_terminal_report_puts_the_verdict_before_the_numbers_and_ends_with_the_report_path(run, tmp_path) -> None:
    _, doc = run
    text = terminal(doc, tmp_path)
    lines = text.splitlines()
    assert lines[-1] == f"report: {tmp_path / 'reports' / 'run-1' / 'report.html'}"
    verdict = next(i for i, line in enumerate(lines) if line.startswith(("gerbil-qwen is", "no significant")))
    assert lines[verdict - 1] == "== gerbil-qwen vs qwen2.5:7b =="
    assert next(i for i, line in enumerate(lines) if line.startswith("mean score")) > verdict
    model_row = next(line for line in lines if line.startswith("gerbil-qwen ") and "candidate" in line)
    assert re.search(r"\*0\.88\b", model_row), "the best mean score is marked"
    assert "*0.38" not in text


def test_terminal_report_aligns_columns(run, tmp_path) -> None:
    _, doc = run
    lines = terminal(doc, tmp_path).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("case "))
    starts = {line.index("basics") for line in lines[header + 2:header + 6] if "basics" in line}
    assert len(starts) == 1, "the category column starts at the same position on every row"


def test_terminal_report_shows_only_changed_cases_in_a_long_run(tmp_path) -> None:
    ft = {f"c{i:03d}": 1.0 for i in range(60)}
    base = {**ft, "c007": 0.0, "c042": 0.5}
    doc = make_doc([("ft", "candidate", ft), ("base", "baseline", base)])
    text = terminal(doc, tmp_path)
    assert "c007" in text and "c042" in text and "c001" not in text
    assert "(58 cases with equal scores not shown; all cases are in summary.md)" in text


def test_a_pair_with_no_case_scored_by_both_shows_the_verdict_and_no_empty_tables(tmp_path) -> None:
    errors = {f"c{i:03d}": None for i in range(45)}  # every request failed, e.g. a run against a dead endpoint
    doc = make_doc([("ft", "candidate", errors), ("base", "baseline", {**errors, "c001": 1.0})])
    text = terminal(doc, tmp_path)
    block = text[text.index("== ft vs base =="):]
    assert block.splitlines()[1] == "no case was scored for both ft and base: nothing to compare"
    assert "delta\n" not in block.split("case ")[0] and "wins / losses" not in block
    assert "cases with equal scores not shown" not in block  # all 45 unscored cases are listed
    assert block.count("error") >= 45
    write_reports(tmp_path, result_of(doc))
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "**no case was scored for both ft and base: nothing to compare**\n\n<details>" in md
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "nothing to compare</div>" in html and "nothing to compare</div><table" not in html


def test_terminal_report_without_baseline_has_no_comparison_block(tmp_path) -> None:
    text = terminal(make_doc([("ft", "candidate", FT)]), tmp_path)
    assert "==" not in text and text.splitlines()[0].startswith("model")


def test_summary_md_has_verdict_tables_and_every_case(run, tmp_path) -> None:
    run_dir, doc = run
    write_reports(run_dir, load_result(run_dir))
    md = (run_dir / "summary.md").read_text(encoding="utf-8")
    assert re.search(r"^\*\*(gerbil-qwen is better|no significant difference).*McNemar p=", md, re.M)
    assert "| model " in md and "|---" in md.replace(" ", "").replace(":", "")
    assert "**0.88**" in md, "best mean score in bold"
    for case_id in ("hello", "loop", "hash"):
        assert f"| {case_id} " in md
    assert "ffi\\|c" in md, "a | in a case id must not split the Markdown cell"
    assert "<details><summary>Per case (4 cases)</summary>" in md


def test_step_summary_is_appended_when_github_sets_it(run, tmp_path, monkeypatch) -> None:
    run_dir, doc = run
    step = tmp_path / "step_summary.md"
    step.write_text("## earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    write_reports(run_dir, load_result(run_dir))
    text = step.read_text(encoding="utf-8")
    assert text.startswith("## earlier step\n# gerbil-eval results")
    assert (run_dir / "summary.md").read_text(encoding="utf-8") in text


def test_report_html_is_self_contained_and_escapes_answers(run, tmp_path) -> None:
    run_dir, doc = run
    write_reports(run_dir, load_result(run_dir))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html), "no external assets"
    assert "<script" not in html and "<link" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert ";; gerbil-qwen answer to hash" in html and ";; qwen2.5:7b answer to hash" in html
    for case_id in ("hello", "loop", "hash", "ffi|c"):
        assert f'id="case-{case_id}"' in html
    assert html.count('<li class="fail">') == sum(1 for r in doc["results"] if not r["passed"])


def test_report_html_chart_is_an_embedded_png_bar_chart(run, tmp_path) -> None:
    matplotlib_image = pytest.importorskip("matplotlib.image")
    run_dir, doc = run
    write_reports(run_dir, load_result(run_dir))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    data = re.search(r'id="category-chart"[^>]*src="data:image/png;base64,([^"]+)"', html).group(1)
    pixels = matplotlib_image.imread(io.BytesIO(base64.b64decode(data)), format="png")
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert pixels.std() > 0.05, "not a blank image"


def test_compare_to_adds_the_earlier_run_with_its_answers(run, tmp_path) -> None:
    run_dir, doc = run
    old = make_doc([("gerbil-qwen", "candidate", BASE)], categories=CATS, run_id="release-1.0")
    old_dir = save_run(tmp_path / "reports" / "release-1.0", old,
                       {("gerbil-qwen", "hello", 0): "(def old-release-answer 1)"})
    write_reports(run_dir, with_reference(load_result(run_dir), load_result(old_dir)))
    md = (run_dir / "summary.md").read_text(encoding="utf-8")
    assert "### gerbil-qwen vs gerbil-qwen (release-1.0)" in md
    assert "(def old-release-answer 1)" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_a_compare_to_run_that_cannot_be_merged_still_prints_this_runs_table_and_says_why(run, tmp_path) -> None:
    _, doc = run
    text = terminal_report(result_of(doc), None, "--compare-to not shown: cannot compare run a with run b")
    assert "== gerbil-qwen vs qwen2.5:7b ==" in text
    assert text.splitlines()[-1] == "--compare-to not shown: cannot compare run a with run b"


def test_report_command_rerenders_from_results_json_only(run, tmp_path, capsys) -> None:
    run_dir, _ = run
    assert main(["report", str(run_dir / "results.json")]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"report: {run_dir / 'report.html'}")
    assert (run_dir / "summary.md").exists() and (run_dir / "report.html").exists()


def test_report_command_gates_exit_1_only_for_gate_failures(run, capsys) -> None:
    run_dir, _ = run  # gerbil-qwen: 0.88 mean, 3 of 4 cases pass; one case fails, which no gate asks about
    assert main(["report", str(run_dir), "--min-score", "0.8", "--max-regression", "0"]) == 0
    assert main(["report", str(run_dir), "--min-pass-rate", "0.9"]) == 1
    assert "GATE FAILED: --min-pass-rate 0.90: gerbil-qwen pass rate 0.75 is below 0.90" in capsys.readouterr().out
    assert main(["report", str(run_dir), "--min-score", "80"]) == 4
    assert "--min-score must be between 0 and 1, got 80.0" in capsys.readouterr().err


def test_report_command_follows_latest_written_as_a_text_file(run, tmp_path, capsys) -> None:
    run_dir, _ = run
    (run_dir.parent / "latest").write_text("run-1\n", encoding="utf-8")
    assert main(["report", str(run_dir.parent / "latest")]) == 0
    assert (run_dir / "report.html").exists()


def test_compare_command_prints_writes_and_gates(run, tmp_path, capsys) -> None:
    run_dir, doc = run
    old = make_doc([("gerbil-qwen", "candidate", BASE)], categories=CATS, run_id="release-1.0")
    old_dir = save_run(tmp_path / "old", old)
    out = tmp_path / "cmp"
    assert main(["compare", str(old_dir), str(run_dir / "results.json"), "-o", str(out), "--max-regression", "0"]) == 0
    text = capsys.readouterr().out
    assert "== gerbil-qwen vs gerbil-qwen (release-1.0) ==" in text
    assert (out / "summary.md").exists() and (out / "report.html").exists()
    assert main(["compare", str(run_dir), str(old_dir), "-o", str(out), "--max-regression", "0.1"]) == 1
    assert "GATE FAILED: --max-regression 0.10: gerbil-qwen mean score 0.38 is 0.50 below gerbil-qwen (run-1)" in capsys.readouterr().out


def test_out_of_range_gate_flags_are_refused_before_anything_is_written(run, tmp_path, capsys) -> None:
    run_dir, _ = run
    (run_dir / "report.html").unlink(missing_ok=True)
    assert main(["report", str(run_dir), "--min-score", "80"]) == 4
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith("--min-score must be between 0 and 1, got 80.0")
    assert not (run_dir / "report.html").exists()
    out_dir = tmp_path / "cmp"
    assert main(["compare", str(run_dir), str(run_dir), "-o", str(out_dir), "--min-pass-rate", "75"]) == 4
    assert capsys.readouterr().out == "" and not out_dir.exists()


def test_compare_command_names_a_missing_run_in_one_line(tmp_path, capsys) -> None:
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 4
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'nope'}: no such file" in err


def test_compare_command_rejects_a_file_that_is_not_results_json(tmp_path, capsys) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{truncated", encoding="utf-8")
    assert main(["compare", str(bad), str(bad)]) == 4
    assert "not valid JSON" in capsys.readouterr().err


def test_answers_show_prose_apart_from_fenced_code() -> None:
    from gerbil_eval.render.html import answer_html

    html = answer_html("Use this:\n```scheme\n(def (f) (< 1 2))\n```\nDone & dusted.")
    assert html == ('<div class="prose">Use this:</div><pre><code>(def (f) (&lt; 1 2))</code></pre>'
                    '<div class="prose">Done &amp; dusted.</div>')
    assert answer_html("(def x 1)") == "<pre><code>(def x 1)</code></pre>"


def test_reports_take_the_answers_from_the_run_not_from_a_file(tmp_path) -> None:
    """The plugin hands report.html the answers it holds: the folder needs no responses.jsonl."""
    doc = make_doc([("gerbil-qwen", "candidate", FT)], categories=CATS)
    out = tmp_path / "empty"
    write_reports(out, result_of(doc, answers={("gerbil-qwen", "hash", 0): "(def held-in-memory 1)"}))
    assert not (out / "responses.jsonl").exists()
    assert "(def held-in-memory 1)" in (out / "report.html").read_text(encoding="utf-8")
