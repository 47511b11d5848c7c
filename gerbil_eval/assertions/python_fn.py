"""``python``: a user function ``module:function`` decides.

The function gets ``(answer, context)`` — context is a plain dict
``{"case": Case, "model": str | None, "vars": {...}}`` — and returns a bool, a
score in [0, 1] (passing at ``threshold``, default 0.5) or a mapping
``{"pass": bool, "score": float, "reason": str}``. The module is looked up
beside the case file first, then on ``sys.path``; a missing module or function
is a load-time error.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any, Callable

from . import Outcome, register, threshold_of, values
from ..answer import Answer


@functools.lru_cache(maxsize=None)
def resolve(spec: str, base_dir: str) -> Callable[..., Any]:
    """Import ``module:function``; raises ValueError naming what is missing."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ValueError(f"needs 'module:function', got {spec!r}")
    local = Path(base_dir, *module_name.split(".")).with_suffix(".py")
    try:
        if local.is_file():
            loader_spec = importlib.util.spec_from_file_location(f"_gerbil_eval_case_{module_name}", local)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} ({exc}); put {module_name}.py beside the case file "
                         "or make it importable") from None
    except Exception as exc:  # the user's module failed while importing
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"module {module_name!r} has no function {func_name!r}")
    return func


def _validate(value: Any, base: Path) -> str:
    spec = values.text(value, base)
    resolve(spec, str(base))
    return spec


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


@register("python", _validate, default_threshold=0.5)
def python_check(value: str, ans: Answer, a: Any, ctx: dict) -> Outcome:
    """Call the user's function; its exceptions and odd return values fail (under ``not-`` too) with a reason."""
    try:
        result = resolve(value, a.base_dir)(ans.text, ctx)
    except Exception as exc:  # a bug in the user's check must not stop the run
        return Outcome.failure(f"python check {value} raised {type(exc).__name__}: {exc}")
    out = _outcome(result, threshold_of(a))
    if out is None:
        return Outcome.failure(f"python check {value} returned {result!r:.60}; expected a bool, a number in [0, 1] "
                               "or {pass, score, reason}")
    return out
