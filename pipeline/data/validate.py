"""Check Together fine-tuning records against Together's conversational-data rules.

Together rejects a file server-side after the upload, with a line number and little else; the
builder checks first and names the example and the input it came from, so the fix is made in
the cookbook or docs, not in a generated file. Rules (docs.together.ai, fine-tuning data
preparation): a ``messages`` list; roles only system/user/assistant; an optional system
message first, then user and assistant alternating, starting with user; at least one
assistant turn; every content a non-empty string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

from . import DataError
from .generate import Example

ROLES = ("system", "user", "assistant")


def together_problem(record: object) -> str | None:
    """What is wrong with one record, or None when Together would accept it."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
        return 'expected {"messages": [...]} with at least one message'
    if set(record) != {"messages"}:
        return f"unexpected key(s) {sorted(set(record) - {'messages'})}"
    messages = record["messages"]
    turns = messages[1:] if isinstance(messages[0], dict) and messages[0].get("role") == "system" else messages
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return f"message {k}: role must be one of {', '.join(ROLES)}, got {m.get('role') if isinstance(m, dict) else m!r}"
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            return f"message {k} ({m['role']}): empty content"
    offset = len(messages) - len(turns)
    for k, m in enumerate(turns):
        expected = "user" if k % 2 == 0 else "assistant"
        if m["role"] != expected:
            return f"message {k + offset}: expected role {expected} (system first, then user/assistant alternating), got {m['role']}"
    if not any(m["role"] == "assistant" for m in turns):
        return "no assistant message: nothing to learn from"
    return None


def validate_examples(records: Sequence[dict], examples: Sequence[Example]) -> None:
    """Raise :class:`DataError` for the first invalid record, naming the example and its source."""
    for index, (record, example) in enumerate(zip(records, examples)):
        problem = together_problem(record)
        if problem:
            raise DataError(f"training entry {index + 1} ({example.id}, from {example.origin}): {problem}")


def iter_together_records(path: Path) -> Iterator[dict]:
    """Every record of a Together JSONL file, each checked by the Together rules; the first bad
    line (or a file with none) is one :class:`DataError` naming the file and line."""
    count = 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_no}: invalid JSON ({exc.msg})") from None
            problem = together_problem(record)
            if problem:
                raise DataError(f"{path}: line {line_no}: {problem}")
            count += 1
            yield record
    if not count:
        raise DataError(f"{path}: no training records")


def validate_together_file(path: Path) -> int:
    """Check a Together JSONL file before upload; returns the number of records."""
    return sum(1 for _ in iter_together_records(path))
