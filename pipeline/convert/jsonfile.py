"""Read a JSON object file (adapter_config.json, config.json) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.inputs import read_text
from gerbil_eval.safety.shown import short_repr

from .errors import AdapterError

#: A config file is a few KB; anything this large is not one.
MAX_CONFIG_BYTES = 16 << 20


def read_json_object(path: Path, missing_hint: str) -> dict[str, Any]:
    """The JSON object in ``path``; ``missing_hint`` tells the user what to pass when it is absent."""
    if not path.exists():
        raise AdapterError(f"{path}: missing; {missing_hint}")
    try:  # NaN/Infinity parse (Python's json writes them): the field checks then name the field
        raw = json.loads(read_text(path, str(path), MAX_CONFIG_BYTES))
    except GerbilEvalError as exc:
        raise AdapterError(str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise AdapterError(f"{path}: not valid JSON ({type(exc).__name__}: {short_repr(str(exc), 120)})") from None
    if not isinstance(raw, dict):
        raise AdapterError(f"{path}: must be a JSON object")
    return raw
