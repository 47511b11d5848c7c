"""What this project adds to llama-cpp-python's server settings.

Kept apart from :mod:`.app` so the harness can build a server config without importing
the engine (llama-cpp-python, FastAPI), which may not be installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServingOptions:
    """The ``"gerbil"`` section of the server's config file.

    ``system_prompt``: given to requests that have no system message. ``grammar``: GBNF
    text constraining every answer whose request brings none (llama-server's
    ``--grammar-file``). ``max_tokens``: a cap on every answer (llama-server's ``-n``).
    ``request_log``: one JSON line per chat request.
    """

    system_prompt: str | None = None
    grammar: str | None = None
    max_tokens: int | None = None
    request_log: Path | None = None

    def to_config(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> ServingOptions:
        log = raw.get("request_log")
        return cls(system_prompt=raw.get("system_prompt"), grammar=raw.get("grammar"),
                   max_tokens=raw.get("max_tokens"), request_log=Path(log) if log else None)
