"""The pytest plugin end to end, through pytest's own ``pytester``, against the stand-in
OpenAI chat-completions server (tests/fake_openai.py: real HTTP on 127.0.0.1 following
the documented protocol, with injectable faults)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import matplotlib
import pytest

from gerbil_eval.fetch.client import ChatClient
from gerbil_eval.errors import EXIT_INFRA, InfraError
from tests.fake_openai import FakeOpenAI, asked

# pytester's inline runs drop every module first imported during them. numpy (the report's
# chart) cannot be loaded twice in one process, a second copy of httpcore makes its
# exceptions escape httpx's mapping, and a second PyYAML meets its first C extension
# ("could not determine a constructor for the tag None"); so the report, network and
# case-loading stacks are loaded up front (``import gerbil_eval`` no longer loads the last).
matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401
import gerbil_eval.cases.loader  # noqa: E402,F401


@pytest.fixture(scope="module", autouse=True)
def network_stack_loaded() -> None:
    """One real request (and one refused connection) before any inline run imports the stack."""
    from gerbil_eval.fetch.fetcher import Fetcher  # noqa: F401  (and with it client, cache, results)

    async def ask(url: str) -> None:
        client, refused = ChatClient(url, None, 5, 0, 1), ChatClient("http://127.0.0.1:9/v1", None, 5, 0, 1)
        try:
            await client.complete("fake-model", [{"role": "user", "content": "hi"}], {})
            with contextlib.suppress(InfraError):
                await refused.preflight("m")
        finally:
            await client.aclose()
            await refused.aclose()

    with FakeOpenAI() as server:
        asyncio.run(ask(server.url))

GOOD = "```scheme\n(hash-for-each (lambda (k v) (displayln k)) h)\n```"
BAD = "Use maphash:\n```scheme\n(maphash (lambda (k v) k) h)\n```"


def case_yaml(n: int, category: str = "hash-tables", tags: str = "[std/iter, seed]") -> str:
    """``n`` cases whose prompts are ``prompt 0`` .. ``prompt n-1``; a passing answer calls hash-for-each."""
    lines = [f"defaults: {{category: {category}, tags: {tags}}}", "cases:"]
    for i in range(n):
        lines += [f"  - id: case-{i}", f"    prompt: prompt {i}", "    assert:",
                  "      - {type: calls, value: hash-for-each}", "      - {type: not-calls, value: maphash}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with its own unit test and a case folder; a private response cache."""
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(pytester.path / "cache"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(test_unit="def test_unit():\n    assert True\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "hash.yaml").write_text(case_yaml(4))
    return pytester


def answers(good: int, total: int) -> dict[str, str]:
    return {f"prompt {i}": GOOD if i < good else BAD for i in range(total)}


def args(server: FakeOpenAI, *extra: str) -> list[str]:
    return ["--model", "fake-model", f"--base-url={server.url}", "-p", "no:cacheprovider", *extra]


def latest(project: pytest.Pytester) -> Path:
    return (project.path / "reports" / "latest").resolve()


def results(project: pytest.Pytester) -> dict:
    return json.loads((latest(project) / "results.json").read_text())


def test_without_options_the_plugin_collects_and_writes_nothing(project):
    """A fresh process, as a user's plain `pytest` is: an in-process run inherits this
    session's imports and gets pytest's "already imported" warning for the plugin."""
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (project.path / "reports").exists()
    assert [line for line in result.stdout.lines if "gerbil" in line and not line.startswith("plugins:")] == []


def test_a_run_without_options_loads_the_plugin_but_not_the_case_machinery(project):
    """The plugin is loaded by every pytest run in the environment (pytest11 entry point):
    without our options it must not pay for YAML, the reader and the scorer."""
    project.makepyfile(test_modules="""
        import sys

        def test_only_the_plugin_is_loaded():
            assert "gerbil_eval.plugin.hooks" in sys.modules
            heavy = {"yaml", "gerbil_eval.cases.loader", "gerbil_eval.scoring.score", "gerbil_eval.cases.lint", "gerbil_eval.reader"}
            assert sorted(heavy & set(sys.modules)) == []
    """)
    project.runpytest_subprocess("-p", "no:cacheprovider", "test_modules.py").assert_outcomes(passed=1)


def test_the_lazy_public_names_import_as_before():
    """``gerbil_eval`` imports its public names on first use; what users import must not change."""
    import gerbil_eval
    from gerbil_eval.cases.loader import load_cases
    from gerbil_eval.scoring.score import score_answer

    assert gerbil_eval.__all__ == [
        "Assertion", "AssertionResult", "Case", "CaseError", "CaseScore", "GerbilEvalError", "InfraError",
        "LintProblem", "lint_cases", "load_cases", "read", "read_gerbil", "score_answer"]
    star: dict[str, object] = {}
    exec("from gerbil_eval import *", star)
    assert set(gerbil_eval.__all__) <= set(star) and set(gerbil_eval.__all__) <= set(dir(gerbil_eval))
    assert star["load_cases"] is load_cases and star["score_answer"] is score_answer
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        gerbil_eval.nothing  # noqa: B018


def test_model_collects_one_item_per_case_and_skips_project_tests_on_standin_server(project):
    with FakeOpenAI() as server:
        result = project.runpytest(*args(server, "--collect-only", "-q"))
    out = result.stdout.str()
    assert "cases/hash.yaml::case-0[fake-model]" in out and "cases/hash.yaml::case-3[fake-model]" in out
    assert "test_unit" not in out
    assert server.requests == 0  # --collect-only asks nothing


def test_a_finished_run_leaves_no_thread_of_its_own_running(project):
    """Hooks hand the run to a session that stops what it started: the report-import thread and the
    scoring dispatchers are joined at exit (an in-process run, so its threads are visible here)."""
    import threading

    with FakeOpenAI(answers=answers(3, 4)) as server:
        result = project.runpytest(*args(server))
    result.assert_outcomes(passed=3, failed=1)
    assert [t.name for t in threading.enumerate() if t.name.startswith("gerbil-eval")] == []


def test_passing_run_exits_0_and_writes_the_run_folder_on_standin_server(project):
    with FakeOpenAI(answers=answers(4, 4)) as server:
        result = project.runpytest(*args(server))
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    run = latest(project)
    assert {"responses.jsonl", "results.json", "results.csv", "summary.md"} <= {p.name for p in run.iterdir()}
    doc = results(project)
    assert doc["summary"]["fake-model"]["pass_rate"] == 1.0 and doc["summary"]["fake-model"]["cases"] == 4
    assert [r["case_id"] for r in doc["results"]] == ["case-0", "case-1", "case-2", "case-3"]
    assert all(r["ttft_s"] is not None and r["completion_tokens"] for r in doc["results"])
    assert len((run / "responses.jsonl").read_text().splitlines()) == 4
    assert str(run) in result.stdout.str() or run.name in result.stdout.str()  # the report path ends the output


def test_failing_case_exits_1_with_a_readable_assertion_table_on_standin_server(project):
    with FakeOpenAI(answers=answers(3, 4)) as server:
        result = project.runpytest(*args(server))
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["case-3[[]fake-model[]]: score 0.00 (every weighted assertion must pass)",
                                 "  FAIL  calls*hash-for-each*", "  FAIL  not-calls*maphash*", "*| (maphash*"])
    row = next(r for r in results(project)["results"] if r["case_id"] == "case-3")
    assert row["passed"] is False and row["score"] == 0.0 and len(row["assertions"]) == 2


def test_k_m_and_x_select_and_stop_like_pytest_on_standin_server(project):
    (project.path / "cases" / "other.yaml").write_text(case_yaml(1, category="strings", tags="[]").replace("case-0", "other-0"))
    with FakeOpenAI(answers=answers(0, 4)) as server:
        by_k = project.runpytest(*args(server, "-k", "case-1 or case-2"))
        by_m = project.runpytest(*args(server, "-m", "strings", "--strict-markers"))
        by_tag = project.runpytest(*args(server, "-m", "std_iter and not strings", "--strict-markers"))
        stop = project.runpytest(*args(server, "-x"))
    by_k.assert_outcomes(failed=2, deselected=3)
    by_m.assert_outcomes(failed=1, deselected=4)
    by_tag.assert_outcomes(failed=4, deselected=1)
    stop.assert_outcomes(failed=1)


def test_unreachable_endpoint_stops_the_run_with_exit_7_and_one_line(project):
    result = project.runpytest("--model", "fake-model", "--base-url=http://127.0.0.1:9/v1", "-p", "no:cacheprovider")
    assert result.ret == EXIT_INFRA
    lines = [line for line in result.stdout.lines + result.stderr.lines if "http://127.0.0.1:9/v1" in line]
    assert len(lines) == 1 and "'fake-model'" in lines[0] and "unreachable" in lines[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    under_xdist = project.runpytest_subprocess("--model", "fake-model", "--base-url=http://127.0.0.1:9/v1", "-n", "2")
    assert under_xdist.ret == EXIT_INFRA  # the controller checks the endpoint before any worker runs
    assert not any((project.path / "reports").iterdir())  # and leaves no empty run folder


def test_unknown_model_and_bad_key_stop_the_run_with_exit_7_on_standin_server(project):
    with FakeOpenAI(api_key="sekrit") as server:
        unknown = project.runpytest("--model", "no-such-model", f"--base-url={server.url}", "--api-key", "sekrit")
        bad_key = project.runpytest(*args(server, "--api-key", "wrong"))
    assert unknown.ret == EXIT_INFRA and bad_key.ret == EXIT_INFRA
    unknown.stdout.fnmatch_lines(["*(model 'no-such-model'): unknown model*"])
    bad_key.stdout.fnmatch_lines(["*(model 'fake-model'): HTTP 401*"])


def test_usage_errors_exit_4_with_one_line(project):
    (project.path / "bad").mkdir()
    (project.path / "bad" / "x.yaml").write_text("- id: Not_Kebab\n  prompt: p\n  assert: [{type: contains, value: a}]\n")
    missing = project.runpytest("--model", "m", "--cases", "nowhere")
    bad_case = project.runpytest("--model", "m", "--cases", "bad")
    bad_flag = project.runpytest("--model", "m", "--samples", "0")
    lora_alone = project.runpytest("--model", "m", "--serve-lora", "x.gguf")
    only_lora = project.runpytest("--serve-lora", "x.gguf")  # no --model: still not silently ignored
    twice = project.runpytest("--model", "m", "--baseline", "m@http://127.0.0.1:9/v1")
    no_tokens = project.runpytest("--model", "m", "--max-tokens", "0")
    bad_baseline = project.runpytest("--baseline", "m@ftp://x")
    no_scheme = project.runpytest("--model", "m", "--base-url", "localhost:11434/v1")
    (project.path / "skip.yaml").write_text(case_yaml(1, category="skip"))
    skip_category = project.runpytest("--model", "m", "--cases", "skip.yaml")
    for result in (missing, bad_case, bad_flag, lora_alone, only_lora, twice, no_tokens, bad_baseline, no_scheme,
                   skip_category):
        assert result.ret == 4
        assert "Traceback" not in result.stderr.str()
    twice.stderr.fnmatch_lines(["ERROR: model 'm' is given twice (--model/--baseline); give each model once"])
    no_tokens.stderr.fnmatch_lines(["ERROR: --max-tokens must be at least 1, got 0"])
    bad_baseline.stderr.fnmatch_lines(["ERROR: --baseline 'm@ftp://x': the URL after @ must start with http*"])
    no_scheme.stderr.fnmatch_lines(["ERROR: --base-url 'localhost:11434/v1': must start with http:// or https://"])
    skip_category.stderr.fnmatch_lines(["ERROR: *skip.yaml:3: case case-0: category 'skip' is a pytest marker *"])
    missing.stderr.fnmatch_lines(["ERROR: --cases nowhere: no such file or folder*"])
    bad_case.stderr.fnmatch_lines(["ERROR: *x.yaml*id*kebab*"])
    for result in (lora_alone, only_lora):
        assert [line for line in result.stderr.lines if line.strip()] == [
            "ERROR: --serve-lora needs --serve GGUF (the model it applies to)"]
    assert not any((project.path / "reports").iterdir())  # nor an empty run folder


def test_run_under_20_percent_faults_scores_every_item_and_loses_nothing_on_standin_server(project):
    (project.path / "cases" / "hash.yaml").write_text(case_yaml(40))
    with FakeOpenAI(answers=answers(40, 40), fault_rate=0.2, faults=("429", "500", "malformed", "drop"), seed=7) as server:
        result = project.runpytest(*args(server, "--retries", "8", "--concurrency", "8"))
        assert sum(server.faults_served.values()) >= 5
    result.assert_outcomes(passed=40)
    doc = results(project)
    assert len(doc["results"]) == 40 and all(r["score"] == 1.0 and r["error"] is None for r in doc["results"])
    logged = [json.loads(line) for line in (latest(project) / "responses.jsonl").read_text().splitlines()]
    assert sorted(r["case_id"] for r in logged) == sorted(f"case-{i}" for i in range(40))


def test_request_failing_after_retries_is_an_error_item_listed_in_the_summary_on_standin_server(project):
    with FakeOpenAI(answers=answers(4, 4)) as server:
        server.script(["ok", "ok", "500", "500"])  # the preflight probe; then with --concurrency 1 case-1 fails twice
        result = project.runpytest(*args(server, "--retries", "1", "--concurrency", "1", "--junitxml=junit.xml"))
    assert result.ret == 1
    result.assert_outcomes(passed=3, errors=1)
    junit = (project.path / "junit.xml").read_text()
    assert junit.count("<testcase ") == 4 and junit.count("<error ") == 1 and "request failed: HTTP 500" in junit
    assert "gerbil_eval_row" not in junit
    result.stdout.fnmatch_lines(["*case-1[[]fake-model[]]: request failed: HTTP 500*(after 2 attempts)*"])
    assert "CallInfo" not in result.stdout.str()  # one line, not a traceback through pytest's runner
    summary = results(project)["summary"]["fake-model"]
    assert summary["errors"] == 1 and summary["error_cases"] == ["case-1"] and summary["pass_rate"] == 1.0


def test_rerun_asks_nothing_already_answered_and_no_cache_asks_again_on_standin_server(project):
    with FakeOpenAI(answers=answers(4, 4)) as server:
        project.runpytest(*args(server))
        project.runpytest(*args(server)).assert_outcomes(passed=4)
        assert len(asked(server)) == 4
        project.runpytest(*args(server, "--no-cache")).assert_outcomes(passed=4)
        assert len(asked(server)) == 8
    logged = (latest(project) / "responses.jsonl").read_text().splitlines()
    assert len(logged) == 4  # each run folder has its full responses.jsonl, cached or not


def test_killed_run_resumes_without_re_asking_answered_requests_on_standin_server(project):
    """A real subprocess is killed mid-way; the restarted run only asks what was never answered."""
    (project.path / "cases" / "hash.yaml").write_text(case_yaml(30))
    env = {**os.environ, "GERBIL_EVAL_CACHE": str(project.path / "cache")}
    with FakeOpenAI(answers=answers(30, 30), delay=0.1) as server:
        cmd = [sys.executable, "-m", "pytest", *args(server, "--concurrency", "2", "-q")]
        proc = subprocess.Popen(cmd, cwd=project.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(asked(server)) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = asked(server)
        assert 10 <= len(first) < 30
        rerun = subprocess.run(cmd, cwd=project.path, env=env, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stdout[-2000:]
        second = asked(server)[len(first):]
    # Answers that reached the client before the kill are in the cache; at most the
    # requests in flight at the moment of the kill (--concurrency 2) are asked twice.
    assert len(set(first) & set(second)) <= 2
    assert set(first) | set(second) == {f"prompt {i}" for i in range(30)}
    killed_run = sorted(p for p in (project.path / "reports").iterdir() if p.name != "latest")[0]
    assert len((killed_run / "responses.jsonl").read_text().splitlines()) >= len(first) - 2


def test_replay_scores_a_runs_responses_without_network_and_missing_ones_are_errors(project):
    with FakeOpenAI(answers=answers(3, 4)) as server:
        project.runpytest(*args(server))
    recorded = latest(project) / "responses.jsonl"
    first = results(project)
    replay = project.runpytest("--replay", str(recorded), "-p", "no:cacheprovider")
    replay.assert_outcomes(passed=3, failed=1)
    again = results(project)
    assert [(r["case_id"], r["score"]) for r in again["results"]] == [(r["case_id"], r["score"]) for r in first["results"]]
    partial = project.path / "partial.jsonl"
    # case-0 and case-1 (good answers): responses.jsonl is in arrival order, which concurrency makes random
    kept = [line for line in recorded.read_text().splitlines() if json.loads(line)["case_id"] in ("case-0", "case-1")]
    partial.write_text("\n".join(kept) + "\n")
    gaps = project.runpytest("--replay", str(partial), "--model", "fake-model", "-p", "no:cacheprovider")
    assert gaps.ret == 1
    gaps.assert_outcomes(passed=2, errors=2)
    gaps.stdout.fnmatch_lines(["*request failed: no recorded response in*partial.jsonl for model 'fake-model'*"])
    assert "CallInfo" not in gaps.stdout.str()


def write_replay(path: Path, good: int, total: int) -> Path:
    """A replay file answering ``case-0`` .. ``case-{total-1}`` for fake-model, the first ``good`` well."""
    lines = [json.dumps({"model": "fake-model", "case_id": f"case-{i}", "content": GOOD if i < good else BAD})
             for i in range(total)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def far_folder(project: pytest.Pytester) -> Iterator[Path]:
    """A folder sharing no ancestor but / with the project (like /tmp/h4 and /work/main)."""
    for base in ("/var/tmp", "/dev/shm", str(Path.home())):
        if os.path.commonpath([base, project.path]) == "/" and os.access(base, os.W_OK):
            with tempfile.TemporaryDirectory(dir=base, prefix="gerbil-eval-test-") as folder:
                yield Path(folder)
            return
    pytest.skip("no writable folder outside the project's top-level folder")


def test_a_replay_file_outside_the_project_does_not_move_the_case_files_node_ids(project, far_folder):
    """pytest picks its rootdir before our options exist, so it takes ``--replay FILE``'s value
    for a test path and roots the run in FILE's folder; the cases must still show as
    ``cases/hash.yaml``, not as a path resolved against that folder."""
    outside = far_folder
    replay = write_replay(outside / "replay.jsonl", 3, 4)
    result = project.runpytest("--replay", str(replay), "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([f"rootdir: {outside}"])  # the situation H4 ran into
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED cases/hash.yaml::case-3[[]fake-model[]]*"])
    collected = project.runpytest("--replay", str(replay), "-p", "no:cacheprovider", "--collect-only", "-q")
    assert f"{project.path / 'cases' / 'hash.yaml'}::case-0[fake-model]" in collected.stdout.lines


@pytest.mark.parametrize("given", ["{project}/cases/hash.yaml", "../cases"], ids=["absolute-file", "relative-folder"])
def test_cases_outside_the_rootdir_are_named_by_the_path_as_given(project, monkeypatch, given):
    """Run from another folder, with the cases under neither it nor any ini file's folder: the
    node ids start with the --cases path as given (pytest's own would be empty or folder-relative)."""
    given = given.format(project=project.path)
    (project.path / "elsewhere").mkdir()
    monkeypatch.chdir(project.path / "elsewhere")
    replay = write_replay(project.path / "elsewhere" / "replay.jsonl", 3, 4)
    result = project.runpytest(f"--replay={replay}", f"--cases={given}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    shown = given if given.endswith(".yaml") else f"{given}/hash.yaml"
    result.stdout.fnmatch_lines([f"FAILED {shown}::case-3[[]fake-model[]]*"])
    collected = project.runpytest(f"--replay={replay}", f"--cases={given}", "-p", "no:cacheprovider", "--collect-only", "-q")
    assert f"{shown}::case-0[fake-model]" in collected.stdout.lines


def test_the_shipped_cases_can_be_run_from_another_folder(tmp_path):
    """Collecting cases/ from outside the repository loads the repository's conftest.py on the
    way, after configuration; it must hold nothing pytest refuses there (pytest_plugins)."""
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "pytest", "--model", "m", "--cases", str(repo / "cases" / "hash-tables.yaml"),
                             "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "cases/hash-tables.yaml::hash-iteration[m]" in result.stdout.splitlines()


def test_xdist_workers_fetch_their_items_and_the_controller_writes_one_report_on_standin_server(project):
    (project.path / "cases" / "hash.yaml").write_text(case_yaml(12))
    with FakeOpenAI(answers=answers(11, 12), delay=0.2) as server:
        result = project.runpytest_subprocess(*args(server, "-n", "2", "--junitxml=junit.xml"))
        assert sorted(asked(server)) == sorted(f"prompt {i}" for i in range(12))  # each asked once
        assert server.max_in_flight > 2  # a worker fetches the items queued to it together
    result.assert_outcomes(passed=11, failed=1)
    junit = (project.path / "junit.xml").read_text()
    assert junit.count("<testcase ") == 12 and junit.count("<failure ") == 1
    assert "gerbil_eval_row" not in junit  # the workers' row transport is not the user's XML
    runs = [p for p in (project.path / "reports").iterdir() if p.name != "latest"]
    assert len(runs) == 1  # one run id, shared by both workers
    doc = results(project)
    assert len(doc["results"]) == 12 and doc["summary"]["fake-model"]["passed"] == 11
    assert len((runs[0] / "responses.jsonl").read_text().splitlines()) == 12
    page = (runs[0] / "report.html").read_text()
    assert page.count("(hash-for-each") >= 11, "the workers' answers reach the controller's report with their rows"


def test_failing_baseline_is_xfail_and_never_fails_the_run_on_standin_server(project):
    with FakeOpenAI(models=("tuned", "base"), answers=answers(4, 4), by_model={"base": answers(1, 4)}) as server:
        result = project.runpytest("--model", "tuned", "--baseline", "base", f"--base-url={server.url}")
    assert result.ret == 0
    result.assert_outcomes(passed=5, xfailed=3)
    summary = results(project)["summary"]
    assert summary["tuned"]["role"] == "candidate" and summary["tuned"]["pass_rate"] == 1.0
    assert summary["base"]["role"] == "baseline" and summary["base"]["pass_rate"] == 0.25


def test_min_score_and_min_pass_rate_gates_exit_1_with_one_line_on_standin_server(project):
    with FakeOpenAI(answers=answers(3, 4)) as server:
        low_bar = project.runpytest(*args(server, "--min-pass-rate", "0.7", "-k", "not case-3"))
        gated = project.runpytest(*args(server, "--min-pass-rate", "0.9", "--min-score", "0.5", "-k", "case-1 or case-3"))
    assert low_bar.ret == 0
    assert gated.ret == 1
    gated.stdout.fnmatch_lines(["GATE FAILED: --min-pass-rate 0.90: fake-model pass rate 0.50 is below 0.90"])
    assert "--min-score" not in "".join(line for line in gated.stdout.lines if "GATE FAILED" in line)


def test_samples_name_items_by_sample_and_record_each_on_standin_server(project):
    with FakeOpenAI(answers=answers(4, 4)) as server:
        result = project.runpytest(*args(server, "--samples", "3", "--seed", "5", "-k", "case-0"))
        assert len(asked(server)) == 3  # one request per sample: different cache keys
    result.assert_outcomes(passed=3, deselected=9)
    result.stdout.no_fnmatch_line("*case-0[[]fake-model[]]*")
    assert [r["sample"] for r in results(project)["results"]] == [0, 1, 2]
    collected = project.runpytest(*args(server, "--samples", "2", "--collect-only", "-q", "-k", "case-0"))
    collected.stdout.fnmatch_lines(["*::case-0[[]fake-model-s0[]]", "*::case-0[[]fake-model-s1[]]"])


def test_api_key_is_never_written_to_the_run_folder_or_cache_on_standin_server(project):
    key = "sk-DISTINCTIVE-4f1c9b7e"
    with FakeOpenAI(answers=answers(2, 4), api_key=key) as server:
        result = project.runpytest(*args(server, "--api-key", key))
    assert result.ret == 1
    written = [p for root in ("reports", "cache") for p in (project.path / root).rglob("*") if p.is_file()]
    assert len(written) >= 8
    for path in written:
        assert key.encode() not in path.read_bytes(), path


def test_token_counts_exact_without_streamed_usage_and_estimated_without_any_on_standin_server(project):
    """An endpoint whose streams lack usage (llama-cpp-python) is asked whole: exact counts, no TTFT;
    one that reports no usage at all gets estimated counts, flagged as such."""
    with FakeOpenAI(answers=answers(4, 4), stream_usage=False) as server:
        project.runpytest(*args(server)).assert_outcomes(passed=4)
    rows = results(project)["results"]
    assert all(r["ttft_s"] is None and r["completion_tokens"] == len(GOOD.split()) for r in rows)
    assert not results(project)["summary"]["fake-model"]["tokens_estimated"]
    with FakeOpenAI(answers=answers(4, 4), usage=False) as server:
        project.runpytest(*args(server, "--no-cache")).assert_outcomes(passed=4)
    doc = results(project)
    assert all(r["tokens_estimated"] and r["completion_tokens"] > len(GOOD.split()) for r in doc["results"])
    assert doc["summary"]["fake-model"]["tokens_estimated"] is True
    table = list(csv.DictReader(io.StringIO((latest(project) / "results.csv").read_text())))
    assert [r["tokens_estimated"] for r in table] == ["True"] * 4, "results.csv carries the flag too"
