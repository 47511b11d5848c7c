"""Training-data builder: cookbook recipes, Markdown docs and Gerbil sources become chat examples.

``python -m pipeline data`` (``pipeline/commands/data.py``) loads the inputs, generates
question/answer conversations, cleans them, checks them against Together's rules and the
eval cases (decontamination), and writes three formats plus a train/validation split and a
manifest. Every step is a plain function in its own module so it can be tested alone.

May import: ``gerbil_eval`` (errors, fileio, safety, the reader, the system prompt, case loading and
contamination for decontamination); never another ``pipeline`` package.
"""

from __future__ import annotations

from gerbil_eval.errors import GerbilEvalError


class DataError(GerbilEvalError):
    """A training-data input or output is invalid; the message names the file, entry and field."""
