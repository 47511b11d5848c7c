"""The chat client against the stand-in OpenAI chat-completions server (tests/fake_openai.py)
on 127.0.0.1: retries, Retry-After, timeouts, streaming TTFT, fallback, infrastructure errors."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from gerbil_eval.fetch.client import BACKOFF_BASE, ChatClient, RequestFailed, backoff_delay, parse_retry_after
from gerbil_eval.errors import EXIT_INFRA, InfraError
from tests.fake_openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "How do I iterate a hash table?"}]


def ask(server_url: str, *, retries: int = 3, timeout: float = 5.0, model: str = "fake-model", api_key: str | None = None):
    async def go():
        client = ChatClient(server_url, api_key, timeout, retries, concurrency=4)
        try:
            return await client.complete(model, MESSAGES, {"temperature": 0}), client.stream
        finally:
            await client.aclose()

    return asyncio.run(go())


def preflight(url: str, model: str, api_key: str | None = None) -> bool:
    """Run the preflight; returns whether the client will stream afterwards."""
    async def go():
        client = ChatClient(url, api_key, 5, 0, 1)
        try:
            await client.preflight(model)
            return client.stream
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_streamed_answer_has_content_usage_and_ttft_from_standin_server():
    with FakeOpenAI(answers={MESSAGES[0]["content"]: "use (hash-for-each f h)"}) as server:
        got, streaming = ask(server.url)
    assert got.content == "use (hash-for-each f h)"
    assert streaming and got.ttft_s is not None and 0 < got.ttft_s <= got.latency_s
    assert got.finish_reason == "stop"
    assert got.completion_tokens == 4 and got.total_tokens == got.prompt_tokens + 4


def test_endpoint_refusing_streams_falls_back_to_plain_requests_on_standin_server():
    with FakeOpenAI(default="plain answer", stream=False) as server:
        got, streaming = ask(server.url)
    assert got.content == "plain answer" and got.ttft_s is None
    assert streaming is False  # remembered: later requests do not try streaming again


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "drop"])
def test_each_transient_fault_is_retried_until_an_answer_on_standin_server(fault):
    with FakeOpenAI(default="ok") as server:
        server.script([fault, fault])
        got, _ = ask(server.url, retries=2)
        assert got.content == "ok"
        assert server.requests == 3 and server.faults_served[fault] == 2


def test_retry_after_is_honoured_on_standin_server():
    with FakeOpenAI(default="ok", retry_after="1") as server:
        server.script(["429"])
        start = time.perf_counter()
        got, _ = ask(server.url)
        assert got.content == "ok"
        assert time.perf_counter() - start >= 1.0


def test_slow_response_times_out_and_fails_after_retries_on_standin_server():
    with FakeOpenAI(slow_s=2.0) as server:
        server.script(["slow", "slow"])
        start = time.perf_counter()
        with pytest.raises(RequestFailed, match=r"timed out after 0.3s \(after 2 attempts\)"):
            ask(server.url, retries=1, timeout=0.3)
        assert time.perf_counter() - start < 1.9


def test_persistent_500_becomes_request_failed_not_infra_on_standin_server():
    with FakeOpenAI() as server:
        server.script(["500"] * 3)
        with pytest.raises(RequestFailed, match="HTTP 500 The server had an error"):
            ask(server.url, retries=2)


def test_unknown_model_is_an_infra_error_naming_url_and_model_on_standin_server():
    with FakeOpenAI() as server:
        with pytest.raises(InfraError) as info:
            ask(server.url, model="no-such-model")
    assert server.url in str(info.value) and "'no-such-model'" in str(info.value)
    assert info.value.exit_code == EXIT_INFRA
    assert "\n" not in str(info.value)


def test_wrong_api_key_is_an_infra_error_in_preflight_on_standin_server():
    with FakeOpenAI(api_key="right-key") as server:
        with pytest.raises(InfraError, match="HTTP 401.*--api-key"):
            preflight(server.url, "fake-model", api_key="wrong-key")
        assert server.requests == 0  # preflight asks /models only


def test_unreachable_endpoint_is_an_infra_error_in_preflight():
    with pytest.raises(InfraError, match=r"http://127.0.0.1:9/v1 \(model 'm'\): endpoint unreachable"):
        preflight("http://127.0.0.1:9/v1", "m")


def test_backoff_grows_exponentially_with_full_jitter_and_obeys_retry_after():
    rng = random.Random(1)
    for attempt in range(5):
        delays = [backoff_delay(attempt, None, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= BACKOFF_BASE * 2**attempt
        assert max(delays) > BACKOFF_BASE * 2**attempt * 0.8  # spread over the whole window
    assert backoff_delay(3, 2.5, rng) == 2.5
    assert backoff_delay(0, 10_000, rng) == 60.0


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= parse_retry_after(date) <= 31


@pytest.mark.parametrize("stream_usage", [True, False])
def test_preflight_probes_one_token_and_keeps_streaming_only_with_streamed_usage_on_standin_server(stream_usage):
    """llama-cpp-python's server sends no usage in streams: exact token counts win over TTFT there."""
    with FakeOpenAI(stream_usage=stream_usage) as server:
        assert preflight(server.url, "fake-model") is stream_usage
        assert server.prompts == ["ping"]


def test_preflight_of_an_unknown_model_is_an_infra_error_on_standin_server():
    with FakeOpenAI() as server:
        with pytest.raises(InfraError, match=r"\(model 'nope'\): unknown model or wrong URL \(HTTP 404"):
            preflight(server.url, "nope")


@pytest.mark.parametrize("stream,body", [
    (True, b'data: ["not", "an", "event"]\n\ndata: [DONE]\n\n'),
    (True, b'data: {"choices": [{"delta": {"content": 3}}]}\n\ndata: [DONE]\n\n'),
    (True, b'data: {"choices": [], "usage": [1, 2]}\n\ndata: [DONE]\n\n'),
    (False, b'{"choices": [{"message": {"content": "x"}}], "usage": "many"}'),
    (False, b'{"choices": [{"message": {"content": [{"type": "text"}]}}]}'),
])
def test_json_of_the_wrong_shape_is_a_retried_failure_not_a_crash(stream, body):
    """Valid JSON that is not a chat completion fails the request like a body that is not JSON."""
    async def handler(request: httpx.Request) -> httpx.Response:
        kind = "text/event-stream" if stream else "application/json"
        return httpx.Response(200, content=body, headers={"content-type": kind})

    async def go():
        client = ChatClient("http://endpoint.test/v1", None, 5, 1, 1)
        client.stream = stream
        await client.aclose()
        client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        try:
            await client.complete("m", MESSAGES, {})
        finally:
            await client.aclose()

    with pytest.raises(RequestFailed, match=r"malformed (stream event|response body).*\(after 2 attempts\)"):
        asyncio.run(go())
