"""``pipeline train --backend local`` on tiny random llama and qwen2 models (seconds each).

Every test drives the real command (``python -m pipeline train``) on a Hugging Face folder
written by ``tests/tiny_models.py``, and reads back what a user would: the state file, the
PEFT adapter folder, the GGUF the converter writes, llama.cpp's logits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.__main__ import main as pipeline_main
from pipeline.state import load_state

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from pipeline.local.examples import IGNORE, tokenize_conversation  # noqa: E402  (needs torch's stack)
from tests.tiny_models import byte_tokenizer, save_tiny_model  # noqa: E402

FAMILIES = ("llama", "qwen2")
CONVERSATIONS = [
    [{"role": "system", "content": "You answer in Gerbil Scheme."},
     {"role": "user", "content": "Make a hash table."},
     {"role": "assistant", "content": "(def h (make-hash-table))"}],
    [{"role": "user", "content": "Look up a key with a default."},
     {"role": "assistant", "content": "(hash-ref h 'k 0)"},
     {"role": "user", "content": "And without one?"},
     {"role": "assistant", "content": "(hash-get h 'k)"}],
]


def write_training_file(path: Path, conversations=CONVERSATIONS) -> Path:
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in conversations), encoding="utf-8")
    return path


def train_args(base: Path, workdir: Path, training: Path, *extra: str) -> list[str]:
    return ["train", "--backend", "local", "--base", str(base), "--workdir", str(workdir), "--training-file", str(training),
            "--learning-rate", "5e-2", "--batch-size", "2", "--precision", "fp32", "--threads", "1", "--no-progress", *extra]


def adapter_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_only_assistant_tokens_carry_loss():
    """A crafted two-turn conversation: the labelled tokens are exactly both answers and their end markers."""
    tokenizer = byte_tokenizer()
    example = tokenize_conversation(tokenizer, CONVERSATIONS[1], max_length=1024)
    assert len(example.input_ids) == len(example.labels)
    labelled = [t for t in example.labels if t != IGNORE]
    assert tokenizer.decode(labelled) == "(hash-ref h 'k 0)<|im_end|>\n(hash-get h 'k)<|im_end|>\n"
    # and each labelled token predicts itself at its own position (labels are not shifted copies)
    assert all(l == i for l, i in zip(example.labels, example.input_ids) if l != IGNORE)
    masked = tokenizer.decode([i for i, l in zip(example.input_ids, example.labels) if l == IGNORE])
    assert "Look up a key" in masked and "And without one?" in masked and "hash-ref" not in masked


def test_truncation_keeps_labels_aligned():
    tokenizer = byte_tokenizer()
    full = tokenize_conversation(tokenizer, CONVERSATIONS[0], max_length=1024)
    cut = tokenize_conversation(tokenizer, CONVERSATIONS[0], max_length=len(full.input_ids) - 5)
    assert cut.input_ids == full.input_ids[:-5] and cut.labels == full.labels[:-5]


@pytest.mark.parametrize("family", FAMILIES)
def test_training_changes_the_adapter_and_lowers_the_loss_on_a_repeated_batch(family, tmp_path):
    base = save_tiny_model(family, tmp_path / "model")
    training = write_training_file(tmp_path / "train.jsonl")  # 2 examples = one batch, seen every step
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "30", "--save-every", "0")) == 0
    state = load_state(tmp_path / "run")
    assert state.backend == "local" and "train" in state.completed_steps and state.job_status == "completed"
    losses = [loss for _, loss in state.training["loss"]]
    assert len(losses) == 30
    assert losses[-1] < 0.75 * losses[0], losses  # memorising one batch (lr 0 would keep it flat)
    adapter = Path(state.adapter_dir)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32
    tensors = adapter_tensors(adapter)
    lora_b = [v for k, v in tensors.items() if "lora_B" in k]
    assert len(lora_b) == 2 * 7  # every layer, every all-linear projection
    assert all(float(v.abs().max()) > 0 for v in lora_b)  # PEFT starts B at zero: training moved every one


def test_lora_settings_reach_the_adapter(tmp_path):
    base = save_tiny_model("qwen2", tmp_path / "model")
    training = write_training_file(tmp_path / "train.jsonl")
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "1", "--lora-r", "4",
                                    "--lora-alpha", "8", "--lora-modules", "q_proj,v_proj")) == 0
    adapter = Path(load_state(tmp_path / "run").adapter_dir)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (4, 8, ["q_proj", "v_proj"])
    assert {k.split(".")[-3] for k in adapter_tensors(adapter)} == {"q_proj", "v_proj"}


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    base = save_tiny_model("llama", tmp_path / "model")
    training = write_training_file(tmp_path / "train.jsonl")
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--lora-modules", "lm_head")) == 4
    assert "--lora-modules: lm_head cannot be converted" in capsys.readouterr().err
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--keep-best")) == 4
    assert "--keep-best" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert pipeline_main(train_args(base, tmp_path / "run", tmp_path / "bad.jsonl")) == 4
    assert "bad.jsonl: line 1: no assistant message" in capsys.readouterr().err


@pytest.mark.slow  # 3 runs of 100 steps, two in fresh processes: 29.5 s on the loaded 2-core machine; the others ≤ 1.6 s
def test_resume_after_interruption_continues_from_the_saved_step(tmp_path):
    """Ctrl-C mid-run saves a checkpoint; the same command resumes there and ends with the
    weights an uninterrupted run gets (same batches, same optimizer moments)."""
    base = save_tiny_model("llama", tmp_path / "model")
    conversations = CONVERSATIONS * 4  # 8 examples: each step draws a different batch from the seeded order
    training = write_training_file(tmp_path / "train.jsonl", conversations)
    steps = "100"
    args = train_args(base, tmp_path / "interrupted", training, "--max-steps", steps, "--save-every", "5")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoints = tmp_path / "interrupted" / "local-train" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("step-*[0-9]")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    stopped = int(out.split("interrupted at step ")[1].split(";")[0])
    assert 0 < stopped < int(steps), out
    assert "train" not in load_state(tmp_path / "interrupted").completed_steps

    resumed = subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {checkpoints}/step-{stopped:06d} (step {stopped} of {steps})" in resumed.stdout
    state = load_state(tmp_path / "interrupted")
    assert state.training["steps"] == int(steps) and len(state.training["loss"]) == int(steps)

    assert pipeline_main(train_args(base, tmp_path / "straight", training, "--max-steps", steps, "--save-every", "0")) == 0
    straight = adapter_tensors(Path(load_state(tmp_path / "straight").adapter_dir))
    for name, value in adapter_tensors(Path(state.adapter_dir)).items():
        assert torch.allclose(value, straight[name], atol=1e-5), name


def test_resume_refuses_a_checkpoint_made_with_other_settings(tmp_path, capsys):
    base = save_tiny_model("qwen2", tmp_path / "model")
    training = write_training_file(tmp_path / "train.jsonl")
    checkpoints = tmp_path / "run" / "local-train" / "checkpoints"
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "2", "--save-every", "1")) == 0
    state = load_state(tmp_path / "run")
    state.completed_steps.remove("train")  # as if the run had stopped after its last checkpoint
    from pipeline.state import save_state

    save_state(tmp_path / "run", state)
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "2", "--lora-r", "8")) == 4
    err = capsys.readouterr().err
    assert f"{checkpoints}/step-000002: saved with different settings (lora_r)" in err and "--force" in err
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "2", "--lora-r", "8", "--force")) == 0


@pytest.mark.slow  # llama.cpp
def test_trained_qwen2_adapter_converts_and_llama_cpp_applies_it(tmp_path):
    """The folder the trainer writes goes through `pipeline convert` as is; llama.cpp with the
    GGUF adapter gives the logits PEFT gives with the folder."""
    pytest.importorskip("llama_cpp")
    import numpy as np

    from tests.test_convert_equivalence import llama_logits, pearson, write_gguf_base

    base = save_tiny_model("qwen2", tmp_path / "model")
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    write_gguf_base(model, tmp_path / "base.gguf")
    training = write_training_file(tmp_path / "train.jsonl")
    assert pipeline_main(train_args(base, tmp_path / "run", training, "--max-steps", "10")) == 0
    adapter = Path(load_state(tmp_path / "run").adapter_dir)
    out = tmp_path / "adapter.gguf"
    assert pipeline_main(["convert", str(adapter), "-o", str(out), "--base-config", str(base / "config.json")]) == 0

    ids = [byte_tokenizer()("(hash-ref h")["input_ids"], [5, 17, 99, 3, 42]]
    tuned = peft.PeftModel.from_pretrained(model, adapter).eval()
    with torch.no_grad():
        expected = [tuned(torch.tensor([i])).logits[0, -1].double().numpy() for i in ids]
    with torch.no_grad(), tuned.disable_adapter():
        base_hf = [tuned(torch.tensor([i])).logits[0, -1].double().numpy() for i in ids]
    got = llama_logits(tmp_path / "base.gguf", ids, out)
    for theirs, ours, plain in zip(expected, got, base_hf):
        assert np.abs(theirs - plain).max() > 20 * np.abs(ours - theirs).max()  # training moved the logits
        assert ours.argmax() == theirs.argmax() and pearson(ours, theirs) >= 0.999


def test_pipeline_run_dry_run_shows_the_local_plan(tmp_path, capfd):
    """No watch/download for a local run; the train step prints its plan; nothing is written."""
    workdir = tmp_path / "run"
    assert pipeline_main(["run", "--backend", "local", "--workdir", str(workdir), "--dry-run", "--cookbook", "c.json",
                          "--docs", "docs", "--train-args", "--max-steps 7 --eval-every 5 --keep-best"]) == 0
    out = capfd.readouterr().out
    steps = [line.split(":")[0] for line in out.splitlines() if line.startswith("==> ")]
    assert steps == ["==> data", "==> train", "==> convert", "==> deploy", "==> gate"]
    assert "dry run: would train a LoRA adapter on this machine" in out
    plan = json.loads(out.split("on this machine:\n", 1)[1].split("\n==> ", 1)[0])
    assert (plan["steps"], plan["eval_every"], plan["keep_best"], plan["config"]["learning_rate"]) == (7, 5, True, 2e-4)
    assert f"--train-data {workdir}/data/training_data_together.jsonl" in out  # the report will say which cases were seen
    assert "--alias gerbil-smollm2-135m-instruct " in out and "gerbil-qwen" not in out  # named after its base
    assert not workdir.exists()
