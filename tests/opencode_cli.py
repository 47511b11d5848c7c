"""The real OpenCode CLI (npm ``opencode-ai``), installed once into ``.venv/opencode`` and run offline.

``make setup`` installs it (``npm install opencode-ai@VERSION``: the platform binary comes
as an npm optional dependency, so no install script is needed); tests install it the same
way when it is missing. Every run gets its own HOME and XDG folders, so nothing from the
developer's OpenCode (config, auth, sessions, caches) takes part, and the flags that keep
OpenCode off the network (auto-update, models.dev) are set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENCODE_VERSION = "1.18.33"
OPENCODE_PREFIX = ROOT / ".venv" / "opencode"
OPENCODE_BIN = OPENCODE_PREFIX / "node_modules" / ".bin" / "opencode"
#: OpenCode's own switches for running without its update check and models.dev catalogue.
OFFLINE_ENV = {"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1"}


def installed_version() -> str | None:
    if not OPENCODE_BIN.exists():
        return None
    result = subprocess.run([str(OPENCODE_BIN), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_opencode() -> Path:
    """The CLI's path, installing it from the npm registry first when it is missing or another version."""
    if installed_version() != OPENCODE_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: the OpenCode tests need node 20+ and npm (make setup installs them)")
        OPENCODE_PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(OPENCODE_PREFIX),
                        f"opencode-ai@{OPENCODE_VERSION}"], check=True, capture_output=True, timeout=600)
    return OPENCODE_BIN


def isolated_env(home: Path, cwd: Path) -> dict[str, str]:
    """Our environment with HOME/XDG pointing into ``home``, OpenCode kept offline, ``PWD`` = ``cwd``.

    OpenCode takes its project folder from ``$PWD``, not from the process's working
    directory: a child started with another ``cwd`` but the parent's ``PWD`` works on the parent's folder.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE_", "XDG_"))}
    env.update(HOME=str(home), PWD=str(cwd), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".local/state"), **OFFLINE_ENV)
    return env

