"""Build runs for the comparison/report/gate tests: results.json documents shaped as
docs/architecture.md says, and the :class:`RunResult` a saved run is read back as.

Rows are made from explicit per-case scores, so each test states the outcome it expects
instead of reading it back from the code under test. The summary comes from the run's
own ``gerbil_eval.analysis.totals``, as in a real run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from gerbil_eval.run.types import ResultRow, RunResult
from gerbil_eval.analysis.totals import build_result, with_reference

Scores = Mapping[str, float | None | Sequence[float | None]]  # case id -> score, or one score per sample


def row(model: str, role: str, case_id: str, score: float | None, *, sample: int = 0, category: str = "basics",
        seen: bool | None = None, latency_s: float = 0.5) -> dict[str, Any]:
    """One result row; ``score=None`` is an error row. Passing means score 1.0."""
    error = None if score is not None else "HTTP 500 after 4 retries"
    passed = None if score is None else score >= 1.0
    return {
        "model": model, "role": role, "case_id": case_id, "category": category, "tags": [], "topic": None,
        "sample": sample, "score": score, "passed": passed, "error": error,
        "latency_s": latency_s, "ttft_s": None, "prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60,
        "seen": seen,
        "assertions": [] if score is None else [
            {"type": "contains", "value": "(def ", "weight": 1.0, "passed": bool(passed), "score": score,
             "reason": "found" if passed else "missing '(def '"}],
    }


def model_rows(model: str, role: str, scores: Scores, categories: Mapping[str, str] | None = None,
               seen: Mapping[str, bool] | None = None) -> list[ResultRow]:
    out = []
    for case_id, s in scores.items():
        samples = list(s) if isinstance(s, (list, tuple)) else [s]
        for i, value in enumerate(samples):
            out.append(ResultRow.from_dict(row(model, role, case_id, value, sample=i,
                                               category=(categories or {}).get(case_id, "basics"),
                                               seen=(seen or {}).get(case_id))))
    return out


def make_doc(models: Iterable[tuple[str, str, Scores]], *, run_id: str = "20260101-000000-abcd",
             categories: Mapping[str, str] | None = None, seen: Mapping[str, bool] | None = None,
             samples: int = 1) -> dict[str, Any]:
    """A results.json document for ``(name, role, scores)`` models."""
    models = list(models)
    rows = [r for name, role, scores in models for r in model_rows(name, role, scores, categories, seen)]
    config = {"models": [{"name": n, "base_url": "http://127.0.0.1:9/v1", "role": r} for n, r, _ in models],
              "temperature": 0.0, "max_tokens": 256, "samples": samples, "seed": None, "cases": []}
    return build_result(run_id, "2026-01-01T00:00:00+00:00", config, rows).to_doc()


def result_of(doc: Mapping[str, Any], previous: Mapping[str, Any] | None = None,
              answers: Mapping[tuple[str, str, int], str] | None = None) -> RunResult:
    """``doc`` as a saved run is read back (and merged with ``previous`` as ``--compare-to`` does)."""
    def typed(d: Mapping[str, Any], answers: Mapping[tuple[str, str, int], str] | None = None) -> RunResult:
        return build_result(d.get("run_id", ""), d.get("created", ""), d.get("config", {}),
                            [ResultRow.from_dict(r) for r in d["results"]], dict(answers or {}))
    run = typed(doc, answers)
    return with_reference(run, typed(previous)) if previous is not None else run


def save_run(folder: Path, doc: Mapping[str, Any], answers: Mapping[tuple[str, str, int], str] | None = None) -> Path:
    """Write ``doc`` as folder/results.json (and answers as responses.jsonl); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    if answers:
        lines = [json.dumps({"model": m, "case_id": c, "sample": s, "content": text})
                 for (m, c, s), text in answers.items()]
        (folder / "responses.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
