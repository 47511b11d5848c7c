"""``python -m pipeline run`` (``make pipeline``): the whole loop, resumable.

data -> train -> watch -> download -> convert -> deploy -> gate. Each step is
the same command a user could run alone (``python -m pipeline <step> ...``),
so the chain adds only ordering and resumption: without ``--from`` it runs the
steps the state file does not mark done, in order (a step run by hand, such as
``pipeline train``, is not run again); ``--from STEP`` runs STEP and every step
after it. ``--backend local`` trains on this machine instead of Together: there is no
job to watch or download, the base is served by llama.cpp for the gate, and the gate
marks which cases the training data saw. ``--dry-run`` prints every
step's command (and the fine-tune request) with no side effects, no network and
no key. The gate is the harness itself: the new model against its base, then
``gerbil_eval report`` applies the release gates to that run, so the pipeline exits
1 when a gate fails (quality regresses), not merely because some case failed.

``--retrain`` is the iterating loop: every step again with the current data, a new
fine-tune job (``train --force``, hyper-parameters passed through), and a gate against
both the base and the previous release (``--compare-to``, default the last release that
passed; ``--max-regression``), ending with the comparison table. Each gate is recorded
as a release in the state file (pipeline/releases.py).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable

from gerbil_eval.errors import GerbilEvalError

from ..deploy.ollama import DEFAULT_HOST
from ..credentials import add_api_key_file_argument
from ..families import family_for
from ..releases import last_passing, record_release
from ..state import ADAPTER_GGUF, add_workdir_argument, load_state, save_state
from ..local.train import BASE_CONFIG, LOCAL_DIR
from ..together.train import DEFAULT_BASE, DATA_SUBDIR, TOGETHER_FILE

STEPS = ("data", "train", "watch", "download", "convert", "deploy", "gate")
#: Hyper-parameters `--retrain` (or any run) passes through to `pipeline train` when given.
TRAIN_FLAGS = ("epochs", "learning_rate", "batch_size", "lora_r", "lora_alpha")
#: Where the data step's inputs come from when they are not given (they live outside this project).
DATA_ORIGINS = ("--cookbook: cookbooks.json of the gerbil-mcp repository; --docs: the Gerbil repository's doc/ "
                "(Markdown); --sources (optional, adds the modules and their unit tests): the Gerbil repository's src/")
#: Steps that only exist for a remote job.
REMOTE_ONLY = ("watch", "download")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--from", dest="from_step", choices=STEPS, default=None,
                   help="run this step and every later one (default: only the steps the state file does not mark done)")
    p.add_argument("--dry-run", action="store_true", help="print every step's command; no side effects, no network, no key")
    p.add_argument("--cookbook", type=Path, default=None, help="gerbil-mcp cookbooks.json for the data step")
    p.add_argument("--docs", type=Path, action="append", default=None, help="Markdown doc tree for the data step (repeatable)")
    p.add_argument("--sources", type=Path, action="append", default=None,
                   help="Gerbil source tree (src/, with its *-test.ss) for the data step (repeatable)")
    p.add_argument("--cases", type=Path, default=Path("cases"), help="eval cases, for decontamination and the gate")
    p.add_argument("--backend", choices=("together", "local"), default="together",
                   help="together = fine-tune on Together AI (default); local = LoRA on this machine, no watch/download")
    p.add_argument("--train-args", default="", metavar="FLAGS",
                   help='extra flags for the train step, e.g. "--max-steps 200 --eval-every 50" (see pipeline train --help)')
    p.add_argument("--model", default=DEFAULT_BASE, help=f"Together base model (default {DEFAULT_BASE})")
    p.add_argument("--target", choices=("ollama", "llama-server"), default=None,
                   help="where to deploy (default: ollama; llama-server with --backend local)")
    p.add_argument("--name", default=None,
                   help="deployed model name (default: gerbil-qwen on Together; with --backend local, gerbil- and the "
                   "base GGUF's name, e.g. gerbil-smollm2-135m-instruct)")
    p.add_argument("--ollama-base", default=None, help="Ollama base model (default: the --model family's, e.g. qwen2.5:7b-instruct)")
    p.add_argument("--ollama-host", default=DEFAULT_HOST, help=f"Ollama server (default {DEFAULT_HOST})")
    p.add_argument("--base-gguf", type=Path, default=None,
                   help="base model GGUF, for --target llama-server and --merged (default with --backend local: the embedded SmolLM2 GGUF)")
    p.add_argument("--merged", action="store_true",
                   help="--target ollama: where Ollama refuses ADAPTER, deploy FROM the adapter merged into --base-gguf")
    p.add_argument("--gate", default="--require-better",
                   help="release gate flags passed to the harness (default: --require-better)")
    r = p.add_argument_group("retraining (the iterating loop)")
    r.add_argument("--retrain", action="store_true",
                   help="run every step again: current data, a NEW fine-tune job, redeploy, gate against the base "
                   "and the previous release, then print the comparison table")
    r.add_argument("--force", action="store_true", help="passed to train: start a new job even if the state has one")
    for flag, kind in (("epochs", int), ("learning-rate", float), ("batch-size", int), ("lora-r", int), ("lora-alpha", int)):
        r.add_argument(f"--{flag}", type=kind, default=None, help=f"passed to train (default: train's --{flag})")
    r.add_argument("--compare-to", default=None, metavar="RUN",
                   help="previous release's run folder to gate against (default with --retrain: the last release that passed)")
    r.add_argument("--max-regression", type=float, default=0.02, metavar="X",
                   help="gate: fail if the mean score is more than X below the previous release (default 0.02)")
    p.add_argument("--pytest-args", default="", metavar="FLAGS",
                   help='extra pytest flags of the gate run only, e.g. "-k hash --max-tokens 128" (not gates: see --gate)')
    add_api_key_file_argument(p)


def check_data_inputs(args: argparse.Namespace) -> None:
    """Before the data step runs: inputs that are not given are named with where they come from."""
    if args.cookbook is None or not args.docs:
        raise GerbilEvalError(f"the data step needs --cookbook and --docs ({DATA_ORIGINS}); `make pipeline` "
                              "passes the copies under ../shared/data")


def _data_command(args: argparse.Namespace, pipe: list[str]) -> list[str]:
    """The data step, with placeholders for inputs not given (shown by --dry-run)."""
    cookbook = str(args.cookbook or "<--cookbook gerbil-mcp/cookbooks.json>")
    docs = [a for d in (args.docs or ["<--docs gerbil/doc>"]) for a in ("--docs", str(d))]
    sources = [a for d in (args.sources or []) for a in ("--sources", str(d))]
    return pipe + ["data", "--cookbook", cookbook, *docs, *sources, "-o", str(Path(args.workdir) / DATA_SUBDIR),
                   "--cases", str(args.cases), "--decontaminate"]


def step_commands(args: argparse.Namespace, adapter_dir: str | None) -> dict[str, list[str]]:
    """The command line of every step, as a user would type it."""
    pipe = [sys.executable, "-m", "pipeline"]
    workdir = ["--workdir", str(args.workdir)]
    key = ["--api-key-file", str(args.api_key_file)] if args.api_key_file else []
    gguf = str(Path(args.workdir) / ADAPTER_GGUF)
    gate, extra = shlex.split(args.gate), shlex.split(args.pytest_args)
    local = args.backend == "local"
    name = args.name or default_name(args)
    data_file = Path(args.workdir) / DATA_SUBDIR / TOGETHER_FILE
    train = [f for name in TRAIN_FLAGS if getattr(args, name) is not None
             for f in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]
    train += ["--force"] if args.force or args.retrain else []
    if args.target == "ollama":
        ollama_base = args.ollama_base or family_for(args.model).ollama_base
        deploy = pipe + ["deploy", "ollama", *workdir, "--name", name, "--base", ollama_base,
                         "--host", args.ollama_host, "--adapter", gguf]
        deploy += ["--merged", "--base-gguf", str(args.base_gguf or "<--base-gguf>")] if args.merged else []
        gate_cmd = [sys.executable, "-m", "pytest", "--model", name, "--baseline", ollama_base,
                    "--base-url", f"{args.ollama_host}/v1", "--cases", str(args.cases), *extra, *gate]
    else:
        base = str(args.base_gguf or "<--base-gguf>")
        # The gate serves base and base+adapter itself; deploy records the deployment for `pipeline opencode`.
        deploy = pipe + ["deploy", "llama-server", *workdir, "--gguf", base, "--alias", name,
                         "--adapter", gguf, "--record-only"]
        seen = ["--train-data", str(data_file)] if local else []  # the report says which cases training saw
        gate_cmd = [sys.executable, "-m", "gerbil_eval", "compare-adapter", "--gguf", base, "--adapter", gguf,
                    "--alias", name, "--", "--cases", str(args.cases), *seen, *extra, *gate]  # pytest's arguments go after --
    return {
        "data": _data_command(args, pipe),
        "train": pipe + ["train", *workdir, *(["--backend", "local"] if local else ["--model", args.model]), *train,
                         *([] if local else key), *shlex.split(args.train_args)],
        "watch": pipe + ["status", "--watch", *workdir, *key],
        "download": pipe + ["download", *workdir, *key],
        "convert": pipe + ["convert", adapter_dir or f"<adapter dir from {'train' if local else 'download'}>", "-o", gguf, "--force",
                           *(["--base-config", str(Path(args.workdir) / LOCAL_DIR / BASE_CONFIG)] if local else [])],
        "deploy": deploy,
        "gate": gate_cmd,
    }


LATEST_RUN = Path("reports") / "latest"


def gate_check_command(args: argparse.Namespace) -> list[str]:
    """The release gates alone, on the gate step's run (its run folder is reports/latest)."""
    return [sys.executable, "-m", "gerbil_eval", "report", str(LATEST_RUN), *shlex.split(args.gate)]


