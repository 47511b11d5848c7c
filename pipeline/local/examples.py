"""Together-format conversations as token ids with a loss mask on the assistant turns only.

The model is trained to *answer*, not to reproduce the system prompt or the question, so
every token outside an assistant turn gets the label ``IGNORE`` (-100, the value PyTorch's
cross-entropy skips). The text is rendered with the base's own chat template: an assistant
turn is the span the template adds between ``messages[:i]`` rendered with the generation
prompt and ``messages[:i+1]``, so the template's own end-of-turn token (``<|im_end|>``) is
learned too — that is what makes the served model stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gerbil_eval.errors import GerbilEvalError

from ..data.validate import iter_together_records

IGNORE = -100


@dataclass(frozen=True)
class TokenizedExample:
    """One conversation: ``input_ids`` and ``labels`` of equal length (labels IGNORE outside answers)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def read_conversations(path: Path) -> list[list[dict[str, str]]]:
    """The ``messages`` of every record of a Together JSONL file; one bad line is one clear error."""
    return [record["messages"] for record in iter_together_records(path)]


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def tokenize_conversation(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> TokenizedExample:
    """Token ids of the whole conversation, labels only on assistant turns, cut at ``max_length``.

    The template must render each prefix as a prefix of the whole (true of ChatML and
    Llama 3 templates); a template that does not is refused, because the mask would then
    fall on the wrong tokens.
    """
    ids: list[int] = []
    labels: list[int] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], True)
        full = _render(tokenizer, messages[: i + 1], False)
        if full[: len(prompt)] != prompt or prompt[: len(ids)] != ids:
            raise GerbilEvalError("the base's chat template does not render conversations prefix by prefix; "
                                  "assistant-only loss cannot be located (use a ChatML or Llama 3 style template)")
        labels += [IGNORE] * (len(prompt) - len(ids)) + full[len(prompt):]
        ids = full
    return TokenizedExample(ids[:max_length], labels[:max_length])


def tokenize_file(tokenizer: Any, path: Path, max_length: int) -> list[TokenizedExample]:
    """Every conversation of ``path``; those whose answer falls entirely past ``max_length`` are dropped."""
    examples = [tokenize_conversation(tokenizer, m, max_length) for m in read_conversations(path)]
    kept = [e for e in examples if e.trained_tokens > 0]
    if not kept:
        raise GerbilEvalError(f"{path}: no example keeps an answer token within --max-seq-length {max_length}")
    return kept
