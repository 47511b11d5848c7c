"""The LoRA training loop: seeded order, assistant-only loss, checkpoints, resume.

A plain loop rather than TRL's ``SFTTrainer``: what this project needs beyond
``loss.backward()`` is an assistant-only mask with the base's template (``examples.py``),
checkpoints a later run resumes bit for bit, and a hook that scores each checkpoint with the
harness and keeps the best by that score. Each of those would be a callback or subclass
fighting the trainer's own bookkeeping, and TRL would add ``datasets`` and ``accelerate``
for a loop of a hundred lines.

Determinism: the example order of epoch ``e`` is ``randperm(n, seed + e)`` and step ``s``
takes the next ``batch_size * gradient_accumulation_steps`` examples of that stream, so a
resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import write_json_atomic

from .examples import IGNORE, TokenizedExample

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER = "optimizer.pt"
#: LoRA targets `pipeline convert` can write (the llama/qwen2 projections).
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights; a checkpoint resumes only under the same config."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_modules: tuple[str, ...] = ALL_LINEAR
    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_seq_length: int = 512
    seed: int = 0
    max_steps: int | None = None
    warmup_steps: int = 0

    def total_steps(self, n_examples: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return self.epochs * math.ceil(n_examples / (self.batch_size * self.gradient_accumulation_steps))


@dataclass
class Progress:
    """The loop's record, saved with every checkpoint (``trainer_state.json``)."""

    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per optimizer step
    evals: list[dict[str, Any]] = field(default_factory=list)      # one entry per scored checkpoint
    train_seconds: float = 0.0
    tokens: int = 0


#: Called with (step, adapter folder) after a checkpoint is saved; returns the harness's record or None.
Evaluator = Callable[[int, Path], "dict[str, Any] | None"]


def lora_model(model: Any, config: TrainConfig, base_name: str) -> Any:
    """The base wrapped with fresh LoRA layers (PEFT), seeded, recording ``base_name`` for the converter."""
    import peft
    import torch

    unknown = sorted(set(config.lora_modules) - set(ALL_LINEAR))
    if unknown:
        raise GerbilEvalError(f"--lora-modules: {', '.join(unknown)} cannot be converted to GGUF; "
                              f"choose among {', '.join(ALL_LINEAR)} or all-linear")
    torch.manual_seed(config.seed)  # PEFT draws lora_A from the global generator
    lora = peft.get_peft_model(model, peft.LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_modules), task_type="CAUSAL_LM"))
    lora.peft_config["default"].base_model_name_or_path = base_name
    return lora


