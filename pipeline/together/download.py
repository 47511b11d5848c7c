"""Streaming a Together job's LoRA adapter checkpoint to a file (``pipeline download``).

``checkpoint="adapter"`` is always explicit: for LoRA jobs Together's default is
the merged model. The archive is streamed to a temporary file with a progress
bar, its size checked against the announced length (the SDK builds but never
raises its size error), and only then renamed into place and extracted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import atomic_open


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
    from .api import together_errors

    params: dict[str, Any] = {"ft_id": job_id, "checkpoint": "adapter"}
    if step is not None:
        params["checkpoint_step"] = step
    with together_errors(f"download of job {job_id}", key):
        with client.fine_tuning.with_streaming_response.content(**params) as response:
            return stream_to_file(response, dest, f"{job_id} adapter")


