"""The three output formats, one record per example, and their JSONL serialisation.

- Together ``{"messages": [{"role", "content"}, ...]}`` — what ``pipeline train`` uploads.
- ShareGPT ``{"conversations": [{"from": "system"|"human"|"gpt", "value"}, ...]}`` (Axolotl,
  LLaMA-Factory, Unsloth).
- Alpaca ``{"instruction", "input", "output"}``: the user turn, no input, the assistant
  turn (the format has no system prompt; trainers add their own template).

Records are serialised with sorted keys and no ASCII escaping so the same examples always give
the same bytes.
"""

from __future__ import annotations

import json
from typing import Callable, Iterable

from .generate import Example

SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def to_together(example: Example) -> dict:
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in example.messages]}


def to_sharegpt(example: Example) -> dict:
    return {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in example.messages]}


def to_alpaca(example: Example) -> dict:
    return {"instruction": example.prompt, "input": "", "output": example.answer}


#: format name → (output file name, converter). The names are a user-facing contract.
FORMATS: dict[str, tuple[str, Callable[[Example], dict]]] = {
    "together": ("training_data_together.jsonl", to_together),
    "sharegpt": ("training_data.jsonl", to_sharegpt),
    "alpaca": ("training_data_alpaca.jsonl", to_alpaca),
}


def jsonl(records: Iterable[dict]) -> str:
    """One JSON object per line, deterministic bytes, trailing newline."""
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
