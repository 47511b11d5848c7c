"""The project's tests find Gerbil as ``make test`` gives it: ``$GERBIL_HOME``, else the release that
``make setup`` unpacks into ``.venv/gerbil``. So a plain ``python -m pytest tests/...`` judges the
library's runtime-only wrong answers by running them, instead of leaving them unjudged ("not run")
and failing the library self-test. Tests about a missing Gerbil remove the variable themselves.

Each test session gets an empty cache folder (``$GERBIL_EVAL_CACHE``): the executor caches runs by
Gerbil version, program, checks and limits, not by the harness's own code, so a result kept in the
user's ``~/.cache/gerbil-eval`` by an earlier checkout must not stand in for the run a test is about."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from .gerbil_support import UNPACKED

if not os.environ.get("GERBIL_HOME") and (UNPACKED / "bin" / "gxi").is_file():
    os.environ["GERBIL_HOME"] = str(UNPACKED)


@pytest.fixture(autouse=True, scope="session")
def _empty_cache_per_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GERBIL_EVAL_CACHE", str(tmp_path_factory.mktemp("gerbil-eval-cache")))
        yield
