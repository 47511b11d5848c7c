"""The pytest plugin: options -> collect case items -> fetch answers -> assert -> reports -> gates.

Registered through the ``pytest11`` entry point, so it is loaded by every pytest run
in an environment that has gerbil-eval installed. It therefore does nothing at all
— no items, no files, no output — unless one of ``--model``, ``--baseline``,
``--replay`` or ``--serve`` is given, and it imports nothing heavy until then.

Once active, the run's machinery lives in :class:`EvalRun` (registered as a second
plugin): it collects ONLY the case files (one item per case x model x sample, named
``case_id[model]`` or ``case_id[model-sN]`` with ``--samples`` > 1), fetches every
selected answer concurrently after ``-k``/``-m`` deselection, then lets the items
assert. Under pytest-xdist each worker fetches the answers of the items it runs and
sends its result rows to the controller on the test reports (``user_properties``);
the controller alone writes the run folder.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from .errors import EXIT_INFRA, GerbilEvalError
from .cases.markers import marker_name, marker_problems
from .options import ModelSpec, RunOptions, add_options, options_from_config
from .safety.redact import redact
from .safety.shown import terminal_safe

if TYPE_CHECKING:
    from .cases.loader import Case
    from .run.types import Response, ResultRow, RunResult
    from .fetch.fetcher import Job

#: Name of the report property that carries an item's result row and answer text (JSON) to the controller.
ROW_PROPERTY = "gerbil_eval_row"
#: Key of the controller's data in an xdist worker's ``workerinput``.
WORKER_INPUT = "gerbil_eval"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        options = options_from_config(config)
    except GerbilEvalError as exc:
        raise pytest.UsageError(redact(str(exc))) from None
    if not options.active:
        return
    run = EvalRun(config, options)
    config.pluginmanager.register(run, "gerbil-eval-run")
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(run), "gerbil-eval-xdist")
    run.start()


def item_name(case_id: str, model: str, sample: int, samples: int) -> str:
    """``case_id[model]``, or ``case_id[model-sN]`` (N = 0-based sample, as in responses.jsonl)."""
    return f"{case_id}[{model}]" if samples == 1 else f"{case_id}[{model}-s{sample}]"


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


class CaseFailed(Exception):
    """A candidate's answer scored below the case's bar; the message is the assertion table."""


class RequestError(Exception):
    """The answer could not be fetched after retries: the item is an error, not a failure."""


class CaseFile(pytest.File):
    """A case YAML file: yields one item per case, model and sample."""

    def collect(self) -> Iterator[pytest.Item]:
        from .fetch.fetcher import Job

        run: EvalRun = self.config.pluginmanager.get_plugin("gerbil-eval-run")
        for case in run.cases_by_file.get(self.path.resolve(), ()):
            for model in run.models:
                for sample in range(run.options.samples):
                    name = item_name(case.id, model.label, sample, run.options.samples)
                    yield CaseItem.from_parent(self, name=name, job=Job(model, case, sample, run.options.system))


class CaseItem(pytest.Item):
    """One model's answer to one case (one sample)."""

    def __init__(self, *, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        for label in (job.case.category, *job.case.tags):
            self.add_marker(marker_name(label))

    @property
    def run(self) -> EvalRun:
        return self.config.pluginmanager.get_plugin("gerbil-eval-run")

    def setup(self) -> None:
        self.response = self.run.response_for(self.job)
        if self.response.error is not None and self.job.model.role != "baseline":
            self._record(None)
            raise RequestError(terminal_safe(redact(f"{self.name}: request failed: {self.response.error}")))

    def runtest(self) -> None:
        if self.response.error is not None:  # a baseline: reported, never fails the run
            self._record(None)
            pytest.xfail(terminal_safe(redact(f"baseline request failed: {self.response.error}")))
        score = self.run.score(self.job, self.response)
        self._record(score)
        if score.not_run:
            pytest.skip("not run: every assertion of this case runs code, and no Gerbil was found (--gxi, $GERBIL_HOME)")
        if score.passed:
            return
        if self.job.model.role == "baseline":
            pytest.xfail(f"baseline below the bar: score {score.score:.2f}")
        raise CaseFailed(terminal_safe(redact(failure_table(self.name, self.job.case, score, self.response.content or ""))))

    def _record(self, score: Any) -> None:
        row = self.run.row(self.job, self.response, score)
        self.user_properties.append((ROW_PROPERTY, json.dumps({"row": row.to_dict(), "answer": self.response.shown})))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (CaseFailed, RequestError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = getattr(self.job.case, "line", 0)
        return self.path, line - 1 if line else None, self.name


def failure_table(name: str, case: Case, score: Any, answer: str, answer_lines: int = 15) -> str:
    """The readable failure of a case: score vs bar, each assertion, the start of the answer."""
    bar = f"threshold {case.threshold:g}" if case.threshold is not None else "every weighted assertion must pass"
    lines = [f"{name}: score {score.score:.2f} ({bar})", ""]
    for a in score.assertions:
        value = a.value if isinstance(a.value, str) else json.dumps(a.value)
        value = value if len(value) <= 200 else value[:197] + "..."
        lines.append(f"  {'PASS' if a.passed else 'FAIL'}  {a.type} {value}  (weight {a.weight:g}, score {a.score:.2f})"
                     + (f"  {a.reason}" if a.reason and not a.passed else ""))
    shown = answer.splitlines()
    lines += ["", f"answer ({len(shown)} lines):", *("  | " + line for line in shown[:answer_lines])]
    if len(shown) > answer_lines:
        lines.append(f"  | ... {len(shown) - answer_lines} more lines (see responses.jsonl)")
    return "\n".join(lines)


def _import_report_modules() -> None:
    """Import what the reports need while requests are in flight and the CPU is idle
    (matplotlib alone is a large part of a run's CPU time otherwise).

    Only an optimisation: whatever fails here is imported again, in the main thread,
    when the reports are written, and any real error shows there.
    """
    for name in ("gerbil_eval.render", "gerbil_eval.render.html", "gerbil_eval.analysis.gates", "matplotlib.pyplot"):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


class _XdistController:
    """Hands the run id, run folder and served models to each xdist worker."""

    def __init__(self, run: EvalRun) -> None:
        self.run = run

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_INPUT] = json.dumps({
            "run_id": self.run.run_id, "run_dir": str(self.run.run_dir),
            "served": [[m.name, m.base_url, m.role, m.served] for m in self.run.served],
        })


class EvalRun:
    """One evaluation run inside pytest: its options, cases, models, answers and rows."""

    def __init__(self, config: pytest.Config, options: RunOptions) -> None:
        self.config = config
        self.options = options
        self.worker: dict[str, Any] | None = (
            json.loads(config.workerinput[WORKER_INPUT]) if hasattr(config, "workerinput") else None)  # type: ignore[attr-defined]
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
        self.rows: dict[str, ResultRow] = {}
        #: each row's answer text, for report.html (kept here: the report never re-reads responses.jsonl)
        self.answers: dict[tuple[str, str, int], str] = {}
        #: the --compare-to run, read once at the start
        self.previous: RunResult | None = None
        self.recorded: dict[tuple[str, str, int], Response] | None = None
        self.seen: dict[str, bool] | None = None
        self.fetcher: Any = None
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
        """Load and check everything a run needs before collection; one-line usage errors."""
        try:
            self._start()
        except GerbilEvalError as exc:
            self.close()
            self._remove_empty_run_dir()
            if exc.exit_code == EXIT_INFRA:
                pytest.exit(redact(str(exc)), returncode=EXIT_INFRA)
            raise pytest.UsageError(redact(str(exc))) from None

    def _start(self) -> None:
        from .cases.loader import load_cases
        from .run.folder import ResponseLog, create_run_dir, make_run_id

        if self.options.compare_to is not None:  # a wrong path is a usage error before any request
            from .run.load import load_result

            self.previous = load_result(self.options.compare_to)
        self.case_paths = [self._resolve(p) for p in self.options.cases]
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
        if self.options.replay is not None:
            from .fetch.replay import load_replay, replayed_models

            self.recorded = load_replay(self.options.replay)
        if self.worker is not None:
            self.run_id, self.run_dir = self.worker["run_id"], Path(self.worker["run_dir"])
            self.served = [ModelSpec(*fields) for fields in self.worker["served"]]
        else:
            self.run_id = make_run_id()
            self.run_dir = create_run_dir(self.options.report_dir, self.run_id)
            self._serve()
        self.models = [*self.options.models, *self.served, *self.options.baselines]
        if not self.models and self.recorded is not None:
            self.models = [ModelSpec(name, "replay") for name in replayed_models(self.recorded)]
        if self.options.train_data is not None:
            from .analysis.contamination import mark_seen

            self.seen = mark_seen(self.cases, self.options.train_data, self.options.seen_threshold)
        self._find_gerbil()
        self.log = ResponseLog(self.run_dir / "responses.jsonl")
        if self.recorded is None:
            self.fetcher = self._make_fetcher()
            if self.xdist_controller:  # workers fetch; the controller checks the endpoints once, up front
                self.fetcher.preflight(self.models)

    def _find_gerbil(self) -> None:
        """Gerbil for the execution assertions; without it they are not run (--require-exec: exit 4)."""
        from .execution.executor import settings_from_options
        from .execution.gerbil import GerbilNotFound, find_gerbil

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
        from .cases.loader import INSTALLED_LIBRARY

        if not self.config.getoption("--cases") and INSTALLED_LIBRARY.is_dir():
            return INSTALLED_LIBRARY  # no cases/ here and none asked for: the library installed with the package
        raise GerbilEvalError(f"--cases {path}: no such file or folder; run from the project root or pass --cases PATH")

    def _serve(self) -> None:
        """With --serve start the llama.cpp server now (items need its model name); stopped at unconfigure.

        Entered without --serve too: ``served_models`` then yields no model, but first turns a
        --serve-lora / --serve-alias given without --serve into a usage error instead of ignoring it.
        """
        from .server import served_models

        stack = contextlib.ExitStack()
        self.config.add_cleanup(stack.close)
        self.served = list(stack.enter_context(served_models(
            self.options.serve, self.options.serve_lora, self.options.serve_alias, self.run_dir)))

    def _make_fetcher(self) -> Any:
        from .fetch.cache import ResponseCache
        from .fetch.fetcher import Fetcher

        limits: dict[str, int] = {}
        if self.served:
            from .server import SERVED_CONCURRENCY

            limits = {m.base_url: SERVED_CONCURRENCY for m in self.served}
        fetcher = Fetcher(self.options, self.log, None if self.options.no_cache else ResponseCache(), limits=limits)
        fetcher.on_response = self._score_early
        return fetcher

    # -- collection -----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool | None:
        """Collect the case files only (never the project's own tests); the xdist controller collects nothing."""
        if self.xdist_controller:
            return None
        session.perform_collect([str(p) for p in self.case_paths])
        return True

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        node_path = self.node_paths.get(file_path.resolve())
        if node_path is None:
            return None
        return CaseFile.from_parent(parent, path=file_path, nodeid=node_path)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After -k/-m deselection: fetch every selected answer at once (workers fetch per item)."""
        self.items = session.items
        if self.worker is not None or self.config.option.collectonly:
            return
        jobs = [item.job for item in session.items if isinstance(item, CaseItem)]
        if self.recorded is not None:
            from .fetch.fetcher import replayed

            self.responses = replayed(jobs, self.recorded, str(self.options.replay), self.log)
            return
        from .errors import InfraError
        from .scoring.pool import ScorePool  # noqa: F401 - imported here, not by the first answer while the
        # prewarm thread imports: on Python 3.11 two threads parsing (pytest rewrites plugin modules) collide

        self._prewarm = threading.Thread(target=_import_report_modules, name="gerbil-eval-prewarm", daemon=True)
        self._prewarm.start()
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            self.fetcher.progress = sys.stderr.isatty()
            try:
                self.responses = self.fetcher.fetch(jobs)
            except InfraError as exc:
                self._remove_empty_run_dir()
                # pytest.exit tears the interpreter down: an import still running in the prewarm
                # thread would then die with a SystemError traceback instead of this one line.
                self._join_prewarm()
                pytest.exit(redact(str(exc)), returncode=EXIT_INFRA)
            # Items format their failures with ast.parse; on Python 3.11 the AST recursion
            # counter is shared between threads, so a rewrite-on-import still running in the
            # prewarm thread makes that parse fail with a SystemError (seen on fast failures).
            self._join_prewarm()

    def response_for(self, job: Job) -> Response:
        """The answer of one item; an xdist worker (or a replay) gets it on demand."""
        if job.key not in self.responses:
            if self.recorded is not None:
                from .fetch.fetcher import replayed

                self.responses.update(replayed([job], self.recorded, str(self.options.replay), self.log))
            else:
                from .errors import InfraError

                batch = [job, *(j for j in self._queued_jobs() if j.key not in self.responses and j.key != job.key)]
                try:
                    self.responses.update(self.fetcher.fetch(batch))
                except InfraError as exc:  # an xdist worker cannot stop the run: the item errors
                    from .run.folder import Response

                    return Response(*job.key, content=None, error=str(exc))
        return self.responses[job.key]

    def _queued_jobs(self) -> list[Job]:
        """Under xdist: the jobs of the items already queued to this worker, fetched together
        with the one about to run so a worker's requests still go out concurrently.

        xdist's worker queue is documented as inspectable under its ``lock()``; anything
        else (no xdist, another version) just means one request at a time.
        """
        for plugin in self.config.pluginmanager.get_plugins():
            queue = getattr(plugin, "torun", None)
            if queue is None or not hasattr(queue, "lock"):
                continue
            with queue.lock() as queued:
                indices = [getattr(plugin, "nextitem_index", None), *queued]
            return [self.items[i].job for i in indices
                    if isinstance(i, int) and i < len(self.items) and isinstance(self.items[i], CaseItem)]
        return []

    def score(self, job: Job, response: Response) -> Any:
        """The answer's CaseScore, computed once (usually already queued while the fetch was running)."""
        self._score_early(job, response)
        return self.scores[job.key].result()

    def _score_early(self, job: Job, response: Response) -> None:
        """Queue each answer for scoring the moment it arrives: the worker processes score it while the
        loop keeps receiving (submitting never waits on scoring)."""
        if job.key not in self.scores and response.error is None:
            if self.scorer is None:
                from .scoring.pool import ScorePool

                self.scorer = ScorePool(self.options.score_timeout, self.options.max_answer_bytes)
            self.scores[job.key] = self.scorer.submit(job.case, response.content or "",
                                                      {"model": job.model.label, "execution": self.execution})

    def row(self, job: Job, response: Response, score: Any) -> ResultRow:
        from .run.types import ResultRow

        return ResultRow.of(job.model.label, job.model.role, job.case, response, score,
                            self.seen.get(job.case.id) if self.seen else None)

    # -- reporting ------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A failed request is raised in setup (so the item is an error, not a failure), where
        pytest prints its own traceback and never asks ``repr_failure``: show its one line instead."""
        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, RequestError):
            report.longrepr = str(call.excinfo.value)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each item's row. The controller (or a run without xdist) then drops the property,
        before junitxml writes every user property into the user's XML; a worker must keep it
        to send the row on."""
        for name, value in report.user_properties:
            if name == ROW_PROPERTY:
                from .run.types import ResultRow

                data = json.loads(value)
                row = self.rows[report.nodeid] = ResultRow.from_dict(data["row"])
                self.answers[row.key] = data["answer"]
        if self.worker is None:
            report.user_properties = [p for p in report.user_properties if p[0] != ROW_PROPERTY]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Controller only: results.json/csv, reports, ``latest``, then the gates (exit 1 on failure)."""
        if self.worker is not None:
            return
        if not self.rows:  # --collect-only, nothing selected, stopped early: no empty run folder
            self.close()
            self._remove_empty_run_dir()
            return
        self._join_prewarm()
        import datetime as dt

        from .render import ReportOptions, write_reports
        from .run.folder import update_latest, write_results
        from .analysis.totals import build_result, with_reference

        rows = list(self.rows.values())
        config = self._config(rows)
        created = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        result = build_result(self.run_id, created, config, rows, self.answers)
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
            from .analysis.gates import check_gates

            self.gate_failures += check_gates(self.report, self.options.gates)
        update_latest(self.options.report_dir, self.run_dir)
        if self.gate_failures and session.exitstatus == 0:
            session.exitstatus = 1

    def _config(self, rows: list[ResultRow]) -> dict[str, Any]:
        """results.json's ``config``: only named options are copied, the API key never is."""
        from .execution.runinfo import execution_info
        from .execution.sandbox import isolation_level
        from .safety.redact import strip_userinfo

        level = isolation_level(self.gerbil.home, self.gerbil.gxi) if self.gerbil else None
        o = self.options
        return {
            "models": [{"name": m.name, "base_url": strip_userinfo(m.base_url), "role": m.role} for m in self.models],
            "temperature": o.temperature, "max_tokens": o.max_tokens, "samples": o.samples, "seed": o.seed,
            "cases": sorted(c.id for c in self.cases), "replay": str(o.replay) if o.replay else None,
            "execution": execution_info(self.gerbil, level, rows),
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        from .render import terminal_report

        terminalreporter.write_sep("=", "gerbil-eval")
        terminalreporter.write_line(terminal_report(self.report, self.options.report_dir / self.run_id / "report.html",
                                                    self.report_note))
        for failure in self.gate_failures:
            terminalreporter.write_line(terminal_safe(redact(f"GATE FAILED: {failure}")), red=True, bold=True)

    def pytest_unconfigure(self) -> None:
        self.close()

    def _join_prewarm(self) -> None:
        if self._prewarm is not None:
            self._prewarm.join()
            self._prewarm = None

    def close(self) -> None:
        self._join_prewarm()
        if self.fetcher is not None:
            self.fetcher.close()
            self.fetcher = None
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None
        if self.log is not None:
            self.log.close()
            self.log = None
