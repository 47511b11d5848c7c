"""Async client for one OpenAI-compatible chat endpoint.

It speaks plain HTTP through ``httpx`` rather than the ``openai`` SDK: the SDK
costs about a second of import time on every pytest start-up, and we need direct
control over retries (the SDK's own are switched off in practice by our loop),
streaming TTFT and the distinction between *infrastructure* failures (stop the
whole run: unreachable, 401/403, unknown model) and *request* failures (one
error item after retries: 429, 5xx, timeouts, dropped connections, bad JSON).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import InfraError
from ..safety.redact import redact

#: First backoff step in seconds; attempt n waits up to BACKOFF_BASE * 2**n (full jitter).
BACKOFF_BASE = 0.5
#: No single wait is longer than this, whatever Retry-After says.
BACKOFF_CAP = 60.0
#: The user message of the one-token request :meth:`ChatClient.preflight` sends per endpoint and model.
PROBE_PROMPT = "ping"
#: Streaming is given up for the run only after this many streamed requests in a row came back
#: as one JSON body: a single odd response (a proxy hiccup) must not change the whole run.
STREAM_STRIKES = 3


class RequestFailed(Exception):
    """One request failed after all retries; its item becomes an error, the run goes on."""


class _Retryable(Exception):
    """A transient failure worth another attempt; carries the server's Retry-After if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Completion:
    """What one successful chat request returned."""

    content: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    latency_s: float
    ttft_s: float | None


