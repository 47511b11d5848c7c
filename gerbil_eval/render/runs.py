"""Reading saved runs back: results.json (a run folder or the file) and its answers.

Used by ``compare``, ``report`` and ``--compare-to``; every problem is one line naming the
path and what to pass instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import GerbilEvalError

#: (model, case id, sample) -> the answer text, as recorded in responses.jsonl.
Answers = dict[tuple[str, str, int], str]


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


def load_run(path: Path) -> dict[str, Any]:
    """The results.json document of a run folder (or of the file itself)."""
    file = results_path(path)
    if not file.exists():
        raise GerbilEvalError(f"{file}: no such file; pass a run folder (reports/<run-id> or reports/latest) or its results.json")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GerbilEvalError(f"{file}: not valid JSON ({exc}); was the run interrupted? re-run it") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise GerbilEvalError(f"{file}: not a gerbil-eval results.json (no \"results\" list)")
    return doc


def load_answers(folder: Path, rename: dict[str, str] | None = None) -> Answers:
    """Answers from ``folder/responses.jsonl`` (the last line wins for a repeated key).

    Missing file: no answers (the report then shows scores without text). Unreadable lines
    are skipped: the file is appended while a run is live and its last line may be partial.
    ``rename`` maps model names to the labels they carry in a merged report; models
    it does not name are left out.
    """
    file = folder / "responses.jsonl"
    answers: Answers = {}
    if not file.exists():
        return answers
    with file.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                r = json.loads(line)
                model = str(r["model"]) if rename is None else rename.get(str(r["model"]))
                case_id, sample = str(r["case_id"]), int(r.get("sample", 0))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if model is not None:
                answers[(model, case_id, sample)] = r.get("content") or (f"[error] {r['error']}" if r.get("error") else "")
    return answers
