"""Tiny random chat models of each family the local trainer supports, saved as Hugging Face folders.

A byte-level tokenizer (256 byte tokens + ChatML's two markers) with the ChatML template,
and a 2-layer llama or qwen2 with random weights: enough for the trainer to tokenize real
conversations with a real chat template, train, checkpoint and save a PEFT adapter in
seconds, without any hub download.
"""

from __future__ import annotations

from pathlib import Path

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIAL = ("<|im_start|>", "<|im_end|>")
VOCAB = 256 + len(SPECIAL)


def byte_tokenizer():
    """A PreTrainedTokenizerFast mapping every byte to one token, plus the ChatML markers."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: i for i, ch in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    vocab.update({tok: 256 + i for i, tok in enumerate(SPECIAL)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                                additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHATML
    return fast


def tiny_config(family: str):
    import transformers

    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False)
    if family == "llama":
        return transformers.LlamaConfig(**common, architectures=["LlamaForCausalLM"])
    return transformers.Qwen2Config(**common, rope_theta=10000.0, architectures=["Qwen2ForCausalLM"])


def save_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    """Write a random ``family`` model and the byte tokenizer to ``folder`` (an HF model folder)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(tiny_config(family))
    with torch.no_grad():  # the default init (std 0.02) gives near-uniform logits that barely respond to LoRA
        for param in model.parameters():
            param.normal_(0.0, 0.2) if param.dim() > 1 else param.normal_(1.0, 0.05)
    model.save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    return folder
