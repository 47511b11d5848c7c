"""Where the tests find Gerbil and the shared Gerbil sources.

Gerbil comes only through ``$GERBIL_HOME`` (``make test`` points it at the release that
``make setup`` unpacks into ``.venv/gerbil``), or that folder itself when pytest is run directly.
Off CI a missing Gerbil skips the execution tests with the reason; on CI (``CI=true``) it fails
them: CI has ``../shared`` and must run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: ``$GERBIL_EVAL_SHARED`` points elsewhere (a worktree whose ../shared is not beside it).
SHARED = Path(os.environ.get("GERBIL_EVAL_SHARED") or ROOT.parent / "shared")
UNPACKED = ROOT / ".venv" / "gerbil" / "gerbil-v0.18.1"


def gerbil_home() -> Path:
    """The Gerbil installation the tests use; skips (fails on CI) when there is none."""
    home = Path(os.environ.get("GERBIL_HOME") or UNPACKED)
    if (home / "bin" / "gxi").is_file():
        return home
    message = f"no Gerbil at {home}: run `make setup` (unpacks ../shared/gerbil) or set GERBIL_HOME"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def shared_dir(*parts: str) -> Path:
    """A folder of ../shared; skips off CI when absent, fails on CI."""
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing (CI has ../shared beside the clone)")
    pytest.skip(f"{path} not present (../shared lives beside the project)")
