"""``python -m pipeline download``: fetch the LoRA adapter checkpoint and unpack it safely.

``checkpoint="adapter"`` is always explicit: for LoRA jobs Together's default is
the merged model. The archive is streamed to a temporary file with a progress
bar, its size checked against the announced length (the SDK builds but never
raises its size error), and only then renamed into place and extracted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import atomic_open
from gerbil_eval.safety.names import safe_name

from .archive import DEFAULT_MAX_MEMBERS, EXPANSION_FACTOR, MIN_EXTRACT_BYTES, Limits, find_adapter, safe_extract
from .credentials import add_api_key_file_argument
from .state import add_workdir_argument, load_state, save_state


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--job", default=None, help="job id (default: the one recorded by `pipeline train`)")
    p.add_argument("--checkpoint-step", type=int, default=None, help="an intermediate checkpoint step instead of the final adapter")
    p.add_argument("--max-extract-bytes", type=int, default=None, metavar="N",
                   help=f"refuse an archive that expands to more than N bytes (default: {EXPANSION_FACTOR}x the "
                        f"archive's size, at least {MIN_EXTRACT_BYTES >> 20} MiB)")
    p.add_argument("--max-members", type=int, default=DEFAULT_MAX_MEMBERS, metavar="N",
                   help=f"refuse an archive with more than N files (default {DEFAULT_MAX_MEMBERS})")
    add_api_key_file_argument(p)


def stream_to_file(response: Any, path: Path, label: str) -> int:
    """Write an HTTP response body to ``path`` atomically; returns the byte count; checks Content-Length."""
    import httpx
    from tqdm import tqdm

    # Content-Length counts the bytes on the wire; with a Content-Encoding those differ from the decoded
    # bytes written, so the check compares the wire count httpx keeps (num_bytes_downloaded).
    wire = getattr(response, "http_response", response)
    expected = int(response.headers.get("content-length") or 0) or None
    written = 0
    with atomic_open(path, "wb") as fh, tqdm(total=expected, unit="B", unit_scale=True, desc=label,
                                             disable=not sys.stderr.isatty()) as bar:
        try:
            for chunk in response.iter_bytes(1 << 20):
                fh.write(chunk)
                written += len(chunk)
                bar.update(getattr(wire, "num_bytes_downloaded", written) - bar.n)
        except httpx.HTTPError:
            expected = expected or written + 1  # a dropped connection is a truncation even without a length
        received = getattr(wire, "num_bytes_downloaded", written)
        if expected is not None and received != expected:
            raise GerbilEvalError(f"{label}: download truncated ({received} of {expected} bytes); run `pipeline download` again")
    return written


def download_adapter(client: Any, key: str, job_id: str, dest: Path, step: int | None) -> int:
    """Stream the adapter archive of ``job_id`` to ``dest``."""
    from .together_api import together_errors

    params: dict[str, Any] = {"ft_id": job_id, "checkpoint": "adapter"}
    if step is not None:
        params["checkpoint_step"] = step
    with together_errors(f"download of job {job_id}", key):
        with client.fine_tuning.with_streaming_response.content(**params) as response:
            return stream_to_file(response, dest, f"{job_id} adapter")


def run(args: argparse.Namespace) -> int:
    from .together_api import make_client

    state = load_state(args.workdir)
    job_id = args.job or state.job_id
    if not job_id:
        raise GerbilEvalError(f"{args.workdir}: no job id; run `pipeline train` first or pass --job")
    safe_name(job_id, "job id")  # it names files in --workdir: '../../x' must not escape it
    for flag in ("--max-extract-bytes", "--max-members"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and value < 1:
            raise GerbilEvalError(f"{flag} must be at least 1, got {value}")
    if state.job_status not in (None, "completed") and not args.job:
        raise GerbilEvalError(f"job {job_id} is {state.job_status}; wait with `pipeline status --watch` before downloading")
    client, key = make_client(args.api_key_file)
    archive = Path(args.workdir) / f"{job_id.replace(':', '-')}-adapter.tar"
    size = download_adapter(client, key, job_id, archive, args.checkpoint_step)
    extracted = archive.with_suffix("")
    # Extract beside the previous extraction and swap only once the adapter is found, so a bad
    # archive never leaves the recorded adapter_dir pointing at a deleted folder.
    fresh = extracted.with_name(extracted.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    safe_extract(archive, fresh, Limits(args.max_extract_bytes, args.max_members))
    try:
        inner = find_adapter(fresh).relative_to(fresh)
    except GerbilEvalError:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    shutil.rmtree(extracted, ignore_errors=True)
    fresh.rename(extracted)
    adapter_dir = extracted / inner
    state.job_id, state.adapter_archive, state.adapter_dir = job_id, str(archive), str(adapter_dir)
    state.mark_done("download")
    save_state(args.workdir, state)
    print(f"downloaded {size} bytes; PEFT adapter at {adapter_dir}")
    return 0
