"""The project's tests find Gerbil as ``make test`` gives it: ``$GERBIL_HOME``, else the release that
``make setup`` unpacks into ``.venv/gerbil``. So a plain ``python -m pytest tests/...`` judges the
library's runtime-only wrong answers by running them, instead of leaving them unjudged ("not run")
and failing the library self-test. Tests about a missing Gerbil remove the variable themselves."""

from __future__ import annotations

import os

from .gerbil_support import UNPACKED

if not os.environ.get("GERBIL_HOME") and (UNPACKED / "bin" / "gxi").is_file():
    os.environ["GERBIL_HOME"] = str(UNPACKED)