def previous_release_command(args: argparse.Namespace, previous: str) -> list[str]:
    """The gate against the previous release; `report` also prints the comparison table."""
    return [sys.executable, "-m", "gerbil_eval", "report", str(LATEST_RUN), "--compare-to", previous,
            "--max-regression", str(args.max_regression)]


def backend_steps(args: argparse.Namespace) -> tuple[str, ...]:
    """The chain for this backend: a local run has no remote job to watch or download."""
    return tuple(s for s in STEPS if s not in REMOTE_ONLY) if args.backend == "local" else STEPS


def first_step(args: argparse.Namespace, done: list[str]) -> str:
    steps = backend_steps(args)
    if args.retrain:
        return steps[0]
    if args.from_step:
        if args.from_step not in steps:
            raise GerbilEvalError(f"--from {args.from_step}: the {args.backend} backend has no such step ({', '.join(steps)})")
        return args.from_step
    return next((s for s in steps if s not in done), steps[-1])


def resolve_target(args: argparse.Namespace) -> None:
    """A local run is served by llama.cpp on the embedded base unless told otherwise."""
    if args.target is None:
        args.target = "llama-server" if args.backend == "local" else "ollama"
    if args.backend == "local" and args.target == "llama-server" and args.base_gguf is None:
        from gerbil_eval.server import default_model_path

        try:
            args.base_gguf = default_model_path()
        except GerbilEvalError:
            if not args.dry_run:
                raise


