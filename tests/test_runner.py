"""Fetching answers concurrently against the stand-in OpenAI chat-completions server
(tests/fake_openai.py, real HTTP on 127.0.0.1): bounded concurrency, cache, log, infra stop."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gerbil_eval.fetch.cache import ResponseCache
from gerbil_eval.cases.loader import Assertion, Case
from gerbil_eval.errors import InfraError
from gerbil_eval.plugin.options import RunOptions
from gerbil_eval.run.models import ModelSpec
from gerbil_eval.fetch.fetcher import Fetcher, Job, request_params
from gerbil_eval.server import DEFAULT_CTX, LlamaServer, served_model
from tests.fake_openai import FakeOpenAI, asked


def jobs(url: str, n: int, model: str = "fake-model", samples: int = 1, spec: ModelSpec | None = None) -> list[Job]:
    spec = spec or ModelSpec(model, url)
    cases = [Case(id=f"c{i}", messages=({"role": "user", "content": f"prompt {i}"},), category="x", tags=(),
                  assertions=(Assertion("contains", "a"),)) for i in range(n)]
    return [Job(spec, case, s) for case in cases for s in range(samples)]


def fetch(url: str, todo: list[Job], tmp_path: Path, **options) -> dict:
    from gerbil_eval.run.folder import ResponseLog

    log = ResponseLog(tmp_path / "responses.jsonl")
    fetcher = Fetcher(RunOptions(**{"retries": 2, **options}), log, ResponseCache(tmp_path / "cache"))
    try:
        return fetcher.fetch(todo)
    finally:
        fetcher.close()
        log.close()


def test_requests_run_concurrently_up_to_the_limit_on_standin_server(tmp_path):
    with FakeOpenAI(delay=0.2) as server:
        start = time.perf_counter()
        got = fetch(server.url, jobs(server.url, 16), tmp_path, concurrency=4)
        elapsed = time.perf_counter() - start
        assert server.max_in_flight == 4
    assert len(got) == 16 and all(r.error is None for r in got.values())
    assert 0.8 <= elapsed < 3.0  # 16 / 4 * 0.2 s, not 16 * 0.2 s


def test_cached_answers_are_not_asked_again_but_are_logged_on_standin_server(tmp_path):
    with FakeOpenAI() as server:
        fetch(server.url, jobs(server.url, 5), tmp_path)
        again = fetch(server.url, jobs(server.url, 6), tmp_path)
        assert len(asked(server)) == 6
    assert sum(r.cached for r in again.values()) == 5
    assert len((tmp_path / "responses.jsonl").read_text().splitlines()) == 11


def test_failed_requests_become_error_responses_and_are_not_cached_on_standin_server(tmp_path):
    with FakeOpenAI() as server:
        server.script(["ok"] + ["500"] * 3)  # the preflight probe, then three failures
        got = fetch(server.url, jobs(server.url, 1), tmp_path, retries=2, concurrency=1)
        assert got[("fake-model", "c0", 0)].error.startswith("HTTP 500")
        again = fetch(server.url, jobs(server.url, 1), tmp_path)
        assert again[("fake-model", "c0", 0)].content and len(asked(server)) == 1
    lines = [json.loads(x) for x in (tmp_path / "responses.jsonl").read_text().splitlines()]
    assert lines[0]["error"] and lines[1]["error"] is None


def test_unknown_model_stops_everything_with_infra_error_on_standin_server(tmp_path):
    with FakeOpenAI(delay=0.05) as server:
        todo = jobs(server.url, 1, model="missing") + jobs(server.url, 10)
        with pytest.raises(InfraError, match="'missing'"):
            fetch(server.url, todo, tmp_path, concurrency=2)
        assert len(asked(server)) < 10  # the rest were cancelled


def test_models_sharing_a_base_url_are_asked_model_by_model_on_standin_server(tmp_path):
    """llama-cpp-python's server reloads its model whenever the requested model changes, so two
    models served from one URL (compare-adapter) must not be asked alternately, as items come."""
    with FakeOpenAI(models=("tuned", "base")) as server:
        alternating = [job for pair in zip(jobs(server.url, 3, "tuned"), jobs(server.url, 3, "base")) for job in pair]
        fetch(server.url, alternating, tmp_path, concurrency=1)
        asked_in_order = [(m, p) for m, p in zip(server.models_asked, server.prompts) if p != "ping"]
    assert asked_in_order == [("tuned", f"prompt {i}") for i in range(3)] + [("base", f"prompt {i}") for i in range(3)]


def served_spec(gguf: Path, url: str) -> ModelSpec:
    """The spec ``--serve gguf`` gives a server listening at ``url`` (no llama.cpp needed for that)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server = LlamaServer(process=None, port=port, log_path=gguf.with_suffix(".log"),  # type: ignore[arg-type]
                         models=(served_model(gguf),), ctx=DEFAULT_CTX)
    (spec,) = server.model_specs()
    assert spec.base_url == url
    return spec


def test_a_served_model_is_cached_by_its_files_not_its_port_on_standin_server(tmp_path):
    """--serve picks a new free port every run: an interrupted `make eval` must still reuse its answers."""
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(64))
    with FakeOpenAI(models=("model",)) as first, FakeOpenAI(models=("model",)) as second:
        fetch(first.url, jobs(first.url, 3, spec=served_spec(gguf, first.url)), tmp_path)
        again = fetch(second.url, jobs(second.url, 3, spec=served_spec(gguf, second.url)), tmp_path)
        assert len(asked(first)) == 3 and asked(second) == [] and second.requests == 0
    assert all(r.cached for r in again.values())


def test_samples_get_distinct_seeds_and_params_follow_options():
    options = RunOptions(temperature=0.7, max_tokens=64, seed=10)
    assert request_params(options, 0) == {"temperature": 0.7, "max_tokens": 64, "seed": 10}
    assert request_params(options, 2)["seed"] == 12
    assert request_params(replace(options, seed=None, max_tokens=None), 1) == {"temperature": 0.7}


# anyio's happy-eyeballs connect leaves a never-started coroutine behind when cancelled mid-connect
@pytest.mark.filterwarnings("ignore:coroutine 'connect_tcp.<locals>.try_connect' was never awaited")
def test_ctrl_c_mid_fetch_cancels_every_request_and_keeps_the_answers_so_far_on_standin_server(tmp_path, capfd):
    """KeyboardInterrupt stops the event loop from outside any task: no request may be left pending."""
    import gc

    from gerbil_eval.run.folder import ResponseLog

    log = ResponseLog(tmp_path / "responses.jsonl")
    fetcher = Fetcher(RunOptions(retries=0, concurrency=2), log, None)

    def interrupt(job, response):  # Ctrl-C while the first answer is being scored
        fetcher.on_response = None
        raise KeyboardInterrupt

    fetcher.on_response = interrupt
    with FakeOpenAI(delay=0.2) as server:
        with pytest.raises(KeyboardInterrupt):
            fetcher.fetch(jobs(server.url, 8))
        assert not asyncio.all_tasks(fetcher._loop)  # nothing left for close() to destroy
        fetcher.close()
        log.close()
    gc.collect()
    assert "Task was destroyed" not in capfd.readouterr().err
    assert len((tmp_path / "responses.jsonl").read_text().splitlines()) >= 1  # what arrived is kept for the rerun
