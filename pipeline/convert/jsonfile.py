"""Read a JSON object file (adapter_config.json, config.json) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import AdapterError


def read_json_object(path: Path, missing_hint: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``missing_hint`` tells the user what to pass when it is absent."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterError(f"{path}: missing; {missing_hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{path}: must be a JSON object")
    return raw
