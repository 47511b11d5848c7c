"""pytest's hooks for gerbil-eval: each hands its work to the run's :class:`EvalSession`.

Registered through the ``pytest11`` entry point, so it is loaded by every pytest run in an
environment that has gerbil-eval installed. It therefore does nothing at all — no items, no
files, no output — unless one of ``--model``, ``--baseline``, ``--replay`` or ``--serve`` is
given, and it imports nothing heavy until then.

Once active, the session collects ONLY the case files (one item per case x model x sample,
named ``case_id[model]`` or ``case_id[model-sN]`` with ``--samples`` > 1), fetches every
selected answer concurrently after ``-k``/``-m`` deselection, then lets the items assert.
Under pytest-xdist each worker fetches the answers of the items it runs and sends its result
rows to the controller on the test reports; the controller alone writes the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from ..errors import EXIT_INFRA, GerbilEvalError
from ..safety.redact import redact
from ..safety.shown import terminal_safe
from .options import add_options, options_from_config

if TYPE_CHECKING:
    from .session import EvalSession

#: The name the active run's hooks are registered under.
RUN_PLUGIN = "gerbil-eval-run"


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
    from .session import EvalSession
    from .xdist import register_controller

    session = EvalSession(config, options)
    config.pluginmanager.register(RunHooks(session), RUN_PLUGIN)
    register_controller(config, session)
    try:
        session.start()
    except GerbilEvalError as exc:
        _stop(exc)


def _stop(exc: GerbilEvalError) -> NoReturn:
    """An infrastructure fault ends the run with exit 7; anything else is a usage error (exit 4)."""
    if exc.exit_code == EXIT_INFRA:
        pytest.exit(redact(str(exc)), returncode=EXIT_INFRA)
    raise pytest.UsageError(redact(str(exc))) from None


class RunHooks:
    """The hooks of an active run, registered as a second plugin; each hands over to the session."""

    def __init__(self, session: EvalSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool | None:
        """Collect the case files only (never the project's own tests); the xdist controller collects nothing."""
        if self.session.xdist_controller:
            return None
        session.perform_collect([str(p) for p in self.session.case_paths])
        return True

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        node_path = self.session.node_paths.get(file_path.resolve())
        if node_path is None:
            return None
        from .items import CaseFile

        return CaseFile.from_parent(parent, path=file_path, nodeid=node_path, eval_session=self.session)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After -k/-m deselection: fetch every selected answer at once (workers fetch per item)."""
        self.session.items = session.items
        if self.session.worker is not None or session.config.option.collectonly:
            return
        capture = session.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            try:
                self.session.fetch_selected()
            except GerbilEvalError as exc:
                _stop(exc)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A failed request is raised in setup (so the item is an error, not a failure), where
        pytest prints its own traceback and never asks ``repr_failure``: show its one line instead."""
        from .items import NoAnswer

        report = yield
        if call.excinfo is not None and isinstance(call.excinfo.value, NoAnswer):
            report.longrepr = str(call.excinfo.value)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from .xdist import take_row

        taken = take_row(report, keep=self.session.worker is not None)
        if taken is not None:
            self.session.keep(report.nodeid, *taken)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Controller only: results.json/csv, reports, ``latest``, then the gates (exit 1 on failure)."""
        if self.session.finish() and session.exitstatus == 0:
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        table = self.session.terminal_table()
        if table is None:
            return
        terminalreporter.write_sep("=", "gerbil-eval")
        terminalreporter.write_line(table)
        for failure in self.session.gate_failures:
            terminalreporter.write_line(terminal_safe(redact(f"GATE FAILED: {failure}")), red=True, bold=True)

    def pytest_unconfigure(self) -> None:
        self.session.close()
