"""Redaction: the API key and URL credentials never reach a file, a report or the terminal.

Endpoints echo request headers in error bodies, users put ``user:key@`` into base URLs, and
both end up in error texts that are written to ``responses.jsonl``, ``results.json``, the
reports, the JUnit XML and the terminal. Every writer passes text (or a JSON-like value)
through :func:`redact`; the secrets are registered once, where they are read
(:func:`register_secret`).
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from typing import Any

MASK = "***"
#: ``scheme://user:password@host`` (or ``user@host``): the userinfo part of a URL.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^/\s@?#]{1,512}@")  # bounded: linear on a 1 MB answer
#: Secrets shorter than this are not registered: masking "a" everywhere would garble every text.
MIN_SECRET = 4

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` (an API key, from any source) in everything :func:`redact` sees from now on."""
    global _pattern
    if not secret or len(secret.strip()) < MIN_SECRET:
        return
    with _lock:
        _secrets.update({secret, secret.strip()})
        # Longest first, so a key that contains another registered key is masked whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def register_url_secrets(url: str) -> None:
    """Mask the user name and password a URL carries (``http://user:key@host``) wherever they show up."""
    try:
        parts = urllib.parse.urlsplit(url)
        secrets = (parts.username, parts.password)
    except ValueError:  # a malformed URL: its userinfo is still masked by the URL pattern
        return
    for secret in secrets:
        register_secret(urllib.parse.unquote(secret) if secret else None)
        register_secret(secret)
    if parts.username is not None:  # httpx sends URL userinfo as HTTP Basic auth: base64 of "user:password"
        pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        register_secret(base64.b64encode(pair.encode("utf-8", "replace")).decode("ascii"))


def strip_userinfo(url: str) -> str:
    """``http://user:key@host/v1`` -> ``http://host/v1``: a base URL as it may be stored or shown."""
    return _USERINFO.sub(r"\1", url)


def redact(value: Any) -> Any:
    """``value`` with every registered secret and every URL's userinfo replaced by ``***``.

    Strings are redacted; lists, tuples and dicts are redacted item by item (keys too), so a
    whole result row or JSON document can be passed; anything else is returned as it is.
    """
    if isinstance(value, str):
        if _pattern is not None:
            value = _pattern.sub(MASK, value)
        return _USERINFO.sub(rf"\1{MASK}@", value) if "@" in value else value
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value