def default_name(args: argparse.Namespace) -> str:
    """The deployed model's name: a local adapter is named after the base it was trained on, not after Qwen."""
    if args.backend == "local" and args.base_gguf is not None:
        stem = re.sub(r"[^a-z0-9.-]+", "-", Path(args.base_gguf).name.lower().split(".")[0]).strip("-")
        return f"gerbil-{stem or 'local'}"
    return "gerbil-local" if args.backend == "local" else "gerbil-qwen"


def run_gate(args: argparse.Namespace, cmd: list[str], call: Callable[[list[str]], int]) -> int:
    """The harness vs the base, then (with a previous release) the regression gate vs that release.

    Records the gated adapter as a release with its verdict, whatever the verdict.
    """
    state = load_state(args.workdir)
    previous = args.compare_to or (args.retrain and (last_passing(state) or {}).get("report")) or None
    if args.dry_run:
        if previous or args.retrain:
            shown = previous or "<the last release that passed>"
            print(f"==> gate vs previous release: {shlex.join(previous_release_command(args, shown))}", flush=True)
        return 0
    status = call(cmd)
    if status == 1:
        # Exit 1 means a case failed *or* a gate failed; only the gates decide the release, and
        # `gerbil_eval report` re-checks them on the run just written (failing cases alone never fail it).
        check = gate_check_command(args)
        print(f"==> gate check: {shlex.join(check)}", flush=True)
        status = call(check)
    if status not in (0, 1):
        return status  # the harness could not judge (exit 4/7): nothing to record
    if previous:
        versus = previous_release_command(args, previous)
        print(f"==> gate vs previous release: {shlex.join(versus)}", flush=True)
        status = call(versus) or status
    adapter = Path(state.adapter_gguf or Path(args.workdir) / ADAPTER_GGUF)
    if adapter.is_file() and (LATEST_RUN.exists() or LATEST_RUN.is_symlink()):
        release = record_release(args.workdir, state, adapter, LATEST_RUN, "pass" if status == 0 else "fail", previous)
        save_state(args.workdir, state)
        print(f"==> release {release['release']}: job {release['job_id']}, adapter sha256 {release['adapter_sha256'][:12]}, "
              f"report {release['report']}, gate {release['verdict']}", flush=True)
    return status


def run(args: argparse.Namespace, call: Callable[[list[str]], int] = subprocess.call) -> int:
    resolve_target(args)
    if args.target == "llama-server" and not args.base_gguf and not args.dry_run:
        raise GerbilEvalError("--target llama-server needs --base-gguf (the base model's GGUF)")
    if args.merged and not args.base_gguf and not args.dry_run:
        raise GerbilEvalError("--merged needs --base-gguf (the base model's GGUF, merged with the adapter where Ollama refuses ADAPTER)")
    state = load_state(args.workdir)
    start = first_step(args, state.completed_steps)
    steps = backend_steps(args)
    for step in steps[steps.index(start):]:
        state = load_state(args.workdir)
        if not args.from_step and not args.retrain and step != start and step in state.completed_steps:
            print(f"==> {step}: done already (--from {step} runs it again)", flush=True)
            continue
        cmd = step_commands(args, state.adapter_dir)[step]
        print(f"==> {step}: {shlex.join(cmd)}", flush=True)
        if args.dry_run:
            if step == "train":
                call(cmd + ["--dry-run"])
            elif step == "gate":
                run_gate(args, cmd, call)
            continue
        if step == "data":
            check_data_inputs(args)
        status = run_gate(args, cmd, call) if step == "gate" else call(cmd)
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
