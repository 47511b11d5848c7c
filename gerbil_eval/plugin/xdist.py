"""pytest-xdist hand-off: what the controller gives each worker, how result rows travel back on
the test reports, and which jobs are already queued to a worker.

Without xdist none of this runs except the row transport, which then just moves a row from the
item to the session.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..fetch.fetcher import Job
    from ..run.models import ModelSpec
    from ..run.types import ResultRow
    from .session import EvalSession

#: Name of the report property that carries an item's result row and answer text (JSON) to the controller.
ROW_PROPERTY = "gerbil_eval_row"
#: Key of the controller's data in an xdist worker's ``workerinput``.
WORKER_INPUT = "gerbil_eval"


class _Controller:
    """Hands the run id, run folder and served models to each xdist worker."""

    def __init__(self, session: EvalSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        s = self.session
        node.workerinput[WORKER_INPUT] = json.dumps({
            "run_id": s.run_id, "run_dir": str(s.run_dir),
            "served": [[m.name, m.base_url, m.role, m.served] for m in s.served]})


def register_controller(config: pytest.Config, session: EvalSession) -> None:
    """On the xdist controller (not on a worker, not without xdist): hand the run to every worker."""
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Controller(session), "gerbil-eval-xdist")


def worker_input(config: pytest.Config) -> dict[str, Any] | None:
    """On an xdist worker: the controller's run id, run folder and served models; else None."""
    if not hasattr(config, "workerinput"):
        return None
    return json.loads(config.workerinput[WORKER_INPUT])  # type: ignore[attr-defined]


def served_models(worker: dict[str, Any]) -> list[ModelSpec]:
    from ..run.models import ModelSpec

    return [ModelSpec(*fields) for fields in worker["served"]]


def attach_row(item: pytest.Item, row: ResultRow, answer: str) -> None:
    """Put an item's result row and answer text on its report, where the controller (or this process) finds them."""
    item.user_properties.append((ROW_PROPERTY, json.dumps({"row": row.to_dict(), "answer": answer})))


def take_row(report: pytest.TestReport, keep: bool) -> tuple[ResultRow, str] | None:
    """The row and answer text a report carries, if any. Unless ``keep`` (a worker must send them on),
    the property is dropped before junitxml writes every user property into the user's XML."""
    from ..run.types import ResultRow

    found = None
    for name, value in report.user_properties:
        if name == ROW_PROPERTY:
            data = json.loads(value)
            found = ResultRow.from_dict(data["row"]), data["answer"]
    if not keep:
        report.user_properties = [p for p in report.user_properties if p[0] != ROW_PROPERTY]
    return found


def queued_jobs(config: pytest.Config, items: list[pytest.Item]) -> list[Job]:
    """Under xdist: the jobs of the items already queued to this worker, fetched together with
    the one about to run so a worker's requests still go out concurrently.

    xdist's worker queue is documented as inspectable under its ``lock()``; anything else (no
    xdist, another version) just means one request at a time.
    """
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None)
        if queue is None or not hasattr(queue, "lock"):
            continue
        with queue.lock() as queued:
            indices = [getattr(plugin, "nextitem_index", None), *queued]
        return [job for i in indices if isinstance(i, int) and i < len(items)
                and (job := getattr(items[i], "job", None)) is not None]
    return []
