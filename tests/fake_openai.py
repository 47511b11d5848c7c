"""A stand-in OpenAI chat-completions server on 127.0.0.1, for tests and benchmarks.

It is a real HTTP/1.1 server (stdlib ``ThreadingHTTPServer``) that follows the
documented OpenAI protocol closely enough for any OpenAI-compatible client:

- ``GET  /v1/models`` -> ``{"object": "list", "data": [{"id": ..., "object": "model"}]}``
- ``POST /v1/chat/completions`` -> a ``chat.completion`` object, or with ``"stream": true``
  server-sent events of ``chat.completion.chunk`` objects ending in ``data: [DONE]``
  (chunked transfer encoding; a final usage chunk when
  ``stream_options.include_usage`` is true).
- errors use the OpenAI shape ``{"error": {"message", "type", "code"}}``:
  401 for a wrong bearer key (when ``api_key`` is set), 404 ``model_not_found``
  for a model not in ``models``.

API (everything is a keyword argument of :class:`FakeOpenAI`)::

    with FakeOpenAI(answers={"prompt text": "answer"}, default="fallback answer",
                    models=("fake-model",), delay=0.0, fault_rate=0.2) as server:
        server.url              # "http://127.0.0.1:PORT/v1" -> use as base_url
        server.requests         # chat requests received (every attempt, faults included)
        server.answered         # chat requests answered successfully
        server.prompts          # last user message of every answered request, in order
        server.models_asked     # the model of every answered request, in the same order
        asked(server)           # the same without gerbil-eval's preflight probes ("ping")
        server.faults_served    # Counter of injected faults by name
        server.max_in_flight    # most chat requests being handled at the same moment
        server.script(["429", "500"])   # the next requests get exactly these faults

- ``answers``: dict from the last user message to the answer, or a callable
  ``(messages) -> str``; unknown prompts get ``default``. ``by_model`` gives some
  models their own answers dict (e.g. a weaker baseline).
- ``delay``: fixed seconds before every response (the benchmark uses 0.2).
- ``fault_rate`` / ``faults``: each chat request gets a random fault from ``faults``
  with this probability (seeded by ``seed``). Faults: ``"429"`` (with
  ``Retry-After: retry_after``), ``"500"``, ``"slow"`` (sleeps ``slow_s`` first, to
  trip client timeouts), ``"malformed"`` (200 with a body that is not JSON),
  ``"drop"`` (closes the connection without answering). Only when asked for (not in the
  default mix): ``"echo"`` (422 whose message quotes every request header, the API key
  included) and ``"json"`` (a plain JSON answer to a streaming request).
- ``stream=False`` makes streaming requests fail with 400, like endpoints that
  cannot stream; ``usage=False`` leaves ``usage`` out of every answer, and
  ``stream_usage=False`` only out of streamed ones (like llama-cpp-python's server).

Run it by hand: ``python tests/fake_openai.py --port 8089 --delay 0.2``.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping

FAULTS = ("429", "500", "slow", "malformed", "drop")


class FakeOpenAI:
    """The stand-in server; see the module docstring for the API."""

    def __init__(
        self,
        answers: Mapping[str, str] | Callable[[list[dict[str, Any]]], str] | None = None,
        default: str = "```scheme\n(displayln \"hello\")\n```",
        models: Iterable[str] = ("fake-model",),
        delay: float = 0.0,
        fault_rate: float = 0.0,
        faults: Iterable[str] = FAULTS,
        retry_after: str = "0",
        slow_s: float = 5.0,
        by_model: Mapping[str, Mapping[str, str]] | None = None,
        api_key: str | None = None,
        stream: bool = True,
        usage: bool = True,
        stream_usage: bool = True,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.answers = answers or {}
        self.default = default
        self.by_model = by_model or {}
        self.models = tuple(models)
        self.delay = delay
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.api_key = api_key
        self.stream = stream
        self.usage = usage
        self.stream_usage = stream_usage
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._script: collections.deque[str] = collections.deque()
        self.requests = 0
        self.answered = 0
        self.prompts: list[str] = []
        self.models_asked: list[str] = []
        self.faults_served: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL of this server (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, faults: Iterable[str]) -> None:
        """Give the next chat requests exactly these faults (``"ok"`` for none), in order."""
        with self._lock:
            self._script.extend(faults)

    def start(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self._script:
                fault = self._script.popleft()
            elif self.fault_rate and self._random.random() < self.fault_rate:
                fault = self._random.choice(self.faults)
            else:
                return None
            if fault == "ok":
                return None
            self.faults_served[fault] += 1
            return fault

    def _answer(self, model: str, messages: list[dict[str, Any]]) -> str:
        if callable(self.answers):
            return self.answers(messages)
        prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        return self.by_model.get(model, self.answers).get(prompt, self.default)

    def _record(self, model: str, messages: list[dict[str, Any]]) -> None:
        prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        with self._lock:
            self.answered += 1
            self.prompts.append(prompt)
            self.models_asked.append(model)


def asked(server: FakeOpenAI, probe: str = "ping") -> list[str]:
    """The prompts ``server`` answered, leaving out gerbil-eval's one-token preflight probes."""
    return [p for p in server.prompts if p != probe]


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer (cancelled runs, timeouts) are normal here, not tracebacks.

    The listen backlog is raised from socketserver's 5: at concurrency 32 a backlog of 5
    makes the kernel reset connections, which no real endpoint does.
    """

    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _usage(messages: list[dict[str, Any]], answer: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion = len(answer.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str, headers: Mapping[str, str] | None = None) -> None:
            self._send_json(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}}, headers)

        def _authorized(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._error(401, "Incorrect API key provided", "invalid_api_key")
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                self._error(404, f"no route {self.path}", "not_found")
            elif self._authorized():
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in server.models]
                self._send_json(200, {"object": "list", "data": data})

        def do_POST(self) -> None:
            server._enter()
            try:
                self._post()
            finally:
                server._leave()

        def _post(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}", "not_found")
                return
            if not self._authorized():
                return
            request = json.loads(raw)
            if request.get("model") not in server.models:
                self._error(404, f"The model `{request.get('model')}` does not exist", "model_not_found")
                return
            fault = server._next_fault()
            if fault == "slow":
                time.sleep(server.slow_s)
            elif server.delay:
                time.sleep(server.delay)
            if fault == "429":
                self._error(429, "Rate limit reached", "rate_limit_exceeded", {"Retry-After": server.retry_after})
            elif fault == "500":
                self._error(500, "The server had an error", "server_error")
            elif fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "malformed":
                self._send_json(200, b'{"id": "chatcmpl-x", "choices": [{"message": ')
            elif fault == "echo":  # a careless endpoint that quotes the request headers in its error
                self._error(422, f"cannot process request with Authorization: {self.headers.get('Authorization')} "
                                 f"(headers {dict(self.headers)})", "unprocessable")
            elif fault == "json":  # one plain JSON answer although a stream was asked for
                messages = request.get("messages") or []
                answer = server._answer(request["model"], messages)
                server._record(request["model"], messages)
                self._complete(request, messages, answer)
            elif request.get("stream") and not server.stream:
                self._error(400, "stream is not supported", "unsupported_parameter")
            else:
                messages = request.get("messages") or []
                answer = server._answer(request["model"], messages)
                server._record(request["model"], messages)  # before answering: a client that has its answer sees it counted
                if request.get("stream"):
                    self._stream(request, messages, answer)
                else:
                    self._complete(request, messages, answer)

        def _complete(self, request: dict[str, Any], messages: list[dict[str, Any]], answer: str) -> None:
            body: dict[str, Any] = {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            }
            if server.usage:
                body["usage"] = _usage(messages, answer)
            self._send_json(200, body)

        def _stream(self, request: dict[str, Any], messages: list[dict[str, Any]], answer: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": request["model"]}
            half = len(answer) // 2
            events = [
                {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": answer[:half]}, "finish_reason": None}]},
                {**base, "choices": [{"index": 0, "delta": {"content": answer[half:]}, "finish_reason": None}]},
                {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
            if server.usage and server.stream_usage and (request.get("stream_options") or {}).get("include_usage"):
                events.append({**base, "choices": [], "usage": _usage(messages, answer)})
            for event in events:
                self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def main() -> None:
    """Serve by hand, e.g. to point promptfoo or curl at it."""
    parser = argparse.ArgumentParser(description="stand-in OpenAI chat-completions server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every response")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--model", action="append", default=[], help="model id to serve (repeatable)")
    parser.add_argument("--answer", default=None, help="the answer to every prompt (default: a one-line Scheme block)")
    args = parser.parse_args()
    server = FakeOpenAI(port=args.port, delay=args.delay, fault_rate=args.fault_rate,
                        models=args.model or ("fake-model",), **({"default": args.answer} if args.answer else {}))
    print(f"serving {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
