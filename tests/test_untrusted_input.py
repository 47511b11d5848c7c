"""Hostile inputs, one regression test each: case files that try to run code or blow up, answers
that hang the scorer or flood the loop, endpoints that echo the key, broken runs at the gate,
archive bombs and path-escaping ids, escape sequences in answers.

The endpoint is tests/fake_openai.py, a real HTTP server on loopback following the documented
OpenAI protocol (no OpenAI service exists here); everything else runs for real.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from gerbil_eval.cases.loader import load_cases
from gerbil_eval.errors import CaseError, GerbilEvalError
from pipeline.together.archive import Limits, safe_extract

from .fake_openai import FakeOpenAI, asked
from .rundocs import make_doc

HELLO = """\
- id: greet
  category: basics
  prompt: Print hello in Gerbil.
  assert: [{type: contains, value: hello}]
"""


def run(args: list[str], cwd: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "GERBIL_EVAL_CACHE": str(cwd / "cache"), "OPENAI_API_KEY": "", **env})


def pytest_args(*extra: str) -> list[str]:
    return ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--report-dir", "reports", *extra]


# --- trust: case files are data -------------------------------------------------------------------

PYTHON_CASE = """\
- id: runs-python
  prompt: Say hi.
  assert: [{type: python, value: "%s"}]
"""


def test_builtins_exec_case_is_refused_without_allow_python(tmp_path: Path) -> None:
    """``builtins:exec`` would execute the model's answer as Python."""
    (tmp_path / "cases.yaml").write_text(PYTHON_CASE % "builtins:exec")
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"model": "m", "case_id": "runs-python", "content": "open('pwned','w')"}) + "\n")
    result = run(pytest_args("--cases", "cases.yaml", "--replay", str(replay)), tmp_path)
    assert result.returncode == 4
    assert "case runs-python" in result.stderr and "pass --allow-python" in result.stderr
    allowed = run(pytest_args("--cases", "cases.yaml", "--replay", str(replay), "--allow-python"), tmp_path)
    assert allowed.returncode == 4 and "no file builtins.py in the case file's folder" in allowed.stderr
    assert not (tmp_path / "pwned").exists()


def test_checks_py_beside_a_case_runs_neither_on_lint_nor_on_collect_only(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "checks.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                        "def ok(answer, context):\n    return 'hi' in answer\n")
    (tmp_path / "cases.yaml").write_text(PYTHON_CASE % "checks:ok")
    lint = run(["-m", "gerbil_eval", "lint", "cases.yaml"], tmp_path)
    collect = run(pytest_args("--cases", "cases.yaml", "--model", "m@http://127.0.0.1:9/v1", "--collect-only"),
                  tmp_path)
    assert lint.returncode == 1 and "pass --allow-python" in lint.stdout
    assert collect.returncode == 4 and "pass --allow-python" in collect.stderr
    assert not marker.exists()
    (tmp_path / "cases.yaml").write_text(PYTHON_CASE % "checks:ok" + "  reference: hi there\n")
    assert run(["-m", "gerbil_eval", "lint", "--allow-python", "cases.yaml"], tmp_path).returncode == 0
    assert marker.exists()


# --- bounded loading ------------------------------------------------------------------------------

def billion_laughs(where: str) -> str:
    """A 1.5 KB case file whose ``where`` expands to 10**9 strings (each anchor repeats the last ten times)."""
    anchors = ['    a0: &a0 "lol"'] + [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    uses = {"prompt": "  prompt: *a9\n  assert: [{type: parses}]",
            "tags": "  prompt: hi\n  tags: *a9\n  assert: [{type: parses}]",
            "equals": "  prompt: hi\n  assert: [{type: equals, value: *a9}]"}
    return "- id: boom\n  notes:\n" + "\n".join(anchors) + "\n" + uses[where] + "\n"


@pytest.mark.parametrize("where", ["prompt", "tags", "equals"])
def test_billion_laughs_is_refused_in_under_a_second(tmp_path: Path, where: str) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs(where))
    assert path.stat().st_size < 2000
    start = time.perf_counter()
    with pytest.raises(CaseError, match="expands to more than"):
        load_cases([path])
    assert time.perf_counter() - start < 1.0


def test_oversized_case_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(HELLO + "# " + "x" * (5 << 20) + "\n")
    with pytest.raises(CaseError, match="big.yaml: larger than 4 MiB"):
        load_cases([path])


# --- scoring off the loop, bounded ----------------------------------------------------------------

REDOS = """\
- id: redos
  prompt: Say a.
  assert: [{type: regex, value: "(a+)+$"}, {type: contains, value: a}]
- id: fine
  prompt: Say hello.
  assert: [{type: contains, value: hello}]
"""


def test_redos_regex_times_out_and_the_run_completes(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(REDOS)
    replay = tmp_path / "r.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in [
        {"model": "m", "case_id": "redos", "content": "a" * 40 + "!"},
        {"model": "m", "case_id": "fine", "content": "hello"}]))
    start = time.perf_counter()
    result = run(pytest_args("--cases", "cases.yaml", "--replay", str(replay), "--score-timeout", "1"), tmp_path)
    assert time.perf_counter() - start < 90
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed, 1 passed" in result.stdout
    assert "timed out after 1 s" in result.stdout
    doc = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    redos = next(r for r in doc["results"] if r["case_id"] == "redos")
    assert [a["passed"] for a in redos["assertions"]] == [False, True]  # the other check still ran


