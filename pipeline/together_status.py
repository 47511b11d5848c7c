"""``python -m pipeline status [--watch]``: the run's state and its fine-tuning job.

``--watch`` polls until a terminal state (completed, error, user_error,
cancelled) with a progress bar over training steps, and exits non-zero on
failure after printing the job's error events.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError

from .credentials import add_api_key_file_argument
from .state import PipelineState, add_workdir_argument, load_state, save_state
from .together_api import FAILED_STATUSES, TERMINAL_STATUSES, JobFailed, make_client, together_errors


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--job", default=None, help="job id (default: the one recorded by `pipeline train`)")
    p.add_argument("--watch", action="store_true", help="poll until the job ends; exit 1 if it fails")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between polls with --watch (default 30)")
    p.add_argument("--events", type=int, default=5, help="recent events to show (default 5)")
    add_api_key_file_argument(p)


def job_progress(job: Any, events: list[Any]) -> tuple[int | None, int | None]:
    """(steps completed, total steps) from the job, else from the newest event that reports them."""
    done, total = getattr(job, "steps_completed", None), getattr(job, "total_steps", None)
    for event in reversed(events):
        if done is None and getattr(event, "step", None) is not None:
            done = event.step
        if total is None and getattr(event, "total_steps", None) is not None:
            total = event.total_steps
    return done, total


def describe_job(job: Any, events: list[Any], n_events: int) -> str:
    """A short human summary: status, steps, epochs, the newest events."""
    done, total = job_progress(job, events)
    lines = [f"job {job.id}: {job.status}"]
    if total:
        lines.append(f"  steps   {done or 0}/{total}")
    if getattr(job, "n_epochs", None):
        lines.append(f"  epochs  {getattr(job, 'epochs_completed', None) or 0}/{job.n_epochs}")
    for event in events[-n_events:] if n_events else []:
        lines.append(f"  {getattr(event, 'created_at', '')} [{getattr(event, 'level', None) or 'info'}] {event.message}")
    return "\n".join(lines)


def error_events(events: list[Any]) -> list[str]:
    """Messages of the events that explain a failure."""
    return [e.message for e in events if getattr(e, "level", None) in ("error", "legacy_ierror")
            or str(getattr(e, "type", "")) in ("job_error", "job_user_error")]


def fetch_job(client: Any, job_id: str, key: str) -> tuple[Any, list[Any]]:
    with together_errors(f"status of job {job_id}", key):
        job = client.fine_tuning.retrieve(job_id)
        events = list(client.fine_tuning.list_events(job_id).data or [])
    return job, events


def watch(client: Any, job_id: str, key: str, interval: float, n_events: int) -> Any:
    """Poll until a terminal state; returns (job, events). A progress bar on a terminal."""
    from tqdm import tqdm

    bar = None
    seen = 0
    try:
        while True:
            job, events = fetch_job(client, job_id, key)
            for event in events[seen:]:
                (bar.write if bar else print)(f"  [{getattr(event, 'level', None) or 'info'}] {event.message}")
            seen = len(events)
            done, total = job_progress(job, events)
            if total and bar is None:
                bar = tqdm(total=total, desc=f"{job_id} training", unit="step", disable=not sys.stderr.isatty())
            if bar is not None and done is not None:
                bar.update(max(0, done - bar.n))
                bar.set_postfix_str(str(job.status))
            if str(job.status) in TERMINAL_STATUSES:
                return job, events
            time.sleep(interval)
    finally:
        if bar is not None:
            bar.close()


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0 or args.events < 0:
        raise GerbilEvalError("--interval must be above 0 and --events at least 0")
    state = load_state(args.workdir)
    print(f"state ({args.workdir}):")
    print(json.dumps({k: v for k, v in asdict(state).items() if v not in (None, [], {})}, indent=2))
    job_id = args.job or state.job_id
    if not job_id:
        return 0
    client, key = make_client(args.api_key_file)
    if args.watch:
        job, events = watch(client, job_id, key, args.interval, args.events)
    else:
        job, events = fetch_job(client, job_id, key)
    print(describe_job(job, events, args.events))
    record_status(args.workdir, state, job)
    if str(job.status) in FAILED_STATUSES:
        reasons = error_events(events) or ["(no error events reported)"]
        raise JobFailed(f"job {job_id} ended {job.status}: " + " | ".join(reasons))
    return 0


def record_status(workdir: Path, state: PipelineState, job: Any) -> None:
    """Keep the job's status (and output name) in the state file."""
    state.job_status = str(job.status)
    state.output_name = getattr(job, "x_model_output_name", None) or state.output_name
    if state.job_status == "completed" and "watch" not in state.completed_steps:  # looking again voids nothing
        state.mark_done("watch")
    save_state(workdir, state)
