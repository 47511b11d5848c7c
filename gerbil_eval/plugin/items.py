"""The collected nodes: a case file, and one item per case, model and sample.

An item asks the session for its answer and its score and turns them into pytest's verdict:
a candidate below the bar fails with the assertion table, a request that failed after its
retries is an error (:class:`NoAnswer`), a baseline never fails the run (xfail).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from ..cases.markers import marker_name
from ..safety.redact import redact
from ..safety.shown import terminal_safe
from .xdist import attach_row

if TYPE_CHECKING:
    from pathlib import Path

    from ..cases.loader import Case
    from ..fetch.fetcher import Job
    from .session import EvalSession


class CaseFailed(Exception):
    """A candidate's answer scored below the case's bar; the message is the assertion table."""


class NoAnswer(Exception):
    """The answer could not be fetched after retries: the item is an error, not a failure."""


def item_name(case_id: str, model: str, sample: int, samples: int) -> str:
    """``case_id[model]``, or ``case_id[model-sN]`` (N = 0-based sample, as in responses.jsonl)."""
    return f"{case_id}[{model}]" if samples == 1 else f"{case_id}[{model}-s{sample}]"


class CaseFile(pytest.File):
    """A case YAML file: yields one item per case, model and sample."""

    def __init__(self, *, eval_session: EvalSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eval_session = eval_session

    def collect(self) -> Iterator[pytest.Item]:
        samples = self.eval_session.options.samples
        for job in self.eval_session.jobs_of(self.path):
            name = item_name(job.case.id, job.model.name, job.sample, samples)
            yield CaseItem.from_parent(self, name=name, job=job)


class CaseItem(pytest.Item):
    """One model's answer to one case (one sample)."""

    def __init__(self, *, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.eval_session: EvalSession = self.parent.eval_session
        for label in (job.case.category, *job.case.tags):
            self.add_marker(marker_name(label))

    def setup(self) -> None:
        self.response = self.eval_session.response_for(self.job)
        if self.response.error is not None and self.job.model.role != "baseline":
            self._record(None)
            raise NoAnswer(terminal_safe(redact(f"{self.name}: request failed: {self.response.error}")))

    def runtest(self) -> None:
        if self.response.error is not None:  # a baseline: reported, never fails the run
            self._record(None)
            pytest.xfail(terminal_safe(redact(f"baseline request failed: {self.response.error}")))
        score = self.eval_session.score(self.job, self.response)
        self._record(score)
        if score.not_run:
            pytest.skip("not run: every assertion of this case runs code, and no Gerbil was found (--gxi, $GERBIL_HOME)")
        if score.passed:
            return
        if self.job.model.role == "baseline":
            pytest.xfail(f"baseline below the bar: score {score.score:.2f}")
        raise CaseFailed(terminal_safe(redact(failure_table(self.name, self.job.case, score, self.response.content or ""))))

    def _record(self, score: Any) -> None:
        attach_row(self, self.eval_session.row(self.job, self.response, score), self.response.shown)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (CaseFailed, NoAnswer)):
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
