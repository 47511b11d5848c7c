"""The served endpoint: llama-cpp-python's server with our own ``/v1/chat/completions``.

llama-cpp-python's route drops ``tools`` unless ``tool_choice`` names one function,
streams no usage, and meets a prompt longer than the context with a 200 and an empty
stream (OpenCode then retries several times a second). This route replaces it and keeps
the rest of that server (``/v1/models``, completions, tokenize, model loading, locks):

- the prompt is rendered with the model's own chat template, *with* ``tools``, and the
  model's ``<tool_call>`` blocks come back as OpenAI ``tool_calls``, whole or streamed;
- the prompt is counted *before* the answer starts: one that leaves no room in the
  context is an HTTP 400 naming the numbers (OpenAI's wording, which OpenCode reads as
  "context overflow"); ``max_tokens`` beyond the room left is cut to it, as llama.cpp does;
- ``stream_options.include_usage`` gets the usage chunk; whole answers always carry usage;
- a request without a system message gets the server's default one (the project's);
- ``--grammar-file`` constrains every answer that brings no grammar of its own, and
  ``--max-tokens`` caps every answer (llama-server's ``--grammar-file`` / ``-n``);
- each request is one JSON line in the request log: what came in (messages, tool names,
  prompt tokens, whether the template could show the tools) and how it ended.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import llama_cpp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.server.app import create_app as create_llama_app
from llama_cpp.server.app import get_llama_proxy
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from .chat import BadRequest, ChatPrompt, ChatRequest, parse_request, render
from .options import ServingOptions
from .tool_calls import ToolCall, ToolCallStream

#: Request bodies above this are refused: OpenCode's largest (system prompt, 10 tools, a
#: long session) are a few hundred KB; a context of 128k tokens is well under 2 MB of text.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: How much of each answer the request log keeps (enough to recognise it in a client's output).
ANSWER_LOG_CHARS = 400
#: For a GGUF without ``tokenizer.chat_template``: plain ChatML.
CHATML_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
#: llama-cpp-python's own request defaults, kept so answers do not change with the route.
_DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05, "top_k": 40, "repeat_penalty": 1.1}


class ContextOverflow(BadRequest):
    """The prompt leaves no room for an answer in the model's context; dropping old messages would help."""

    code = "context_length_exceeded"


class PromptDoesNotFit(BadRequest):
    """Even the system prompt, tools and last message leave no room: no compaction can help."""

    code = "prompt_exceeds_server_context"


def _fixed_part_tokens(llama: Any, formatter: Jinja2ChatFormatter, template: str, request: ChatRequest) -> int:
    """Tokens of the part of ``request`` a client cannot compact away: system messages, tools, the last message."""
    kept = [m for m in request.messages[:-1] if m["role"] == "system"] + request.messages[-1:]
    prompt = render(formatter, template, replace(request, messages=kept))
    return len(llama.tokenize(prompt.text.encode("utf-8"), add_bos=False, special=True))


def _round_up(tokens: int, step: int = 4096) -> int:
    return -(-tokens // step) * step


@dataclass(frozen=True)
class Prepared:
    """A request ready to generate: its prompt tokens, sampling arguments and what the log says of it."""

    llama: Any
    tokens: list[int]
    prompt: ChatPrompt
    kwargs: dict[str, Any]


def _formatter(llama: Any, cache: dict[int, tuple[str, Jinja2ChatFormatter]]) -> tuple[str, Jinja2ChatFormatter]:
    """The chat template of the loaded model and its renderer (built once per model object)."""
    key = id(llama)
    if key not in cache:
        template = llama.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        eos, bos = llama.token_eos(), llama.token_bos()
        text = llama._model.token_get_text  # the special tokens' text, as the template expects them
        cache.clear()  # the proxy holds one model at a time
        cache[key] = (template, Jinja2ChatFormatter(template=template, eos_token=text(eos) if eos >= 0 else "",
                                                    bos_token=text(bos) if bos >= 0 else ""))
    return cache[key]


def prepare(llama: Any, request: ChatRequest, options: ServingOptions,
            cache: dict[int, tuple[str, Jinja2ChatFormatter]]) -> Prepared:
    """Render and count the prompt; raise :class:`ContextOverflow` when no answer fits after it."""
    template, formatter = _formatter(llama, cache)
    prompt = render(formatter, template, request)
    # The template writes BOS itself when the model wants one; special=True reads <|im_start|> as one token.
    tokens = llama.tokenize(prompt.text.encode("utf-8"), add_bos=False, special=True)
    n_ctx = llama.n_ctx()
    if len(tokens) >= n_ctx:
        fixed = _fixed_part_tokens(llama, formatter, template, request)
        if fixed >= n_ctx:
            # Worded so that clients do not read it as "context overflow": OpenCode answers that by
            # compacting the conversation and retrying, forever, when the system prompt is what is big.
            raise PromptDoesNotFit(
                f"request refused: its system prompt, tools and last message alone need {fixed} tokens "
                f"({len(tokens)} with the whole conversation) and this server's context holds {n_ctx}; compacting "
                f"the conversation cannot help. Serve the model with --ctx {_round_up(fixed + 1024)} or more, or "
                "shorten the system prompt (an AGENTS.md, say).")
        raise ContextOverflow(
            f"This model's maximum context length is {n_ctx} tokens. However, your messages resulted in "
            f"{len(tokens)} tokens{' (tools included)' if prompt.tools_rendered else ''}. "
            "Please reduce the length of the messages, or serve the model with a larger context (serve --ctx N).")
    room = n_ctx - len(tokens)
    caps = [room] + [c for c in (request.max_tokens, options.max_tokens) if c]
    grammar = request.grammar or options.grammar
    kwargs = {**_DEFAULTS, **request.sampling, "max_tokens": min(caps), "stop": prompt.stop,
              "grammar": llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) if grammar else None}
    return Prepared(llama=llama, tokens=tokens, prompt=prompt, kwargs=kwargs)


