"""``python -m pipeline convert``: names, shapes, types, metadata, transforms and refusals.

Adapters are written with safetensors' own torch writer (tests/lora_factory.py) and the
result is read back with ``gguf.GGUFReader``: nothing here trusts the converter's own view.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.__main__ import main as pipeline_main
from pipeline.convert.bases import BUILTIN_BASES, load_base_config

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from tests.lora_factory import ALL_LINEAR, PREFIX, lora_tensors, write_adapter_dir  # noqa: E402

QWEN_7B = BUILTIN_BASES["Qwen/Qwen2.5-7B-Instruct"]
#: PEFT module -> GGUF base tensor, as llama.cpp's loader names them (pipeline-notes §2.3).
GGUF_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def convert(*args: str | Path) -> int:
    return pipeline_main(["convert", *map(str, args)])


def read(path: Path) -> tuple[dict, dict]:
    """(metadata, tensors by name) of a GGUF file."""
    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items()}, {t.name: t for t in reader.tensors}


def values(tensor) -> np.ndarray:
    """A GGUF tensor's values as float32 in numpy (PEFT) shape."""
    data = np.asarray(tensor.data)
    if tensor.tensor_type == gguf.GGMLQuantizationType.BF16:
        return gguf.quants.dequantize(data, gguf.GGMLQuantizationType.BF16).reshape(data.shape[0], -1)
    return data.astype(np.float32)


