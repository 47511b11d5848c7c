"""``python -m pipeline train --backend local``: LoRA on this machine, recorded like a Together job.

The options shared with the Together backend keep their names (``--epochs``,
``--learning-rate``, ``--batch-size``, ``--lora-r``, ...); the ones only a local loop has
(``--max-steps``, ``--device``, ``--eval-every``, ...) are added here. The result lands
in the same ``pipeline-state.json`` fields the Together path fills (``base_model``,
``adapter_dir``, ``job_status``, the ``train`` step), so ``pipeline convert`` / ``deploy`` /
``run`` continue unchanged; local-only facts go to ``training`` and ``checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import sha256_file

from ..state import load_state, save_state
from .loop import ALL_LINEAR, CHECKPOINTS, TrainConfig

LOCAL_DIR = "local-train"
ADAPTER_SUBDIR = "adapter"
BASE_CONFIG = "base-config.json"
LOCAL_LEARNING_RATE = 2e-4
LOCAL_BATCH_SIZE = 4


def add_local_arguments(p: argparse.ArgumentParser) -> None:
    """Options only the local backend has; the shared ones live in ``pipeline.commands.train``."""
    g = p.add_argument_group("local backend (--backend local)")
    g.add_argument("--base", type=Path, default=None,
                   help="base model: a .gguf file or a Hugging Face folder (default: the embedded SmolLM2-135M-Instruct GGUF)")
    g.add_argument("--max-steps", type=int, default=None, metavar="N", help="optimizer steps; overrides --epochs")
    g.add_argument("--gradient-accumulation-steps", type=int, default=1, metavar="N",
                   help="micro-batches per optimizer step (default 1)")
    g.add_argument("--max-seq-length", type=int, default=512, metavar="N",
                   help="tokens per example; longer ones are cut (default 512)")
    g.add_argument("--warmup-steps", type=int, default=0, metavar="N", help="linear learning-rate warm-up (default 0)")
    g.add_argument("--seed", type=int, default=0, help="example order and LoRA initialisation (default 0)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto = CUDA when available, else CPU; bf16/fp16 autocast where the hardware has it")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: every usable core; idle threads sleep instead of spinning)")
    g.add_argument("--precision", choices=("auto", "fp32"), default="auto",
                   help="auto = bf16 (or fp16) matmuls where supported, weights and optimizer in fp32; fp32 = none")
    g.add_argument("--save-every", type=int, default=50, metavar="N", help="checkpoint every N steps (default 50; 0 = only at the end)")
    g.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="score every N-th checkpoint with the harness (base GGUF + converted adapter, served); 0 = never")
    g.add_argument("--eval-cases", type=Path, default=Path("cases"), metavar="PATH", help="cases for --eval-every (default cases/)")
    g.add_argument("--eval-k", default=None, metavar="EXPR", help="pytest -k expression choosing the --eval-every subset")
    g.add_argument("--eval-max-tokens", type=int, default=256, metavar="N", help="max answer tokens in --eval-every runs (default 256)")
    g.add_argument("--eval-gguf", type=Path, default=None,
                   help="base GGUF served for --eval-every when --base is a Hugging Face folder")
    g.add_argument("--keep-best", action="store_true",
                   help="final adapter = the checkpoint with the best harness score (needs --eval-every), not the last one")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The loop's settings from the command line; a bad value is one line naming its flag."""
    for flag in ("epochs", "batch_size", "lora_r", "lora_alpha", "gradient_accumulation_steps", "max_seq_length"):
        if getattr(args, flag) < 1:
            raise GerbilEvalError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    for flag in ("max_steps", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise GerbilEvalError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    for flag in ("warmup_steps", "save_every", "eval_every"):
        if getattr(args, flag) < 0:
            raise GerbilEvalError(f"--{flag.replace('_', '-')} must be 0 or more, got {getattr(args, flag)}")
    if not 0 <= args.lora_dropout < 1:
        raise GerbilEvalError(f"--lora-dropout must be in [0, 1), got {args.lora_dropout}")
    if not args.learning_rate > 0:
        raise GerbilEvalError(f"--learning-rate must be positive, got {args.learning_rate}")
    if args.keep_best and not args.eval_every:
        raise GerbilEvalError("--keep-best chooses by harness score: it needs --eval-every N")
    modules = ALL_LINEAR if args.lora_modules == "all-linear" else tuple(m.strip() for m in args.lora_modules.split(",") if m.strip())
    return TrainConfig(
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, lora_modules=modules,
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps, max_seq_length=args.max_seq_length,
        seed=args.seed, max_steps=args.max_steps, warmup_steps=args.warmup_steps,
    )


def count_records(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def dry_run(args: argparse.Namespace, config: TrainConfig, training: Path) -> int:
    """Print the local plan: base, device choice, settings, step count; loads nothing."""
    n = count_records(training) if training.is_file() else None
    steps = config.max_steps or (config.total_steps(n) if n else f"{config.epochs} epochs x ceil(examples / "
                                                                  f"{config.batch_size * config.gradient_accumulation_steps})")
    out = Path(args.workdir) / LOCAL_DIR
    print("dry run: would train a LoRA adapter on this machine:")
    print(json.dumps({
        "base": str(args.base) if args.base else "embedded SmolLM2-135M-Instruct GGUF",
        "training_file": str(training) + ("" if n is not None else " (does not exist yet)"),
        "examples": n, "steps": steps, "device": args.device, "precision": args.precision,
        "config": {**asdict(config), "lora_modules": list(config.lora_modules)},
        "checkpoints": f"{out / CHECKPOINTS}/step-NNNNNN every {args.save_every or 'end only'} steps",
        "eval_every": args.eval_every or None, "eval_cases": str(args.eval_cases) if args.eval_every else None,
        "keep_best": args.keep_best, "adapter": str(out / ADAPTER_SUBDIR),
    }, indent=2))
    return 0


def run_local(args: argparse.Namespace, training: Path) -> int:
    """Train, keep the chosen checkpoint as ``WORKDIR/local-train/adapter``, record it in the state."""
    config = build_config(args)
    if args.validation_file is not None:
        raise GerbilEvalError("--validation-file is used by the Together backend only; the local backend scores "
                              "checkpoints with the harness instead (--eval-every)")
    if args.dry_run:
        return dry_run(args, config, training)
    if not training.is_file():
        raise GerbilEvalError(f"{training}: no training file; run `python -m pipeline data -o {training.parent}` first or pass --training-file")
    state = load_state(args.workdir)
    out = Path(args.workdir) / LOCAL_DIR
    if "train" in state.completed_steps and not args.force:
        raise GerbilEvalError(f"{args.workdir}: already trained ({state.adapter_dir}); pass --force to train again")
    if args.force:
        shutil.rmtree(out, ignore_errors=True)
        state.checkpoints = []
        state.completed_steps = [s for s in state.completed_steps if s == "data"]

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read at import: the base is local, the hub is never needed
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep instead of spinning
    import torch

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` checkpoints like Ctrl-C does
    from .base import autocast_dtype, load_base, pick_device, resolve_base
    from .examples import tokenize_file
    from .loop import lora_model, peak_rss_mb, train

    spec = resolve_base(args.base)
    device = pick_device(args.device)
    evaluator = make_evaluator(args, spec, out) if args.eval_every else None
    print(f"loading {spec.gguf_path or spec.folder} ...", flush=True)
    tokenizer, model = load_base(spec)
    out.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(out / BASE_CONFIG)
    examples = tokenize_file(tokenizer, training, config.max_seq_length)
    print(f"{len(examples)} examples, {config.total_steps(len(examples))} steps on {device}", flush=True)
    state.backend, state.base_model = "local", spec.name
    state.training_file, state.training_file_sha256 = str(training), sha256_file(training)
    state.job_status = "running"
    if evaluator is not None and not any(c["step"] == 0 for c in state.checkpoints):
        print("scoring the base with the harness (step 0) ...", flush=True)
        state.checkpoints.append({**evaluator.score_base(), "path": None})
    save_state(args.workdir, state)

    def keep(progress: Any) -> set[Path]:
        best = best_eval(progress.evals) if args.keep_best else None
        return {out / CHECKPOINTS / f"step-{best['step']:06d}"} if best else set()

    def evaluate(step: int, folder: Path) -> dict[str, Any]:
        record = evaluator(step, folder)
        current = load_state(args.workdir)
        current.checkpoints = [c for c in current.checkpoints if c["step"] != step] + [{**record, "path": str(folder)}]
        save_state(args.workdir, current)  # each score is on disk as soon as it exists
        print(f"\nstep {step}: harness mean score {record['mean_score']:.3f}, pass rate {record['pass_rate']:.2f}", flush=True)
        return record

    lora = lora_model(model, config, spec.name)
    started = time.perf_counter()
    progress = train(lora, examples, config, out, pad_id=tokenizer.pad_token_id, device=device,
                     autocast=autocast_dtype(device) if args.precision == "auto" else None,
                     save_every=args.save_every, eval_every=args.eval_every, evaluate=evaluate if evaluator else None,
                     progress_bar=not args.no_progress, keep=keep)
    chosen = choose_checkpoint(out, progress.evals if args.keep_best else [])
    adapter = publish_adapter(chosen, out / ADAPTER_SUBDIR)
    state = load_state(args.workdir)
    state.adapter_dir, state.job_status = str(adapter), "completed"
    state.training = training_summary(progress, config, device, started, chosen, peak_rss_mb())
    state.mark_done("train")
    save_state(args.workdir, state)
    from .report import write_training_report

    page = write_training_report(out / "training.html", state)
    print(f"adapter: {adapter} (from {chosen.name}); training report: {page}")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def make_evaluator(args: argparse.Namespace, spec: Any, out: Path) -> Any:
    from .checkpoint_eval import HarnessEval

    gguf = args.eval_gguf or spec.gguf_path
    if gguf is None:
        raise GerbilEvalError("--eval-every serves the base with llama.cpp: pass --eval-gguf with the base's GGUF")
    if not args.eval_cases.exists():
        raise GerbilEvalError(f"--eval-cases {args.eval_cases}: no such file or folder")
    return HarnessEval(base_gguf=gguf, cases=args.eval_cases, out_dir=out / "evals", max_tokens=args.eval_max_tokens,
                       select=args.eval_k, base_config=out / BASE_CONFIG)


def best_eval(evals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Highest harness mean score; on a tie the earlier (less trained) checkpoint."""
    return max(evals, key=lambda e: (e["mean_score"], -e["step"]), default=None)


def choose_checkpoint(out: Path, evals: list[dict[str, Any]]) -> Path:
    best = best_eval(evals)
    if best is not None:
        return out / CHECKPOINTS / f"step-{best['step']:06d}"
    from .loop import latest_checkpoint

    latest = latest_checkpoint(out)
    if latest is None:
        raise GerbilEvalError(f"{out / CHECKPOINTS}: no checkpoint was written")
    return latest


def publish_adapter(checkpoint: Path, target: Path) -> Path:
    """Copy the checkpoint's PEFT files (config + weights only) to ``target``, replacing it whole."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(checkpoint / name, partial / name)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def training_summary(progress: Any, config: TrainConfig, device: str, started: float, chosen: Path,
                     peak_mb: float) -> dict[str, Any]:
    """What the state records about the run: sizes, speed, memory, the loss curve."""
    return {
        "steps": progress.step, "tokens": progress.tokens, "train_seconds": round(progress.train_seconds, 1),
        "wall_seconds_this_session": round(time.perf_counter() - started, 1),
        "tokens_per_s": round(progress.tokens / progress.train_seconds, 1) if progress.train_seconds else None,
        "peak_rss_mb": round(peak_mb), "device": device, "adapter_from": chosen.name,
        "final_loss": progress.history[-1]["loss"] if progress.history else None,
        "loss": [[h["step"], round(h["loss"], 4)] for h in progress.history],
        "config": {**asdict(config), "lora_modules": list(config.lora_modules)},
    }
