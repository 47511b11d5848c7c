"""``python -m pipeline run`` (``make pipeline``): the whole loop, resumable.

data -> train -> watch -> download -> convert -> deploy -> gate. Each step is
the same command a user could run alone (``python -m pipeline <step> ...``),
so the chain adds only ordering and resumption: without ``--from`` it runs the
steps the state file does not mark done, in order (a step run by hand, such as
``pipeline train``, is not run again); ``--from STEP`` runs STEP and every step
after it. ``--dry-run`` prints every
step's command (and the fine-tune request) with no side effects, no network and
no key. The gate is the harness itself: the new model against its base, then
``gerbil_eval report`` applies the release gates to that run, so the pipeline exits
1 when a gate fails (quality regresses), not merely because some case failed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable

from gerbil_eval.errors import GerbilEvalError

from .deploy import DEFAULT_OLLAMA_BASE
from .ollama import DEFAULT_HOST
from .credentials import add_api_key_file_argument
from .state import ADAPTER_GGUF, add_workdir_argument, load_state, save_state
from .together_train import DEFAULT_BASE, DATA_SUBDIR

STEPS = ("data", "train", "watch", "download", "convert", "deploy", "gate")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--from", dest="from_step", choices=STEPS, default=None,
                   help="run this step and every later one (default: only the steps the state file does not mark done)")
    p.add_argument("--dry-run", action="store_true", help="print every step's command; no side effects, no network, no key")
    p.add_argument("--cookbook", type=Path, default=SHARED_DATA / "gerbil-mcp" / "cookbooks.json",
                   help="gerbil-mcp cookbooks.json for the data step")
    p.add_argument("--docs", type=Path, action="append", default=None,
                   help="Markdown doc tree for the data step (repeatable; default ../shared/data/gerbil-docs)")
    p.add_argument("--cases", type=Path, default=Path("cases"), help="eval cases, for decontamination and the gate")
    p.add_argument("--model", default=DEFAULT_BASE, help=f"Together base model (default {DEFAULT_BASE})")
    p.add_argument("--target", choices=("ollama", "llama-server"), default="ollama", help="where to deploy (default ollama)")
    p.add_argument("--name", default="gerbil-qwen", help="deployed model name (default gerbil-qwen)")
    p.add_argument("--ollama-base", default=DEFAULT_OLLAMA_BASE, help=f"Ollama base model (default {DEFAULT_OLLAMA_BASE})")
    p.add_argument("--ollama-host", default=DEFAULT_HOST, help=f"Ollama server (default {DEFAULT_HOST})")
    p.add_argument("--base-gguf", type=Path, default=None, help="base model GGUF, for --target llama-server")
    p.add_argument("--gate", default="--require-better",
                   help="release gate flags passed to the harness (default: --require-better)")
    add_api_key_file_argument(p)


def step_commands(args: argparse.Namespace, adapter_dir: str | None) -> dict[str, list[str]]:
    """The command line of every step, as a user would type it."""
    pipe = [sys.executable, "-m", "pipeline"]
    workdir = ["--workdir", str(args.workdir)]
    key = ["--api-key-file", str(args.api_key_file)] if args.api_key_file else []
    gguf = str(Path(args.workdir) / ADAPTER_GGUF)
    docs = [a for d in (args.docs or [SHARED_DATA / "gerbil-docs"]) for a in ("--docs", str(d))]
    gate = shlex.split(args.gate)
    if args.target == "ollama":
        deploy = pipe + ["deploy", "ollama", *workdir, "--name", args.name, "--base", args.ollama_base,
                         "--host", args.ollama_host, "--adapter", gguf]
        gate_cmd = [sys.executable, "-m", "pytest", "--model", args.name, "--baseline", args.ollama_base,
                    "--base-url", f"{args.ollama_host}/v1", "--cases", str(args.cases), *gate]
    else:
        base = str(args.base_gguf or "<--base-gguf>")
        # The gate serves base and base+adapter itself; deploy records the deployment for `pipeline opencode`.
        deploy = pipe + ["deploy", "llama-server", *workdir, "--gguf", base, "--alias", args.name,
                         "--adapter", gguf, "--record-only"]
        gate_cmd = [sys.executable, "-m", "gerbil_eval", "compare-adapter", "--gguf", base, "--adapter", gguf,
                    "--", "--cases", str(args.cases), *gate]  # pytest's arguments go after --
    return {
        "data": pipe + ["data", "--cookbook", str(args.cookbook), *docs, "-o", str(Path(args.workdir) / DATA_SUBDIR),
                        "--cases", str(args.cases), "--decontaminate"],
        "train": pipe + ["train", *workdir, "--model", args.model, *key],
        "watch": pipe + ["status", "--watch", *workdir, *key],
        "download": pipe + ["download", *workdir, *key],
        "convert": pipe + ["convert", adapter_dir or "<adapter dir from download>", "-o", gguf, "--force"],
        "deploy": deploy,
        "gate": gate_cmd,
    }


def gate_check_command(args: argparse.Namespace) -> list[str]:
    """The release gates alone, on the gate step's run (its run folder is reports/latest)."""
    return [sys.executable, "-m", "gerbil_eval", "report", str(Path("reports") / "latest"), *shlex.split(args.gate)]


def first_step(args: argparse.Namespace, done: list[str]) -> str:
    if args.from_step:
        return args.from_step
    return next((s for s in STEPS if s not in done), STEPS[-1])


def run(args: argparse.Namespace, call: Callable[[list[str]], int] = subprocess.call) -> int:
    if args.target == "llama-server" and not args.base_gguf and not args.dry_run:
        raise GerbilEvalError("--target llama-server needs --base-gguf (the base model's GGUF)")
    state = load_state(args.workdir)
    start = first_step(args, state.completed_steps)
    for step in STEPS[STEPS.index(start):]:
        state = load_state(args.workdir)
        if not args.from_step and step != start and step in state.completed_steps:
            print(f"==> {step}: done already (--from {step} runs it again)", flush=True)
            continue
        cmd = step_commands(args, state.adapter_dir)[step]
        print(f"==> {step}: {shlex.join(cmd)}", flush=True)
        if args.dry_run:
            if step == "train":
                call(cmd + ["--dry-run"])
            continue
        status = call(cmd)
        if step == "gate" and status == 1:
            # Exit 1 means a case failed *or* a gate failed; only the gates decide the release, and
            # `gerbil_eval report` re-checks them on the run just written (failing cases alone never fail it).
            check = gate_check_command(args)
            print(f"==> gate check: {shlex.join(check)}", flush=True)
            status = call(check)
        if status != 0:
            print(f"pipeline stopped at step {step!r} (exit {status}); fix it and rerun with --from {step}", file=sys.stderr)
            return status
        state = load_state(args.workdir)
        if step == "convert":
            state.adapter_gguf = cmd[cmd.index("-o") + 1]
        state.mark_done(step)
        save_state(args.workdir, state)
    if args.dry_run:
        print("dry run complete: nothing was run, uploaded or written")
    return 0
