"""The Together API key: read from the environment or a file the user names, never stored.

Error messages that might echo request details go through :func:`redact` so the
key cannot leak into a terminal log, a state file or a report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError

ENV_VAR = "TOGETHER_API_KEY"


def together_api_key(key_file: Path | None = None) -> str:
    """Return the key from ``key_file`` if given, else from ``$TOGETHER_API_KEY``."""
    if key_file is not None:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise GerbilEvalError(f"--api-key-file {key_file}: cannot read it ({getattr(exc, 'strerror', None) or 'not UTF-8 text'})") from None
        if not key:
            raise GerbilEvalError(f"--api-key-file {key_file}: the file is empty")
        return key
    key = os.environ.get(ENV_VAR, "").strip()
    if not key:
        raise GerbilEvalError(f"no Together API key: set {ENV_VAR} or pass --api-key-file FILE")
    return key


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


def add_api_key_file_argument(parser: Any) -> None:
    """The ``--api-key-file`` option every Together command shares."""
    parser.add_argument("--api-key-file", type=Path, default=None,
                        help=f"read the API key from this file instead of ${ENV_VAR}")

