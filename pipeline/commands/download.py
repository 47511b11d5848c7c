"""``python -m pipeline download``: fetch the LoRA adapter checkpoint and unpack it safely.

The archive is streamed (``pipeline/together/download.py``), then extracted beside the previous
extraction with the archive checks and size limits of ``pipeline/together/archive.py``, and
swapped in only once the PEFT adapter is found in it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.names import safe_name

from ..credentials import add_api_key_file_argument
from ..state import add_workdir_argument, load_state, save_state
from ..together.archive import DEFAULT_MAX_MEMBERS, EXPANSION_FACTOR, MIN_EXTRACT_BYTES, Limits, find_adapter, safe_extract
from ..together.download import download_adapter

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


def run(args: argparse.Namespace) -> int:
    from ..together.api import make_client

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
