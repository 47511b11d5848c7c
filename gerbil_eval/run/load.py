"""Reading saved runs back: results.json (a run folder or the file) and its answers, as a RunResult.

Used by ``compare``, ``report`` and ``--compare-to``; every problem is one line naming the
path and what to pass instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import GerbilEvalError
from .types import Answers, ResultRow, RunResult, shown_answer
from ..safety.inputs import parse_json, read_text


def results_path(path: Path) -> Path:
    """The results.json of a run folder, of ``latest``, or ``path`` itself when it is a file.

    ``latest`` is a symlink, or (on filesystems without symlinks) a text file naming the run.
    """
    path = Path(path)
    if path.is_dir():
        return path / "results.json"
    if path.name == "latest" and path.is_file():
        return path.parent / path.read_text(encoding="utf-8").strip() / "results.json"
    return path


def load_result(path: Path) -> RunResult:
    """A saved run, with the answers of its folder's responses.jsonl, its summaries and comparisons
    computed (from its rows, by the current definitions: an older results.json reads the same)."""
    from ..analysis.totals import build_result

    doc = load_run(path)
    return build_result(str(doc.get("run_id") or ""), str(doc.get("created") or ""), doc.get("config", {}),
                        [ResultRow.from_dict(r) for r in doc["results"]], load_answers(results_path(path).parent))


def load_run(path: Path) -> dict[str, Any]:
    """The results.json document of a run folder (or of the file itself), each row checked."""
    file = results_path(path)
    if not file.exists():
        raise GerbilEvalError(f"{file}: no such file; pass a run folder (reports/<run-id> or reports/latest) or its results.json")
    doc = parse_json(read_text(file, str(file)), str(file))
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise GerbilEvalError(f"{file}: not a gerbil-eval results.json (no \"results\" list)")
    for i, row in enumerate(doc["results"], 1):
        problem = _row_problem(row)
        if problem:
            raise GerbilEvalError(f"{file}: result #{i}: {problem}; not a results.json this version can read")
    for key, kind in (("config", dict), ("summary", dict)):
        if not isinstance(doc.get(key, {}), kind):
            raise GerbilEvalError(f"{file}: {key!r} must be a JSON object")
    return doc


#: Fields of a result row and what they may hold (None always allowed except for the names).
_ROW_KINDS: dict[str, tuple[type, ...]] = {
    "score": (int, float), "passed": (bool,), "latency_s": (int, float), "ttft_s": (int, float),
    "prompt_tokens": (int,), "completion_tokens": (int,), "total_tokens": (int,), "sample": (int,),
    "error": (str,), "role": (str,), "category": (str,), "topic": (str,), "seen": (bool,), "tags": (list,),
    "assertions": (list,),
}


def _row_problem(row: Any) -> str | None:
    """What is wrong with one result row read from a file, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    for key in ("model", "case_id"):
        if not isinstance(row.get(key), str) or not row[key]:
            return f"{key!r} must be a non-empty string"
    for key, kinds in _ROW_KINDS.items():
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"{key!r} has the wrong type"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                math.isfinite(value) and value >= 0 and (key != "score" or value <= 1)):
            return f"{key!r} is out of range"
    if not all(isinstance(t, str) for t in row.get("tags") or ()):
        return "'tags' must be strings"
    if not all(isinstance(a, dict) for a in row.get("assertions") or ()):
        return "'assertions' must be objects"
    return None


def load_answers(folder: Path) -> Answers:
    """Answers from ``folder/responses.jsonl`` (the last line wins for a repeated key).

    Missing file: no answers (the report then shows scores without text). Unreadable lines
    are skipped: the file is appended while a run is live and its last line may be partial.
    """
    file = folder / "responses.jsonl"
    answers: Answers = {}
    if not file.exists():
        return answers
    with file.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                r = json.loads(line)
                key = (str(r["model"]), str(r["case_id"]), int(r.get("sample", 0)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            answers[key] = shown_answer(r.get("content"), r.get("error"))
    return answers
