"""Creating an Ollama model from a base model and a GGUF LoRA adapter.

Through the ``ollama`` CLI when it is installed, else through the server's HTTP
API (upload the adapter as a blob, then ``/api/create``). Before that the
server's version is checked: Ollama applies GGUF adapters through llama-server
from v0.30.0, the new Go engine refused adapters ("loras are not yet
implemented") before that when enabled, and from v0.34.1 the ADAPTER directive is
reported to be rejected at create time (see docs/pipeline.md).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import sha256_file, write_text_atomic

DEFAULT_HOST = "http://localhost:11434"
#: The Qwen2.5 (ChatML) chat template in Ollama's Go template syntax.
#: The Qwen2.5 chat template (ChatML with Qwen's Hermes-style tool calls) in Ollama's Go
#: template syntax. It must reference ``.Tools``: Ollama refuses requests that carry tools
#: ("does not support tools") for a model whose template does not, and OpenCode always
#: sends tools. Tool results go back as ``<tool_response>`` in a user turn, as Qwen2.5 expects.
QWEN25_TEMPLATE = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""
QWEN25_STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
#: Versions reported to reject ADAPTER at `ollama create` (third-party report, unverified in source).
ADAPTER_REJECTED_FROM = (0, 34, 1)


@dataclass(frozen=True)
class OllamaModel:
    """What to create: the model name, its base, the adapter file and the context length."""

    name: str
    base: str
    adapter: Path
    num_ctx: int = 32768


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.33.0-rc2"`` -> ``(0, 33, 0)``."""
    core = text.strip().lstrip("v").split("-")[0].split("+")[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        raise GerbilEvalError(f"Ollama reported an unreadable version {text!r}") from None


def check_version(version: str, force: bool = False) -> None:
    """Refuse an Ollama version that cannot create a model with an adapter (unless ``force``)."""
    if parse_version(version) >= ADAPTER_REJECTED_FROM and not force:
        raise GerbilEvalError(
            f"Ollama {version} is reported to reject ADAPTER at create time (from v0.34.1); serve the adapter with "
            "`python -m pipeline deploy llama-server` instead, or pass --force to try anyway")


def modelfile_text(model: OllamaModel) -> str:
    """The Modelfile: FROM base, ADAPTER file, Qwen2.5 template, stop parameters, context length."""
    lines = [f"FROM {model.base}", f"ADAPTER {Path(model.adapter).resolve()}", f'TEMPLATE """{QWEN25_TEMPLATE}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in QWEN25_STOPS]
    lines.append(f"PARAMETER num_ctx {model.num_ctx}")
    return "\n".join(lines) + "\n"


def write_modelfile(model: OllamaModel, path: Path) -> Path:
    write_text_atomic(path, modelfile_text(model))
    return path


def server_version(host: str) -> str:
    """``GET /api/version``; a clear error when no Ollama answers at ``host``."""
    import httpx

    try:
        response = httpx.get(f"{host}/api/version", timeout=10)
        response.raise_for_status()
        return str(response.json()["version"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise GerbilEvalError(f"no Ollama server answers at {host} ({exc.__class__.__name__}); install Ollama "
                              "(https://ollama.com) and run `ollama serve`, or pass --host") from None


def file_digest(path: Path) -> str:
    """The blob digest Ollama names files by: ``sha256:<hex>``."""
    return f"sha256:{sha256_file(path)}"


def create_via_http(model: OllamaModel, host: str) -> None:
    """Upload the adapter blob (unless the server has it) and create the model."""
    import httpx

    digest = file_digest(model.adapter)
    try:
        with httpx.Client(base_url=host, timeout=600) as client:
            if client.head(f"/api/blobs/{digest}").status_code != 200:
                with open(model.adapter, "rb") as fh:
                    response = client.post(f"/api/blobs/{digest}", content=fh)
                if response.status_code not in (200, 201):
                    raise GerbilEvalError(f"Ollama refused the adapter blob ({response.status_code}): {_one_line(response.text)}")
            payload = {
                "model": model.name, "from": model.base, "adapters": {Path(model.adapter).name: digest},
                "template": QWEN25_TEMPLATE, "parameters": {"stop": list(QWEN25_STOPS), "num_ctx": model.num_ctx},
                "stream": False,
            }
            response = client.post("/api/create", json=payload)
            if response.status_code != 200:
                raise GerbilEvalError(f"Ollama could not create {model.name} ({response.status_code}): {_one_line(response.text)}")
    except httpx.HTTPError as exc:
        raise GerbilEvalError(f"Ollama at {host} stopped answering while creating {model.name} "
                              f"({exc.__class__.__name__}); check `ollama serve` and run deploy again") from None


def _one_line(text: str) -> str:
    """The last non-empty line of a server's or CLI's output (where the error is), or a placeholder."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def create_via_cli(model: OllamaModel, modelfile: Path, host: str) -> None:
    import os

    env = dict(os.environ, OLLAMA_HOST=host)
    proc = subprocess.run(["ollama", "create", model.name, "-f", str(modelfile)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise GerbilEvalError(f"`ollama create {model.name}` failed (exit {proc.returncode}): {_one_line(proc.stderr or proc.stdout)}")


def deploy(model: OllamaModel, modelfile: Path, host: str = DEFAULT_HOST, force: bool = False,
           use_cli: bool | None = None) -> str:
    """Check the server, write the Modelfile, create the model; returns how it was created."""
    if not Path(model.adapter).is_file():
        raise GerbilEvalError(f"{model.adapter}: no such adapter; run `python -m pipeline convert` first")
    version = server_version(host)
    check_version(version, force)
    write_modelfile(model, modelfile)
    if use_cli is None:
        use_cli = shutil.which("ollama") is not None
    if use_cli:
        create_via_cli(model, modelfile, host)
        return f"ollama CLI (server {version})"
    create_via_http(model, host)
    return f"HTTP API (server {version})"
