"""The run folder and what goes in it: responses.jsonl, result rows, results.json/csv, ``latest``.

Layout (see docs/architecture.md): ``<report-dir>/<run-id>/`` holds every file of
one run; ``<report-dir>/latest`` is a relative symlink to the newest run folder,
or a text file with its name where the filesystem has no symlinks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import GerbilEvalError
from .fileio import write_json_atomic, write_text_atomic
from .safety.redact import redact, strip_userinfo

if TYPE_CHECKING:  # imported lazily at run time: keeps `pytest` start-up cheap
    from .cases import Case
    from .options import ModelSpec, RunOptions
    from .scoring import CaseScore

#: Column order of results.csv (and of every result row).
ROW_FIELDS = ("model", "role", "case_id", "category", "tags", "topic", "sample", "score", "passed", "error",
              "latency_s", "ttft_s", "prompt_tokens", "completion_tokens", "total_tokens", "seen", "note", "assertions")


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


def make_run_id(now: dt.datetime | None = None) -> str:
    """Sortable by time, unique across parallel runs: ``20260126-143102-a3f9``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def create_run_dir(report_dir: Path, run_id: str) -> Path:
    """``<report-dir>/<run-id>/``; a report dir that cannot hold it is a one-line usage error."""
    run_dir = report_dir / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GerbilEvalError(f"--report-dir {report_dir}: cannot create the run folder there "
                              f"({exc.strerror or exc})") from None
    return run_dir


def update_latest(report_dir: Path, run_dir: Path) -> None:
    """Point ``<report-dir>/latest`` at ``run_dir``, replacing it atomically."""
    latest = report_dir / "latest"
    tmp = report_dir / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError:
        tmp.unlink(missing_ok=True)
        if latest.is_symlink():
            latest.unlink()
        write_text_atomic(latest, run_dir.name + "\n")


class ResponseLog:
    """Appends each response to ``responses.jsonl`` the moment it arrives.

    Each line goes out in one ``write`` system call on an ``O_APPEND`` descriptor (no
    Python buffering, which would split long answers into several writes): a killed
    run keeps every line already received, and xdist workers appending to the same
    file never interleave their lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, response: Response) -> None:
        data = (json.dumps(redact(asdict(response)), ensure_ascii=False) + "\n").encode("utf-8", "replace")
        with self._lock:
            assert self._fd is not None, "ResponseLog used after close()"
            os.write(self._fd, data)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def result_row(model: ModelSpec, case: Case, response: Response, score: CaseScore | None, seen: bool | None) -> dict[str, Any]:
    """One row of results.json: a model's answer to a case (one sample), scored or errored."""
    row = {
        "model": model.label, "role": model.role, "case_id": case.id, "category": case.category,
        "tags": list(case.tags), "topic": case.topic, "sample": response.sample,
        "score": score.score if score else None, "passed": score.passed if score else None,
        "error": response.error,
        "latency_s": response.latency_s, "ttft_s": response.ttft_s, "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens, "total_tokens": response.total_tokens, "seen": seen,
        "note": score.note if score and score.note else None,
        "assertions": [
            {"type": a.type, "value": a.value, "weight": a.weight, "passed": a.passed, "score": a.score, "reason": a.reason,
             **({"not_run": True} if getattr(a, "not_run", False) else {})}
            for a in (score.assertions if score else ())
        ],
    }
    if score is not None and getattr(score, "not_run", False):  # nothing could be judged without Gerbil
        row.update(score=None, passed=None, not_run=True)
    return row


def build_doc(run_id: str, options: RunOptions, models: Sequence[ModelSpec], case_ids: Iterable[str],
              rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """The results.json document. Only named options are copied: the API key never is."""
    return {
        "run_id": run_id,
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": {
            "models": [{"name": m.name, "base_url": strip_userinfo(m.base_url), "role": m.role} for m in models],
            "temperature": options.temperature, "max_tokens": options.max_tokens, "samples": options.samples,
            "seed": options.seed, "cases": sorted(case_ids), "replay": str(options.replay) if options.replay else None,
        },
        "results": rows,
        "summary": summary,
    }


def rows_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Tidy CSV: one line per model, case and sample; tags joined by ';', assertions as JSON."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "tags": ";".join(row.get("tags") or ()),
                         "assertions": json.dumps(row.get("assertions") or [], ensure_ascii=False)})
    return out.getvalue()


def write_results(run_dir: Path, doc: dict[str, Any]) -> None:
    """results.json and results.csv, each written atomically, redacted (no key, no URL credentials)."""
    doc = redact(doc)
    write_json_atomic(run_dir / "results.json", doc)
    write_text_atomic(run_dir / "results.csv", rows_csv(doc["results"]))

