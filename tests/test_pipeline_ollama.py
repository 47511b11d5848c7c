"""`pipeline deploy ollama` against a local stand-in of Ollama's HTTP API (docs/api.md create flow).

The stand-in implements ``GET /api/version``, ``HEAD``/``POST /api/blobs/sha256:<hex>``
(400 on a digest mismatch, as Ollama answers) and ``POST /api/create``, on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.ollama import OllamaModel, check_version, modelfile_text, parse_version
from gerbil_eval.errors import GerbilEvalError


class OllamaStandIn:
    def __init__(self, version: str = "0.33.0") -> None:
        self.version = version
        self.blobs: dict[str, bytes] = {}
        self.created: list[dict] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:
                pass

            def _reply(self, status: int, payload: dict | None = None) -> None:
                data = json.dumps(payload or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/version":
                    return self._reply(200, {"version": standin.version})
                self._reply(404, {"error": "not found"})

            def do_HEAD(self) -> None:
                digest = self.path.rsplit("/", 1)[-1]
                self._reply(200 if digest in standin.blobs else 404)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.rsplit("/", 1)[-1]
                    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                        return self._reply(400, {"error": "digest mismatch"})
                    standin.blobs[digest] = body
                    return self._reply(201)
                if self.path == "/api/create":
                    request = json.loads(body)
                    missing = [d for d in request.get("adapters", {}).values() if d not in standin.blobs]
                    if missing:
                        return self._reply(400, {"error": f"blob {missing[0]} not found"})
                    standin.created.append(request)
                    return self._reply(200, {"status": "success"})
                self._reply(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ollama():
    server = OllamaStandIn()
    yield server
    server.stop()


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    path = tmp_path / "adapter.gguf"
    path.write_bytes(b"GGUF" + os.urandom(4096))
    return path


def deploy(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = "/usr/bin:/bin"  # no ollama CLI: the HTTP API path is taken
    return subprocess.run([sys.executable, "-m", "pipeline", "deploy", "ollama", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_create_flow_uploads_the_blob_then_creates_with_the_adapter_on_standin(ollama, adapter, tmp_path) -> None:
    result = deploy("--workdir", str(tmp_path / "run"), "--adapter", str(adapter), "--host", ollama.host,
                    "--name", "gerbil-qwen", "--base", "qwen2.5:7b-instruct")
    assert result.returncode == 0, result.stderr
    digest = "sha256:" + hashlib.sha256(adapter.read_bytes()).hexdigest()
    assert ollama.blobs[digest] == adapter.read_bytes()
    (created,) = ollama.created
    assert created["model"] == "gerbil-qwen" and created["from"] == "qwen2.5:7b-instruct"
    assert created["adapters"] == {"adapter.gguf": digest}
    assert "<|im_start|>" in created["template"] and "<|im_end|>" in created["parameters"]["stop"]
    state = json.loads((tmp_path / "run" / "pipeline-state.json").read_text())
    assert state["deployment"] == {"kind": "ollama", "model": "gerbil-qwen:latest", "base_model": "qwen2.5:7b-instruct",
                                   "base_url": f"{ollama.host}/v1", "context": 32768}
    modelfile = (tmp_path / "run" / "Modelfile").read_text()
    assert modelfile.splitlines()[:2] == ["FROM qwen2.5:7b-instruct", f"ADAPTER {adapter.resolve()}"]


def test_existing_blob_is_not_uploaded_again_on_standin(ollama, adapter, tmp_path) -> None:
    for _ in range(2):
        assert deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", ollama.host).returncode == 0
    assert len(ollama.blobs) == 1 and len(ollama.created) == 2


def test_ollama_missing_is_one_clear_line(adapter, tmp_path) -> None:
    result = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", "http://127.0.0.1:9")
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    assert "no Ollama server answers at http://127.0.0.1:9" in result.stderr and "ollama serve" in result.stderr


def test_version_reported_to_reject_adapters_is_refused_unless_forced(adapter, tmp_path) -> None:
    server = OllamaStandIn(version="0.34.1")
    try:
        refused = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", server.host)
        assert refused.returncode == 4 and "0.34.1" in refused.stderr and "llama-server" in refused.stderr
        assert server.created == []
        forced = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", server.host, "--force")
        assert forced.returncode == 0 and len(server.created) == 1
    finally:
        server.stop()


def test_versions_parse_and_compare() -> None:
    assert parse_version("0.33.0-rc2") == (0, 33, 0) and parse_version("v0.5.12") == (0, 5, 12)
    check_version("0.33.0")
    with pytest.raises(GerbilEvalError):
        check_version("0.35.0")
    with pytest.raises(GerbilEvalError, match="unreadable version"):
        parse_version("nightly")


def test_modelfile_has_template_stops_and_context(tmp_path) -> None:
    text = modelfile_text(OllamaModel(name="m", base="qwen2.5:7b", adapter=tmp_path / "a.gguf", num_ctx=16384))
    assert 'TEMPLATE """' in text and "{{ .Content }}<|im_end|>" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER num_ctx 16384" in text


def test_a_failing_ollama_cli_is_one_line_with_its_last_message(ollama, adapter, tmp_path) -> None:
    """With the CLI installed, its failure is reported as its own last line, not a Python list."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ollama"
    fake.write_text("#!/bin/sh\necho 'pulling manifest' >&2\necho 'Error: unsupported architecture' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")
    result = subprocess.run([sys.executable, "-m", "pipeline", "deploy", "ollama", "--workdir", str(tmp_path / "run"),
                             "--adapter", str(adapter), "--host", ollama.host], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith("failed (exit 1): Error: unsupported architecture")


def test_without_adapter_deploy_takes_workdir_adapter_gguf_as_the_readme_flow_writes_it(ollama, tmp_path) -> None:
    """README: `pipeline convert ... -o pipeline-run/adapter.gguf` records nothing, then `pipeline deploy ollama`."""
    workdir = tmp_path / "run"
    missing = deploy("--workdir", str(workdir), "--host", ollama.host)
    assert missing.returncode == 4 and missing.stderr.count("\n") == 1
    assert f"{workdir / 'adapter.gguf'}: no such adapter file" in missing.stderr and "pipeline convert" in missing.stderr
    workdir.mkdir()
    (workdir / "adapter.gguf").write_bytes(b"GGUF" + os.urandom(64))
    result = deploy("--workdir", str(workdir), "--host", ollama.host)
    assert result.returncode == 0, result.stderr
    assert list(ollama.created[0]["adapters"]) == ["adapter.gguf"]


def test_llama_server_deploy_refuses_a_missing_base_gguf_and_records_nothing(adapter, tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "pipeline", "deploy", "llama-server", "--workdir", str(tmp_path / "run"),
                             "--gguf", str(tmp_path / "nope.gguf"), "--adapter", str(adapter), "--record-only"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "nope.gguf: no such base model file" in result.stderr
    assert not (tmp_path / "run" / "pipeline-state.json").exists()


def test_template_is_tool_aware_so_opencode_can_use_the_model(tmp_path) -> None:
    """OpenCode always sends tools; Ollama refuses them for a template that never uses .Tools."""
    text = modelfile_text(OllamaModel(name="m", base="qwen2.5:7b", adapter=tmp_path / "a.gguf"))
    assert "{{- if .Tools }}" in text and "{{ range .ToolCalls }}" in text
    assert "<tool_call>" in text and "<tool_response>" in text
    assert text.count("{{- if") + text.count("{{ if") + text.count("{{- range") + text.count("{{ range") == \
        text.count("{{- end }}") + text.count("{{ end }}")  # every block of the Go template is closed