def test_a_5mb_answer_is_scored_while_no_received_answer_is_asked_again(tmp_path: Path) -> None:
    """Scoring 5 MB on the event loop took 30 s: answers in flight timed out and were asked again."""
    cases = "".join(f"- id: c{i:02d}\n  prompt: question {i}\n  assert: [{{type: contains, value: hello}}, "
                    "{type: parses}, {type: calls-any, value: [displayln]}]\n" for i in range(21))
    (tmp_path / "cases.yaml").write_text(cases)
    big = "(displayln \"hello\")\n" * (5_000_000 // 20)

    def answer(messages: list[dict]) -> str:
        return big if messages[-1]["content"] == "question 0" else "(displayln \"hello\")"

    with FakeOpenAI(answers=answer, delay=0.3) as server:
        result = run(pytest_args("--cases", "cases.yaml", "--model", f"fake-model@{server.url}", "--timeout", "4",
                                 "--concurrency", "4", "--retries", "3", "--no-cache"), tmp_path)
        prompts = asked(server)
    assert "20 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]  # c00 is cut mid-string
    assert len(prompts) == 21 and len(set(prompts)) == 21  # every item asked exactly once
    doc = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    row = next(r for r in doc["results"] if r["case_id"] == "c00")
    assert row["note"].startswith("answer cut to its first 1048576 of 5000000 bytes")


# --- redaction ------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", ["--api-key-file", "$OPENAI_API_KEY", "--api-key", "URL userinfo"])
def test_an_endpoint_echoing_the_key_leaves_it_in_no_file_and_no_terminal_line(tmp_path: Path, via: str) -> None:
    secret = "sk-test-0123456789abcdef"
    (tmp_path / "key.txt").write_text(secret + "\n")
    (tmp_path / "cases.yaml").write_text(HELLO)
    with FakeOpenAI(fault_rate=1.0, faults=("echo",)) as server:
        url = server.url.replace("http://", f"http://user:{secret}@") if via == "URL userinfo" else server.url
        key_args = {"--api-key-file": ["--api-key-file", "key.txt"], "--api-key": ["--api-key", secret]}.get(via, [])
        result = run(pytest_args("--cases", "cases.yaml", "--model", f"fake-model@{url}", *key_args, "--retries", "0",
                                 "--junitxml", "junit.xml"), tmp_path,
                     OPENAI_API_KEY=secret if via == "$OPENAI_API_KEY" else "")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    outputs = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("key.txt", "cases.yaml")]
    names = {p.name for p in outputs}
    assert {"responses.jsonl", "results.json", "results.csv", "summary.md", "report.html", "junit.xml"} <= names
    basic = base64.b64encode(f"user:{secret}".encode()).decode()  # httpx sends URL userinfo as Basic auth
    for text in [result.stdout, result.stderr, *(p.read_text(errors="replace") for p in outputs)]:
        assert secret not in text and basic not in text
    doc = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    assert doc["config"]["models"][0]["base_url"] == server.url  # stored without credentials
    scheme = "Basic" if via == "URL userinfo" else "Bearer"
    assert f"Authorization: {scheme} ***" in doc["results"][0]["error"]  # the echoed header is there, masked


# --- gates count what did not run -----------------------------------------------------------------

BROKEN = {f"c{i:02d}": (1.0 if i == 0 else None) for i in range(50)}


def write_run(folder: Path) -> Path:
    run_dir = folder / "reports" / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    doc = make_doc([("gerbil-qwen", "candidate", BROKEN), ("qwen", "baseline", {c: 0.0 for c in BROKEN})])
    (run_dir / "results.json").write_text(json.dumps(doc))
    (folder / "reports" / "latest").symlink_to(run_dir.name)
    return run_dir


@pytest.mark.parametrize("gate", [["--min-pass-rate", "0.9", "--min-score", "0.9"], ["--require-better"],
                                  ["--max-regression", "0.5"]])
