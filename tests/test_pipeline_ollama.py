"""`pipeline deploy ollama` against a local stand-in of Ollama's HTTP API (docs/api.md), on 127.0.0.1.

No Ollama binary or registry exists here, so the server is stood in at the HTTP boundary. It
implements ``GET /api/version``, ``HEAD``/``POST /api/blobs/sha256:<hex>`` (400 on a digest
mismatch, as Ollama answers), ``POST /api/show`` (404 for a model it lacks), ``POST /api/pull``
(streamed NDJSON progress: ``pulling manifest``, per-layer ``digest``/``total``/``completed``,
``verifying sha256 digest``, ``writing manifest``, ``success``; an ``error`` line for an unknown
name) and ``POST /api/create`` with ``from`` + ``adapters`` or ``files`` (a GGUF blob), which
can be told to refuse adapters as Ollama v0.34.1+ is reported to.
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

from pipeline.families import FAMILIES
from pipeline.deploy.ollama import OllamaModel, check_version, modelfile_text, parse_version
from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT


#: What the stand-in's registry can serve, and the layer size it reports while pulling.
LIBRARY = {"qwen2.5:7b-instruct", "llama3.1:8b"}
LAYER_BYTES = 4_683_075_271


class OllamaStandIn:
    def __init__(self, version: str = "0.33.0", models: set[str] | None = None, reject_adapters: bool = False) -> None:
        self.version = version
        self.models = set(LIBRARY if models is None else models)
        self.reject_adapters = reject_adapters
        self.blobs: dict[str, bytes] = {}
        self.created: list[dict] = []
        self.pulls: list[str] = []
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
                if self.path == "/api/show":
                    name = json.loads(body)["model"]
                    if name not in standin.models:
                        return self._reply(404, {"error": f"model '{name}' not found"})
                    return self._reply(200, {"modelfile": f"FROM {name}", "details": {"format": "gguf"}})
                if self.path == "/api/pull":
                    return self._pull(json.loads(body)["model"])
                if self.path == "/api/create":
                    request = json.loads(body)
                    if standin.reject_adapters and request.get("adapters"):
                        return self._reply(400, {"error": "ADAPTER is not supported; merge the adapter into the model"})
                    blobs = {**request.get("adapters", {}), **request.get("files", {})}
                    missing = [d for d in blobs.values() if d not in standin.blobs]
                    if missing:
                        return self._reply(400, {"error": f"blob {missing[0]} not found"})
                    if "from" in request and request["from"] not in standin.models:
                        return self._reply(400, {"error": f"model '{request['from']}' not found"})
                    standin.created.append(request)
                    standin.models.add(request["model"])
                    return self._reply(200, {"status": "success"})
                self._reply(404, {"error": "not found"})

            def _pull(self, name: str) -> None:
                """Ollama streams NDJSON progress objects, then {"status": "success"} or {"error": ...}."""
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                standin.pulls.append(name)
                events: list[dict] = [{"status": "pulling manifest"}]
                if name not in LIBRARY:
                    events.append({"error": "pull model manifest: file does not exist"})
                else:
                    digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
                    events += [{"status": f"pulling {digest[7:19]}", "digest": digest, "total": LAYER_BYTES, "completed": done}
                               for done in (0, LAYER_BYTES // 2, LAYER_BYTES)]
                    events += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
                    standin.models.add(name)
                for event in events:
                    self.wfile.write(json.dumps(event).encode() + b"\n")
                    self.wfile.flush()

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
                                   "base_url": f"{ollama.host}/v1", "context": 32768, "output": 8192,
                                   "system_prompt": DEFAULT_SYSTEM_PROMPT}
    assert created["system"] == DEFAULT_SYSTEM_PROMPT
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
    assert "failed (exit 1): Error: unsupported architecture; pass --merged" in result.stderr


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


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_template_is_tool_aware_so_opencode_can_use_the_model(tmp_path, family) -> None:
    """OpenCode always sends tools; Ollama refuses them for a template that never uses .Tools."""
    text = modelfile_text(OllamaModel(name="m", base=family.ollama_base, adapter=tmp_path / "a.gguf", family=family))
    assert "{{- if .Tools }}" in text and "{{ range .ToolCalls }}" in text
    assert text.count("{{- if") + text.count("{{ if") + text.count("{{- range") + text.count("{{ range") == \
        text.count("{{- end }}") + text.count("{{ end }}")  # every block of the Go template is closed


def test_qwen25_template_uses_qwen_tool_tags(tmp_path) -> None:
    text = modelfile_text(OllamaModel(name="m", base="qwen2.5:7b", adapter=tmp_path / "a.gguf"))
    assert "<tool_call>" in text and "<tool_response>" in text


# --- the model families ---------------------------------------------------------------------------

def modelfile_only(workdir: Path, adapter: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """No server at all: --host points at a closed port, so any network use would fail."""
    return deploy("--workdir", str(workdir), "--adapter", str(adapter), "--host", "http://127.0.0.1:9", *args)


@pytest.mark.parametrize(("how", "family", "start", "stop", "absent"), [
    (["--base", "qwen2.5:7b-instruct"], "qwen2.5", "<|im_start|>system", "<|im_end|>", "<|eot_id|>"),
    (["--base", "llama3.1:8b"], "llama3.1", "<|start_header_id|>system<|end_header_id|>", "<|eot_id|>", "<|im_start|>"),
    (["--family", "llama3.1"], "llama3.1", "<|start_header_id|>user<|end_header_id|>", "<|eot_id|>", "<|im_end|>"),
])
def test_modelfile_only_needs_no_server_and_follows_the_family(adapter, tmp_path, how, family, start, stop, absent) -> None:
    from pipeline.families import project_system_prompt

    result = modelfile_only(tmp_path / "run", adapter, "--modelfile-only", *how)
    assert result.returncode == 0, result.stderr
    assert f"({family})" in result.stdout and "ollama create gerbil-qwen -f" in result.stdout
    text = (tmp_path / "run" / "Modelfile").read_text()
    assert text.splitlines()[1] == f"ADAPTER {adapter.resolve()}"
    assert start in text and f'PARAMETER stop "{stop}"' in text and absent not in text
    assert f'SYSTEM """{project_system_prompt()}"""' in text
    assert not (tmp_path / "run" / "pipeline-state.json").exists()  # nothing was deployed


def test_family_comes_from_the_trained_base_in_the_state_including_togethers_reference_names(adapter, tmp_path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "pipeline-state.json").write_text(json.dumps({"base_model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}))
    result = modelfile_only(workdir, adapter, "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FROM llama3.1:8b\n") and 'PARAMETER stop "<|eot_id|>"' in result.stdout
    assert not (workdir / "Modelfile").exists()


def test_converter_knows_togethers_reference_names() -> None:
    from pipeline.convert.bases import builtin_base

    for name in ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "meta-llama/Meta-Llama-3.1-8B-Reference"):
        base = builtin_base(name)
        assert (base.architecture, base.n_layer, base.n_head_kv, base.vocab_size) == ("llama", 32, 8, 128256)


def test_unknown_family_is_one_line(adapter, tmp_path) -> None:
    result = modelfile_only(tmp_path, adapter, "--print", "--base", "mistral:7b")
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "no known family" in result.stderr


# --- pull -----------------------------------------------------------------------------------------

def test_missing_base_is_pulled_with_progress_before_create(adapter, tmp_path) -> None:
    server = OllamaStandIn(models=set())
    try:
        result = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", server.host)
        assert result.returncode == 0, result.stderr
        assert server.pulls == ["qwen2.5:7b-instruct"] and "pulling qwen2.5:7b-instruct" in result.stderr
        assert server.created[0]["from"] == "qwen2.5:7b-instruct"
        again = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", server.host)
        assert again.returncode == 0 and server.pulls == ["qwen2.5:7b-instruct"]  # present now: not pulled twice
    finally:
        server.stop()


def test_pull_progress_is_shown_per_layer() -> None:
    """The bar follows the layer's completed/total bytes (tqdm renders to a terminal; here to a buffer)."""
    import io
    from contextlib import redirect_stderr

    from pipeline.deploy.ollama import pull

    server = OllamaStandIn(models=set())
    try:
        buffer = io.StringIO()
        with redirect_stderr(buffer):
            pull("llama3.1:8b", server.host, progress=True)
        assert "pull llama3.1:8b" in buffer.getvalue() and "4.68G/4.68G" in buffer.getvalue()
        assert "llama3.1:8b" in server.models
    finally:
        server.stop()


