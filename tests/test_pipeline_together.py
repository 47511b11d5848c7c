"""The Together steps (train, status, download) against a local stand-in of the Together REST API.

The stand-in (tests/together_standin.py) follows the documented endpoints the
``together`` SDK calls; the SDK is pointed at it with ``$TOGETHER_BASE_URL``.
Commands run as subprocesses, exactly as a user runs them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from tests.together_standin import TogetherStandIn

KEY = "tg-secret-0123456789abcdef"
TRAINING_LINE = {"messages": [{"role": "system", "content": "You are a Gerbil expert."},
                              {"role": "user", "content": "How do I iterate a hash table?"},
                              {"role": "assistant", "content": "Use `(hash-for-each (lambda (k v) ...) h)`."}]}


@pytest.fixture
def standin():
    server = TogetherStandIn(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    (data / "training_data_together.jsonl").write_text(json.dumps(TRAINING_LINE) + "\n")
    return tmp_path / "run"


def pipeline(standin: TogetherStandIn, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOGETHER_API_KEY"}
    env["TOGETHER_BASE_URL"] = standin.base_url
    if key is not None:
        env["TOGETHER_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True, timeout=120)


def state(workdir: Path) -> dict:
    return json.loads((workdir / "pipeline-state.json").read_text())


def assert_no_secret(workdir: Path, *outputs: str) -> None:
    for path in workdir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    for text in outputs:
        assert KEY not in text


def test_train_checks_limits_uploads_and_creates_lora_job_with_explicit_rank_on_standin(standin, workdir) -> None:
    result = pipeline(standin, "train", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    calls = [(m, p) for m, p, _, _ in standin.requests]
    assert calls.index(("GET", "/v1/fine-tunes/models/limits")) < calls.index(("POST", "/v1/files"))
    assert standin.uploads["file-0001"] == (workdir / "data" / "training_data_together.jsonl").read_bytes()
    job = standin.jobs["ft-0001"]["request"]
    assert job["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert job["n_epochs"] == 3 and job["learning_rate"] == 1e-5 and job["batch_size"] == 8
    assert job["training_type"]["lora_r"] == 16 and job["training_type"]["lora_alpha"] == 32
    assert job["training_file"] == "file-0001"
    saved = state(workdir)
    assert saved["job_id"] == "ft-0001" and saved["file_id"] == "file-0001" and "train" in saved["completed_steps"]
    assert_no_secret(workdir, result.stdout, result.stderr)
    again = pipeline(standin, "train", "--workdir", str(workdir))
    assert again.returncode != 0 and "already started" in again.stderr  # no accidental second paid job


def test_train_refuses_limits_before_uploading_on_standin(standin, workdir) -> None:
    result = pipeline(standin, "train", "--workdir", str(workdir), "--lora-r", "128", "--batch-size", "4")
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "max rank 64" in result.stderr and "outside [8, 128]" in result.stderr
    assert not any(p == "/v1/files" for _, p, _, _ in standin.requests)


def test_train_dry_run_sends_nothing_and_needs_no_key(standin, workdir) -> None:
    result = pipeline(standin, "train", "--workdir", str(workdir), "--dry-run", key=None)
    assert result.returncode == 0, result.stderr
    request = json.loads(result.stdout[result.stdout.index("{"):])
    assert request["lora_r"] == 16 and request["lora_alpha"] == 32 and request["n_epochs"] == 3
    assert standin.requests == []
    assert not (workdir / "pipeline-state.json").exists()


def test_missing_and_rejected_keys_are_one_line_and_never_echoed(standin, workdir) -> None:
    missing = pipeline(standin, "train", "--workdir", str(workdir), key=None)
    assert missing.returncode == 4 and "TOGETHER_API_KEY" in missing.stderr and "Traceback" not in missing.stderr
    wrong = pipeline(standin, "train", "--workdir", str(workdir), key=KEY + "-wrong")
    assert wrong.returncode == 4 and "401" in wrong.stderr and wrong.stderr.count("\n") == 1
    assert KEY not in wrong.stderr and "Traceback" not in wrong.stderr


def test_status_watch_follows_the_job_to_completion_on_standin(standin, workdir) -> None:
    assert pipeline(standin, "train", "--workdir", str(workdir)).returncode == 0
    result = pipeline(standin, "status", "--watch", "--interval", "0.01", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    assert "ft-0001: completed" in result.stdout and "steps   40/40" in result.stdout
    assert state(workdir)["job_status"] == "completed"


def test_status_watch_exits_nonzero_with_the_error_events_on_standin(standin, workdir) -> None:
    standin.statuses = ["running", "error"]
    assert pipeline(standin, "train", "--workdir", str(workdir)).returncode == 0
    result = pipeline(standin, "status", "--watch", "--interval", "0.01", "--workdir", str(workdir))
    assert result.returncode == 1
    assert "ended error" in result.stderr and "CUDA out of memory during step 12" in result.stderr


def tar_zst(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(buf.getvalue())


def completed_job(standin: TogetherStandIn, workdir: Path) -> None:
    standin.statuses = ["completed"]
    assert pipeline(standin, "train", "--workdir", str(workdir)).returncode == 0
    assert pipeline(standin, "status", "--workdir", str(workdir)).returncode == 0


def test_download_asks_for_the_adapter_checkpoint_and_extracts_it_on_standin(standin, workdir) -> None:
    standin.archive = tar_zst({"model/adapter_config.json": b"{}", "model/adapter_model.safetensors": b"w"})
    completed_job(standin, workdir)
    result = pipeline(standin, "download", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    query = next(q for m, p, q, _ in standin.requests if p == "/v1/finetune/download")
    assert query["checkpoint"] == ["adapter"] and query["ft_id"] == ["ft-0001"]
    adapter_dir = Path(state(workdir)["adapter_dir"])
    assert (adapter_dir / "adapter_model.safetensors").read_bytes() == b"w"


def test_truncated_download_is_an_error_and_leaves_no_archive_on_standin(standin, workdir) -> None:
    standin.archive = tar_zst({"model/adapter_config.json": os.urandom(300_000)})
    standin.truncate = True
    completed_job(standin, workdir)
    result = pipeline(standin, "download", "--workdir", str(workdir))
    assert result.returncode == 4 and "truncated" in result.stderr, result.stderr
    assert not list(workdir.glob("*.tar")) and "adapter_dir" not in {k for k, v in state(workdir).items() if v}


def test_archive_with_parent_paths_is_refused_on_standin(standin, workdir) -> None:
    standin.archive = tar_zst({"../../evil.sh": b"rm -rf ~", "adapter_config.json": b"{}"})
    completed_job(standin, workdir)
    result = pipeline(standin, "download", "--workdir", str(workdir))
    assert result.returncode == 4 and "'..'" in result.stderr
    assert not (workdir.parent / "evil.sh").exists() and not (workdir.parent.parent / "evil.sh").exists()


def make_peft_adapter(out: Path) -> Path:
    """A real PEFT LoRA adapter on a tiny random Qwen2 model; returns the base config path."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    config = transformers.Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                                      max_position_embeddings=128)
    model = transformers.Qwen2ForCausalLM(config)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"])
    peft_model = peft.get_peft_model(model, lora)
    peft_model.save_pretrained(out / "adapter")
    config.save_pretrained(out / "base")
    return out / "base" / "config.json"


