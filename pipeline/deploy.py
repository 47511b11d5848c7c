"""``python -m pipeline deploy {ollama,llama-server}``: make the adapter servable.

``ollama`` creates an Ollama model (base + GGUF adapter); ``llama-server`` serves
base GGUF + adapter in the foreground on the harness's own llama.cpp server
(``python -m gerbil_eval serve``). Either records the deployment (kind, model
id, base URL) in the state file for ``pipeline opencode`` and the gate.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError

from .ollama import DEFAULT_HOST, OllamaModel, deploy as deploy_ollama
from .state import ADAPTER_GGUF, add_workdir_argument, load_state, save_state

DEFAULT_OLLAMA_BASE = "qwen2.5:7b-instruct"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    sub.required = True
    o = sub.add_parser("ollama", help="create an Ollama model: FROM base + ADAPTER the GGUF adapter")
    add_workdir_argument(o)
    o.add_argument("--name", default="gerbil-qwen", help="Ollama model name to create (default gerbil-qwen)")
    o.add_argument("--base", default=DEFAULT_OLLAMA_BASE, help=f"Ollama base model (default {DEFAULT_OLLAMA_BASE})")
    o.add_argument("--adapter", type=Path, default=None, help=f"GGUF adapter (default: the one `pipeline run` recorded, else WORKDIR/{ADAPTER_GGUF})")
    o.add_argument("--num-ctx", type=int, default=32768, help="context length (PARAMETER num_ctx, default 32768)")
    o.add_argument("--host", default=DEFAULT_HOST, help=f"Ollama server (default {DEFAULT_HOST})")
    o.add_argument("--force", action="store_true", help="create even on an Ollama version reported to reject adapters")
    o.add_argument("--http", action="store_true", help="use the HTTP API even when the ollama CLI is installed")
    s = sub.add_parser("llama-server", help="serve base GGUF + adapter on a local llama.cpp server (foreground)")
    add_workdir_argument(s)
    s.add_argument("--gguf", type=Path, required=True, help="base model GGUF (e.g. qwen2.5-7b-instruct-q4_k_m.gguf)")
    s.add_argument("--adapter", type=Path, default=None, help=f"GGUF adapter (default: the one `pipeline run` recorded, else WORKDIR/{ADAPTER_GGUF})")
    s.add_argument("--alias", default="gerbil-qwen", help="model id the server reports (default gerbil-qwen)")
    s.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    s.add_argument("--ctx", type=int, default=8192, help="context length (default 8192)")
    s.add_argument("--record-only", action="store_true",
                   help="record the deployment in the state file and print the serve command, without serving")


def _adapter(args: argparse.Namespace, recorded: str | None) -> Path:
    """--adapter, else the one `pipeline run` recorded, else WORKDIR/adapter.gguf (`pipeline convert` records nothing)."""
    adapter = args.adapter or Path(recorded or Path(args.workdir) / ADAPTER_GGUF)
    if not adapter.is_file():
        hint = "" if args.adapter else f"; run `python -m pipeline convert ADAPTER_DIR -o {adapter}` first or pass --adapter"
        raise GerbilEvalError(f"{adapter}: no such adapter file{hint}")
    return adapter


def run(args: argparse.Namespace) -> int:
    state = load_state(args.workdir)
    adapter = _adapter(args, state.adapter_gguf)
    if args.target == "ollama":
        model = OllamaModel(name=args.name, base=args.base, adapter=adapter, num_ctx=args.num_ctx)
        how = deploy_ollama(model, Path(args.workdir) / "Modelfile", args.host, args.force, use_cli=False if args.http else None)
        state.deployment = {"kind": "ollama", "model": f"{args.name}:latest", "base_model": args.base,
                            "base_url": f"{args.host}/v1", "context": args.num_ctx}
        state.mark_done("deploy")
        save_state(args.workdir, state)
        print(f"created Ollama model {args.name} via {how}; try: pytest --model {args.name} --baseline {args.base}")
        return 0
    if not args.gguf.is_file():
        raise GerbilEvalError(f"--gguf {args.gguf}: no such base model file")
    url = f"http://127.0.0.1:{args.port}/v1"
    state.deployment = {"kind": "llama-server", "model": args.alias, "base_url": url, "gguf": str(args.gguf),
                        "context": args.ctx}
    state.mark_done("deploy")
    save_state(args.workdir, state)
    cmd = [sys.executable, "-m", "gerbil_eval", "serve", "--gguf", str(args.gguf), "--lora", str(adapter),
           "--alias", args.alias, "--port", str(args.port), "--ctx", str(args.ctx)]
    if args.record_only:
        print("recorded; serve it with: " + shlex.join(cmd))
        return 0
    return subprocess.call(cmd)
