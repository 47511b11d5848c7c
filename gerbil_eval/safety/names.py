"""Names that come from elsewhere (a job id from the Together API, a file name in a listing)
checked before they become part of a path: ``../../../x`` must not write or delete outside
the work folder."""

from __future__ import annotations

import re

from ..errors import GerbilEvalError
from .shown import short_repr

#: Letters, digits and ``-_.:+=`` — every id Together hands out (``ft-…``, ``file-…``) and
#: every file name we write fits; nothing that a file system reads as structure does.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+=-]{0,199}\Z")


def safe_name(name: object, what: str) -> str:
    """``name`` if it can be used as one path component; else one line naming ``what``.

    Refuses ``/``, ``\\``, ``..``, absolute paths, control characters, empty and overlong names.
    """
    if not isinstance(name, str) or not _SAFE.match(name) or ".." in name:
        raise GerbilEvalError(f"{what} {short_repr(name)} is not a safe name (letters, digits and -_.:+= only, "
                              "no '/', '\\' or '..'); refusing to use it in a path")
    return name
