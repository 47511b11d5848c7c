"""The ``python -m pipeline`` commands: one module per command, named after it.

``python -m pipeline NAME`` is implemented by ``pipeline/commands/NAME.py``, which exposes
``add_arguments(parser)`` and ``run(args) -> int``; ``pipeline/__main__.py`` maps each name to its
module and one line of help (the same rule as ``gerbil_eval/commands/``). A command parses its
options, calls the concept packages and prints; the work itself lives in those packages.

May import: any ``pipeline`` package and ``gerbil_eval``. Nothing imports a command module except
the dispatcher (and ``pipeline run``, which runs the other commands as subprocesses, not imports).
"""