_RNG = random.Random()


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random = _RNG) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    The server's Retry-After wins when given (it knows its rate window); otherwise
    exponential backoff with full jitter, so many clients that failed together
    do not retry together.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), BACKOFF_CAP)
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_detail(response: httpx.Response) -> str:
    """The endpoint's own error message, shortened to one line."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = response.text
    return " ".join(str(message or response.reason_phrase).split())[:200]


class ChatClient:
    """Chat completions against one base URL, with retries, timeouts and streaming TTFT."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, retries: int, concurrency: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        #: cleared when the endpoint refuses streams (400) or ignores them STREAM_STRIKES times in a row,
        #: or its streams carry no token usage
        self.stream = True
        self._strikes = 0
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _infra(self, model: str, what: str) -> InfraError:
        return InfraError(redact(f"{self.base_url} (model {model!r}): {what}"))

    async def preflight(self, model: str) -> None:
        """Cheap checks before any case runs; raises InfraError when the run cannot work.

        ``GET /models`` shows the endpoint is reachable and takes the key. Then one
        streamed request for a single token shows the model exists (404 otherwise) and
        whether this endpoint's streams report token usage: llama-cpp-python's server
        never does, and there exact token counts beat TTFT, so its answers are then
        requested without streaming.
        """
        try:
            response = await self._http.get(f"{self.base_url}/models", timeout=min(self.timeout, 30.0))
        except httpx.HTTPError as exc:
            raise self._infra(model, f"endpoint unreachable ({type(exc).__name__}: {exc or 'no detail'}); "
                                     "is the server running and --base-url right?") from None
        if response.status_code in (401, 403):
            self._check(model, response)
        try:
            probe = await asyncio.wait_for(
                self._attempt(model, [{"role": "user", "content": PROBE_PROMPT}], {"max_tokens": 1}), self.timeout)
        except (_Retryable, RequestFailed, httpx.HTTPError, asyncio.TimeoutError):
            return  # transient trouble is for the real requests and their retries
        if self.stream and probe.total_tokens is None and probe.completion_tokens is None:
            self.stream = False

    async def complete(self, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        """One chat completion, retried on transient failures.

        Raises :class:`InfraError` for faults no retry can fix (auth, unknown model)
        and :class:`RequestFailed` once the retries are used up.
        """
        last = ""
        for attempt in range(self.retries + 1):
            try:
                return await asyncio.wait_for(self._attempt(model, messages, params), self.timeout)
            except _Retryable as exc:
                last, retry_after = str(exc), exc.retry_after
            except (asyncio.TimeoutError, httpx.TimeoutException):
                last, retry_after = f"timed out after {self.timeout:g}s", None
            except httpx.HTTPError as exc:
                last, retry_after = f"{type(exc).__name__}: {exc or 'connection failed'}", None
            if attempt < self.retries:
                await asyncio.sleep(backoff_delay(attempt, retry_after))
        raise RequestFailed(f"{last} (after {self.retries + 1} attempts)")

    async def _attempt(self, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        body: dict[str, Any] = {"model": model, "messages": messages, **params}
        if self.stream:
            try:
                return await self._streamed(model, {**body, "stream": True, "stream_options": {"include_usage": True}})
            except _StreamRefused:  # an explicit refusal (HTTP 400): it will refuse the next one too
                self.stream = False
        return await self._plain(model, body)

    def _strike(self) -> None:
        """One more streamed request in a row that did not stream; the last straw turns streaming off."""
        self._strikes += 1
        if self._strikes >= STREAM_STRIKES:
            self.stream = False

    def _check(self, model: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_detail(response)
        if status in (401, 403):
            raise self._infra(model, f"HTTP {status} {detail}; check --api-key / $OPENAI_API_KEY")
        if status == 404:
            raise self._infra(model, f"unknown model or wrong URL (HTTP 404 {detail}); check --model and --base-url")
        if status == 429 or status >= 500 or status == 408:
            raise _Retryable(f"HTTP {status} {detail}", parse_retry_after(response.headers.get("retry-after")))
        raise RequestFailed(f"HTTP {status} {detail}")

    async def _plain(self, model: str, body: dict[str, Any]) -> Completion:
        start = time.perf_counter()
        response = await self._http.post(f"{self.base_url}/chat/completions", json=body)
        self._check(model, response)
        return _parse_body(response, start)

    async def _streamed(self, model: str, body: dict[str, Any]) -> Completion:
        start = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
            if response.status_code == 400:
                await response.aread()
                raise _StreamRefused()
            if response.status_code >= 400:
                await response.aread()
                self._check(model, response)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # An endpoint that ignores "stream" and answers in one JSON body.
                await response.aread()
                self._strike()
                return _parse_body(response, start)
            self._strikes = 0
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:  # JSON of another shape (a list, a string delta...) is as malformed as no JSON
                    event = json.loads(payload)
                    usage = _usage(event) or usage
                    for choice in event.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            parts.append(_text(text))
                        finish = choice.get("finish_reason") or finish
                except (ValueError, AttributeError, TypeError):
                    raise _Retryable(f"malformed stream event: {payload[:80]!r}") from None
            else:
                raise _Retryable("stream ended before [DONE]")
        return Completion("".join(parts), finish, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                          usage.get("total_tokens"), time.perf_counter() - start, ttft)


def _text(value: Any) -> str:
    """Answer text as sent; TypeError for anything that is not a string."""
    if not isinstance(value, str):
        raise TypeError("content is not a string")
    return value


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    """The ``usage`` object of a body or stream event ({} when absent); TypeError when it is not an object."""
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise TypeError("usage is not an object")
    return usage


class _StreamRefused(Exception):
    """The endpoint answered a streaming request with 400: retry without streaming."""


def _parse_body(response: httpx.Response, start: float) -> Completion:
    """A non-streamed ``chat.completion`` body; a body that is not one is worth a retry."""
    try:
        data = response.json()
        choice = data["choices"][0]
        content = _text(choice["message"].get("content") or "")
        usage = _usage(data)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Retryable(f"malformed response body: {response.text[:80]!r}") from None
    return Completion(content, choice.get("finish_reason"), usage.get("prompt_tokens"),
                      usage.get("completion_tokens"), usage.get("total_tokens"), time.perf_counter() - start, None)