def tiny_base(tmp_path: Path, arch: str = "LlamaForCausalLM", heads: int = 4, kv: int = 2):
    """A small base config.json (hidden 64, 2 layers) and its parsed BaseConfig."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "architectures": [arch], "num_hidden_layers": 2, "num_attention_heads": heads, "num_key_value_heads": kv,
        "hidden_size": 64, "intermediate_size": 96, "vocab_size": 100, "tie_word_embeddings": False,
    }))
    return path, load_base_config(path)


# --- the Qwen2.5-7B-shaped adapter -----------------------------------------------------------

@pytest.fixture(scope="module")
def qwen7b_adapter(tmp_path_factory) -> tuple[Path, dict]:
    tensors = lora_tensors(QWEN_7B, 16, dtype="bf16", seed=7)
    return write_adapter_dir(tmp_path_factory.mktemp("qwen7b") / "adapter", QWEN_7B, tensors, 16), tensors


@pytest.mark.parametrize("outtype", ["f32", "f16", "bf16"])
def test_qwen7b_adapter_converts_with_llama_cpp_names_shapes_types_and_metadata(qwen7b_adapter, tmp_path, outtype):
    adapter_dir, source = qwen7b_adapter
    out = tmp_path / "adapter.gguf"
    assert convert(adapter_dir, "-o", out, "--outtype", outtype) == 0
    meta, tensors = read(out)
    assert meta["general.type"] == "adapter"
    assert meta["general.architecture"] == "qwen2"
    assert meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == pytest.approx(32.0)
    assert len(tensors) == 28 * 7 * 2 == 392
    want_type = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[outtype]
    for layer in range(28):
        for module, gguf_name in GGUF_NAMES.items():
            a, b = tensors[f"blk.{layer}.{gguf_name}.weight.lora_a"], tensors[f"blk.{layer}.{gguf_name}.weight.lora_b"]
            torch_a, torch_b = source[f"{PREFIX}.{layer}.{module}.lora_A.weight"], source[f"{PREFIX}.{layer}.{module}.lora_B.weight"]
            # ggml ne order is the torch shape reversed: A (r, in) -> {in, r}, B (out, r) -> {r, out}
            assert list(a.shape) == [torch_a.shape[1], 16] and list(b.shape) == [16, torch_b.shape[0]]
            assert a.tensor_type.name == want_type and b.tensor_type.name == want_type
    k_b = tensors["blk.5.attn_k.weight.lora_b"]
    assert list(k_b.shape) == [16, 512]  # 4 kv heads x 128: grouped-query attention
    assert list(tensors["blk.27.ffn_down.weight.lora_a"].shape) == [18944, 16]


def test_qwen2_values_are_copied_exactly_without_permutation(qwen7b_adapter, tmp_path):
    """bf16 -> f32 is exact, and qwen2 has no q/k permutation: every value is the PEFT value."""
    adapter_dir, source = qwen7b_adapter
    out = tmp_path / "adapter.gguf"
    assert convert(adapter_dir, "-o", out) == 0
    _, tensors = read(out)
    for layer in (0, 13, 27):
        for module, gguf_name in GGUF_NAMES.items():
            for half in ("A", "B"):
                want = source[f"{PREFIX}.{layer}.{module}.lora_{half}.weight"].float().numpy()
                got = values(tensors[f"blk.{layer}.{gguf_name}.weight.lora_{half.lower()}"])
                np.testing.assert_array_equal(got, want)


def test_bf16_output_keeps_the_bf16_bits(qwen7b_adapter, tmp_path):
    adapter_dir, source = qwen7b_adapter
    out = tmp_path / "adapter.gguf"
    assert convert(adapter_dir, "-o", out, "--outtype", "bf16") == 0
    _, tensors = read(out)
    want = source[f"{PREFIX}.3.mlp.up_proj.lora_B.weight"].float().numpy()
    np.testing.assert_array_equal(values(tensors["blk.3.ffn_up.weight.lora_b"]), want)


# --- transforms --------------------------------------------------------------------------------

def hf_to_gguf_rows(out_rows: int, n_head: int) -> np.ndarray:
    """For each GGUF row, the HF row it comes from: per head, interleave the two rotary halves."""
    head_dim = out_rows // n_head
    order = []
    for head in range(n_head):
        for i in range(head_dim // 2):
            order += [head * head_dim + i, head * head_dim + head_dim // 2 + i]
    return np.array(order)


def test_llama_q_and_k_lora_b_rows_are_rope_permuted_with_their_own_head_counts(tmp_path):
    config_path, base = tiny_base(tmp_path, heads=4, kv=2)
    tensors = lora_tensors(base, 4, dtype="f32", seed=3)
    adapter = write_adapter_dir(tmp_path / "adapter", base, tensors, 4)
    out = tmp_path / "adapter.gguf"
    assert convert(adapter, "-o", out, "--base-config", config_path) == 0
    meta, got = read(out)
    assert meta["general.architecture"] == "llama"
    for module, gguf_name, n_head in (("self_attn.q_proj", "attn_q", 4), ("self_attn.k_proj", "attn_k", 2)):
        b = tensors[f"{PREFIX}.1.{module}.lora_B.weight"].numpy()
        np.testing.assert_array_equal(values(got[f"blk.1.{gguf_name}.weight.lora_b"]), b[hf_to_gguf_rows(b.shape[0], n_head)])
        a = tensors[f"{PREFIX}.1.{module}.lora_A.weight"].numpy()
        np.testing.assert_array_equal(values(got[f"blk.1.{gguf_name}.weight.lora_a"]), a)  # A is never permuted
    v_b = tensors[f"{PREFIX}.1.self_attn.v_proj.lora_B.weight"].numpy()
    np.testing.assert_array_equal(values(got["blk.1.attn_v.weight.lora_b"]), v_b)


def test_rslora_alpha_is_scaled_so_llama_cpp_alpha_over_r_equals_peft_alpha_over_sqrt_r(tmp_path):
    config_path, base = tiny_base(tmp_path, arch="Qwen2ForCausalLM")
    adapter = write_adapter_dir(tmp_path / "adapter", base, lora_tensors(base, 16, dtype="f32"), 16, lora_alpha=8, use_rslora=True)
    out = tmp_path / "adapter.gguf"
    assert convert(adapter, "-o", out, "--base-config", config_path) == 0
    alpha = read(out)[0]["adapter.lora.alpha"]
    assert alpha / 16 == pytest.approx(8 / math.sqrt(16))


def test_alpha_and_rank_patterns_are_folded_into_lora_b(tmp_path):
    """PEFT scales q_proj by 64/8 and the rest by 16/4; llama.cpp uses alpha/rank with one alpha."""
    config_path, base = tiny_base(tmp_path, arch="Qwen2ForCausalLM")
    tensors = lora_tensors(base, 4, dtype="f32", seed=5)
    q_rank8 = lora_tensors(base, 8, dtype="f32", seed=6)
    for key in [k for k in tensors if ".q_proj." in k]:
        tensors[key] = q_rank8[key]
    adapter = write_adapter_dir(tmp_path / "adapter", base, tensors, 4, lora_alpha=16,
                                rank_pattern={"q_proj": 8}, alpha_pattern={"q_proj": 64})
    out = tmp_path / "adapter.gguf"
    assert convert(adapter, "-o", out, "--base-config", config_path) == 0
    meta, got = read(out)
    alpha = meta["adapter.lora.alpha"]
    for module, gguf_name, rank, peft_scale in (("self_attn.q_proj", "attn_q", 8, 64 / 8), ("mlp.up_proj", "ffn_up", 4, 16 / 4)):
        a = tensors[f"{PREFIX}.0.{module}.lora_A.weight"].numpy()
        b = tensors[f"{PREFIX}.0.{module}.lora_B.weight"].numpy()
        ga, gb = values(got[f"blk.0.{gguf_name}.weight.lora_a"]), values(got[f"blk.0.{gguf_name}.weight.lora_b"])
        assert ga.shape[0] == rank  # llama.cpp reads the rank from the tensor
        np.testing.assert_allclose((alpha / rank) * gb @ ga, peft_scale * b @ a, rtol=1e-5, atol=1e-7)


def test_pickled_adapter_model_bin_converts_like_safetensors(tmp_path):
    config_path, base = tiny_base(tmp_path)
    tensors = lora_tensors(base, 4, dtype="bf16", seed=9)
    adapter = write_adapter_dir(tmp_path / "adapter", base, tensors, 4)
    assert convert(adapter, "-o", tmp_path / "from-safetensors.gguf", "--base-config", config_path) == 0
    (adapter / "adapter_model.safetensors").unlink()
    torch.save(tensors, adapter / "adapter_model.bin")
    assert convert(adapter, "-o", tmp_path / "from-bin.gguf", "--base-config", config_path) == 0
    assert (tmp_path / "from-bin.gguf").read_bytes() == (tmp_path / "from-safetensors.gguf").read_bytes()


# --- refusals: one line naming the key or tensor, exit 4, nothing at the output path -------------

def _fresh(tmp_path: Path, **config) -> tuple[Path, Path, dict]:
    config_path, base = tiny_base(tmp_path, arch="Qwen2ForCausalLM")
    tensors = lora_tensors(base, 4, dtype="bf16")
    return config_path, write_adapter_dir(tmp_path / "adapter", base, tensors, 4, **config), tensors


def _rewrite(adapter: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(adapter / "adapter_model.safetensors"))


def _truncate(adapter: Path) -> None:
    path = adapter / "adapter_model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])


def _corrupt_header(adapter: Path) -> None:
    path = adapter / "adapter_model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:20] = b"not json!!!!"
    path.write_bytes(bytes(data))


def _add(key: str, shape: tuple[int, ...]):
    return lambda adapter, tensors: _rewrite(adapter, {**tensors, key: torch.zeros(shape, dtype=torch.bfloat16)})


def _drop(key: str):
    return lambda adapter, tensors: _rewrite(adapter, {k: v for k, v in tensors.items() if k != key})


def _set_config(**changes):
    def apply(adapter: Path, _tensors: dict) -> None:
        path = adapter / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return apply


K_B = f"{PREFIX}.0.self_attn.k_proj.lora_B.weight"
REFUSALS = {
    "missing-config": (lambda adapter, _t: (adapter / "adapter_config.json").unlink(), "adapter_config.json: missing"),
    "truncated-safetensors": (lambda adapter, _t: _truncate(adapter), "truncated"),
    "corrupt-safetensors": (lambda adapter, _t: _corrupt_header(adapter), "not a complete safetensors file"),
    "dora-config": (_set_config(use_dora=True), "use_dora"),
    "dora-tensor": (_add(f"{PREFIX}.0.self_attn.q_proj.lora_magnitude_vector", (64,)), "lora_magnitude_vector"),
    "modules-to-save-config": (_set_config(modules_to_save=["lm_head"]), "modules_to_save"),
    "modules-to-save-tensor": (_add("base_model.model.lm_head.weight", (100, 64)), "base_model.model.lm_head.weight"),
    "lora-bias": (_add(f"{PREFIX}.0.self_attn.q_proj.lora_B.bias", (64,)), "q_proj.lora_B.bias"),
    "unknown-module": (_add(f"{PREFIX}.0.self_attn.rotary_emb.lora_A.weight", (4, 64)), "rotary_emb"),
    "half-pair": (_drop(K_B), "k_proj.lora_A.weight' has no lora_B partner"),
    "wrong-shape": (_add(K_B, (64, 4)), f"{K_B}' has shape [64, 4]"),
    "layer-beyond-base": (_add(f"{PREFIX}.9.mlp.up_proj.lora_A.weight", (4, 64)), "layer 9 but the base has 2 layers"),
    "rank-not-config-r": (_set_config(r=8), "with rank 8 needs [8, "),
    "embedding-lora": (_add("base_model.model.model.embed_tokens.lora_embedding_A", (4, 100)), "LoRA on the token embeddings"),
}


@pytest.mark.parametrize("damage", REFUSALS, ids=list(REFUSALS))
def test_bad_adapter_is_refused_with_one_line_and_leaves_no_file(tmp_path, capsys, damage):
    config_path, adapter, tensors = _fresh(tmp_path)
    apply, needle = REFUSALS[damage]
    apply(adapter, tensors)
    out = tmp_path / "out" / "adapter.gguf"
    assert convert(adapter, "-o", out, "--base-config", config_path) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pipeline: error: "), err
    assert needle in err
    assert not out.exists()
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_f16_overflow_is_refused_naming_the_tensor(tmp_path, capsys):
    config_path, adapter, tensors = _fresh(tmp_path)
    key = f"{PREFIX}.1.mlp.down_proj.lora_B.weight"
    _rewrite(adapter, {**tensors, key: tensors[key] * 1e8})
    out = tmp_path / "adapter.gguf"
    assert convert(adapter, "-o", out, "--base-config", config_path, "--outtype", "f16") == 4
    assert "blk.1.ffn_down.weight.lora_b" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob(".adapter.gguf*")) == []
    assert convert(adapter, "-o", out, "--base-config", config_path, "--outtype", "bf16") == 0


def test_unknown_base_without_base_config_asks_for_it(tmp_path, capsys):
    _, adapter, _ = _fresh(tmp_path, base_model_name_or_path="/data/my-private-base")
    assert convert(adapter, "-o", tmp_path / "a.gguf") == 4
    assert "'/data/my-private-base' is not a built-in base; pass --base-config" in capsys.readouterr().err


def test_builtin_base_is_found_from_a_local_training_path(tmp_path):
    adapter = write_adapter_dir(tmp_path / "adapter", QWEN_7B, lora_tensors(QWEN_7B, 2, layers=1), 2,
                                base_model_name_or_path="/root/models/Qwen2.5-7B-Instruct/")
    assert convert(adapter, "-o", tmp_path / "a.gguf") == 0
    assert len(read(tmp_path / "a.gguf")[1]) == 14


def test_existing_output_is_kept_without_force_and_replaced_with_it(tmp_path, capsys):
    config_path, adapter, _ = _fresh(tmp_path)
    out = tmp_path / "adapter.gguf"
    out.write_bytes(b"precious")
    assert convert(adapter, "-o", out, "--base-config", config_path) == 4
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert convert(adapter, "-o", out, "--base-config", config_path, "--force") == 0
    assert read(out)[0]["general.type"] == "adapter"


def test_help_states_the_default_outtype(capsys):
    with pytest.raises(SystemExit):
        pipeline_main(["convert", "--help"])
    assert "default: f32" in capsys.readouterr().out


def test_all_linear_modules_cover_the_gguf_names():
    assert set(ALL_LINEAR) == set(GGUF_NAMES)


@pytest.mark.parametrize(("config", "needle"), [
    (None, "config.json: missing; --base-config takes the base model's config.json"),
    ({"architectures": ["GPT2LMHeadModel"]}, "architectures[0] is 'GPT2LMHeadModel'"),
    ({"architectures": ["Qwen2ForCausalLM"], "num_attention_heads": 28, "num_hidden_layers": "28"}, "num_hidden_layers must be a positive integer"),
])
def test_bad_base_config_is_refused_naming_the_field(tmp_path, capsys, config, needle):
    _, adapter, _ = _fresh(tmp_path)
    base_config = tmp_path / "base" / "config.json"
    if config is not None:
        base_config.parent.mkdir()
        base_config.write_text(json.dumps(config))
    assert convert(adapter, "-o", tmp_path / "a.gguf", "--base-config", base_config) == 4
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "a.gguf").exists()


PEAK_RSS = """
import sys
from pathlib import Path
from pipeline.convert.convert import convert_adapter
if len(sys.argv) > 1:
    convert_adapter(Path(sys.argv[1]), Path(sys.argv[2]), force=True)
