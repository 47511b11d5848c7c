"""``--replay FILE``: score recorded answers with no network.

The file is JSONL, one ``{"model", "case_id", "sample" (default 0), "content"}``
per line — exactly the shape of a run's own ``responses.jsonl``, so any run can
be re-scored after a case or scorer changes. Lines that recorded a failed
request (``content`` null, ``error`` set) replay as that error. When the same
answer appears twice the later line wins (a resumed run appends again).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import GerbilEvalError
from ..run.folder import ResponseLog
from ..run.types import Response
from ..safety.inputs import parse_json, read_text, valid_unicode
from ..safety.shown import short_repr

if TYPE_CHECKING:
    from ..run.models import ModelSpec
    from .fetcher import Job


#: Optional recorded fields and the types the summary can use (checked, so a bad one is a
#: one-line error here rather than a traceback while the reports are computed).
METRIC_FIELDS: dict[str, type | tuple[type, ...]] = {
    "finish_reason": str, "prompt_tokens": int, "completion_tokens": int, "total_tokens": int,
    "latency_s": (int, float), "ttft_s": (int, float)}
METRIC_KINDS: dict[type | tuple[type, ...], str] = {str: "a string", int: "an integer", (int, float): "a number"}


def load_replay(path: Path) -> dict[tuple[str, str, int], Response]:
    """Read a replay file into ``{(model, case_id, sample): Response}``; bad lines are one-line errors."""
    text = read_text(path, f"--replay {path}")
    answers: dict[tuple[str, str, int], Response] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"--replay {path}:{lineno}"
        record = parse_json(line, where)
        if not isinstance(record, dict):
            raise GerbilEvalError(f"{where}: expected a JSON object with model, case_id, content")
        for field in ("model", "case_id"):
            if not isinstance(record.get(field), str) or not record[field]:
                raise GerbilEvalError(f"{where}: field {field!r} must be a non-empty string")
        sample = record.get("sample", 0)
        if not isinstance(sample, int) or isinstance(sample, bool) or sample < 0:
            raise GerbilEvalError(f"{where}: field 'sample' must be an integer >= 0, got {short_repr(sample)}")
        content = record.get("content")
        error = record.get("error")
        if not isinstance(content, str) and not error:
            raise GerbilEvalError(f"{where}: field 'content' must be a string (the recorded answer)")
        for field, kinds in METRIC_FIELDS.items():
            value = record.get(field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)
                                      or (isinstance(value, float) and not math.isfinite(value))):
                raise GerbilEvalError(f"{where}: field {field!r} must be {METRIC_KINDS[kinds]} or null, "
                                      f"got {short_repr(value)}")
        response = Response(
            model=valid_unicode(record["model"]), case_id=valid_unicode(record["case_id"]), sample=sample,
            content=valid_unicode(content) if isinstance(content, str) else None,
            error=str(error) if error and not isinstance(content, str) else None,
            **{k: record.get(k) for k in METRIC_FIELDS},
        )
        answers[response.key] = response
    return answers


def replayed_models(answers: dict[tuple[str, str, int], Response]) -> list[str]:
    """Models in a replay file, in first-seen order (the run's models when no --model is given)."""
    return list(dict.fromkeys(model for model, _, _ in answers))


class Replayer:
    """A replay file behind the fetcher's interface: ``fetch(jobs)`` answers from the recording and
    never from the network, so the plugin treats a replayed run like any other."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        self.recorded = load_replay(path)
        #: where each answer is appended as it is handed out (the run's responses.jsonl)
        self.log: ResponseLog | None = None
        #: called with each (job, response) as it is handed out, as the Fetcher does
        self.on_response: Callable[[Job, Response], None] | None = None
        self.progress = False  # nothing to wait for: no progress bar

    def models(self) -> list[ModelSpec]:
        """The recorded models, in first-seen order: the run's models when no --model is given."""
        from ..run.models import ModelSpec

        return [ModelSpec(name, "replay") for name in replayed_models(self.recorded)]

    def fetch(self, jobs: Iterable[Job]) -> dict[tuple[str, str, int], Response]:
        """Answers for ``jobs``; a job with no recorded answer becomes an error answer."""
        results: dict[tuple[str, str, int], Response] = {}
        for job in jobs:
            response = self.recorded.get(job.key) or Response(
                *job.key, content=None, error=f"no recorded response in {self.source} for model {job.key[0]!r}, "
                                           f"case {job.key[1]!r}, sample {job.key[2]}")
            if self.log is not None:
                self.log.append(response)
            results[job.key] = response
            if self.on_response is not None:
                self.on_response(job, response)
        return results

    def preflight(self, models: Iterable[ModelSpec]) -> None:
        """Nothing to check: no endpoint is asked."""

    def close(self) -> None:
        """Nothing to stop: no client, no event loop."""
