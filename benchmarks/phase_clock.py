"""A pytest plugin for bench_harness.py: when each phase of a ``pytest --model`` run ends.

Loaded with ``-p phase_clock`` (benchmarks/ on ``PYTHONPATH``) before the entry-point plugins,
so the moment this module is imported ends the interpreter's start-up (Python, ``import
pytest``, pytest's early configuration). Each mark is ``time.monotonic()``, the system-wide
monotonic clock, so the benchmark subtracts the moment it started the process. The marks go
to the JSON file named by ``$PHASE_CLOCK_FILE`` at the very end of the run.

Not part of the harness: the project never loads it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator

import pytest

MARKS: dict[str, float] = {"started": time.monotonic()}


def _mark(name: str) -> None:
    MARKS.setdefault(name, time.monotonic())


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """Every entry-point plugin (gerbil_eval.plugin among them) is imported by now."""
    _mark("plugins_imported")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish() -> None:
    """Items collected and deselected; gerbil-eval's own (trylast) hook is about to fetch."""
    _mark("collected")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop() -> Iterator[None]:
    _mark("fetched")  # every answer is in: the items start asserting
    result = yield
    _mark("items_done")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish() -> Iterator[None]:
    result = yield
    _mark("results_written")  # results.json/csv, summary.md, report.html, gates, latest
    return result


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary() -> Iterator[None]:
    result = yield
    _mark("terminal_summary")
    return result


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: Any) -> None:
    _mark("unconfigured")
    path = os.environ.get("PHASE_CLOCK_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(MARKS, fh)