# VmHWM belongs to this process's own memory map (fresh at exec), unlike ru_maxrss, which
# inherits the high-water mark of the (large) pytest process that spawned it.
print(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_conversion_streams_peak_memory_stays_far_below_the_adapter_size(qwen7b_adapter, tmp_path):
    """Converting 161 MB of f32 tensors must not hold them: peak RSS grows by a few tensors only."""
    import subprocess
    import sys

    adapter_dir, _ = qwen7b_adapter
    out = tmp_path / "adapter.gguf"

    def peak(*args: str) -> int:
        done = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, check=True)
        return int(done.stdout.split()[-1])

    floor = peak()
    converted = peak(str(adapter_dir), str(out))
    output_size = out.stat().st_size
    assert output_size > 150e6
    assert converted - floor < output_size / 4, f"peak RSS grew by {(converted - floor) / 1e6:.1f} MB for a {output_size / 1e6:.0f} MB output"


@pytest.mark.parametrize(("base_name", "accepted"), [("Qwen/Qwen2.5-7B-Instruct", True), ("Qwen/Qwen2.5-0.5B-Instruct", False)])
def test_lm_head_lora_converts_to_output_unless_the_base_ties_it_to_the_embeddings(tmp_path, capsys, base_name, accepted):
    base = BUILTIN_BASES[base_name]
    tensors = lora_tensors(base, 2, layers=1)
    tensors["base_model.model.lm_head.lora_A.weight"] = torch.ones(2, base.hidden_size, dtype=torch.bfloat16)
    tensors["base_model.model.lm_head.lora_B.weight"] = torch.ones(base.vocab_size, 2, dtype=torch.bfloat16)
    adapter = write_adapter_dir(tmp_path / "adapter", base, tensors, 2)
    out = tmp_path / "a.gguf"
    assert convert(adapter, "-o", out) == (0 if accepted else 4)
    if accepted:
        assert list(read(out)[1]["output.weight.lora_b"].shape) == [2, base.vocab_size]
    else:
        assert "ties lm_head to the embeddings" in capsys.readouterr().err and not out.exists()
