"""Finding Gerbil: ``--gxi PATH``, else ``$GERBIL_HOME/bin/gxi``, else ``gxi`` on ``PATH``.

Users install Gerbil their own way (a release package, the ``gerbil/gerbil`` container image,
a source build); the harness only needs the ``gxi`` interpreter and the folder it belongs to.
``gxi`` finds its compiled standard library through ``$GERBIL_HOME``, so a ``gxi`` found without
it gets the folder above its ``bin/`` (the layout of every install).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import GerbilEvalError

#: How to get Gerbil, for the "not run" line and the --require-exec error.
INSTALL_HINT = ("install Gerbil (https://cons.io/guide/, or the gerbil/gerbil container image) and pass "
                "--gxi PATH or set $GERBIL_HOME")


class GerbilNotFound(GerbilEvalError):
    """No usable ``gxi``: execution assertions are then *not run* (or, with --require-exec, a usage error)."""


@dataclass(frozen=True)
class Gerbil:
    """A usable Gerbil installation: its ``gxi``, its home folder and ``gxi --version``."""

    gxi: str
    home: str
    version: str


def _candidate(explicit: str | None) -> tuple[Path, str] | None:
    """The ``gxi`` to use and where it came from, or None when there is none."""
    if explicit:
        return Path(explicit), f"--gxi {explicit}"
    home = os.environ.get("GERBIL_HOME")
    if home:
        return Path(home) / "bin" / "gxi", f"$GERBIL_HOME/bin/gxi ({home})"
    found = shutil.which("gxi")
    return (Path(found), f"gxi on PATH ({found})") if found else None


@functools.lru_cache(maxsize=8)
def _probe(gxi: str, home: str, mtime: float) -> str:
    """``gxi --version`` (cached per binary and modification time)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GERBIL_HOME": home, "HOME": home}
    out = subprocess.run([gxi, "--version"], capture_output=True, text=True, timeout=30, env=env,
                         stdin=subprocess.DEVNULL)
    version = (out.stdout or out.stderr).strip().splitlines()
    if out.returncode != 0 or not version:
        raise GerbilNotFound(f"{gxi} --version failed (exit {out.returncode}): {(out.stderr or '').strip()[:200]}")
    return version[0]


def find_gerbil(explicit: str | None = None) -> Gerbil:
    """The Gerbil to run answers with; raises :class:`GerbilNotFound` with what was tried and how to fix it."""
    found = _candidate(explicit)
    if found is None:
        raise GerbilNotFound(f"no Gerbil found (no --gxi, no $GERBIL_HOME, no gxi on PATH); {INSTALL_HINT}")
    path, where = found
    if not path.is_file() or not os.access(path, os.X_OK):
        raise GerbilNotFound(f"{where}: not an executable file; {INSTALL_HINT}")
    home = os.environ.get("GERBIL_HOME") if not explicit and os.environ.get("GERBIL_HOME") else None
    real = path.resolve()
    home = home or str(real.parent.parent)
    try:
        version = _probe(str(real), str(Path(home).resolve()), real.stat().st_mtime)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GerbilNotFound(f"{where}: cannot run it ({exc}); {INSTALL_HINT}") from None
    return Gerbil(str(real), str(Path(home).resolve()), version)