@pytest.mark.slow
def test_downloaded_real_peft_adapter_converts_to_gguf_on_standin(standin, workdir, tmp_path) -> None:
    gguf = pytest.importorskip("gguf")
    base_config = make_peft_adapter(tmp_path / "made")
    files = {f"ckpt/{p.name}": p.read_bytes() for p in (tmp_path / "made" / "adapter").iterdir() if p.is_file()}
    standin.archive = tar_zst(files)
    completed_job(standin, workdir)
    assert pipeline(standin, "download", "--workdir", str(workdir)).returncode == 0
    out = workdir / "adapter.gguf"
    result = pipeline(standin, "convert", state(workdir)["adapter_dir"], "-o", str(out), "--base-config", str(base_config))
    assert result.returncode == 0, result.stderr
    reader = gguf.GGUFReader(out)
    names = {t.name for t in reader.tensors}
    assert "blk.0.attn_q.weight.lora_a" in names and "blk.1.ffn_down.weight.lora_b" in names
    assert len(names) == 2 * 7 * 2


def test_invalid_training_file_is_refused_locally_naming_the_record(standin, workdir) -> None:
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "again"}]}
    with open(workdir / "data" / "training_data_together.jsonl", "a") as fh:
        fh.write(json.dumps(bad) + "\n")
    result = pipeline(standin, "train", "--workdir", str(workdir))
    assert result.returncode == 4 and "line 2" in result.stderr, result.stderr
    assert standin.requests == []


