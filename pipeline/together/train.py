"""A LoRA fine-tune on Together: check the model's limits, upload the training file, create the job.

The ``pipeline train`` command (``pipeline/commands/train.py``) calls :func:`start_job` for
``--backend together``. The request is built by one plain function (:func:`build_job_request`) so
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

from ..data.build import MANIFEST
from ..state import PipelineState, save_state

DEFAULT_BASE = "Qwen/Qwen2.5-7B-Instruct"
DATA_SUBDIR = "data"
TOGETHER_FILE = "training_data_together.jsonl"


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


def training_system_prompt(training: Path) -> str | None:
    """The system prompt the data builder recorded in the manifest beside ``training`` (None without one)."""
    manifest = training.parent / MANIFEST
    try:
        prompt = json.loads(manifest.read_text(encoding="utf-8")).get("options", {}).get("system_prompt")
    except (OSError, ValueError, AttributeError):
        return None
    return prompt if isinstance(prompt, str) else None


def start_job(args: argparse.Namespace, state: PipelineState, training: Path, validation: Path | None) -> None:
    """Check limits, upload (skipped when this exact file was uploaded already), create the job, save state."""
    from .api import make_client, together_errors

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