def test_a_failed_pull_is_one_line_with_ollamas_error(adapter, tmp_path) -> None:
    server = OllamaStandIn(models=set())
    try:
        result = deploy("--workdir", str(tmp_path), "--adapter", str(adapter), "--host", server.host, "--base", "qwen2.5:99b")
        assert result.returncode == 4 and "Traceback" not in result.stderr
        assert result.stderr.splitlines()[-1].endswith("could not pull qwen2.5:99b: pull model manifest: file does not exist")
        assert server.created == []
    finally:
        server.stop()


# --- ADAPTER refused -> merged fallback -----------------------------------------------------------

@pytest.fixture
def real_gguf_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny qwen2 base and a GGUF LoRA for it, for the merged fallback to merge for real."""
    from tests.gguf_factory import random_tensors, tiny_config, write_gguf_model
    from tests.test_merge import write_adapter

    config = tiny_config("qwen2", hidden=64, vocab=64)
    tensors = random_tensors(config)
    write_gguf_model(tmp_path / "base.gguf", "qwen2", config, tensors)
    write_adapter(tmp_path / "adapter.gguf", tensors)
    return tmp_path / "base.gguf", tmp_path / "adapter.gguf"


def test_adapter_refused_by_create_offers_the_merge_and_merged_does_it(real_gguf_pair, tmp_path) -> None:
    base_gguf, adapter = real_gguf_pair
    server = OllamaStandIn(reject_adapters=True)
    try:
        refused = deploy("--workdir", str(tmp_path / "run"), "--adapter", str(adapter), "--host", server.host)
        assert refused.returncode == 4 and "ADAPTER is not supported" in refused.stderr and "--merged" in refused.stderr
        result = deploy("--workdir", str(tmp_path / "run"), "--adapter", str(adapter), "--host", server.host,
                        "--merged", "--base-gguf", str(base_gguf), "--quantize", "none")
        assert result.returncode == 0, result.stderr
        assert "FROM the merged GGUF (ADAPTER was refused)" in result.stdout
        (created,) = server.created
        merged = tmp_path / "run" / "merged.gguf"
        digest = "sha256:" + hashlib.sha256(merged.read_bytes()).hexdigest()
        assert created["files"] == {"merged.gguf": digest} and "adapters" not in created and "from" not in created
        assert server.blobs[digest] == merged.read_bytes() and "<|im_start|>" in created["template"]
        assert (tmp_path / "run" / "Modelfile").read_text().splitlines()[0] == f"FROM {merged.resolve()}"
    finally:
        server.stop()


def test_version_known_to_reject_adapter_merges_up_front_with_merged(real_gguf_pair, tmp_path) -> None:
    import gguf

    base_gguf, adapter = real_gguf_pair
    server = OllamaStandIn(version="0.34.1")
    try:
        result = deploy("--workdir", str(tmp_path / "run"), "--adapter", str(adapter), "--host", server.host,
                        "--merged", "--base-gguf", str(base_gguf), "--quantize", "q8_0")
        assert result.returncode == 0, result.stderr
        assert "reported to reject ADAPTER" in result.stdout and list(server.created[0]["files"]) == ["merged.gguf"]
        types = {t.tensor_type.name for t in gguf.GGUFReader(tmp_path / "run" / "merged.gguf").tensors}
        assert "Q8_0" in types  # quantized by llama.cpp, as asked
    finally:
        server.stop()


def test_merged_needs_the_base_gguf(adapter, tmp_path) -> None:
    result = modelfile_only(tmp_path, adapter, "--modelfile-only", "--merged")
    assert result.returncode == 4 and "--merged needs --base-gguf" in result.stderr
