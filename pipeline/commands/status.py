"""``python -m pipeline status [--watch]``: the run's state and its fine-tuning job.

Prints the state file, then the Together job's status (``--watch``: until it ends, with a
progress bar over training steps), records it, and exits non-zero on failure after printing
the job's error events.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError

from ..credentials import add_api_key_file_argument
from ..state import PipelineState, add_workdir_argument, load_state, save_state
from ..together.api import FAILED_STATUSES, JobFailed, make_client
from ..together.status import describe_job, error_events, fetch_job, watch

def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--job", default=None, help="job id (default: the one recorded by `pipeline train`)")
    p.add_argument("--watch", action="store_true", help="poll until the job ends; exit 1 if it fails")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between polls with --watch (default 30)")
    p.add_argument("--events", type=int, default=5, help="recent events to show (default 5)")
    add_api_key_file_argument(p)


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
