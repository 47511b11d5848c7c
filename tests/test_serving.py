"""The local server's chat route: <tool_call> parsing, request reading, and the real server end to end.

The parser and request tests are pure. The end-to-end ones (marked slow) run the real
llama.cpp server on loopback: the embedded SmolLM2 for usage, overflow and the default
system prompt, and SmolLM2 rewritten with Qwen2.5's chat template (tests/tool_model.py)
for tool calls, forced by a GBNF grammar since a 135M model does not choose to call tools.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gerbil_eval.server import default_model_path, running_server, served_model
from gerbil_eval.serving.chat import BadRequest, parse_request, template_renders_tools
from gerbil_eval.serving.options import ServingOptions
from gerbil_eval.serving.tool_calls import ToolCallStream, split_tool_calls
from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT
from tests.tool_model import QWEN25_TEMPLATE, forced_tool_call_grammar, qwen_template_gguf

ROOT = Path(__file__).resolve().parents[1]
TOOL_GGUF_CACHE = ROOT / ".venv" / "test-models" / "smollm2-qwen2.5-template.gguf"
WRITE_TOOL = {"type": "function", "function": {"name": "write", "description": "Write a file",
                                               "parameters": {"type": "object", "properties": {
                                                   "filePath": {"type": "string"}, "content": {"type": "string"}},
                                                   "required": ["filePath", "content"]}}}
CALL = '<tool_call>\n{"name": "write", "arguments": {"filePath": "a.ss", "content": "(+ 1 2)"}}\n</tool_call>'


def test_a_qwen_tool_call_becomes_an_openai_call_with_arguments_as_a_json_string() -> None:
    text, calls = split_tool_calls("I will write it.\n" + CALL)
    assert text == "I will write it.\n"
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("write", {"filePath": "a.ss", "content": "(+ 1 2)"})]
    assert calls[0].to_openai(0)["function"]["name"] == "write" and calls[0].id.startswith("call_")


def test_two_calls_and_broken_blocks_stay_apart() -> None:
    broken = "<tool_call>\nnot json\n</tool_call>"
    text, calls = split_tool_calls(CALL + "\n" + CALL.replace("a.ss", "b.ss") + broken)
    assert [json.loads(c.arguments)["filePath"] for c in calls] == ["a.ss", "b.ss"]
    assert broken in text  # what the model wrote is shown, not dropped, when it is no call


def test_a_call_cut_by_the_token_limit_is_text_not_a_call() -> None:
    text, calls = split_tool_calls(CALL[:40])
    assert calls == [] and text == CALL[:40]


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_streaming_in_any_chunk_size_gives_the_same_calls_and_never_shows_a_tag(size: int) -> None:
    answer = "Sure. " + CALL + " Done."
    stream, parts = ToolCallStream(), []
    for i in range(0, len(answer), size):
        parts += stream.feed(answer[i:i + size])
    parts += stream.finish()
    text = "".join(p for p in parts if isinstance(p, str))
    assert text == "Sure.  Done." and "<" not in text
    assert [p.name for p in parts if not isinstance(p, str)] == ["write"]


def test_plain_text_streams_without_waiting_for_the_end() -> None:
    stream = ToolCallStream()
    assert stream.feed("Hello <tool") == ["Hello "]  # only what may begin a tag is held back
    assert stream.feed(" no") == ["<tool no"]


def test_request_gets_the_default_system_prompt_only_when_it_has_none() -> None:
    plain = parse_request({"messages": [{"role": "user", "content": "hi"}]}, "SYS")
    assert plain.messages[0] == {"role": "system", "content": "SYS"}
    own = parse_request({"messages": [{"role": "system", "content": "mine"}, {"role": "user", "content": "hi"}]}, "SYS")
    assert [m["content"] for m in own.messages] == ["mine", "hi"]


def test_request_reading_normalizes_what_templates_need() -> None:
    chat = parse_request({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "write", "arguments": '{"x": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
        "tools": [WRITE_TOOL], "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 5, "stop": "END"})
    assert chat.messages[0]["content"] == "ab" and chat.messages[1]["content"] == ""
    assert chat.messages[1]["tool_calls"][0]["function"]["arguments"] == {"x": 1}  # an object, as chat templates expect
    assert chat.include_usage and chat.stream and chat.max_tokens == 5 and chat.stop == ["END"]
    assert chat.tool_names == ["write"]
    assert parse_request({"messages": [{"role": "user", "content": "x"}], "tools": [WRITE_TOOL],
                          "tool_choice": "none"}).tools == []


@pytest.mark.parametrize("body, field", [
    ([], "JSON object"), ({"messages": []}, "'messages'"), ({"messages": [{"role": "robot"}]}, "messages[0]"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "'max_tokens'"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "'tools'"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "'temperature'"),
])
def test_bad_requests_are_named(body: object, field: str) -> None:
    with pytest.raises(BadRequest, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_request(body)


def test_only_templates_that_read_tools_render_them() -> None:
    assert template_renders_tools(QWEN25_TEMPLATE.read_text())
    assert not template_renders_tools("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% endfor %}")


# --- the real server -------------------------------------------------------------------------------------------


def sse(response: httpx.Response) -> list[dict]:
    """The JSON events of an SSE body, checking it ends with [DONE]."""
    lines = [ln[len("data: "):] for ln in response.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]", response.text[-300:]
    return [json.loads(ln) for ln in lines[:-1]]


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded SmolLM2, 1024 tokens of context, answers capped at 16 tokens, the project's system prompt."""
    log = tmp_path_factory.mktemp("smol") / "server.log"
    with running_server([served_model(default_model_path(), alias="smol")], log, ctx=1024,
                        serving=ServingOptions(system_prompt=DEFAULT_SYSTEM_PROMPT, max_tokens=16)) as server:
        yield server.base_url


