"""On-disk response cache: a rerun (or a run resumed after a kill) asks nothing twice.

Location: ``$GERBIL_EVAL_CACHE``, else ``$XDG_CACHE_HOME/gerbil-eval``, else
``~/.cache/gerbil-eval`` — outside the project, so runs from different checkouts
share answers. One small JSON file per request, named by the key's hash and
written by rename (a reader never sees half an entry), so concurrent xdist workers
and a killed run can never corrupt it. Only successful answers are stored.

The key covers everything that changes the answer — endpoint, model, messages,
temperature, max_tokens, seed and sample index — and never the API key. For a
model started by ``--serve`` the "endpoint" is what is served (GGUF and LoRA
paths, sizes and modification times, alias, context), not its URL: each run
gets a new free port, and keying by it would make every run ask everything again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..fileio import atomic_open
from ..safety.redact import redact

#: Bump when the stored entry format changes; old entries are then simply not found.
CACHE_VERSION = "v1"
#: Response fields stored per entry (the rest — model, case, error — comes from the request).
STORED_FIELDS = ("content", "finish_reason", "prompt_tokens", "completion_tokens", "total_tokens", "latency_s", "ttft_s")


def default_cache_dir() -> Path:
    """Where the cache lives when nothing says otherwise (see the module docstring)."""
    if os.environ.get("GERBIL_EVAL_CACHE"):
        return Path(os.environ["GERBIL_EVAL_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gerbil-eval"


def cache_key(endpoint: str, model: str, messages: Any, temperature: float, max_tokens: int | None,
              seed: int | None, sample: int) -> str:
    """A stable hash of one request's identity (never includes the API key).

    ``endpoint`` is :attr:`ModelSpec.cache_endpoint <gerbil_eval.run.models.ModelSpec.cache_endpoint>`:
    a base URL, or a served model's identity.
    """
    identity = {"base_url": endpoint.rstrip("/"), "model": model, "messages": messages, "temperature": temperature,
                "max_tokens": max_tokens, "seed": seed, "sample": sample}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Get and put cached answers by key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()) / CACHE_VERSION

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored fields for ``key``, or None; an unreadable entry counts as a miss."""
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                entry = json.load(fh)
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) and isinstance(entry.get("content"), str) else None

    def put(self, key: str, fields: dict[str, Any]) -> None:
        """Store an answer. Written to a temporary file and renamed into place.

        Not fsynced (unlike reports): a cache entry lost to a power cut costs one
        request, while fsyncing hundreds of entries would cost seconds per run.
        """
        with atomic_open(self._path(key), "w", fsync=False, encoding="utf-8") as fh:
            json.dump(redact({k: fields.get(k) for k in STORED_FIELDS}), fh, ensure_ascii=True)
