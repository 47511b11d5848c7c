"""``python -m gerbil_eval compare-adapter``: base vs base+LoRA on one local server.

The question a fine-tune has to answer is "is the adapter better than the model it
was trained on?". This serves both from ONE llama.cpp server (its ``--config_file``
lists the base GGUF twice, once with ``lora_path``) under two names and runs
``pytest --model BASE+ADAPTER@URL --baseline BASE@URL``, so the plugin writes the
usual run folder with the comparison report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from .serve import add_model_arguments
from ..server import SERVED_CONCURRENCY, check_engine, default_model_path, running_server, served_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``compare-adapter`` options; everything after ``--`` goes to pytest."""
    parser.add_argument("--adapter", type=Path, required=True, metavar="ADAPTER.gguf",
                        help="LoRA adapter in GGUF form (python -m pipeline convert writes one)")
    add_model_arguments(parser, "base model the adapter was trained on",
                        "name of the adapted model in reports (default: BASE+ADAPTER file stems)")
    parser.add_argument("--max-tokens", type=int, default=256, metavar="N", help="max output tokens per answer (default 256)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"), metavar="DIR",
                        help="where the run folder goes (default reports/); the server log is DIR/compare-adapter.server.log")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                        help="extra pytest arguments after --, e.g. -- -k macros --cases cases/")


def pytest_command(tuned: str, base: str, url: str, args: argparse.Namespace) -> list[str]:
    """The pytest run: adapter as candidate, base as baseline, both on ``url``.

    Concurrency is capped to what the server really runs at once unless the user asks
    otherwise, so queueing inside the server is not mistaken for latency or timeouts.
    """
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else list(args.pytest_args)
    if not any(a.startswith("--concurrency") for a in extra):
        extra = ["--concurrency", str(SERVED_CONCURRENCY), *extra]
    return [sys.executable, "-m", "pytest", "--model", f"{tuned}@{url}", "--baseline", f"{base}@{url}",
            "--max-tokens", str(args.max_tokens), "--report-dir", str(args.report_dir), *extra]


def run(args: argparse.Namespace) -> int:
    """Serve base and base+adapter, run pytest against them, return pytest's exit status."""
    check_engine()
    gguf = args.gguf or default_model_path()
    base = served_model(gguf)
    tuned = served_model(gguf, args.adapter, args.alias or f"{base.alias}+{args.adapter.stem}",
                         flags=("--gguf", "--adapter", "--alias"))
    log_path = args.report_dir / "compare-adapter.server.log"
    print(f"serving {base.alias} and {tuned.alias} on one llama.cpp server (log: {log_path})", flush=True)
    with running_server([tuned, base], log_path, ctx=args.ctx) as server:
        command = pytest_command(tuned.alias, base.alias, server.base_url, args)
        print("running:", " ".join(command[1:]), flush=True)
        return subprocess.call(command)
