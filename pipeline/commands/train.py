"""``python -m pipeline train``: start the LoRA fine-tune, on Together or on this machine.

``--backend together`` (default) uploads the training file and creates a job on Together
(``pipeline/together/train.py``); ``--backend local`` trains here (``pipeline/local/``) with the
same option names and the same state file. ``--dry-run`` prints the Together request and sends
nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError

from ..credentials import add_api_key_file_argument
from ..data.validate import validate_together_file
from ..state import add_workdir_argument, load_state
from ..together.train import DATA_SUBDIR, DEFAULT_BASE, TOGETHER_FILE, build_job_request, default_training_file, start_job

BACKENDS = ("together", "local")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..local.train import LOCAL_BATCH_SIZE, LOCAL_LEARNING_RATE, add_local_arguments

    add_workdir_argument(p)
    p.add_argument("--backend", choices=BACKENDS, default="together",
                   help="together = a LoRA job on Together AI (default); local = LoRA on this machine (transformers + PEFT)")
    p.add_argument("--training-file", type=Path, default=None,
                   help=f"Together-format JSONL (default: WORKDIR/{DATA_SUBDIR}/{TOGETHER_FILE} from `pipeline data`)")
    p.add_argument("--validation-file", type=Path, default=None, help="optional validation JSONL, uploaded the same way")
    p.add_argument("--model", default=DEFAULT_BASE, help=f"base model to fine-tune (default {DEFAULT_BASE})")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help=f"learning rate (default 1e-5 on Together, {LOCAL_LEARNING_RATE:g} local)")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"batch size (default 8 on Together; {LOCAL_BATCH_SIZE} local, per micro-batch)")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank, always sent explicitly (default 16)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha, always sent explicitly (default 32)")
    p.add_argument("--lora-dropout", type=float, default=0.0, help="LoRA dropout in [0, 1) (default 0)")
    p.add_argument("--lora-modules", default="all-linear", help="LoRA target modules (default all-linear)")
    p.add_argument("--suffix", default="gerbil", help="suffix of the output model name (default gerbil)")
    add_api_key_file_argument(p)
    p.add_argument("--dry-run", action="store_true", help="print the job request and send nothing")
    p.add_argument("--force", action="store_true", help="start a new job even if the state already has one (local: start over)")
    add_local_arguments(p)


def apply_backend_defaults(args: argparse.Namespace) -> None:
    """Learning rate and batch size default differently: Together's full-size GPUs vs a LoRA on a CPU."""
    from ..local.train import LOCAL_BATCH_SIZE, LOCAL_LEARNING_RATE

    local = args.backend == "local"
    if args.learning_rate is None:
        args.learning_rate = LOCAL_LEARNING_RATE if local else 1e-5
    if args.batch_size is None:
        args.batch_size = LOCAL_BATCH_SIZE if local else 8


def run(args: argparse.Namespace) -> int:
    apply_backend_defaults(args)
    training = args.training_file or default_training_file(args.workdir)
    if args.backend == "local":
        from ..local.train import run_local

        return run_local(args, training)
    state = load_state(args.workdir)
    validation = args.validation_file
    if args.dry_run:
        request = build_job_request(args, f"<file id of {training}>", f"<file id of {validation}>" if validation else None)
        missing = "" if training.is_file() else f" ({training} does not exist yet)"
        print(f"dry run: would check the model's limits, upload the file(s) with Together's checker{missing}, then create:")
        print(json.dumps(request, indent=2))
        return 0
    if not training.is_file():
        raise GerbilEvalError(f"{training}: no training file; run `python -m pipeline data -o {training.parent}` first or pass --training-file")
    if validation is not None and not validation.is_file():
        raise GerbilEvalError(f"--validation-file {validation}: no such file")
    for path in filter(None, (training, validation)):
        validate_together_file(path)  # one line naming the bad record, before anything is uploaded
    if state.job_id and not args.force:
        raise GerbilEvalError(f"{args.workdir}: job {state.job_id} already started; use `pipeline status` or --force for a new job")
    start_job(args, state, training, validation)
    return 0