@pytest.mark.slow
def test_streams_report_usage_when_asked_and_whole_answers_always(smol: str) -> None:
    body = {"model": "smol", "messages": [{"role": "user", "content": "Say hi."}]}
    whole = httpx.post(f"{smol}/chat/completions", json=body, timeout=120).json()
    assert whole["usage"]["prompt_tokens"] > 0 and 0 < whole["usage"]["completion_tokens"] <= 16
    events = sse(httpx.post(f"{smol}/chat/completions", json={**body, "stream": True,
                                                               "stream_options": {"include_usage": True}}, timeout=120))
    assert events[-1]["choices"] == [] and events[-1]["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"]
    assert events[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    plain = sse(httpx.post(f"{smol}/chat/completions", json={**body, "stream": True}, timeout=120))
    assert all("usage" not in e for e in plain)


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_over_the_context_is_a_400_naming_the_numbers(smol: str, stream: bool) -> None:
    long = "Explain Gerbil hash tables in depth. " * 200
    history = [{"role": "user", "content": long}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "More."}]
    response = httpx.post(f"{smol}/chat/completions", json={"model": "smol", "stream": stream, "messages": history},
                          timeout=120)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and "maximum context length is 1024 tokens" in error["message"]
    assert int(error["message"].split("resulted in ")[1].split()[0]) > 1024
    # The last message alone does not fit either: compaction cannot help, and the answer says so differently.
    alone = httpx.post(f"{smol}/chat/completions", json={"model": "smol", "stream": stream,
                                                        "messages": [{"role": "user", "content": long}]}, timeout=120)
    assert alone.status_code == 400 and alone.json()["error"]["code"] == "prompt_exceeds_server_context"
    assert "context holds 1024" in alone.json()["error"]["message"]


@pytest.mark.slow
def test_the_server_applies_the_project_system_prompt_when_a_request_has_none(smol: str) -> None:
    tokenize = lambda text: httpx.post(smol.removesuffix("/v1") + "/extras/tokenize/count",  # noqa: E731
                                       json={"input": text}, timeout=30).json()["count"]
    asked = httpx.post(f"{smol}/chat/completions", json={"model": "smol", "messages": [
        {"role": "user", "content": "Hi"}]}, timeout=120).json()["usage"]["prompt_tokens"]
    explicit = httpx.post(f"{smol}/chat/completions", json={"model": "smol", "messages": [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "Hi"}]},
        timeout=120).json()["usage"]["prompt_tokens"]
    assert asked == explicit and asked > tokenize(DEFAULT_SYSTEM_PROMPT)


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gguf = qwen_template_gguf(default_model_path(), TOOL_GGUF_CACHE)
    grammar = forced_tool_call_grammar("write", {"filePath": "hello.ss", "content": '(display "hi")'})
    log = tmp_path_factory.mktemp("tools") / "server.log"
    with running_server([served_model(gguf, alias="qwenish")], log, ctx=2048,
                        serving=ServingOptions(grammar=grammar, max_tokens=64)) as server:
        yield server.base_url


@pytest.mark.slow
def test_tool_calls_come_back_whole_and_streamed_from_the_served_model(tool_server: str) -> None:
    body = {"model": "qwenish", "tools": [WRITE_TOOL], "tool_choice": "auto",
            "messages": [{"role": "user", "content": "Write hello.ss"}]}
    whole = httpx.post(f"{tool_server}/chat/completions", json=body, timeout=120).json()
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "write"
    assert json.loads(call["function"]["arguments"]) == {"filePath": "hello.ss", "content": '(display "hi")'}
    events = sse(httpx.post(f"{tool_server}/chat/completions", timeout=120,
                            json={**body, "stream": True, "stream_options": {"include_usage": True}}))
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    streamed = [c for d in deltas for c in d.get("tool_calls", [])]
    assert [(c["index"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in streamed] == \
        [(0, "write", {"filePath": "hello.ss", "content": '(display "hi")'})]
    assert not any("<tool_call>" in (d.get("content") or "") for d in deltas)
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls" and events[-1]["usage"]["completion_tokens"] > 0
    # The template really showed the tool to the model: the prompt is longer with it than without.
    without = httpx.post(f"{tool_server}/chat/completions", timeout=120,
                         json={**body, "tools": []}).json()
    assert whole["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"] + 40
    assert "tool_calls" not in without["choices"][0]["message"]  # no tools offered: the text stays text