def test_an_sdk_check_failure_is_one_redacted_line() -> None:
    """The SDK's own file check raises FileTypeError with a multi-line report: one line, key never shown."""
    import together

    from gerbil_eval.errors import GerbilEvalError
    from pipeline.together.api import together_errors

    with pytest.raises(GerbilEvalError) as info:
        with together_errors("upload of data.jsonl", KEY):
            raise together.FileTypeError(f"Invalid file supplied, failed to upload {KEY}. Report:\n{{'is_check_passed': False}}")
    message = str(info.value)
    assert "\n" not in message and KEY not in message
    assert message.startswith("upload of data.jsonl: Invalid file supplied") and "FileTypeError" in message


def test_download_with_content_encoding_is_not_mistaken_for_a_truncation_on_standin(standin, workdir) -> None:
    """Content-Length counts the gzip-encoded bytes; the archive on disk is the decoded one."""
    standin.archive = tar_zst({"model/adapter_config.json": b"{}" + b" " * 100_000, "model/adapter_model.safetensors": b"w"})
    standin.gzip_encoding = True
    completed_job(standin, workdir)
    result = pipeline(standin, "download", "--workdir", str(workdir))
    assert result.returncode == 0, result.stderr
    assert Path(state(workdir)["adapter_archive"]).read_bytes() == standin.archive


def test_status_with_a_negative_interval_is_one_line_before_any_request(standin, workdir) -> None:
    result = pipeline(standin, "status", "--watch", "--interval", "-1", "--job", "ft-0001", "--workdir", str(workdir))
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "--interval" in result.stderr
    assert standin.requests == []


def test_a_bad_second_download_keeps_the_first_adapter_on_standin(standin, workdir) -> None:
    """Downloading again (e.g. another --checkpoint-step) that yields no adapter leaves the recorded one intact."""
    standin.archive = tar_zst({"model/adapter_config.json": b"{}", "model/adapter_model.safetensors": b"w"})
    completed_job(standin, workdir)
    assert pipeline(standin, "download", "--workdir", str(workdir)).returncode == 0
    adapter_dir = Path(state(workdir)["adapter_dir"])
    standin.archive = tar_zst({"model/config.json": b"{}", "model/pytorch_model.bin": b"merged"})
    again = pipeline(standin, "download", "--workdir", str(workdir))
    assert again.returncode == 4 and "no adapter_config.json" in again.stderr
    assert state(workdir)["adapter_dir"] == str(adapter_dir)
    assert (adapter_dir / "adapter_model.safetensors").read_bytes() == b"w"
    assert [p.name for p in workdir.iterdir() if p.name.endswith(".new")] == []


def test_a_rejected_job_keeps_the_upload_so_the_retry_does_not_upload_again_on_standin(standin, workdir) -> None:
    standin.reject_jobs = "insufficient balance"
    failed = pipeline(standin, "train", "--workdir", str(workdir))
    assert failed.returncode == 4 and "insufficient balance" in failed.stderr and failed.stderr.count("\n") == 1
    assert state(workdir)["file_id"] == "file-0001" and not state(workdir)["job_id"]
    standin.reject_jobs = ""
    again = pipeline(standin, "train", "--workdir", str(workdir))
    assert again.returncode == 0, again.stderr
    assert "already uploaded as file-0001" in again.stdout
    assert [p for m, p, _, _ in standin.requests if (m, p) == ("POST", "/v1/files")] == ["/v1/files"]
    assert_no_secret(workdir, failed.stdout, failed.stderr, again.stdout, again.stderr)


def test_a_binary_api_key_file_is_one_line(standin, workdir, tmp_path) -> None:
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(b"\xff\xfe\x00")
    result = pipeline(standin, "train", "--workdir", str(workdir), "--api-key-file", str(key_file), key=None)
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "not UTF-8" in result.stderr
