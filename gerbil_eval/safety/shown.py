"""Values shown to a person: a size-limited ``repr`` for error messages, control characters escaped for a terminal.

``f"{value!r:.40}"`` builds the whole ``repr`` before cutting it: for a YAML "billion laughs"
value that is gigabytes. :func:`short_repr` never builds more than it shows. Model answers
may carry ANSI escape sequences (clear the screen, set the window title, hide text);
:func:`terminal_safe` makes them visible instead of letting them act.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlong = 40


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to about ``limit`` characters, computed in bounded time and memory."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: C0 controls except tab and newline, DEL, and the C1 controls (ESC, CSI, OSC ... act on terminals).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), so they print instead of acting."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
