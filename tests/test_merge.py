"""`pipeline merge` on tiny GGUF files read back with gguf: layout, exact values, refusals.

The numerical proof against llama.cpp is tests/test_merge_equivalence.py (slow); these check,
fast and without torch, that the merged file is the base key for key and byte for byte except
the adapted weights, which equal f16(W + alpha/r * B @ A) computed here independently, and that
every refusal is one line that leaves no file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

from tests.gguf_factory import random_tensors, tiny_config, write_gguf_model, write_lora_gguf

CONFIG = tiny_config("qwen2", hidden=64, vocab=64)
RANK, ALPHA = 4, 8.0
TARGETS = ("blk.0.attn_q.weight", "blk.1.ffn_down.weight", "output.weight")


def write_adapter(path: Path, base: dict[str, np.ndarray], targets=TARGETS, arch: str = "qwen2", rank: int = RANK,
                  drop: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return write_lora_gguf(path, {name: base[name].shape if name in base else (64, 64) for name in targets},
                           arch=arch, rank=rank, alpha=ALPHA, drop=drop)


@pytest.fixture
def files(tmp_path: Path):
    tensors = random_tensors(CONFIG, seed=2)
    write_gguf_model(tmp_path / "base.gguf", "qwen2", CONFIG, tensors)
    pairs = write_adapter(tmp_path / "adapter.gguf", tensors)
    return tmp_path, tensors, pairs


def merge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", "merge", *args], capture_output=True, text=True, timeout=120)


def test_merged_file_is_the_base_except_the_adapted_weights_which_are_exact(files) -> None:
    work, tensors, pairs = files
    out = work / "merged.gguf"
    result = merge(str(work / "base.gguf"), str(work / "adapter.gguf"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "3 of" in result.stdout and "tensors merged" in result.stdout
    base, merged = gguf.GGUFReader(work / "base.gguf"), gguf.GGUFReader(out)
    assert [(k, f.types) for k, f in base.fields.items()] == [(k, f.types) for k, f in merged.fields.items()]
    for key, field in base.fields.items():
        if not key.startswith("GGUF."):
            assert merged.fields[key].contents() == field.contents(), key
    assert [t.name for t in merged.tensors] == [t.name for t in base.tensors]
    for old, new in zip(base.tensors, merged.tensors):
        if old.name in pairs:
            a, b = pairs[old.name]
            expected = (tensors[old.name] + (ALPHA / RANK) * b @ a).astype(np.float16)
            assert new.tensor_type == gguf.GGMLQuantizationType.F16
            np.testing.assert_array_equal(np.asarray(new.data).reshape(expected.shape), expected)
        else:
            assert new.tensor_type == old.tensor_type and np.array_equal(np.asarray(new.data), np.asarray(old.data)), old.name
    assert sorted(p.name for p in work.iterdir()) == ["adapter.gguf", "base.gguf", "merged.gguf"]


def test_scale_multiplies_the_adapter_as_llama_cpp_lora_scaled_does(files) -> None:
    work, tensors, pairs = files
    out = work / "merged.gguf"
    assert merge(str(work / "base.gguf"), str(work / "adapter.gguf"), "-o", str(out), "--scale", "0.5").returncode == 0
    a, b = pairs["blk.0.attn_q.weight"]
    got = next(t for t in gguf.GGUFReader(out).tensors if t.name == "blk.0.attn_q.weight")
    expected = (tensors["blk.0.attn_q.weight"] + 0.5 * (ALPHA / RANK) * b @ a).astype(np.float16)
    np.testing.assert_array_equal(np.asarray(got.data).reshape(expected.shape), expected)


@pytest.mark.parametrize(("case", "message"), [
    ("arch", "adapter for 'llama' but"),
    ("half", "is missing one half"),
    ("unknown", "does not exist in"),
    ("shape", "do not fit the base weight"),
    ("swapped", "is an adapter, not a base model"),
    ("exists", "already exists; pass --force"),
])
def test_refusals_are_one_line_and_leave_no_file(files, case: str, message: str) -> None:
    work, tensors, _ = files
    base, adapter, out = work / "base.gguf", work / "bad.gguf", work / "merged.gguf"
    if case == "arch":
        write_adapter(adapter, tensors, arch="llama")
    elif case == "half":
        write_adapter(adapter, tensors, drop="blk.0.attn_q.weight.lora_b")
    elif case == "unknown":
        write_adapter(adapter, tensors, targets=("blk.7.attn_q.weight",))
    elif case == "shape":
        write_adapter(adapter, {"blk.0.attn_q.weight": np.zeros((64, 32))}, targets=("blk.0.attn_q.weight",))
    elif case == "swapped":
        adapter, base = base, work / "adapter.gguf"
    elif case == "exists":
        adapter = work / "adapter.gguf"
        out.write_text("keep me")
    result = merge(str(base), str(adapter), "-o", str(out))
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr
    assert (out.read_text() == "keep me") if case == "exists" else not out.exists()
    assert not [p for p in work.iterdir() if p.name.startswith(".")]


def test_a_non_gguf_input_is_named(tmp_path: Path) -> None:
    (tmp_path / "base.gguf").write_bytes(b"PK\x03\x04 not a gguf")
    result = merge(str(tmp_path / "base.gguf"), str(tmp_path / "a.gguf"), "-o", str(tmp_path / "m.gguf"))
    assert result.returncode == 4 and "base.gguf: not a readable GGUF file" in result.stderr


def test_a_file_llama_cpp_cannot_quantize_is_one_error_and_no_output(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from pipeline.merge.lora_gguf import MergeError
    from pipeline.merge.quantize import quantize

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(MergeError, match="llama.cpp could not quantize .*broken.gguf to q8_0"):
        quantize(broken, tmp_path / "out.gguf", "q8_0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gguf"]
