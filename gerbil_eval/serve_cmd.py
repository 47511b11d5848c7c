"""``python -m gerbil_eval serve``: a local OpenAI-compatible llama.cpp server in the foreground.

For trying a GGUF (and a LoRA adapter on it) by hand, from pytest in another terminal
or from OpenCode, with the same settings ``pytest --serve`` uses.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .server import DEFAULT_CTX, SERVED_CONCURRENCY, ServerError, check_engine, default_model_path, log_tail, running_server, served_model


def add_model_arguments(parser: argparse.ArgumentParser, gguf_help: str, alias_help: str) -> None:
    """``--gguf``, ``--alias`` and ``--ctx``: what every command that starts a server asks for."""
    parser.add_argument("--gguf", type=Path, default=None, metavar="PATH",
                        help=f"{gguf_help} (default: the embedded SmolLM2-135M-Instruct, see `model-path`)")
    parser.add_argument("--alias", default=None, metavar="NAME", help=alias_help)
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX, metavar="N",
                        help=f"context size in tokens, prompt + answer (default {DEFAULT_CTX})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options."""
    add_model_arguments(parser, "model GGUF to serve", "model name clients send (default: the GGUF file name without .gguf)")
    parser.add_argument("--lora", type=Path, default=None, metavar="ADAPTER.gguf",
                        help="LoRA adapter in GGUF form, applied at scale 1.0 (pipeline convert writes one)")
    parser.add_argument("--port", type=int, default=None, metavar="P", help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--log", type=Path, default=None, metavar="FILE",
                        help="server log file, replaced at each start (default: server.log in a new temporary folder)")


def run(args: argparse.Namespace) -> int:
    """Start the server, print how to use it, and keep it up until Ctrl-C."""
    check_engine()
    model = served_model(args.gguf or default_model_path(), args.lora, args.alias)
    log_path = args.log or Path(tempfile.mkdtemp(prefix="gerbil-serve-")) / "server.log"
    print(f"starting llama.cpp server for {model.gguf}{f' + {model.lora}' if model.lora else ''} (log: {log_path})",
          flush=True)
    try:
        with running_server([model], log_path, port=args.port, ctx=args.ctx) as server:
            print(f"serving {model.alias} at {server.base_url}", flush=True)
            # The server answers one request at a time: more in flight only queue and inflate latency.
            print(f"try:  pytest --model {model.alias}@{server.base_url} --concurrency {SERVED_CONCURRENCY} --max-tokens 256",
                  flush=True)
            print("Ctrl-C stops the server.", flush=True)
            status = server.process.wait()
    except KeyboardInterrupt:
        print("server stopped.")
        return 0
    raise ServerError(f"the llama.cpp server exited on its own with status {status}: {log_tail(log_path)} (full log: {log_path})")
