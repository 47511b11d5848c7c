"""The real OpenCode CLI against the real served model: chat, a 17 KB AGENTS.md, and a tool call it executes.

Everything here is real: ``opencode-ai`` from the npm registry (run offline, isolated HOME),
``python -m gerbil_eval serve`` (llama.cpp through llama-cpp-python) on loopback, the
config ``python -m pipeline opencode`` writes from the deployment ``serve`` recorded. The
server's request log (one JSON line per chat request) is how the tests see what OpenCode
sent. Answers are capped (``serve --max-tokens``): SmolLM2 on a busy CPU is slow.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gerbil_eval.server import default_model_path
from tests.opencode_cli import ensure_opencode, isolated_env
from tests.tool_model import forced_tool_call_grammar, qwen_template_gguf

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TOOL_GGUF_CACHE = ROOT / ".venv" / "test-models" / "smollm2-qwen2.5-template.gguf"
AGENTS_MD_BYTES = 17 * 1024
#: A small primary agent for the tool test: OpenCode's own build prompt and ten tools are
#: ~7.7k tokens, minutes of prompt processing for a CPU; this keeps the round trip the same.
WRITER_AGENT = {"mode": "primary", "prompt": "You write files with the write tool.",
                "permission": {"*": "deny", "write": "allow", "edit": "allow"}}


@dataclass
class Served:
    """A running ``gerbil_eval serve``, where it recorded itself, and its request log."""

    process: subprocess.Popen[str]
    alias: str
    base_url: str
    workdir: Path
    request_log: Path

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.request_log.read_text().splitlines() if line.strip()]


def serve(tmp: Path, alias: str, *extra: str) -> Iterator[Served]:
    """Start ``python -m gerbil_eval serve`` the way a user does, read its URL, stop it with Ctrl-C after."""
    log = tmp / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "gerbil_eval", "serve", "--alias", alias, "--log", str(log),
                                "--workdir", str(tmp / "pipeline-run"), *extra], cwd=tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            match = re.match(rf"serving {re.escape(alias)} at (\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, f"serve did not start: {log.read_text() if log.exists() else '(no log)'}"
        yield Served(process, alias, url, tmp / "pipeline-run", log.with_name("server-requests.jsonl"))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def opencode() -> Path:
    return ensure_opencode()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The embedded SmolLM2 with 4096 tokens of context: enough for OpenCode's prompt, not with the AGENTS.md."""
    yield from serve(tmp_path_factory.mktemp("chat"), "smollm2", "--ctx", "4096", "--max-tokens", "32")


