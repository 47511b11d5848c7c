"""The release history of a run folder: one entry per gated adapter, kept for the next retrain.

A release is what a gate step judged: the fine-tune job, the adapter (hashed, and copied to
``WORKDIR/releases/<n>/adapter.gguf`` so the next ``convert`` cannot overwrite it), the
harness run folder with its reports, and the verdict. ``pipeline run --retrain`` gates the new
adapter against the last release that passed (``--compare-to``), the comparison a retrain is for.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gerbil_eval.fileio import atomic_path, sha256_file
from gerbil_eval.run.load import results_path

from .state import PipelineState

RELEASES_SUBDIR = "releases"


def run_folder(report: Path) -> Path:
    """The run folder a report path names (``reports/latest`` resolved to ``reports/<run-id>``)."""
    return results_path(report).parent.resolve()


def last_passing(state: PipelineState) -> dict[str, Any] | None:
    """The newest release whose gate passed, or None."""
    return next((r for r in reversed(state.releases) if r.get("verdict") == "pass"), None)


def record_release(workdir: Path, state: PipelineState, adapter: Path, report: Path, verdict: str,
                   compared_to: str | None) -> dict[str, Any]:
    """Append a release to ``state`` (the caller saves it); the adapter is kept in its own folder."""
    number = len(state.releases) + 1
    kept = Path(workdir) / RELEASES_SUBDIR / str(number) / adapter.name
    with atomic_path(kept) as tmp:
        shutil.copyfile(adapter, tmp)
    release = {"release": number, "job_id": state.job_id, "base_model": state.base_model,
               "adapter_gguf": str(kept), "adapter_sha256": sha256_file(kept),
               "report": str(run_folder(report)), "verdict": verdict, "compared_to": compared_to}
    state.releases.append(release)
    return release
