"""Error types that separate user mistakes and infrastructure faults from bugs.

Anything raised as a :class:`GerbilEvalError` is shown to the user as one line
(``str(exc)``) with no traceback: it names the file, field or URL at fault and
what to do. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

#: Exit status of a pytest run stopped by an infrastructure failure
#: (endpoint unreachable, 401/403, unknown model). Distinct from 1 (a case failed)
#: and from pytest's own 2-5.
EXIT_INFRA = 7
#: Exit status for a usage mistake (bad case file, bad flag): pytest's own.
EXIT_USAGE = 4


class GerbilEvalError(Exception):
    """A problem the user can fix; ``str()`` is the whole message, one line."""

    exit_code = EXIT_USAGE


class CaseError(GerbilEvalError):
    """A case file is invalid. The message names the file, case id and field."""


class InfraError(GerbilEvalError):
    """The endpoint cannot serve the run at all (unreachable, auth, unknown model)."""

    exit_code = EXIT_INFRA
