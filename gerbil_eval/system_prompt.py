"""The project's one system prompt: what the model is trained with, served with and evaluated with.

The training-data builder writes it into every example (and the manifest), the pipeline
state and the Ollama Modelfile (``SYSTEM``) record it, the local server gives it to a
request that has none, and the case library sends it by default. One constant, so a
model is never evaluated or used under a prompt it was not trained on.
"""

from __future__ import annotations

from pathlib import Path

from .errors import GerbilEvalError

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert Gerbil Scheme programmer. Gerbil is a Scheme dialect on Gambit; answer "
    "with idiomatic Gerbil code in ```scheme fenced blocks and name the modules to import."
)
#: A system prompt file larger than this is a mistake (a whole document passed by accident).
MAX_SYSTEM_BYTES = 64 * 1024


def system_prompt_option(value: str, flag: str = "--system") -> str:
    """``--system TEXT|FILE``: the text of FILE when ``value`` names an existing file, else ``value`` itself."""
    path = Path(value)
    try:
        is_file = len(value) < 4096 and "\n" not in value and path.is_file()
    except OSError:
        is_file = False
    if not is_file:
        if not value.strip():
            raise GerbilEvalError(f"{flag}: the system prompt is empty (use --no-system to send none)")
        return value
    if path.stat().st_size > MAX_SYSTEM_BYTES:
        raise GerbilEvalError(f"{flag} {path}: {path.stat().st_size} bytes; a system prompt file is at most {MAX_SYSTEM_BYTES}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise GerbilEvalError(f"{flag} {path}: cannot read it ({exc.__class__.__name__})") from None
    if not text:
        raise GerbilEvalError(f"{flag} {path}: the file is empty (use --no-system to send none)")
    return text


def system_prompt_from_flags(value: str | None, none: bool) -> str | None:
    """``--system TEXT|FILE`` / ``--no-system``: the prompt to use, the project's when neither is given."""
    if value is not None and none:
        raise GerbilEvalError("--system and --no-system contradict each other; give one")
    return None if none else DEFAULT_SYSTEM_PROMPT if value is None else system_prompt_option(value)
