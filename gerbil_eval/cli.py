"""Subcommand dispatch shared by ``python -m gerbil_eval`` and ``python -m pipeline``.

Each subcommand is a module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``; modules are imported only when their command runs, so
``--help`` stays fast and a missing optional dependency only affects its command.
A :class:`GerbilEvalError` becomes one line on stderr and its exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from typing import Mapping, Sequence

from .errors import GerbilEvalError


def _check_finite(args: argparse.Namespace) -> None:
    """Every float option of every command is finite: ``nan`` compares false with everything, so a
    limit given as ``nan`` (or ``inf``) silently disables or always trips its check."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise GerbilEvalError(f"--{name.replace('_', '-')} must be a finite number, got {value}")


def main(prog: str, description: str, commands: Mapping[str, tuple[str, str]], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command. ``commands`` maps name -> (module, one-line help)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that will run
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    args = parser.parse_args(argv)
    try:
        _check_finite(args)
        return int(args._module.run(args) or 0)
    except GerbilEvalError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` closed the pipe: not an error
        sys.stderr.close()
        return 0