def _completion_chunks(prepared: Prepared) -> Iterator[tuple[str, str | None]]:
    """(text, finish_reason) per generated piece; the last has the finish reason."""
    for chunk in prepared.llama.create_completion(prompt=prepared.tokens, stream=True, **prepared.kwargs):
        choice = chunk["choices"][0]
        yield choice.get("text") or "", choice.get("finish_reason")


@dataclass
class _Answer:
    """What a finished answer was: its text (tool calls removed), calls, tokens and finish reason."""

    text: str = ""
    calls: list[ToolCall] | None = None
    completion_tokens: int = 0
    finish_reason: str = "stop"


def _finish(reason: str | None, calls: list[ToolCall]) -> str:
    return "tool_calls" if calls else (reason or "stop")


def _count(llama: Any, text: str) -> int:
    return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class ChatRoute:
    """``POST /v1/chat/completions`` (see the module docstring)."""

    def __init__(self, options: ServingOptions) -> None:
        self.options = options
        self._templates: dict[int, tuple[str, Jinja2ChatFormatter]] = {}

    def log(self, entry: dict[str, Any]) -> None:
        if self.options.request_log is not None:
            with self.options.request_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    async def __call__(self, request: Request) -> Response:
        started = time.time()
        entry: dict[str, Any] = {"time": round(started, 3)}
        try:
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                raise BadRequest(f"the request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
            try:
                raw = json.loads(body)
            except ValueError:
                raise BadRequest("the request body is not JSON") from None
            chat = parse_request(raw, self.options.system_prompt)
            entry.update(model=chat.model, stream=chat.stream, messages=len(chat.messages),
                         roles=[m["role"] for m in chat.messages], tools=chat.tool_names,
                         tool_choice=chat.tool_choice if isinstance(chat.tool_choice, str) else "function",
                         max_tokens=chat.max_tokens, include_usage=chat.include_usage,
                         system=chat.messages[0]["content"][:4096] if chat.messages[0]["role"] == "system" else None)
            async with contextlib.asynccontextmanager(get_llama_proxy)() as proxy:
                prepared = prepare(proxy(chat.model), chat, self.options, self._templates)
            entry.update(prompt_tokens=len(prepared.tokens), tools_rendered=prepared.prompt.tools_rendered,
                         n_ctx=prepared.llama.n_ctx(), generation_max_tokens=prepared.kwargs["max_tokens"])
        except BadRequest as exc:
            code = getattr(exc, "code", None)
            self.log({**entry, "status": 400, "error": str(exc)})
            return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": "messages",
                                           "code": code}}, status_code=400)
        if chat.tools and not prepared.prompt.tools_rendered:
            print(f"warning: the model's chat template does not render tools; {len(chat.tools)} tools "
                  "in the request are not shown to the model", flush=True)
        if not chat.stream:
            answer = await self._whole(chat, prepared)
            self.log({**entry, "status": 200, "finish_reason": answer.finish_reason, "answer": answer.text[:ANSWER_LOG_CHARS],
                      "completion_tokens": answer.completion_tokens, "tool_calls": [c.name for c in answer.calls or []],
                      "seconds": round(time.time() - started, 3)})
            return JSONResponse(self._whole_body(chat, prepared, answer))
        return StreamingResponse(self._events(chat, prepared, entry, started), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _whole(self, chat: ChatRequest, prepared: Prepared) -> _Answer:
        async with contextlib.asynccontextmanager(get_llama_proxy)() as proxy:
            prepared = self._again(proxy, chat, prepared)

            def run() -> _Answer:
                pieces, reason = [], None
                for text, finish in _completion_chunks(prepared):
                    pieces.append(text)
                    reason = finish or reason
                full = "".join(pieces)
                stream = ToolCallStream() if chat.tools else None
                if stream is None:
                    return _Answer(full, [], _count(prepared.llama, full), reason or "stop")
                parts = stream.feed(full) + stream.finish()
                calls = [p for p in parts if isinstance(p, ToolCall)]
                text = "".join(p for p in parts if isinstance(p, str))
                return _Answer(text.strip() if calls else text, calls, _count(prepared.llama, full), _finish(reason, calls))

            return await run_in_threadpool(run)

    def _again(self, proxy: Any, chat: ChatRequest, prepared: Prepared) -> Prepared:
        """The prepared request for the model now loaded (another request may have swapped models)."""
        llama = proxy(chat.model)
        return prepared if llama is prepared.llama else prepare(llama, chat, self.options, self._templates)

    @staticmethod
    def _whole_body(chat: ChatRequest, prepared: Prepared, answer: _Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text or (None if answer.calls else "")}
        if answer.calls:
            message["tool_calls"] = [c.to_openai() for c in answer.calls]
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": chat.model or "", "choices": [{"index": 0, "message": message, "logprobs": None,
                                                        "finish_reason": answer.finish_reason}],
                "usage": _usage(len(prepared.tokens), answer.completion_tokens)}

    async def _events(self, chat: ChatRequest, prepared: Prepared, entry: dict[str, Any],
                      started: float) -> AsyncIterator[str]:
        """The SSE stream: role, content deltas, one delta per tool call, the finish chunk, usage, [DONE]."""
        chunk_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
            body: dict[str, Any] = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                                    "model": chat.model or "",
                                    "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                                          "finish_reason": finish}]}
            if usage is not None or chat.include_usage:
                body["usage"] = usage
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        status: dict[str, Any] = {"status": 200}
        try:
            async with contextlib.asynccontextmanager(get_llama_proxy)() as proxy:
                prepared = self._again(proxy, chat, prepared)
                yield chunk({"role": "assistant", "content": ""})
                calls: list[ToolCall] = []
                parser = ToolCallStream() if chat.tools else None
                held, reason, generated = "", None, []
                async for text, finish in iterate_in_threadpool(_completion_chunks(prepared)):
                    generated.append(text)
                    reason = finish or reason
                    for part in (parser.feed(text) if parser else [text]):
                        if isinstance(part, ToolCall):
                            yield chunk({"tool_calls": [part.to_openai(index=len(calls))]})
                            calls.append(part)
                            held = ""  # whitespace between calls is layout, not an answer
                        elif (held + part).strip():
                            yield chunk({"content": held + part})
                            held = ""
                        else:
                            held += part
                for part in (parser.finish() if parser else []):
                    if isinstance(part, str) and (held + part).strip():
                        yield chunk({"content": held + part})
                completion_tokens = _count(prepared.llama, "".join(generated))
                finish_reason = _finish(reason, calls)
                yield chunk({}, finish_reason)
                if chat.include_usage:
                    yield chunk(None, usage=_usage(len(prepared.tokens), completion_tokens))
                yield "data: [DONE]\n\n"
                status.update(finish_reason=finish_reason, completion_tokens=completion_tokens,
                              answer="".join(p for p in generated)[:ANSWER_LOG_CHARS] if not calls else "",
                              tool_calls=[c.name for c in calls])
        except BaseException as exc:
            status.update(status="aborted", error=f"{exc.__class__.__name__}: {exc}")
            raise
        finally:
            self.log({**entry, **status, "seconds": round(time.time() - started, 3)})


def create_app(server_settings: Any, model_settings: list[Any], options: ServingOptions) -> FastAPI:
    """llama-cpp-python's app with its chat route replaced by :class:`ChatRoute`."""
    app = create_llama_app(server_settings=server_settings, model_settings=model_settings)
    app.add_api_route("/v1/chat/completions", ChatRoute(options).__call__, methods=["POST"])
    # First match wins: put ours before the included router's (FastAPI includes routers as one entry).
    app.router.routes.insert(0, app.router.routes.pop())
    return app
