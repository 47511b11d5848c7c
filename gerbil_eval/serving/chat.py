"""An OpenAI chat request, read defensively and rendered with the model's own chat template.

The template is the GGUF's ``tokenizer.chat_template`` (Jinja, rendered the way
Transformers does: sandboxed, ``tojson`` without HTML escaping), given ``tools`` and
messages in Hugging Face's shape: assistant tool-call arguments as objects, not the
JSON strings OpenAI clients send. A template that never mentions ``tools`` (SmolLM2's)
cannot show them to the model; :attr:`ChatPrompt.tools_rendered` says so, and the
server logs it instead of dropping them silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import GerbilEvalError

#: The request fields passed on to sampling, with the type each must have.
_SAMPLING = {"temperature": (int, float), "top_p": (int, float), "seed": int, "presence_penalty": (int, float),
             "frequency_penalty": (int, float)}
ROLES = ("system", "user", "assistant", "tool")


class BadRequest(GerbilEvalError):
    """The request cannot be served as sent; the message is the HTTP 400 body's."""


@dataclass(frozen=True)
class ChatRequest:
    """What the server needs from one ``POST /v1/chat/completions`` body."""

    model: str | None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: Any
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]
    sampling: dict[str, Any]
    grammar: str | None

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("function", {}).get("name")) for t in self.tools]


def parse_request(body: Any, default_system: str | None = None) -> ChatRequest:
    """Validate ``body``; prepend ``default_system`` when the messages carry no system message."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    normalized = [_message(m, i) for i, m in enumerate(messages)]
    if default_system and not any(m["role"] == "system" for m in normalized):
        normalized.insert(0, {"role": "system", "content": default_system})
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("function"), dict) for t in tools):
        raise BadRequest("'tools' must be a list of {\"type\": \"function\", \"function\": {...}} objects")
    tool_choice = body.get("tool_choice", "auto")
    if tool_choice == "none":
        tools = []
    stream_options = body.get("stream_options") or {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise BadRequest("'max_tokens' must be a positive integer")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise BadRequest("'stop' must be a string or a list of strings")
    sampling = {}
    for key, kind in _SAMPLING.items():
        value = body.get(key)
        if value is not None:
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BadRequest(f"'{key}' must be a number")
            sampling[key] = value
    grammar = body.get("grammar")
    if grammar is not None and not isinstance(grammar, str):
        raise BadRequest("'grammar' must be a GBNF grammar text")
    return ChatRequest(model=body.get("model") if isinstance(body.get("model"), str) else None,
                       messages=normalized, tools=tools, tool_choice=tool_choice, stream=body.get("stream") is True,
                       include_usage=isinstance(stream_options, dict) and stream_options.get("include_usage") is True,
                       max_tokens=max_tokens, stop=stop, sampling=sampling, grammar=grammar)


def _message(raw: Any, index: int) -> dict[str, Any]:
    """One message in the shape chat templates expect (content a string, arguments objects)."""
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        raise BadRequest(f"messages[{index}] must be an object with a role among {', '.join(ROLES)}")
    message: dict[str, Any] = {"role": raw["role"], "content": _content(raw.get("content"), index)}
    calls = raw.get("tool_calls")
    if raw["role"] == "assistant" and calls:
        if not isinstance(calls, list):
            raise BadRequest(f"messages[{index}].tool_calls must be a list")
        message["tool_calls"] = [_tool_call(c, index) for c in calls]
    for key in ("tool_call_id", "name"):
        if isinstance(raw.get(key), str):
            message[key] = raw[key]
    return message


def _content(value: Any, index: int) -> str:
    """Text content: a string, or the text parts of a content list (images cannot be shown to a text model)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text"
                       and isinstance(p.get("text"), str))
    raise BadRequest(f"messages[{index}].content must be a string or a list of parts")


def _tool_call(raw: Any, index: int) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"messages[{index}].tool_calls: each call needs function.name")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            pass  # left as the string the client sent; the template shows it as is
    return {"id": raw.get("id"), "type": "function", "function": {"name": function["name"], "arguments": arguments}}


@dataclass(frozen=True)
class ChatPrompt:
    """A rendered request: the prompt text and whether the template showed the tools to the model."""

    text: str
    stop: list[str]
    tools_rendered: bool


def template_renders_tools(template: str) -> bool:
    """Whether a chat template reads the ``tools`` variable at all (SmolLM2's does not; Qwen2.5's does)."""
    return "tools" in template


def render(formatter: Any, template: str, request: ChatRequest) -> ChatPrompt:
    """Render ``request`` with ``formatter`` (llama-cpp-python's ``Jinja2ChatFormatter`` for ``template``)."""
    try:
        result = formatter(messages=request.messages, tools=request.tools or None, tool_choice=request.tool_choice)
    except Exception as exc:  # a template's raise_exception or a Jinja error: the request does not fit the template
        raise BadRequest(f"the model's chat template rejected the messages: {exc}") from None
    stop = [s for s in (result.stop if isinstance(result.stop, list) else [result.stop]) if s]
    return ChatPrompt(text=result.prompt, stop=stop + request.stop,
                      tools_rendered=bool(request.tools) and template_renders_tools(template))
