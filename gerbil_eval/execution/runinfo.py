"""What a run records about execution, and the rule that runs with and without it do not compare.

``results.json`` gets ``config.execution``: whether Gerbil was there (``enabled``), its
``gxi --version``, the sandbox's isolation level, and how many execution assertions ran and how
many were *not run*. A score from a run whose ``runs``/``checks`` assertions were left out is not
comparable with one where they counted, so ``compare`` and ``--compare-to`` refuse the pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from ..run.types import ResultRow, RunResult

from ..errors import GerbilEvalError
from .gerbil import INSTALL_HINT

#: The assertion types that run code (with or without ``not-``).
EXECUTION_TYPES = frozenset({"runs", "checks", "output", "claims"})


def is_execution(type_name: str) -> bool:
    return (type_name[4:] if type_name.startswith("not-") else type_name) in EXECUTION_TYPES


def execution_counts(rows: Iterable[ResultRow]) -> tuple[int, int]:
    """(execution assertions that ran, execution assertions not run) over result rows."""
    ran = not_run = 0
    for row in rows:
        for a in row.assertions:
            if is_execution(str(a.get("type", ""))):
                if a.get("not_run"):
                    not_run += 1
                else:
                    ran += 1
    return ran, not_run


def execution_info(gerbil: Any, isolation: str | None, rows: Iterable[ResultRow]) -> dict[str, Any]:
    """The ``config.execution`` entry of results.json."""
    ran, not_run = execution_counts(rows)
    return {"enabled": gerbil is not None, "gxi_version": getattr(gerbil, "version", None),
            "gxi": getattr(gerbil, "gxi", None), "isolation": isolation, "assertions_run": ran, "not_run": not_run}


def not_run_line(run: RunResult) -> str | None:
    """The one loud summary line when execution assertions were not run, else None."""
    info = run.config.get("execution") or {}
    n = info.get("not_run") or 0
    if not n:
        return None
    return (f"EXECUTION NOT RUN: {n} execution assertion{'s' if n != 1 else ''} (runs/checks/output/claims) "
            f"were left out of every score because no Gerbil was found; {INSTALL_HINT}")


def _mode(run: RunResult) -> tuple[bool, bool]:
    """(with execution, has execution assertions at all)."""
    info = run.config.get("execution") or {}
    ran, not_run = info.get("assertions_run") or 0, info.get("not_run") or 0
    return bool(info.get("enabled")) and not not_run, bool(ran or not_run)


def require_same_execution(old: RunResult, new: RunResult) -> None:
    """Refuse to compare a run with execution against one without (when either has execution assertions)."""
    (old_with, old_any), (new_with, new_any) = _mode(old), _mode(new)
    if (old_any or new_any) and old_with != new_with:
        label = lambda run, w: f"run {run.run_id or '?'} ({'with' if w else 'without'} execution)"  # noqa: E731
        raise GerbilEvalError(f"cannot compare {label(old, old_with)} with {label(new, new_with)}: its scores leave "
                              "out the execution assertions; rerun both with Gerbil (--gxi / $GERBIL_HOME)")
