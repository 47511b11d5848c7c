"""The converter's user-facing error: one line naming the file, key or tensor at fault."""

from __future__ import annotations

from gerbil_eval.errors import GerbilEvalError


class AdapterError(GerbilEvalError):
    """The adapter (or the base config, or the output path) cannot be converted as given.

    Raised before the output file exists whenever the problem is visible from metadata,
    so a refused adapter never leaves a file behind.
    """
