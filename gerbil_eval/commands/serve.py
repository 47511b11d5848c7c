"""``python -m gerbil_eval serve``: a local OpenAI-compatible llama.cpp server in the foreground.

For trying a GGUF (and a LoRA adapter on it) by hand, from pytest in another terminal
or from OpenCode, with the same settings ``pytest --serve`` uses. The context defaults to
the model's own (at most 32768): OpenCode's system prompt and tools alone take about 7k
tokens. The deployment (URL, alias, context, answer budget, system prompt) is recorded in
the pipeline state, so ``python -m pipeline opencode`` writes the numbers the server has.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..errors import GerbilEvalError
from ..server import (DEFAULT_CTX, MAX_DEFAULT_CTX, SERVED_CONCURRENCY, ServerError, check_engine, default_ctx,
                      default_model_path, log_tail, output_budget, running_server, served_model)
from ..serving.options import ServingOptions
from ..system_prompt import system_prompt_from_flags

#: GBNF grammars are small; a bigger file is a mistake.
MAX_GRAMMAR_BYTES = 256 * 1024


def add_model_arguments(parser: argparse.ArgumentParser, gguf_help: str, alias_help: str,
                        ctx_default: int | None = DEFAULT_CTX) -> None:
    """``--gguf``, ``--alias`` and ``--ctx``: what every command that starts a server asks for.

    ``ctx_default=None`` means the model's own training context, at most 32768.
    """
    parser.add_argument("--gguf", type=Path, default=None, metavar="PATH",
                        help=f"{gguf_help} (default: the embedded SmolLM2-135M-Instruct, see `model-path`)")
    parser.add_argument("--alias", default=None, metavar="NAME", help=alias_help)
    parser.add_argument("--ctx", type=int, default=ctx_default, metavar="N",
                        help="context size in tokens, prompt + answer (default: "
                        + (f"{ctx_default})" if ctx_default else f"the model's training context, at most {MAX_DEFAULT_CTX})"))


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """What the server adds to requests: system prompt, grammar, answer cap; and where to record it."""
    parser.add_argument("--system", default=None, metavar="TEXT|FILE",
                        help="system prompt for requests that have none (default: the project's, the one the "
                        "training data carries)")
    parser.add_argument("--no-system", action="store_true", help="add no system prompt to requests")
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help="cap every answer at N tokens (default: the request's max_tokens, else the context left)")
    parser.add_argument("--grammar-file", type=Path, default=None, metavar="FILE",
                        help="GBNF grammar constraining every answer whose request brings none (as llama-server's)")
    parser.add_argument("--workdir", type=Path, default=Path("pipeline-run"), metavar="DIR",
                        help="record this deployment in DIR/pipeline-state.json for `python -m pipeline opencode` "
                        "(default pipeline-run/)")
    parser.add_argument("--no-record", action="store_true", help="do not record the deployment")


def serving_options(args: argparse.Namespace) -> ServingOptions:
    """The server's additions from ``--system``/``--no-system``, ``--max-tokens``, ``--grammar-file``."""
    system = system_prompt_from_flags(args.system, args.no_system)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise GerbilEvalError(f"--max-tokens {args.max_tokens}: give a positive number of tokens")
    grammar = None
    if args.grammar_file is not None:
        try:
            if args.grammar_file.stat().st_size > MAX_GRAMMAR_BYTES:
                raise GerbilEvalError(f"--grammar-file {args.grammar_file}: larger than {MAX_GRAMMAR_BYTES} bytes")
            grammar = args.grammar_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GerbilEvalError(f"--grammar-file {args.grammar_file}: cannot read it ({exc.__class__.__name__})") from None
    return ServingOptions(system_prompt=system, grammar=grammar, max_tokens=args.max_tokens)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options."""
    add_model_arguments(parser, "model GGUF to serve", "model name clients send (default: the GGUF file name without .gguf)",
                        ctx_default=None)
    parser.add_argument("--lora", type=Path, default=None, metavar="ADAPTER.gguf",
                        help="LoRA adapter in GGUF form, applied at scale 1.0 (pipeline convert writes one)")
    parser.add_argument("--port", type=int, default=None, metavar="P", help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--log", type=Path, default=None, metavar="FILE",
                        help="server log file, replaced at each start (default: server.log in a new temporary folder); "
                        "one JSON line per chat request goes to LOG-requests.jsonl beside it")
    add_serving_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Start the server, print how to use it, and keep it up until Ctrl-C."""
    check_engine()
    model = served_model(args.gguf or default_model_path(), args.lora, args.alias)
    serving = serving_options(args)
    ctx = args.ctx or default_ctx(model.gguf)
    log_path = args.log or Path(tempfile.mkdtemp(prefix="gerbil-serve-")) / "server.log"
    print(f"starting llama.cpp server for {model.gguf}{f' + {model.lora}' if model.lora else ''}, context {ctx} tokens "
          f"(log: {log_path})", flush=True)
    try:
        with running_server([model], log_path, port=args.port, ctx=ctx, serving=serving) as server:
            print(f"serving {model.alias} at {server.base_url}", flush=True)
            # The server answers one request at a time: more in flight only queue and inflate latency.
            print(f"try:  pytest --model {model.alias}@{server.base_url} --concurrency {SERVED_CONCURRENCY} --max-tokens 256",
                  flush=True)
            if not args.no_record:
                recorded = record_deployment(args.workdir, {
                    "kind": "llama-server", "model": model.alias, "base_url": server.base_url, "context": ctx,
                    "output": output_budget(ctx, serving.max_tokens), "gguf": str(model.gguf),
                    "lora": str(model.lora) if model.lora else None, "system_prompt": serving.system_prompt})
                print(f"recorded in {recorded}; point OpenCode at it: python -m pipeline opencode --workdir {args.workdir}",
                      flush=True)
            print("Ctrl-C stops the server.", flush=True)
            status = server.process.wait()
    except KeyboardInterrupt:
        print("server stopped.")
        return 0
    raise ServerError(f"the llama.cpp server exited on its own with status {status}: {log_tail(log_path)} (full log: {log_path})")


def record_deployment(workdir: Path, deployment: dict[str, object]) -> Path:
    """Record a running server in the pipeline state (the pipeline owns that file's format)."""
    from pipeline.state import record_deployment as record

    return record(workdir, deployment)
