"""A Together fine-tuning job's status: fetch it, describe it, watch it until it ends.

``watch`` polls until a terminal state (completed, error, user_error, cancelled) with a
progress bar over training steps; ``pipeline status`` (``pipeline/commands/status.py``) prints
the result and records it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .api import TERMINAL_STATUSES, together_errors


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


