"""One evaluation run inside pytest: its options, cases, models, answers, scores and rows.

The hooks (:mod:`gerbil_eval.plugin.hooks`) call it at each step: :meth:`EvalSession.start`
before collection, :meth:`~EvalSession.fetch_selected` after deselection, the items ask for
answers and scores, :meth:`~EvalSession.finish` writes the run folder and checks the gates,
:meth:`~EvalSession.close` stops what the run started. Answers come from one fetcher chosen
once: the endpoints' (:class:`~gerbil_eval.fetch.fetcher.Fetcher`) or a replay file's
(:class:`~gerbil_eval.fetch.replay.Replayer`), behind the same ``fetch(jobs)``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..cases.markers import marker_name, marker_problems
from ..errors import GerbilEvalError, InfraError
from .options import RunOptions
from .xdist import queued_jobs, served_models, worker_input

if TYPE_CHECKING:
    from ..cases.loader import Case
    from ..fetch.fetcher import Job
    from ..run.models import ModelSpec
    from ..run.types import Response, ResultRow, RunResult


def case_node_path(file: Path, given: Path, rootpath: Path) -> str:
    """The path part of a case file's node ids: relative to the rootdir when the file is under
    it, else the path as given with --cases, or the absolute path when pytest could not find
    the file from that (it reads node ids relative to the rootdir for its progress and FAILED
    lines, and a relative --cases path is relative to the invocation folder).

    Why not leave it to pytest: for a file outside the rootdir pytest names it relative to
    the --cases folder it came from (``hash.yaml``), or leaves the path out entirely when the
    file was given itself. And a rootdir away from the project is common: pytest picks it
    before our options exist, so it takes a value such as ``--replay /tmp/x/r.jsonl`` for a
    test path and roots the run in /tmp/x.
    """
    file, root = file.resolve(), rootpath.resolve()
    if file.is_relative_to(root):
        return file.relative_to(root).as_posix()
    if (rootpath / given).resolve() == file:
        return given.as_posix()
    return file.as_posix()


def _import_report_modules() -> None:
    """Import what the reports need while requests are in flight and the CPU is idle
    and start the chart's process (matplotlib, a large part of a run's CPU time, is imported only there).

    Only an optimisation: whatever fails here is imported again, in the main thread,
    when the reports are written, and any real error shows there.
    """
    for name in ("gerbil_eval.render", "gerbil_eval.render.html", "gerbil_eval.analysis.gates"):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # matplotlib: in the chart's own process (render/chart_process.py)
        importlib.import_module("gerbil_eval.render.chart_process").start()


class EvalSession:
    """One evaluation run inside pytest: its options, cases, models, answers and rows."""

    def __init__(self, config: pytest.Config, options: RunOptions) -> None:
        self.config = config
        self.options = options
        #: on an xdist worker, what the controller handed over (run id, folder, served models)
        self.worker = worker_input(config)
        self.xdist_controller = self.worker is None and getattr(config.option, "dist", "no") != "no"
        self.served: list[ModelSpec] = []
        self.models: list[ModelSpec] = []
        self.cases_by_file: dict[Path, list[Case]] = {}
        #: the path part of each case file's node ids (see :func:`case_node_path`), by resolved path
        self.node_paths: dict[Path, str] = {}
        self.cases: list[Case] = []
        self.responses: dict[tuple[str, str, int], Response] = {}
        self.scores: dict[tuple[str, str, int], Any] = {}
        self.items: list[pytest.Item] = []
        self._prewarm: threading.Thread | None = None
        # At interpreter exit, no cyclic GC over everything the run built (items, rows, answers): measured
        # 4.0 -> 0.4 s of a loaded machine's wall time for 500 cases. Registered once; inline runs unaffected.
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        self.rows: dict[str, ResultRow] = {}
        #: each row's answer text, for report.html (kept here: the report never re-reads responses.jsonl)
        self.answers: dict[tuple[str, str, int], str] = {}
        #: the --compare-to run, read once at the start
        self.previous: RunResult | None = None
        self.seen: dict[str, bool] | None = None
        self.fetcher: Any = None  # a Fetcher or a Replayer
        self.scorer: Any = None  # a ScorePool, started with the first answer
        self.log: Any = None
        self.gate_failures: list[str] = []
        #: what the terminal shows: the run merged with the --compare-to run (set at session finish)
        self.report: RunResult | None = None
        self.report_note: str | None = None
        self.run_id = ""
        self.run_dir = Path()
        self.case_paths: list[Path] = []
        self.gerbil: Any = None  # the Gerbil that runs execution assertions, None when there is none
        self.execution: Any = None  # ExecSettings handed to the scorer

    # -- configure ------------------------------------------------------------------------
    def start(self) -> None:
        """Load and check everything a run needs before collection; a GerbilEvalError leaves nothing behind."""
        try:
            self._start()
        except GerbilEvalError:
            self.close()
            self._remove_empty_run_dir()
            raise

    def _start(self) -> None:
        from ..cases.loader import load_cases
        from ..run.folder import ResponseLog, create_run_dir, make_run_id

        if self.options.compare_to is not None:  # a wrong path is a usage error before any request
            from ..run.load import load_result

            self.previous = load_result(self.options.compare_to)
        self.case_paths = [self._resolve(p) for p in self.options.cases]
        if not self.config.getoption("--cases"):  # opt-in suites (HumanEval) join the default sources via -m
            from .suites import suite_paths

            self.case_paths += suite_paths(self.config.option.markexpr or "",
                                           (self.config.invocation_params.dir, self.config.rootpath))
        self.cases = load_cases(self.case_paths, allow_python=self.options.allow_python)
        for case in self.cases:
            self.cases_by_file.setdefault(Path(case.source).resolve(), []).append(case)
        for resolved, (first, *_) in self.cases_by_file.items():
            source = Path(first.source)
            self.node_paths[resolved] = case_node_path(source, self._given_path(source), self.config.rootpath)
        for case in self.cases:
            for problem in marker_problems(case):
                raise GerbilEvalError(f"{case.source}:{case.line}: case {case.id}: {problem}")
        for label in sorted({marker_name(x) for c in self.cases for x in (c.category, *c.tags)}):
            self.config.addinivalue_line("markers", f"{label}: gerbil-eval case category or tag")
        replayer = self._replayer()
        if self.worker is not None:
            self.run_id, self.run_dir = self.worker["run_id"], Path(self.worker["run_dir"])
            self.served = served_models(self.worker)
        else:
            self.run_id = make_run_id()
            self.run_dir = create_run_dir(self.options.report_dir, self.run_id)
            self._serve()
        self.models = [*self.options.models, *self.served, *self.options.baselines]
        if not self.models and replayer is not None:
            self.models = replayer.models()
        if self.options.train_data is not None:
            from ..analysis.contamination import mark_seen

            self.seen = mark_seen(self.cases, self.options.train_data, self.options.seen_threshold)
        self._find_gerbil()
        self.log = ResponseLog(self.run_dir / "responses.jsonl")
        self.fetcher = replayer or self._endpoint_fetcher()
        self.fetcher.log = self.log
        self.fetcher.on_response = self._score_early
        if self.xdist_controller:  # workers fetch; the controller checks the endpoints once, up front
            self.fetcher.preflight(self.models)

    def _replayer(self) -> Any:
        """With --replay, the recorded answers, read (and checked) before the run folder exists."""
        if self.options.replay is None:
            return None
        from ..fetch.replay import Replayer

        return Replayer(self.options.replay)

    def _endpoint_fetcher(self) -> Any:
        from ..fetch.cache import ResponseCache
        from ..fetch.fetcher import Fetcher

        limits: dict[str, int] = {}
        if self.served:
            from ..server import SERVED_CONCURRENCY

            limits = {m.base_url: SERVED_CONCURRENCY for m in self.served}
        return Fetcher(self.options, None, None if self.options.no_cache else ResponseCache(), limits=limits)

    def _find_gerbil(self) -> None:
        """Gerbil for the execution assertions; without it they are not run (--require-exec: exit 4)."""
        from ..execution.executor import settings_from_options
        from ..execution.gerbil import GerbilNotFound, find_gerbil

        self.execution = settings_from_options(self.options)
        try:
            self.gerbil = find_gerbil(self.options.gxi)
        except GerbilNotFound as exc:
            if self.options.require_exec:
                raise GerbilEvalError(f"--require-exec: {exc}") from None

    def _remove_empty_run_dir(self) -> None:
        """A run stopped before its first request leaves no empty folder behind (a server.log stays)."""
        if self.worker is not None or not self.run_dir.name:
            return
        log = self.run_dir / "responses.jsonl"
        if log.exists() and log.stat().st_size == 0:
            log.unlink()
        with contextlib.suppress(OSError):
            self.run_dir.rmdir()

    def _given_path(self, file: Path) -> Path:
        """A case file's path as the user wrote it: its --cases entry, joined with its place in that folder."""
        for given, resolved in zip(self.options.cases, self.case_paths):
            if file == resolved:
                return given
            if file.is_relative_to(resolved):
                return given / file.relative_to(resolved)
        return file

    def _resolve(self, path: Path) -> Path:
        """A --cases path as given (relative to the invocation dir), else relative to the rootdir."""
        for base in (self.config.invocation_params.dir, self.config.rootpath):
            candidate = path if path.is_absolute() else base / path
            if candidate.exists():
                return candidate
        from ..cases.loader import INSTALLED_LIBRARY

        if not self.config.getoption("--cases") and INSTALLED_LIBRARY.is_dir():
            return INSTALLED_LIBRARY  # no cases/ here and none asked for: the library installed with the package
        raise GerbilEvalError(f"--cases {path}: no such file or folder; run from the project root or pass --cases PATH")

    def _serve(self) -> None:
        """With --serve start the llama.cpp server now (items need its model name); stopped at unconfigure.

        Entered without --serve too: ``served_models`` then yields no model, but first turns a
        --serve-lora / --serve-alias given without --serve into a usage error instead of ignoring it.
        """
        from ..server import served_models as start_served

        stack = contextlib.ExitStack()
        self.config.add_cleanup(stack.close)
        o = self.options
        self.served = list(stack.enter_context(start_served(o.serve, o.serve_lora, o.serve_alias, self.run_dir)))

    # -- collection and answers -----------------------------------------------------------
    def jobs_of(self, path: Path) -> list[Job]:
        """The jobs of one case file, in item order: each case, each model, each sample."""
        from ..fetch.fetcher import Job

        return [Job(model, case, sample, self.options.system)
                for case in self.cases_by_file.get(path.resolve(), ())
                for model in self.models for sample in range(self.options.samples)]

    def fetch_selected(self) -> None:
        """Fetch the answers of every selected item at once (an InfraError leaves no empty run folder)."""
        from ..scoring.pool import ScorePool  # noqa: F401 - imported here, not by the first answer while the
        # prewarm thread imports: on Python 3.11 two threads parsing (pytest rewrites plugin modules) collide

        jobs = [job for item in self.items if (job := getattr(item, "job", None)) is not None]
        self._prewarm = threading.Thread(target=_import_report_modules, name="gerbil-eval-prewarm", daemon=True)
        self._prewarm.start()
        self.fetcher.progress = sys.stderr.isatty()
        try:
            self.responses = self.fetcher.fetch(jobs)
        except InfraError:
            self._remove_empty_run_dir()
            raise
        finally:
            # pytest.exit tears the interpreter down: an import still running in the prewarm thread
            # would then die with a SystemError traceback instead of the one-line error. And items
            # format their failures with ast.parse; on Python 3.11 the AST recursion counter is
            # shared between threads, so a rewrite-on-import still running in the prewarm thread
            # makes that parse fail with a SystemError (seen on fast failures).
            self._join_prewarm()

    def response_for(self, job: Job) -> Response:
        """The answer of one item; an xdist worker gets it on demand, with the jobs queued behind it."""
        if job.key not in self.responses:
            queued = queued_jobs(self.config, self.items)
            batch = [job, *(j for j in queued if j.key not in self.responses and j.key != job.key)]
            try:
                self.responses.update(self.fetcher.fetch(batch))
            except InfraError as exc:  # an xdist worker cannot stop the run: the item errors
                from ..run.folder import Response

                return Response(*job.key, content=None, error=str(exc))
        return self.responses[job.key]

    def score(self, job: Job, response: Response) -> Any:
        """The answer's CaseScore, computed once (usually already queued while the fetch was running)."""
        self._score_early(job, response)
        return self.scores[job.key].result()

    def _score_early(self, job: Job, response: Response) -> None:
        """Queue each answer for scoring the moment it arrives: the worker processes score it while the
        loop keeps receiving (submitting never waits on scoring)."""
        if job.key not in self.scores and response.error is None:
            if self.scorer is None:
                from ..scoring.pool import ScorePool

                self.scorer = ScorePool(self.options.score_timeout, self.options.max_answer_bytes)
            self.scores[job.key] = self.scorer.submit(job.case, response.content or "",
                                                      {"model": job.model.name, "execution": self.execution})

    def row(self, job: Job, response: Response, score: Any) -> ResultRow:
        from ..run.types import ResultRow

        return ResultRow.of(job.model.name, job.model.role, job.case, response, score,
                            self.seen.get(job.case.id) if self.seen else None)

    def keep(self, nodeid: str, row: ResultRow, answer: str) -> None:
        """Keep an item's row and answer text (from this process or, under xdist, from a worker's report)."""
        self.rows[nodeid] = row
        self.answers[row.key] = answer

    # -- the run folder, reports and gates ------------------------------------------------
    def finish(self) -> list[str]:
        """Controller only: results.json/csv, reports, ``latest``, then the gates. Returns the gate failures."""
        if self.worker is not None:
            return []
        if not self.rows:  # --collect-only, nothing selected, stopped early: no empty run folder
            self.close()
            self._remove_empty_run_dir()
            return []
        self._join_prewarm()
        import datetime as dt

        from ..analysis.totals import build_result, with_reference
        from ..render import ReportOptions, write_reports
        from ..run.folder import update_latest, write_results

        rows = list(self.rows.values())
        created = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        result = build_result(self.run_id, created, self._config(rows), rows, self.answers)
        write_results(self.run_dir, result)
        self.gate_failures = []
        self.report = result
        if self.previous is not None:
            try:
                self.report = with_reference(result, self.previous)
            except GerbilEvalError as exc:  # e.g. one run with execution, one without: report this run alone
                self.gate_failures.append(str(exc))
                self.report_note = f"--compare-to not shown: {exc}"
        try:
            write_reports(self.run_dir, self.report, ReportOptions(screenshot=self.options.report_screenshot))
        except GerbilEvalError as exc:
            self.gate_failures.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken report must not lose results.json, latest or the gates
            self.gate_failures.append(f"the reports could not be rendered ({type(exc).__name__}: "
                                      f"{' '.join(str(exc).split())[:200]}); results.json and results.csv are complete")
        if self.report_note is None:  # a --compare-to run that cannot be merged already failed the gates
            from ..analysis.gates import check_gates

            self.gate_failures += check_gates(self.report, self.options.gates)
        update_latest(self.options.report_dir, self.run_dir)
        return self.gate_failures

    def _config(self, rows: list[ResultRow]) -> dict[str, Any]:
        """results.json's ``config``: only named options are copied, the API key never is."""
        from ..execution.runinfo import execution_info
        from ..execution.sandbox import isolation_level
        from ..safety.redact import strip_userinfo

        level = isolation_level(self.gerbil.home, self.gerbil.gxi) if self.gerbil else None
        o = self.options
        return {
            "models": [{"name": m.name, "base_url": strip_userinfo(m.base_url), "role": m.role} for m in self.models],
            "temperature": o.temperature, "max_tokens": o.max_tokens, "samples": o.samples, "seed": o.seed,
            "cases": sorted(c.id for c in self.cases), "replay": str(o.replay) if o.replay else None,
            "execution": execution_info(self.gerbil, level, rows),
        }

    def terminal_table(self) -> str | None:
        """The table printed at the end of the run (None when no run folder was written)."""
        if self.report is None:
            return None
        from ..render import terminal_report

        return terminal_report(self.report, self.options.report_dir / self.run_id / "report.html", self.report_note)

    def _join_prewarm(self) -> None:
        if self._prewarm is not None:
            self._prewarm.join()
            self._prewarm = None

    def close(self) -> None:
        """Stop everything the run started: the prewarm thread, the fetcher, the scoring workers, the log."""
        self._join_prewarm()
        chart = sys.modules.get("gerbil_eval.render.chart_process")
        if chart is not None:  # a chart process started for reports never written (stopped early)
            chart.discard()
        if self.fetcher is not None:
            self.fetcher.close()
            self.fetcher = None
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None
        if self.log is not None:
            self.log.close()
            self.log = None
