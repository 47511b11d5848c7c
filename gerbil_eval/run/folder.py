"""The run folder and what goes in it: responses.jsonl, results.json/csv, ``latest``.

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
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from ..errors import GerbilEvalError
from ..fileio import write_json_atomic, write_text_atomic
from .types import ROW_FIELDS, Response, ResultRow, RunResult
from ..safety.redact import redact


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


def rows_csv(rows: Iterable[ResultRow]) -> str:
    """Tidy CSV: one line per model, case and sample, a column per row field; tags joined by ';', assertions
    as JSON; redacted like results.json."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(redact({**{f: getattr(row, f) for f in ROW_FIELDS}, "tags": ";".join(row.tags),
                                "assertions": json.dumps([dict(a) for a in row.assertions], ensure_ascii=False)}))
    return out.getvalue()


def write_results(run_dir: Path, run: RunResult) -> None:
    """results.json and results.csv, each written atomically, redacted (no key, no URL credentials)."""
    doc = redact(run.to_doc())
    write_json_atomic(run_dir / "results.json", doc)
    write_text_atomic(run_dir / "results.csv", rows_csv(run.rows))
