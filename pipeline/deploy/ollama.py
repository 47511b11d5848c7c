"""Creating an Ollama model from a base model and a GGUF LoRA adapter, or from a merged GGUF.

Through the ``ollama`` CLI when it is installed, else through the server's HTTP
API (upload the adapter as a blob, then ``/api/create``). Before that the
server's version is checked: Ollama applies GGUF adapters through llama-server
from v0.30.0, the new Go engine refused adapters ("loras are not yet
implemented") before that when enabled, and from v0.34.1 the ADAPTER directive is
reported to be rejected at create time (see docs/pipeline.md). Where ADAPTER is
refused, ``deploy`` can fall back to a merged model (``FROM merged.gguf``), made
by ``pipeline merge``. The base model is pulled first when the server lacks it.
Template, stop tokens and SYSTEM come from the model family (``pipeline/families.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import sha256_file, write_text_atomic

from ..families import FAMILIES, ModelFamily, project_system_prompt

DEFAULT_HOST = "http://localhost:11434"
#: Versions reported to reject ADAPTER at `ollama create` (third-party report, unverified in source).
ADAPTER_REJECTED_FROM = (0, 34, 1)


@dataclass(frozen=True)
class OllamaModel:
    """What to create: the model name, its base, the adapter file and the context length.

    With ``merged`` set the model is built FROM that self-contained GGUF and ``adapter`` is not used.
    """

    name: str
    base: str
    adapter: Path
    num_ctx: int = 32768
    family: ModelFamily = FAMILIES[0]
    system: str = field(default_factory=project_system_prompt)
    merged: Path | None = None


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
            f"Ollama {version} is reported to reject ADAPTER at create time (from v0.34.1); pass --merged (with "
            "--base-gguf) to create the model FROM a merged GGUF instead, serve the adapter with "
            "`python -m pipeline deploy llama-server`, or pass --force to try anyway")


def modelfile_text(model: OllamaModel) -> str:
    """The Modelfile: FROM base + ADAPTER (or FROM the merged GGUF), the family's template and stops, SYSTEM, context."""
    source = [f"FROM {Path(model.merged).resolve()}"] if model.merged else [f"FROM {model.base}", f"ADAPTER {Path(model.adapter).resolve()}"]
    lines = [*source, f'TEMPLATE """{model.family.template}"""', f'SYSTEM """{model.system}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in model.family.stops]
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


class CreateRefused(GerbilEvalError):
    """The server or CLI answered the create request with an error (as opposed to not answering)."""


def create_via_http(model: OllamaModel, host: str) -> None:
    """Upload the adapter (or merged model) blob unless the server has it, then create the model."""
    import httpx

    upload = Path(model.merged or model.adapter)
    digest = file_digest(upload)
    try:
        with httpx.Client(base_url=host, timeout=600) as client:
            if client.head(f"/api/blobs/{digest}").status_code != 200:
                with open(upload, "rb") as fh:
                    response = client.post(f"/api/blobs/{digest}", content=fh)
                if response.status_code not in (200, 201):
                    raise GerbilEvalError(f"Ollama refused the blob of {upload.name} ({response.status_code}): {_one_line(response.text)}")
            source = {"files": {upload.name: digest}} if model.merged else {"from": model.base, "adapters": {upload.name: digest}}
            payload = {
                "model": model.name, **source, "template": model.family.template, "system": model.system,
                "parameters": {"stop": list(model.family.stops), "num_ctx": model.num_ctx}, "stream": False,
            }
            response = client.post("/api/create", json=payload)
            if response.status_code != 200:
                raise CreateRefused(f"Ollama could not create {model.name} ({response.status_code}): {_one_line(response.text)}")
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
        raise CreateRefused(f"`ollama create {model.name}` failed (exit {proc.returncode}): {_one_line(proc.stderr or proc.stdout)}")


def has_model(name: str, host: str) -> bool:
    """``POST /api/show``: 200 when the server has ``name``, 404 when it does not."""
    import httpx

    try:
        response = httpx.post(f"{host}/api/show", json={"model": name}, timeout=30)
    except httpx.HTTPError as exc:
        raise GerbilEvalError(f"Ollama at {host} stopped answering ({exc.__class__.__name__}); check `ollama serve`") from None
    if response.status_code not in (200, 404):
        raise GerbilEvalError(f"Ollama could not say whether it has {name} ({response.status_code}): {_one_line(response.text)}")
    return response.status_code == 200


def pull(name: str, host: str, progress: bool = True) -> None:
    """``POST /api/pull`` with streamed progress: one bar per layer, an ``error`` line is one clear error."""
    import httpx

    bar: tqdm | None = None
    try:
        with httpx.stream("POST", f"{host}/api/pull", json={"model": name, "stream": True}, timeout=None) as response:
            if response.status_code != 200:
                raise GerbilEvalError(f"Ollama could not pull {name} ({response.status_code}): {_one_line(response.read().decode(errors='replace'))}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    raise GerbilEvalError(f"Ollama sent an unreadable pull progress line for {name}: {line[:80]!r}") from None
                if not isinstance(event, dict):
                    continue
                if event.get("error"):
                    raise GerbilEvalError(f"Ollama could not pull {name}: {_one_line(str(event['error']))}")
                total, completed = event.get("total"), event.get("completed")
                if isinstance(total, int) and total > 0:
                    if bar is None or bar.total != total:
                        if bar is not None:
                            bar.close()
                        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"pull {name}", file=sys.stderr,
                                   disable=not progress)
                    bar.n = min(total, completed if isinstance(completed, int) else 0)
                    bar.refresh()
                if event.get("status") == "success":
                    return
    except httpx.HTTPError as exc:
        raise GerbilEvalError(f"Ollama at {host} stopped answering while pulling {name} ({exc.__class__.__name__})") from None
    finally:
        if bar is not None:
            bar.close()
    raise GerbilEvalError(f"Ollama ended the pull of {name} without reporting success; run deploy again")


def ensure_base(name: str, host: str, progress: bool = True) -> bool:
    """Pull ``name`` when the server lacks it (the original workflow's `ollama pull`); True when pulled."""
    if has_model(name, host):
        return False
    print(f"pulling {name} (the server does not have it yet)", file=sys.stderr)
    pull(name, host, progress)
    return True


def _create(model: OllamaModel, modelfile: Path, host: str, use_cli: bool) -> None:
    write_modelfile(model, modelfile)
    if use_cli:
        create_via_cli(model, modelfile, host)
    else:
        create_via_http(model, host)


def deploy(model: OllamaModel, modelfile: Path, host: str = DEFAULT_HOST, force: bool = False,
           use_cli: bool | None = None, merge: Callable[[], Path] | None = None) -> str:
    """Check the server, pull the base, write the Modelfile, create the model; returns how it was created.

    ``merge`` (``--merged``) makes the merged GGUF: used up front when the server's version is
    reported to reject ADAPTER, and as the fallback when creating with ADAPTER fails.
    """
    if not Path(model.adapter).is_file():
        raise GerbilEvalError(f"{model.adapter}: no such adapter; run `python -m pipeline convert` first")
    version = server_version(host)
    if use_cli is None:
        use_cli = shutil.which("ollama") is not None
    how = f"{'ollama CLI' if use_cli else 'HTTP API'} (server {version})"
    if merge is not None and parse_version(version) >= ADAPTER_REJECTED_FROM and not force:
        _create(replace(model, merged=merge()), modelfile, host, use_cli)
        return f"{how}, FROM the merged GGUF (this version is reported to reject ADAPTER)"
    check_version(version, force)
    ensure_base(model.base, host, progress=sys.stderr.isatty())
    try:
        _create(model, modelfile, host, use_cli)
    except CreateRefused as exc:
        if merge is None:
            raise CreateRefused(f"{exc}; pass --merged (with --base-gguf) to create it FROM a merged GGUF instead") from None
        print(f"{exc}; merging the adapter into the base instead", file=sys.stderr)
        _create(replace(model, merged=merge()), modelfile, host, use_cli)
        return f"{how}, FROM the merged GGUF (ADAPTER was refused)"
    return how
