"""The typed run: one answer (:class:`Response`), one scored answer (:class:`ResultRow`), the run (:class:`RunResult`).

These are what flows from the requests to the reports: the plugin (or ``report``/``compare``
reading a saved run) builds one :class:`RunResult`, and results.json/csv, summary.md,
report.html, the terminal table and the gates all read that same object. Its per-model
summaries and its comparisons are computed once, when it is built
(:func:`gerbil_eval.analysis.totals.build_result`), so no two outputs can disagree or pay twice.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # types only: analysis builds RunResult, never the other way round
    from ..cases.loader import Case
    from ..analysis.comparison import Comparison
    from ..scoring.score import CaseScore
    from ..analysis.totals import ModelSummary

#: (model, case id, sample) -> the answer text shown in report.html.
Answers = dict[tuple[str, str, int], str]


@dataclass
class Response:
    """One answer (or the failure to get one) for a model, case and sample."""

    model: str
    case_id: str
    sample: int
    content: str | None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    error: str | None = None  # set when the request failed after retries -> error item
    cached: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.case_id, self.sample)

    @property
    def shown(self) -> str:
        return shown_answer(self.content, self.error)


def shown_answer(content: str | None, error: str | None) -> str:
    """The text report.html shows for an answer: the answer, or the request's error."""
    return content or (f"[error] {error}" if error else "")


#: Rough tokenizer for answers whose endpoint reported no usage: words and single
#: punctuation marks. Scheme code is punctuation-heavy, so this is closer to BPE
#: counts than a whitespace split; rows and summaries say ``tokens_estimated`` when used.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str | None) -> int:
    return len(_TOKEN_RE.findall(text or ""))


@dataclass(frozen=True)
class ResultRow:
    """One row of results.json and results.csv: a model's answer to a case (one sample), scored or errored.

    An errored row (no answer after retries) has ``score`` and ``passed`` None and ``error`` set;
    a row whose every assertion needs Gerbil, which was not found, has them None and ``not_run``.
    """

    model: str
    role: str
    case_id: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    topic: str | None = None
    sample: int = 0
    score: float | None = None
    passed: bool | None = None
    error: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    seen: bool | None = None  # near a training example (--train-data); None when not checked
    note: str | None = None  # e.g. the answer was cut to --max-answer-bytes
    #: token counts counted from the answer text: the endpoint reported no usage
    tokens_estimated: bool = False
    #: every assertion runs code and no Gerbil was found: nothing could be judged
    not_run: bool = False
    #: each assertion's result as written in results.json: type, value, weight, passed, score, reason
    assertions: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, model: str, role: str, case: Case, response: Response, score: CaseScore | None,
           seen: bool | None) -> ResultRow:
        """The row of ``response`` to ``case``, scored (``score``) or errored (``score`` None)."""
        completion, total, estimated = response.completion_tokens, response.total_tokens, False
        if response.error is None and completion is None:
            completion = estimate_tokens(response.content)
            total, estimated = completion + (response.prompt_tokens or 0), True
        not_run = bool(score is not None and getattr(score, "not_run", False))
        return cls(
            model=model, role=role, case_id=case.id, category=case.category, tags=tuple(case.tags), topic=case.topic,
            sample=response.sample,
            score=None if score is None or not_run else score.score,
            passed=None if score is None or not_run else score.passed,
            error=response.error, latency_s=response.latency_s, ttft_s=response.ttft_s,
            prompt_tokens=response.prompt_tokens, completion_tokens=completion, total_tokens=total,
            seen=seen, note=score.note if score is not None and score.note else None,
            tokens_estimated=estimated, not_run=not_run,
            assertions=tuple(
                {"type": a.type, "value": a.value, "weight": a.weight, "passed": a.passed, "score": a.score,
                 "reason": a.reason, **({"not_run": True} if getattr(a, "not_run", False) else {})}
                for a in (score.assertions if score is not None else ())),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultRow:
        """A row as read back from results.json (checked by :func:`gerbil_eval.run.load.load_run`);
        keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["tags"] = tuple(values.get("tags") or ())
        values["assertions"] = tuple(values.get("assertions") or ())
        values["tokens_estimated"] = bool(values.get("tokens_estimated"))
        values["not_run"] = bool(values.get("not_run"))
        values.setdefault("role", "candidate")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The results.json row: every field, ``tokens_estimated`` and ``not_run`` only when true."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["tags"], out["assertions"] = list(self.tags), [dict(a) for a in self.assertions]
        for flag in ("tokens_estimated", "not_run"):
            if not out[flag]:
                del out[flag]
        return out

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.case_id, self.sample)


#: Column order of results.csv: every field of a row.
ROW_FIELDS = tuple(f.name for f in dataclasses.fields(ResultRow))


@dataclass(frozen=True)
class RunResult:
    """A finished run (or a run merged with the earlier run it is compared to), ready to report and gate.

    Built by :func:`gerbil_eval.analysis.totals.build_result`, which computes ``summaries`` and
    ``comparisons`` from ``rows`` once; everything downstream only reads them.
    """

    run_id: str
    created: str
    #: results.json's ``config``: models (name, base_url, role[, reference_for, run_id]), sampling, cases, execution
    config: Mapping[str, Any]
    rows: tuple[ResultRow, ...]
    #: model -> its headline figures (mean score, pass rate, CI, performance), in :meth:`models` order
    summaries: Mapping[str, ModelSummary]
    #: each candidate against each baseline (and against the --compare-to run's same model)
    comparisons: tuple[Comparison, ...] = ()
    answers: Answers = field(default_factory=dict)

    def models(self, role: str | None = None) -> list[str]:
        """Model names in first-appearance order (config first, then rows), optionally by role."""
        return models_in(self.config, self.rows, role)

    def rows_of(self, model: str) -> list[ResultRow]:
        return [r for r in self.rows if r.model == model]

    def to_doc(self) -> dict[str, Any]:
        """The results.json document (see docs/architecture.md)."""
        return {"run_id": self.run_id, "created": self.created, "config": dict(self.config),
                "results": [r.to_dict() for r in self.rows],
                "summary": {m: s.to_dict() for m, s in self.summaries.items()}}


def models_in(config: Mapping[str, Any], rows: tuple[ResultRow, ...] | list[ResultRow], role: str | None = None) -> list[str]:
    """Model names in first-appearance order (``config["models"]`` first, then rows), optionally by role."""
    seen: dict[str, str] = {}
    for m in config.get("models", []):
        seen.setdefault(m["name"], m.get("role", "candidate"))
    for r in rows:
        seen.setdefault(r.model, r.role)
    return [name for name, r in seen.items() if role is None or r == role]
