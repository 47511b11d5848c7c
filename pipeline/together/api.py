"""A Together client and the translation of its failures into one-line errors.

The SDK (``together`` >= 2) is imported lazily so ``python -m pipeline --help``
and the non-Together steps work without it. ``$TOGETHER_BASE_URL`` (read by the
SDK itself) points it at another server, e.g. a local stand-in in tests.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from gerbil_eval.errors import GerbilEvalError

from ..credentials import redact, together_api_key

#: Terminal job states: polling stops at these.
TERMINAL_STATUSES = ("completed", "error", "user_error", "cancelled")
FAILED_STATUSES = ("error", "user_error", "cancelled")


class JobFailed(GerbilEvalError):
    """The fine-tuning job ended in error, user_error or cancelled."""

    exit_code = 1


def make_client(key_file: Path | None = None) -> tuple[Any, str]:
    """Return ``(client, api_key)``; the key is returned only so errors can redact it."""
    try:
        from together import Together
    except ImportError:
        raise GerbilEvalError("the Together SDK is missing: pip install 'gerbil-eval[pipeline]'") from None
    key = together_api_key(key_file)
    return Together(api_key=key, max_retries=3), key


@contextlib.contextmanager
def together_errors(action: str, api_key: str | None) -> Iterator[None]:
    """Turn SDK exceptions raised while doing ``action`` into one redacted line."""
    import together

    try:
        yield
    except together.AuthenticationError:
        raise GerbilEvalError(f"{action}: Together rejected the API key (401); check $TOGETHER_API_KEY or --api-key-file") from None
    except together.PermissionDeniedError:
        raise GerbilEvalError(f"{action}: permission denied by Together (403)") from None
    except together.NotFoundError as exc:
        raise GerbilEvalError(redact(f"{action}: not found (404): {_body_message(exc)}", api_key)) from None
    except together.APIStatusError as exc:
        raise GerbilEvalError(redact(f"{action}: Together answered {exc.status_code}: {_body_message(exc)}", api_key)) from None
    except together.APIConnectionError as exc:
        raise GerbilEvalError(redact(f"{action}: cannot reach Together ({exc})", api_key)) from None
    except together.TogetherError as exc:  # the SDK's own checks, e.g. FileTypeError with a multi-line report
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise GerbilEvalError(redact(f"{action}: {first.strip()} ({type(exc).__name__})", api_key)) from None


def _body_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message", err))
        return str(err)
    return str(body or exc)
