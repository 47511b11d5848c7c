"""Fetch the answers for a set of (model, case, sample) jobs before any item asserts.

All uncached requests go out at once on one event loop, bounded by
``--concurrency`` across all endpoints; every response is appended to
``responses.jsonl`` and stored in the cache the moment it arrives, so a killed
run resumes where it stopped. A request that fails after its retries becomes an
error :class:`Response`; an infrastructure fault (see ``client``) stops
everything with :class:`InfraError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .cache import ResponseCache, cache_key
from .client import ChatClient, RequestFailed
from ..run.folder import ResponseLog
from ..run.types import Response
from ..safety.inputs import valid_unicode
from ..safety.redact import redact

if TYPE_CHECKING:
    from ..cases.loader import Case
    from ..plugin.options import RunOptions
    from ..run.models import ModelSpec


@dataclass(frozen=True)
class Job:
    """One answer to get: a model's ``sample``-th answer to a case."""

    model: ModelSpec
    case: Case
    sample: int
    #: The run's system prompt (``--system``), sent when the case brings none of its own.
    system: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model.name, self.case.id, self.sample)

    @property
    def messages(self) -> list[dict[str, str]]:
        messages = [dict(m) for m in self.case.messages]
        if self.system and not any(m.get("role") == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": self.system})
        return messages


def request_params(options: RunOptions, sample: int) -> dict[str, Any]:
    """Sampling parameters of one request. With ``--seed`` sample ``i`` uses ``seed + i``,
    so repeated samples are reproducible yet not identical copies."""
    params: dict[str, Any] = {"temperature": options.temperature}
    if options.max_tokens is not None:
        params["max_tokens"] = options.max_tokens
    if options.seed is not None:
        params["seed"] = options.seed + sample
    return params


def job_cache_key(job: Job, options: RunOptions) -> str:
    """The cache key of one job: what answers it (see ``ModelSpec.cache_endpoint``) and every sampling option."""
    return cache_key(job.model.cache_endpoint, job.model.name, job.messages, options.temperature, options.max_tokens,
                     options.seed, job.sample)


def grouped_by_model(todo: list[tuple[Job, str]]) -> list[tuple[Job, str]]:
    """``todo`` with each base URL's jobs reordered model by model (models in first-seen
    order, jobs of one model in their given order); every base URL keeps its slots.

    Why: llama-cpp-python's server keeps ONE model loaded and loads another whenever the
    requested model changes, so jobs in item order (case by case, alternating between the
    BASE and BASE+ADAPTER that ``compare-adapter`` serves from one URL) would reload a
    multi-GB model per request. Slots stay per URL so requests to different endpoints
    still overlap as before.
    """
    slots: dict[str, list[int]] = {}
    for index, (job, _) in enumerate(todo):
        slots.setdefault(job.model.base_url, []).append(index)
    ordered = list(todo)
    for indices in slots.values():
        rank: dict[str, int] = {}
        for index in indices:
            rank.setdefault(todo[index][0].model.name, len(rank))
        regrouped = sorted((todo[i] for i in indices), key=lambda entry: rank[entry[0].model.name])
        for index, entry in zip(indices, regrouped):
            ordered[index] = entry
    return ordered


class Fetcher:
    """Gets answers for jobs: from the cache, else from the endpoints. Reusable across calls
    (xdist workers call it once per item), so clients and the event loop live as long as it."""

    def __init__(self, options: RunOptions, log: ResponseLog | None, cache: ResponseCache | None,
                 progress: bool = False, limits: dict[str, int] | None = None) -> None:
        self.options = options
        #: per-base-URL caps below --concurrency (a local llama.cpp server runs one request at a time)
        self.limits = limits or {}
        self.log = log
        self.cache = cache
        self.progress = progress
        #: called with each (job, response) the moment it is known (cached or fetched): lets the
        #: caller do CPU work such as scoring while other requests are still in flight
        self.on_response: Callable[[Job, Response], None] | None = None
        self._loop = asyncio.new_event_loop()
        self._clients: dict[str, ChatClient] = {}
        self._checked: set[tuple[str, str]] = set()

    def close(self) -> None:
        self._cancel_pending()
        for client in self._clients.values():
            self._loop.run_until_complete(client.aclose())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        """Run ``coro`` on the fetcher's loop. Ctrl-C stops the loop from outside any task, leaving
        every request task pending; they are cancelled and awaited here, so an interrupted run ends
        with pytest's one KeyboardInterrupt line instead of a screen of destroyed-task tracebacks."""
        try:
            return self._loop.run_until_complete(coro)
        except BaseException:
            self._cancel_pending()
            raise

    def _cancel_pending(self) -> None:
        """Cancel every request task and wait for it. Go round a few times: the interrupted main task
        stops the loop once more when it finishes ("Event loop stopped before Future completed"), a
        task that held the KeyboardInterrupt raises it again, and closing a cancelled stream queues an
        async-generator finaliser task, which is awaited, not cancelled."""
        stopped = (KeyboardInterrupt, SystemExit, RuntimeError)
        for round_ in range(5):
            with contextlib.suppress(*stopped):
                self._loop.run_until_complete(asyncio.sleep(0))  # queued callbacks create their tasks
            pending = asyncio.all_tasks(self._loop)
            if not pending:
                return
            if round_ == 0:
                for task in pending:
                    task.cancel()
            with contextlib.suppress(*stopped):
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def _client(self, base_url: str) -> ChatClient:
        if base_url not in self._clients:
            o = self.options
            self._clients[base_url] = ChatClient(base_url, o.api_key, o.timeout, o.retries, o.concurrency)
        return self._clients[base_url]

    def _deliver(self, job: Job, response: Response, results: dict[tuple[str, str, int], Response]) -> None:
        if self.log is not None:
            self.log.append(response)
        results[job.key] = response
        if self.on_response is not None:
            self.on_response(job, response)

    def fetch(self, jobs: Iterable[Job]) -> dict[tuple[str, str, int], Response]:
        """Answers for ``jobs`` keyed by ``(model, case_id, sample)``; raises InfraError."""
        results: dict[tuple[str, str, int], Response] = {}
        todo: list[tuple[Job, str]] = []
        for job in jobs:
            key = job_cache_key(job, self.options)
            hit = self.cache.get(key) if self.cache else None
            if hit is None:
                todo.append((job, key))
                continue
            self._deliver(job, Response(job.model.name, job.case.id, job.sample, cached=True, **hit), results)
        if todo:
            self._run(self._fetch_all(grouped_by_model(todo), results))
        return results

    def preflight(self, models: Iterable[ModelSpec]) -> None:
        """Check each endpoint and model once (reachable, key accepted, model known) before any request; raises InfraError."""
        self._run(self._preflight(models))

    async def _preflight(self, models: Iterable[ModelSpec]) -> None:
        fresh = {(m.base_url, m.name) for m in models} - self._checked
        await asyncio.gather(*(self._client(url).preflight(name) for url, name in sorted(fresh)))
        self._checked |= fresh

    async def _fetch_all(self, todo: list[tuple[Job, str]], results: dict[tuple[str, str, int], Response]) -> None:
        await self._preflight(job.model for job, _ in todo)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="gerbil-eval requests", unit="req", file=sys.stderr, leave=False)
        limit = asyncio.Semaphore(self.options.concurrency)
        endpoint = {url: asyncio.Semaphore(n) for url, n in self.limits.items()}

        async def one(job: Job, key: str) -> None:
            async with endpoint.get(job.model.base_url, contextlib.nullcontext()), limit:
                response = await self._request(job, key)
            self._deliver(job, response, results)
            if bar is not None:
                bar.update()

        # Tasks start, and queue on the semaphores, in list order: the order requests go out.
        tasks = [asyncio.ensure_future(one(job, key)) for job, key in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            if bar is not None:
                bar.close()

    async def _request(self, job: Job, key: str) -> Response:
        base = (job.model.name, job.case.id, job.sample)
        try:
            got = await self._client(job.model.base_url).complete(
                job.model.name, job.messages, request_params(self.options, job.sample))
        except RequestFailed as exc:
            return Response(*base, content=None, error=redact(str(exc)))
        response = Response(*base, content=valid_unicode(got.content),
                            finish_reason=got.finish_reason if isinstance(got.finish_reason, str) else None,
                            prompt_tokens=_count(got.prompt_tokens), completion_tokens=_count(got.completion_tokens),
                            total_tokens=_count(got.total_tokens), latency_s=got.latency_s, ttft_s=got.ttft_s)
        if self.cache is not None:
            self.cache.put(key, asdict(response))
        return response


def _count(value: Any) -> int | None:
    """A token count as the endpoint reported it, or None when it is not a whole number >= 0
    (an endpoint's ``NaN``, string or float must not reach the summary or results.json)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
