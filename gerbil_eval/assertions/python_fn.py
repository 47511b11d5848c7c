"""``python``: a user function in a ``.py`` file beside the case file decides. Opt-in only.

A case file is data; this assertion makes it code, so it runs only when the user opts in
with ``--allow-python`` (``lint --allow-python``): without it the loader refuses the case
and nothing is imported. The ``value`` names ``module:function`` or ``path/to/file.py:function``,
and the file must be in or under the case file's folder: no absolute paths, no ``..``, no
symlink out of it, and never an importable module such as ``builtins`` or ``os`` (so
``builtins:exec`` cannot run the model's answer). The model's answer is only ever *passed*
to the function as a string.

The function gets ``(answer, context)`` — context is a plain dict
``{"case": Case, "model": str | None, "vars": {...}}`` — and returns a bool, a
score in [0, 1] (passing at ``threshold``, default 0.5) or a mapping
``{"pass": bool, "score": float, "reason": str}``. With the flag, a missing file or
function is a load-time error.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from . import values
from .registry import Outcome, register, threshold_of
from ..answer import Answer
from ..safety.shown import short_repr

_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_file(spec: str, base_dir: str | Path) -> tuple[Path, str]:
    """The ``.py`` file and function name ``spec`` names, checked to lie in or under ``base_dir``.

    Imports nothing; raises ValueError naming the rule that was broken.
    """
    module, sep, func = spec.rpartition(":")
    if not sep or not module or not _FUNCTION.match(func):
        raise ValueError(f"needs 'module:function' or 'file.py:function', got {short_repr(spec)}")
    dotted = re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", module)
    rel = module.replace(".", "/") + ".py" if dotted else module
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if rel.startswith(("/", "\\")) or PurePosixPath(rel).is_absolute() or (parts and ":" in parts[0]):
        raise ValueError(f"{short_repr(module)}: absolute paths are not allowed; name a .py file in or under "
                         "the case file's folder")
    if ".." in parts:
        raise ValueError(f"{short_repr(module)}: '..' is not allowed; name a .py file in or under the case file's folder")
    base = Path(base_dir).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"{short_repr(module)}: resolves outside the case file's folder")
    if path.suffix != ".py" or not path.is_file():
        raise ValueError(f"no file {rel} in the case file's folder {base_dir}; python checks run only from a "
                         ".py file there (importable modules such as builtins or os are never used)")
    return path, func


@functools.lru_cache(maxsize=None)
def resolve(spec: str, base_dir: str) -> Callable[..., Any]:
    """Import the function ``spec`` names (checked by :func:`check_file`); raises ValueError."""
    path, func_name = check_file(spec, base_dir)
    try:
        loader_spec = importlib.util.spec_from_file_location(f"_gerbil_eval_case_{path.stem}", path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    except Exception as exc:  # the user's module failed while importing
        raise ValueError(f"importing {path.name} failed: {type(exc).__name__}: {short_repr(str(exc), 120)}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"{path.name} has no function {func_name!r}")
    return func


def _validate(value: Any, base: Path) -> str:
    """Load time, without --allow-python: the spec's shape and file only; nothing is imported."""
    spec = values.text(value, base)
    check_file(spec, base)
    return spec


def _load(value: str, base: Path) -> None:
    """Load time, with --allow-python: import the function, so a missing one fails before any request."""
    resolve(value, str(base))


def _outcome(result: Any, limit: float) -> Outcome | None:
    """Interpret the function's return value; None when it is not a supported shape."""
    if isinstance(result, bool):
        return Outcome.of(result, "python check returned " + str(result))
    if isinstance(result, (int, float)) and math.isfinite(result) and 0.0 <= result <= 1.0:
        ok = result >= limit
        return Outcome(ok, float(result), f"python score {result:.2f} {'>=' if ok else '<'} {limit:g}")
    if isinstance(result, dict) and isinstance(result.get("pass"), bool):
        score = result.get("score", 1.0 if result["pass"] else 0.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            return None
        return Outcome(result["pass"], float(score), str(result.get("reason") or f"python check returned pass={result['pass']}"))
    return None


@register("python", _validate, default_threshold=0.5, load=_load)
def python_check(value: str, ans: Answer, a: Any, ctx: dict) -> Outcome:
    """Call the user's function; its exceptions and odd return values fail (under ``not-`` too) with a reason."""
    try:
        result = resolve(value, a.base_dir)(ans.text, ctx)
    except Exception as exc:  # a bug in the user's check must not stop the run
        return Outcome.failure(f"python check {value} raised {type(exc).__name__}: {exc}")
    out = _outcome(result, threshold_of(a))
    if out is None:
        return Outcome.failure(f"python check {value} returned {short_repr(result, 60)}; expected a bool, a number in [0, 1] "
                               "or {pass, score, reason}")
    return out