def example_order(n: int, seed: int, start: int, count: int) -> list[int]:
    """Indices ``start .. start+count`` of the endless stream of seeded per-epoch permutations."""
    import torch

    out: list[int] = []
    position = start
    while len(out) < count:
        epoch, offset = divmod(position, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        take = perm[offset: offset + count - len(out)]
        out += take
        position += len(take)
    return out


#: Batch widths are rounded up to a multiple of this: CPU kernels (oneDNN) are built per shape, and
#: a new width every step rebuilds them every step.
PAD_MULTIPLE = 64


def collate(batch: Sequence[TokenizedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    import torch

    longest = max(len(e.input_ids) for e in batch)
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
        mask[row, : len(e.input_ids)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def token_loss_sum(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """Summed cross-entropy over the labelled (assistant) tokens, and how many there were."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    shifted, targets = logits[:, :-1].float(), batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(shifted.reshape(-1, shifted.size(-1)), targets.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")
    return loss, int((targets != IGNORE).sum())


def learning_rate_at(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then linear decay to zero at ``total``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    remaining = max(total - config.warmup_steps, 1)
    return config.learning_rate * max(0.0, 1 - (step - config.warmup_steps) / remaining)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = sorted((out_dir / CHECKPOINTS).glob("step-*"), key=lambda p: p.name)
    return found[-1] if found else None


def save_checkpoint(model: Any, optimizer: Any, progress: Progress, config: TrainConfig, out_dir: Path) -> Path:
    """``checkpoints/step-NNNNNN/``: PEFT adapter + optimizer + trainer state, renamed into place whole."""
    import torch

    final = out_dir / CHECKPOINTS / f"step-{progress.step:06d}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    torch.save(optimizer.state_dict(), partial / OPTIMIZER)
    write_json_atomic(partial / TRAINER_STATE, {"config": _config_doc(config), **asdict(progress),
                                                "rng": torch.get_rng_state().tolist()})
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def _config_doc(config: TrainConfig) -> dict[str, Any]:
    doc = asdict(config)
    doc["lora_modules"] = list(config.lora_modules)
    return doc


def load_checkpoint(checkpoint: Path, model: Any, optimizer: Any, config: TrainConfig) -> Progress:
    """Restore adapter weights, optimizer moments and the loop's record from ``checkpoint``."""
    import peft
    import torch
    from safetensors.torch import load_file

    try:
        doc = json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GerbilEvalError(f"{checkpoint}: unreadable checkpoint ({exc}); delete it or pass --force") from None
    if doc.get("config") != _config_doc(config):
        changed = sorted(k for k, v in _config_doc(config).items() if doc.get("config", {}).get(k) != v)
        raise GerbilEvalError(f"{checkpoint}: saved with different settings ({', '.join(changed)}); "
                              "rerun with the same flags to resume, or pass --force to start over")
    peft.set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
    optimizer.load_state_dict(torch.load(checkpoint / OPTIMIZER, weights_only=True))
    torch.set_rng_state(torch.tensor(doc["rng"], dtype=torch.uint8))
    return Progress(step=doc["step"], history=doc["history"], evals=doc["evals"],
                    train_seconds=doc["train_seconds"], tokens=doc["tokens"])


def prune_checkpoints(out_dir: Path, keep: set[Path]) -> None:
    """Keep the newest checkpoint (for resuming) and those in ``keep`` (the best one); remove the rest."""
    latest = latest_checkpoint(out_dir)
    for path in (out_dir / CHECKPOINTS).glob("step-*"):
        if path != latest and path not in keep:
            shutil.rmtree(path, ignore_errors=True)


def train(model: Any, examples: Sequence[TokenizedExample], config: TrainConfig, out_dir: Path, *,
          pad_id: int, device: str = "cpu", autocast: Any = None, save_every: int = 0,
          eval_every: int = 0, evaluate: Evaluator | None = None, resume: bool = True,
          progress_bar: bool = True, keep: Callable[[Progress], set[Path]] = lambda p: set()) -> Progress:
    """Train ``model`` (already LoRA-wrapped) and return the loop's record.

    A checkpoint is written every ``save_every`` steps, at every ``eval_every`` step (where
    ``evaluate`` scores it), at the end, and when the run is interrupted with Ctrl-C.
    """
    import torch
    from tqdm import tqdm

    total = config.total_steps(len(examples))
    per_step = config.batch_size * config.gradient_accumulation_steps
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    progress = Progress()
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        progress = load_checkpoint(checkpoint, model, optimizer, config)
        print(f"resuming from {checkpoint} (step {progress.step} of {total})", flush=True)
    bar = tqdm(total=total, initial=progress.step, unit="step", disable=not progress_bar, dynamic_ncols=True)
    try:
        while progress.step < total:
            started = time.perf_counter()
            order = example_order(len(examples), config.seed, progress.step * per_step, per_step)
            micro = [collate([examples[i] for i in order[k: k + config.batch_size]], pad_id)
                     for k in range(0, per_step, config.batch_size)]
            n_trained = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(progress.step, total, config)
            loss_total = 0.0
            for batch in micro:
                batch = {k: v.to(device) for k, v in batch.items()}
                with torch.autocast(device_type=device, dtype=autocast or torch.float32, enabled=autocast is not None):
                    loss_sum, _ = token_loss_sum(model, batch)
                (loss_sum / n_trained).backward()
                loss_total += float(loss_sum.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - started
            tokens = sum(int(b["attention_mask"].sum()) for b in micro)
            progress.step += 1
            progress.tokens += tokens
            progress.train_seconds += seconds
            loss = loss_total / n_trained
            progress.history.append({"step": progress.step, "loss": loss, "lr": optimizer.param_groups[0]["lr"],
                                     "tokens": tokens, "seconds": seconds})
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens / seconds:.0f}")
            bar.update(1)
            is_eval = bool(eval_every and evaluate and progress.step % eval_every == 0)
            if is_eval or progress.step == total or (save_every and progress.step % save_every == 0):
                saved = save_checkpoint(model, optimizer, progress, config, out_dir)
                if is_eval:
                    record = evaluate(progress.step, saved)
                    if record is not None:
                        progress.evals.append(record)
                        save_checkpoint(model, optimizer, progress, config, out_dir)  # the score travels with it
                prune_checkpoints(out_dir, keep(progress))
    except KeyboardInterrupt:
        if progress.step and (latest_checkpoint(out_dir) or out_dir).name != f"step-{progress.step:06d}":
            save_checkpoint(model, optimizer, progress, config, out_dir)
        bar.close()
        print(f"\ninterrupted at step {progress.step}; run the same command again to resume", flush=True)
        raise
    bar.close()
    return progress
