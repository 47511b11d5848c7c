"""Qwen2.5 / Hermes tool calls: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` in model text.

The Qwen2.5 chat template tells the model to answer a function call as a JSON object
between ``<tool_call>`` tags; OpenAI clients (OpenCode) want ``tool_calls`` objects with a
JSON *string* of arguments. :func:`split_tool_calls` does that for a whole answer and
:class:`ToolCallStream` for a streamed one, holding back only text that may be the start
of a tag, so plain text still streams token by token.

A block that is not a JSON object with a string ``name`` stays text: the client then sees
what the model wrote instead of a call the server made up.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"


@dataclass(frozen=True)
class ToolCall:
    """One call as OpenAI sends it: an id, the function's name, its arguments as a JSON string."""

    name: str
    arguments: str
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")

    def to_openai(self, index: int | None = None) -> dict[str, object]:
        call: dict[str, object] = {"id": self.id, "type": "function",
                                   "function": {"name": self.name, "arguments": self.arguments}}
        return call if index is None else {"index": index, **call}


def parse_tool_call(body: str) -> ToolCall | None:
    """The call in one block's text, or ``None`` when it is not ``{"name": str, "arguments": object}``."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return None
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments already encoded
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(name=data["name"], arguments=json.dumps(arguments, ensure_ascii=False))


def split_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """A whole answer as (text outside the calls, calls in order)."""
    stream = ToolCallStream()
    parts = stream.feed(text) + stream.finish()
    return "".join(p for p in parts if isinstance(p, str)), [p for p in parts if isinstance(p, ToolCall)]


@dataclass
class ToolCallStream:
    """Feed streamed text; get back text to pass on now and the calls completed so far.

    An unterminated ``<tool_call>`` at the end of the answer (the model hit its token
    limit) is given back as text by :meth:`finish`.
    """

    _pending: str = ""
    _in_call: bool = False

    def feed(self, text: str) -> list[str | ToolCall]:
        self._pending += text
        out: list[str | ToolCall] = []
        while True:
            if self._in_call:
                end = self._pending.find(CLOSE_TAG)
                if end < 0:
                    return out
                body = self._pending[:end]
                self._pending = self._pending[end + len(CLOSE_TAG):]
                self._in_call = False
                call = parse_tool_call(body.strip())
                out.append(call if call is not None else OPEN_TAG + body + CLOSE_TAG)
                continue
            start = self._pending.find(OPEN_TAG)
            if start >= 0:
                if start:
                    out.append(self._pending[:start])
                self._pending = self._pending[start + len(OPEN_TAG):]
                self._in_call = True
                continue
            keep = _partial_tag_length(self._pending)
            if len(self._pending) > keep:
                out.append(self._pending[:len(self._pending) - keep])
                self._pending = self._pending[len(self._pending) - keep:]
            return out

    def finish(self) -> list[str | ToolCall]:
        rest = (OPEN_TAG if self._in_call else "") + self._pending
        self._pending, self._in_call = "", False
        return [rest] if rest else []


def _partial_tag_length(text: str) -> int:
    """How many characters at the end of ``text`` could begin ``<tool_call>``."""
    for n in range(min(len(OPEN_TAG) - 1, len(text)), 0, -1):
        if OPEN_TAG.startswith(text[-n:]):
            return n
    return 0
