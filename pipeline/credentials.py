"""The Together API key: read from the environment or a file the user names, never stored.

Error messages that might echo request details go through :func:`redact` so the
key cannot leak into a terminal log, a state file or a report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.inputs import MAX_KEY_FILE_BYTES, read_text
from gerbil_eval.safety.redact import redact as redact_all, register_secret

ENV_VAR = "TOGETHER_API_KEY"


def together_api_key(key_file: Path | None = None) -> str:
    """Return the key from ``key_file`` if given, else from ``$TOGETHER_API_KEY``."""
    if key_file is not None:
        key = read_text(key_file, f"--api-key-file {key_file}", MAX_KEY_FILE_BYTES).strip()
        if not key:
            raise GerbilEvalError(f"--api-key-file {key_file}: the file is empty")
        register_secret(key)
        return key
    key = os.environ.get(ENV_VAR, "").strip()
    if not key:
        raise GerbilEvalError(f"no Together API key: set {ENV_VAR} or pass --api-key-file FILE")
    register_secret(key)
    return key


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (registered for every later output too), every other registered
    secret and any URL credentials replaced by ``***``: the harness's one redaction function."""
    register_secret(secret)
    return redact_all(text)


def add_api_key_file_argument(parser: Any) -> None:
    """The ``--api-key-file`` option every Together command shares."""
    parser.add_argument("--api-key-file", type=Path, default=None,
                        help=f"read the API key from this file instead of ${ENV_VAR}")

