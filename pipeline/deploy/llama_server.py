"""Deploying to llama.cpp: base GGUF + adapter served by the harness's own server.

The server is ``python -m gerbil_eval serve`` (one llama.cpp lifecycle for the harness and
the pipeline), run in the foreground. The deployment is recorded in the state file before
it starts, so ``--record-only`` and ``pipeline run`` have it without a server; ``serve``
records the same again once it is up.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.server import default_ctx, output_budget
from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT

from ..state import PipelineState, save_state


def deploy_llama_server(workdir: Path, state: PipelineState, *, gguf: Path, adapter: Path, alias: str, port: int,
                        ctx: int | None, max_tokens: int | None, record_only: bool) -> int:
    """Record the deployment, then serve it (or print the serve command with ``record_only``); the exit status."""
    if not gguf.is_file():
        raise GerbilEvalError(f"--gguf {gguf}: no such base model file")
    url = f"http://127.0.0.1:{port}/v1"
    ctx = ctx or default_ctx(gguf)
    system = state.system_prompt or DEFAULT_SYSTEM_PROMPT
    state.deployment = {"kind": "llama-server", "model": alias, "base_url": url, "gguf": str(gguf),
                        "lora": str(adapter), "context": ctx, "output": output_budget(ctx, max_tokens),
                        "system_prompt": system}
    state.mark_done("deploy")
    save_state(workdir, state)
    cmd = [sys.executable, "-m", "gerbil_eval", "serve", "--gguf", str(gguf), "--lora", str(adapter),
           "--alias", alias, "--port", str(port), "--ctx", str(ctx), "--system", system,
           "--workdir", str(workdir), *(["--max-tokens", str(max_tokens)] if max_tokens else [])]
    if record_only:
        print("recorded; serve it with: " + shlex.join(cmd))
        return 0
    return subprocess.call(cmd)