def project_for(served: Served, tmp_path: Path, *extra: str) -> Path:
    """A git project whose opencode.json comes from ``pipeline opencode`` reading the recorded deployment."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    result = subprocess.run([sys.executable, "-m", "pipeline", "opencode", "--workdir", str(served.workdir),
                             "--set-default", *extra], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return project


def run_opencode(opencode: Path, project: Path, model: str, message: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``opencode run -m llama.cpp/MODEL MESSAGE``, the line docs/pipeline.md gives (OpenCode 1.18's ``run``
    titles the session with its hosted default model unless ``-m`` names one)."""
    return subprocess.run([str(opencode), "run", "-m", f"llama.cpp/{model}", message], cwd=project, env=isolated_env(project.parent / "home", project),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def test_opencode_sends_its_build_request_with_tools_and_prints_the_answer(opencode: Path, chat_server: Served,
                                                                          tmp_path: Path) -> None:
    project = project_for(chat_server, tmp_path)
    config = json.loads((project / "opencode.json").read_text())
    assert config["provider"]["llama.cpp"]["models"]["smollm2"]["limit"] == {"context": 4096, "output": 32}
    before = len(chat_server.requests())
    result = run_opencode(opencode, project, chat_server.alias, "Say hello.")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    requests = chat_server.requests()[before:]
    build = [r for r in requests if r.get("tools")]
    assert len(build) == 1, requests
    assert {"bash", "edit", "read", "write"} <= set(build[0]["tools"]) and build[0]["tool_choice"] == "auto"
    assert build[0]["status"] == 200 and build[0]["include_usage"] and build[0]["stream"]
    # SmolLM2's template cannot show tools; the log says so instead of dropping them silently.
    assert build[0]["tools_rendered"] is False
    answer = build[0]["answer"].strip()
    assert answer and answer.splitlines()[0].strip() in result.stdout


def test_a_17_kb_agents_md_ends_with_a_clear_error_in_a_few_requests(opencode: Path, chat_server: Served,
                                                                    tmp_path: Path) -> None:
    """The prompt cannot fit 4096 tokens: a 400 naming the numbers, worded so OpenCode does not compact and retry."""
    project = project_for(chat_server, tmp_path)
    rule = ("Keep each Gerbil module in its own file under src/; export only the public API with (export ...); "
            "test with :std/test and document every exported procedure.\n")
    (project / "AGENTS.md").write_text((rule * (AGENTS_MD_BYTES // len(rule) + 1))[:AGENTS_MD_BYTES])
    before = len(chat_server.requests())
    started = time.monotonic()
    result = run_opencode(opencode, project, chat_server.alias, "Say hello.", timeout=180)
    requests = chat_server.requests()[before:]
    assert len(requests) < 5, [(r.get("status"), r.get("error")) for r in requests]
    refused = [r for r in requests if r["status"] == 400]
    assert refused and "this server's context holds 4096" in refused[0]["error"]
    numbers = re.search(r"need (\d+) tokens", refused[0]["error"])
    assert numbers and int(numbers.group(1)) > 4096
    assert result.returncode != 0 and "request refused" in result.stdout + result.stderr
    assert time.monotonic() - started < 180


@pytest.fixture(scope="module")
def tool_model() -> Path:
    return qwen_template_gguf(default_model_path(), TOOL_GGUF_CACHE)


def test_opencode_executes_the_write_tool_call_of_the_served_model(opencode: Path, tool_model: Path,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """The model (forced by a grammar to call ``write``, as Qwen2.5 would) -> tool_calls -> OpenCode writes the file.

    The forced model calls the tool on every turn, so OpenCode would go on; the test stops
    it once the tool's result has come back to the server.
    """
    tmp = tmp_path_factory.mktemp("tools")
    target = tmp / "project" / "hello.ss"
    grammar = tmp / "write.gbnf"
    grammar.write_text(forced_tool_call_grammar("write", {"filePath": str(target), "content": '(display "hello")\n'}))
    for served in serve(tmp, "smol-qwen-template", "--gguf", str(tool_model), "--ctx", "4096", "--max-tokens", "128",
                        "--grammar-file", str(grammar)):
        project = project_for(served, tmp)
        config = json.loads((project / "opencode.json").read_text())
        config["agent"] = {"writer": WRITER_AGENT}
        (project / "opencode.json").write_text(json.dumps(config))
        process = subprocess.Popen([str(opencode), "run", "-m", f"llama.cpp/{served.alias}", "--agent", "writer",
                                    "Write hello.ss"], cwd=project,
                                   env=isolated_env(tmp / "home", project), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline and process.poll() is None:
                if any("tool" in r.get("roles", []) for r in served.requests()):
                    break
                time.sleep(1)
        finally:
            process.kill()
            output = process.communicate()[0]
        assert target.read_text() == '(display "hello")\n', output[-2000:]
        calls = [r for r in served.requests() if r.get("tool_calls")]
        assert calls and calls[0]["tool_calls"] == ["write"] and calls[0]["tools_rendered"] is True
        assert set(calls[0]["tools"]) == {"edit", "write"} and calls[0]["finish_reason"] == "tool_calls"
        follow_up = [r for r in served.requests() if "tool" in r.get("roles", [])]
        assert follow_up, "the tool's result never came back to the server"
