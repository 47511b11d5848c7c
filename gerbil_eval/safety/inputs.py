"""Files and numbers a command accepts from the user, checked at the edge with one-line errors.

Every file a command reads goes through :func:`read_text` (or :func:`read_json`): a missing,
unreadable, binary, non-UTF-8, too large or too deeply nested file is one line naming the flag
and the file, never a traceback or a ``MemoryError``. Every float flag goes through
:func:`finite`: ``nan`` compares false with everything, so a gate given ``nan`` silently
always fails (or, as ``inf``, never does).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..errors import GerbilEvalError
from .shown import short_repr

#: An API key file larger than this is not a key (``/dev/zero`` must not be read whole).
MAX_KEY_FILE_BYTES = 64 << 10

#: Default cap on a file read whole into memory (case files have their own, smaller cap).
MAX_FILE_BYTES = 256 << 20


def _size_text(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_bytes(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``; one-line :class:`GerbilEvalError` naming ``what`` (e.g. ``--replay x``).

    Reads at most ``max_bytes + 1`` bytes, so ``/dev/zero`` or a huge file is refused, not loaded.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise GerbilEvalError(f"{what}: no such file") from None
    except IsADirectoryError:
        raise GerbilEvalError(f"{what}: is a folder, expected a file") from None
    except OSError as exc:
        raise GerbilEvalError(f"{what}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise GerbilEvalError(f"{what}: larger than {_size_text(max_bytes)}; refusing to load it")
    return data


def read_text(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``, checked like :func:`read_bytes`; binary or non-UTF-8 is one line."""
    data = read_bytes(path, what, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GerbilEvalError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise GerbilEvalError(f"{what}: binary data (NUL bytes), expected text")
    return text


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` with one-line errors for invalid, too deeply nested, or non-finite (NaN) JSON."""
    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise GerbilEvalError(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:
        raise GerbilEvalError(f"{what}: not valid JSON ({exc})") from None


def read_json(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """A JSON file, checked like :func:`read_text` and :func:`parse_json`."""
    return parse_json(read_text(path, what, max_bytes), what)


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (``"\\ud800"`` in JSON or YAML) replaced by U+FFFD: they cannot be
    written as UTF-8, so a file or a request holding one would fail half-way."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def finite(value: Any, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in ``[low, high]``; else one line naming ``what``."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        if math.isfinite(low) and math.isfinite(high):
            bounds = f"between {low:g} and {high:g}"
        elif math.isfinite(low):
            bounds = f"a number >= {low:g}" if low else "a finite number >= 0"
        else:
            bounds = "a finite number"
        raise GerbilEvalError(f"{what} must be {bounds}, got {short_repr(value)}" if isinstance(value, (int, float, str))
                              else f"{what} must be {bounds}")
    return number
