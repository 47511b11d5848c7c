"""``python -m pipeline train``: upload the training file and start a LoRA job on Together.

``--backend local`` trains on this machine instead (``pipeline/local/``) with the same
option names and the same state file.

The request is built by one plain function (:func:`build_job_request`) so
``--dry-run`` prints exactly what would be sent. ``lora_r`` and ``lora_alpha`` are
always explicit: the SDK's silent defaults (max rank, 2*r) differ from its docs (8, 8).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.names import safe_name
from gerbil_eval.fileio import sha256_file

from .data.build import MANIFEST
from .data.validate import validate_together_file
from .credentials import add_api_key_file_argument
from .state import PipelineState, add_workdir_argument, load_state, save_state

DEFAULT_BASE = "Qwen/Qwen2.5-7B-Instruct"
DATA_SUBDIR = "data"
TOGETHER_FILE = "training_data_together.jsonl"


BACKENDS = ("together", "local")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .local.cli import LOCAL_BATCH_SIZE, LOCAL_LEARNING_RATE, add_local_arguments

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


def build_job_request(args: argparse.Namespace, training_file: str, validation_file: str | None) -> dict[str, Any]:
    """The keyword arguments of ``client.fine_tuning.create`` for this run."""
    if not 0 <= args.lora_dropout < 1:
        raise GerbilEvalError(f"--lora-dropout must be in [0, 1), got {args.lora_dropout}")
    for name in ("epochs", "batch_size", "lora_r", "lora_alpha"):
        if getattr(args, name) < 1:
            raise GerbilEvalError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    request: dict[str, Any] = {
        "model": args.model,
        "training_file": training_file,
        "n_epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "lora": True,
        "lora_r": args.lora_r,
        "lora_alpha": args.lora_alpha,
        "lora_dropout": args.lora_dropout,
        "lora_trainable_modules": args.lora_modules,
        "suffix": args.suffix,
        "train_on_inputs": "auto",
    }
    if validation_file:
        request["validation_file"] = validation_file
        request["n_evals"] = 1
    return request


def check_limits(limits: Any, request: dict[str, Any]) -> None:
    """Refuse a request the model's fine-tuning limits would reject, before anything is uploaded."""
    model = request["model"]
    lora = getattr(limits, "lora_training", None)
    if lora is None:
        raise GerbilEvalError(f"{model}: Together offers no LoRA fine-tuning for this model")
    problems = []
    if request["lora_r"] > lora.max_rank:
        problems.append(f"--lora-r {request['lora_r']} > max rank {lora.max_rank}")
    if not lora.min_batch_size <= request["batch_size"] <= lora.max_batch_size:
        problems.append(f"--batch-size {request['batch_size']} outside [{lora.min_batch_size}, {lora.max_batch_size}]")
    if request["n_epochs"] > limits.max_num_epochs:
        problems.append(f"--epochs {request['n_epochs']} > max {limits.max_num_epochs}")
    if not limits.min_learning_rate <= request["learning_rate"] <= limits.max_learning_rate:
        problems.append(f"--learning-rate {request['learning_rate']} outside [{limits.min_learning_rate}, {limits.max_learning_rate}]")
    if problems:
        raise GerbilEvalError(f"{model} fine-tuning limits: " + "; ".join(problems))


def default_training_file(workdir: Path) -> Path:
    return Path(workdir) / DATA_SUBDIR / TOGETHER_FILE


def apply_backend_defaults(args: argparse.Namespace) -> None:
    """Learning rate and batch size default differently: Together's full-size GPUs vs a LoRA on a CPU."""
    from .local.cli import LOCAL_BATCH_SIZE, LOCAL_LEARNING_RATE

    local = args.backend == "local"
    if args.learning_rate is None:
        args.learning_rate = LOCAL_LEARNING_RATE if local else 1e-5
    if args.batch_size is None:
        args.batch_size = LOCAL_BATCH_SIZE if local else 8


def training_system_prompt(training: Path) -> str | None:
    """The system prompt the data builder recorded in the manifest beside ``training`` (None without one)."""
    manifest = training.parent / MANIFEST
    try:
        prompt = json.loads(manifest.read_text(encoding="utf-8")).get("options", {}).get("system_prompt")
    except (OSError, ValueError, AttributeError):
        return None
    return prompt if isinstance(prompt, str) else None


def run(args: argparse.Namespace) -> int:
    apply_backend_defaults(args)
    training = args.training_file or default_training_file(args.workdir)
    if args.backend == "local":
        from .local.cli import run_local

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


def start_job(args: argparse.Namespace, state: PipelineState, training: Path, validation: Path | None) -> None:
    """Check limits, upload (skipped when this exact file was uploaded already), create the job, save state."""
    from .together_api import make_client, together_errors

    client, key = make_client(args.api_key_file)
    probe = build_job_request(args, "file-pending", None)
    with together_errors(f"fine-tuning limits of {args.model}", key):
        limits = client.fine_tuning.model_limits(model_name=args.model)
    check_limits(limits, probe)
    sha = sha256_file(training)
    if state.file_id and state.training_file_sha256 == sha:
        print(f"training file already uploaded as {state.file_id}")
    else:
        with together_errors(f"upload of {training}", key):
            state.file_id = client.files.upload(training, purpose="fine-tune", check=True).id
        state.training_file, state.training_file_sha256 = str(training), sha
        state.system_prompt = training_system_prompt(training)
        save_state(args.workdir, state)  # a failed job creation below must not cost another upload
        print(f"uploaded {training} as {state.file_id}")
    validation_id = None
    if validation is not None:
        with together_errors(f"upload of {validation}", key):
            validation_id = client.files.upload(validation, purpose="fine-tune", check=True).id
    request = build_job_request(args, state.file_id, validation_id)
    with together_errors("fine-tuning job creation", key):
        job = client.fine_tuning.create(**request, model_limits=limits)
    state.base_model, state.job_id, state.job_status = args.model, safe_name(job.id, "job id from the API"), str(job.status)
    state.output_name = getattr(job, "x_model_output_name", None) or getattr(job, "output_name", None)
    state.backend = "together"
    state.mark_done("train")
    save_state(args.workdir, state)
    print(f"started fine-tuning job {job.id} ({job.status}); follow it with: python -m pipeline status --watch --workdir {args.workdir}")
