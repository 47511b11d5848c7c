"""The pipeline's memory: one small JSON file per working folder.

Every step reads what earlier steps recorded (file id, job id, adapter paths,
GGUF path, deployment) and records its own result, so a step can be rerun or
resumed without carrying ids by hand. Secrets are never stored here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import write_json_atomic
from gerbil_eval.safety.inputs import read_json

STATE_FILE = "pipeline-state.json"
DEFAULT_WORKDIR = Path("pipeline-run")
#: Where `pipeline run` writes the GGUF adapter, and where `pipeline deploy` looks when none is recorded.
ADAPTER_GGUF = "adapter.gguf"


@dataclass
class PipelineState:
    """What the pipeline knows about one run. All paths are stored as strings."""

    base_model: str | None = None
    training_file: str | None = None
    training_file_sha256: str | None = None
    file_id: str | None = None
    job_id: str | None = None
    job_status: str | None = None
    output_name: str | None = None
    adapter_archive: str | None = None
    adapter_dir: str | None = None
    adapter_gguf: str | None = None
    #: The system prompt of the training data (its manifest's), which deploy gives the served model.
    system_prompt: str | None = None
    deployment: dict[str, Any] = field(default_factory=dict)
    completed_steps: list[str] = field(default_factory=list)
    #: One entry per gated adapter (pipeline/releases.py): job id, adapter hash and copy, report, verdict.
    releases: list[dict[str, Any]] = field(default_factory=list)
    #: "together" or "local" (``pipeline train --backend``); None in states written before there was a choice.
    backend: str | None = None
    #: Local backend: steps, tokens, tokens/s, peak RSS, loss curve, settings.
    training: dict[str, Any] = field(default_factory=dict)
    #: Local backend with --eval-every: the harness score of each checkpoint (step 0 = the base).
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def mark_done(self, step: str) -> None:
        """Record that ``step`` finished; steps recorded after an earlier run of it are void now.

        Rerunning ``train`` by hand (a new job) makes the old job's download, convert, deploy and
        gate stale, so ``pipeline run`` resumes right after it instead of skipping them.
        """
        if step in self.completed_steps:
            del self.completed_steps[self.completed_steps.index(step):]
        self.completed_steps.append(step)


def state_path(workdir: Path) -> Path:
    return Path(workdir) / STATE_FILE


def load_state(workdir: Path) -> PipelineState:
    """Read the state of ``workdir``; an absent file is an empty state."""
    path = state_path(workdir)
    if not path.exists():
        return PipelineState()
    try:
        raw = read_json(path, str(path), 64 << 20)
    except GerbilEvalError as exc:
        raise GerbilEvalError(f"{exc}; fix or delete the pipeline state file") from None
    if not isinstance(raw, dict):
        raise GerbilEvalError(f"{path}: not a pipeline state (a JSON object is expected); fix or delete the file")
    known = {f.name for f in fields(PipelineState)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise GerbilEvalError(f"{path}: unknown keys {unknown}; this file was not written by this pipeline version")
    for f in fields(PipelineState):  # every plain field is a string (or null); the others are checked below
        value = raw.get(f.name)
        if f.default is None and value is not None and not isinstance(value, str):
            raise GerbilEvalError(f"{path}: {f.name!r} must be a string or null; fix or delete the file")
    state = PipelineState(**raw)
    if not isinstance(state.deployment, dict) or not isinstance(state.completed_steps, list) \
            or not all(isinstance(step, str) for step in state.completed_steps) \
            or not isinstance(state.training, dict) or not isinstance(state.checkpoints, list) \
            or not isinstance(state.releases, list) or not all(isinstance(r, dict) for r in state.releases):
        raise GerbilEvalError(f"{path}: \"deployment\" must be an object, \"completed_steps\" a list and \"releases\" "
                              "a list of objects; fix or delete the file")
    return state


def save_state(workdir: Path, state: PipelineState) -> Path:
    """Write the state atomically and return its path."""
    path = state_path(workdir)
    write_json_atomic(path, asdict(state))
    return path


def record_deployment(workdir: Path, deployment: dict[str, Any]) -> Path:
    """Replace the recorded deployment (kind, model, base URL, context, output budget, ...) and save."""
    state = load_state(workdir)
    state.deployment = dict(deployment)
    return save_state(workdir, state)


def add_workdir_argument(parser: Any) -> None:
    """The ``--workdir`` option every pipeline command shares."""
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help=f"the run's working folder, holding {STATE_FILE} (default: {DEFAULT_WORKDIR}/)")