def test_49_of_50_errored_is_refused_by_the_report_gate(tmp_path: Path, gate: list[str]) -> None:
    run_dir = write_run(tmp_path)
    result = run(["-m", "gerbil_eval", "report", str(run_dir), *gate], tmp_path)
    assert result.returncode == 1
    assert ("GATE FAILED: gerbil-qwen: 49 of 50 items errored; a gate needs them answered (--max-errors 0)"
            in result.stdout)
    assert run(["-m", "gerbil_eval", "report", str(run_dir), "--max-errors", "49", "--max-regression", "0.5"],
               tmp_path).returncode == 0


def test_49_of_50_errored_is_refused_by_the_pipelines_gate_step(tmp_path: Path, monkeypatch) -> None:
    """The gate step re-checks with `gerbil_eval report` after pytest exits 1; that check now fails too."""
    from pipeline.commands import run as run_mod

    monkeypatch.chdir(tmp_path)
    write_run(tmp_path)
    commands: list[list[str]] = []

    def call(cmd: list[str]) -> int:
        commands.append(cmd)
        if cmd[1:3] == ["-m", "pytest"]:
            return 1  # the harness: items errored
        return subprocess.call(cmd)  # the real gate check on reports/latest

    parser = __import__("argparse").ArgumentParser()
    run_mod.add_arguments(parser)
    args = parser.parse_args(["--workdir", str(tmp_path / "w"), "--from", "gate", "--gate=--require-better"])
    assert run_mod.run(args, call=call) == 1
    assert commands[-1][1:4] == ["-m", "gerbil_eval", "report"]


# --- archives and ids -----------------------------------------------------------------------------

class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def zstd_tar(path: Path, members: list[tuple[str, int]]) -> Path:
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out, \
            tarfile.open(fileobj=out, mode="w|") as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BufferedReader(_Zeros(size), 1 << 20) if size else None)
    return path


@pytest.mark.parametrize("kind", ["1 GiB bomb", "50,000 files"])
def test_archive_bombs_are_refused_with_nothing_left_behind(tmp_path: Path, kind: str) -> None:
    if kind == "1 GiB bomb":
        archive = zstd_tar(tmp_path / "a.tar", [("adapter_config.json", 2), ("adapter_model.safetensors", 1 << 30)])
        message = "expands to more than 64.0 MiB"
    else:
        archive = zstd_tar(tmp_path / "a.tar", [(f"f/{i}", 0) for i in range(50_000)])
        message = "more than 1000 files in the archive"
    assert archive.stat().st_size < 400_000
    with pytest.raises(GerbilEvalError, match=message):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]


def test_extraction_caps_are_overridable(tmp_path: Path) -> None:
    archive = zstd_tar(tmp_path / "a.tar", [("adapter_config.json", 2), ("adapter_model.safetensors", 1000)])
    with pytest.raises(GerbilEvalError, match="expands to more than"):
        safe_extract(archive, tmp_path / "out", Limits(max_bytes=500))
    with pytest.raises(GerbilEvalError, match="more than 1 files"):
        safe_extract(archive, tmp_path / "out", Limits(max_members=1))
    assert (safe_extract(archive, tmp_path / "out") / "adapter_model.safetensors").stat().st_size == 1000


def test_a_job_id_with_dot_dot_is_refused_before_it_becomes_a_path(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    for job in ("../../../x", "/etc/passwd", "a\\b", ".."):
        result = run(["-m", "pipeline", "download", "--workdir", "w", "--job", job], tmp_path, TOGETHER_API_KEY="k-1234")
        assert result.returncode == 4 and "is not a safe name" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"] and not any((tmp_path / "w").iterdir())


# --- terminal hygiene -----------------------------------------------------------------------------

def test_escape_sequences_in_an_answer_are_escaped_on_the_terminal_and_kept_in_files(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(HELLO)
    answer = "\x1b[2J\x1b]0;pwned\x07bye\x1b[8mhidden"
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"model": "m", "case_id": "greet", "content": answer}) + "\n")
    result = run(pytest_args("--cases", "cases.yaml", "--replay", str(replay)), tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\\x1b[2J\\x1b]0;pwned\\x07bye" in result.stdout
    line = (tmp_path / "reports" / "latest" / "responses.jsonl").read_text()
    assert json.loads(line)["content"] == answer


def test_one_plain_json_answer_does_not_turn_streaming_off_for_the_run() -> None:
    import asyncio

    from gerbil_eval.fetch.client import ChatClient

    async def ask(url: str) -> list[float | None]:
        client = ChatClient(url, None, 10, 0, 4)
        try:
            return [(await client.complete("fake-model", [{"role": "user", "content": "q"}], {})).ttft_s
                    for _ in range(3)]
        finally:
            await client.aclose()

    with FakeOpenAI(default="answer") as server:
        server.script(["json"])
        ttfts = asyncio.run(ask(server.url))
    assert ttfts[0] is None and all(t is not None for t in ttfts[1:])  # streamed again after the odd one
