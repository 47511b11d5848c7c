"""Scoring in worker processes, off the request loop, with a hard time limit per check.

Why processes: a case's ``regex: "(a+)+$"`` on 40 ``a``s never returns, and a thread cannot be
stopped; a process can be killed. Why off the loop: a 5 MB answer takes seconds to read, and
while the event loop scores it, answers already on the wire time out and are asked again.

:class:`ScorePool` keeps a few persistent worker processes (started on first use, never per
answer) fed by one dispatcher thread each. :meth:`ScorePool.submit` only queues the answer and
returns a future, so the event loop never waits on scoring. A worker reports after reading the
answer and after each assertion; when one step takes longer than ``timeout`` seconds (or a
check type's own ``time_limit``) the worker is killed, that assertion fails with "timed out
after N s", and a fresh worker goes on with the next assertion. Any assertion type in the
registry works here unchanged: the worker calls the same :func:`~gerbil_eval.scoring.score.check_assertion`.

Workers are plain ``python -m gerbil_eval.scoring.pool`` processes talking over two pipes
(:class:`multiprocessing.connection.Connection` framing), not ``multiprocessing`` children: a
spawned child would re-import the parent's ``__main__`` (pytest), and ``fork`` in a threaded
process can deadlock.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .score import AssertionResult, CaseScore, combine

if TYPE_CHECKING:
    from ..cases.loader import Case

#: Worker processes per pool: scoring is cheap for real answers; more only helps hostile ones.
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: Seconds a new worker may take to start (a loaded machine), before any answer's clock starts.
STARTUP_TIMEOUT = 60.0


def cut_answer(answer: str, max_bytes: int) -> tuple[str, str]:
    """``answer`` cut to at most ``max_bytes`` UTF-8 bytes (at a character boundary), and the note for the row."""
    if len(answer) * 4 <= max_bytes:  # cannot be longer than that in UTF-8
        return answer, ""
    data = answer.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return answer, ""
    return (data[:max_bytes].decode("utf-8", "ignore"),
            f"answer cut to its first {max_bytes} of {len(data)} bytes (--max-answer-bytes)")


class _Worker:
    """One worker process and the two pipe ends that talk to it."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gerbil_eval.scoring.pool", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, env=env)
        os.close(to_child_r)
        os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)

    def stop(self, kill: bool = False) -> None:
        if not kill:
            try:
                self.send_conn.send(None)
            except OSError:
                kill = True
        if kill:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.send_conn.close()
        self.recv_conn.close()


class ScorePool:
    """Score answers in worker processes; see the module docstring."""

    def __init__(self, timeout: float, max_answer_bytes: int, workers: int = DEFAULT_WORKERS) -> None:
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self.workers = max(1, workers)
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        #: worker processes started so far (a killed one is replaced): for tests and benchmarks
        self.started = 0

    def submit(self, case: Case, answer: str, context: dict | None = None) -> concurrent.futures.Future[CaseScore]:
        """Queue ``answer`` for scoring against ``case``; returns at once with a future of its CaseScore."""
        future: concurrent.futures.Future[CaseScore] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("ScorePool used after close()")
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._dispatch, name=f"gerbil-eval-scorer-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        self._tasks.put((case, answer, dict(context or {}), future))  # picklable: model, vars, execution settings
        return future

    def score(self, case: Case, answer: str, context: dict | None = None) -> CaseScore:
        """Score one answer and wait for it (lint, and items whose answer was not scored early)."""
        return self.submit(case, answer, context).result()

    def close(self) -> None:
        """Stop every worker process (queued answers still get scored first)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._tasks.put(None)
        for thread in threads:
            thread.join()

    def __enter__(self) -> ScorePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- dispatcher thread ----------------------------------------------------------------------
    def _dispatch(self) -> None:
        worker: _Worker | None = None
        try:
            while (task := self._tasks.get()) is not None:
                case, answer, context, future = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    worker, result = self._score(worker, case, answer, context)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            if worker is not None:
                worker.stop()

    def _start(self) -> _Worker:
        self.started += 1
        return _Worker()

    def _score(self, worker: _Worker | None, case: Case, answer: str, context: dict) -> tuple[_Worker | None, CaseScore]:
        from ..assertions.registry import lookup

        answer, note = cut_answer(answer, self.max_answer_bytes)
        results: list[AssertionResult] = []
        n = len(case.assertions)
        has_code = True
        while len(results) < n:
            start = len(results)
            if worker is None:
                worker = self._start()
                # Start-up (an interpreter and the scorer's imports) is not the answer's time.
                if not worker.recv_conn.poll(STARTUP_TIMEOUT) or worker.recv_conn.recv() != "hello":
                    worker.stop(kill=True)
                    raise RuntimeError(f"a scoring worker did not start within {STARTUP_TIMEOUT:g} s")
            worker.send_conn.send((case, answer, context, start))
            step = "reading the answer"
            limit = self.timeout
            index = start
            while index < n:
                if not worker.recv_conn.poll(limit):
                    reason = f"timed out after {limit:g} s ({step}; --score-timeout)"
                    # Reading the answer is shared by every check: none of them can run.
                    failed = range(index, n) if step == "reading the answer" else (index,)
                    results += [self._failed(case, i, reason) for i in failed]
                    break
                try:
                    message = worker.recv_conn.recv()
                except (EOFError, OSError):
                    code = worker.process.poll()
                    results.append(self._failed(case, index, f"scoring worker died ({step}; exit {code})"))
                    break
                if len(message) == 2 and message[0] == "ready":  # the answer is read; the clock restarts
                    has_code = message[1]
                    entry = lookup(case.assertions[index].type)
                    limit = max(self.timeout, (entry.time_limit or 0) if entry else 0)
                    step = "this check"
                    continue
                results.append(AssertionResult(*message))
                index += 1
                if index < n:
                    entry = lookup(case.assertions[index].type)
                    limit = max(self.timeout, (entry.time_limit or 0) if entry else 0)
            else:
                continue  # every assertion answered by this worker
            worker.stop(kill=True)
            worker = None
        return worker, combine(case, tuple(results), note, has_code)

    @staticmethod
    def _failed(case: Case, index: int, reason: str) -> AssertionResult:
        a = case.assertions[index]
        return AssertionResult(a.type, a.value, a.weight, False, 0.0, reason)


def worker_main(read_fd: int, write_fd: int) -> None:
    """The worker process: read ``(case, answer, context, start)``, send "ready", then one result per assertion."""
    from ..answer import analyse
    from .score import check_assertion, lacks_code, scoring_context

    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    outbox.send("hello")
    while True:
        try:
            task = inbox.recv()
        except EOFError:
            return
        if task is None:
            return
        case, answer, context, start = task
        ans = analyse(answer)
        outbox.send(("ready", not lacks_code(case, ans)))
        ctx = scoring_context(case, context)
        for index in range(start, len(case.assertions)):
            try:
                r = check_assertion(case, index, ans, ctx)
            except Exception as exc:  # a bug in a check fails that check, with the reason, not the run
                a = case.assertions[index]
                r = AssertionResult(a.type, a.value, a.weight, False, 0.0, f"check raised {type(exc).__name__}: {exc}")
            outbox.send((r.type, r.value, r.weight, r.passed, r.score, r.reason, r.not_run))


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), int(sys.argv[2]))
