"""Execution assertions: the answer's code is run by a real, sandboxed ``gxi`` (:mod:`gerbil_eval.execution`).

- ``runs``: the program loads and runs to completion: no unbound variable, no uncaught exception,
  no timeout or limit; the reason quotes Gerbil's own error message.
- ``checks``: the case's ``:std/test`` forms (``(check (f 2 3) => 5)``, ``(check (g) ? pred)``,
  ``(check-exception (h) true)``; any other form must return true) run after the answer's code,
  each on its own; score = fraction passing, reasons list the failing forms with actual vs
  expected. ``value: {checks: "...", function: add}`` binds ``add`` to the answer's last defined
  procedure when the answer does not define ``add`` itself, so checks can call the function the
  prompt asked for whatever the answer named it.
- ``output``: what the program prints equals / contains / matches the value
  (``{equals: ...}``, ``{contains: ...}``, ``{matches: REGEX}``; a plain string means contains).
- ``claims``: the answer's own ``; =>`` annotations and REPL results hold when evaluated in place;
  an expression claimed to raise (``; error``) must raise. Score = fraction holding; an answer
  with no claims passes.

Each of them takes ``setup: FORMS`` in its value (``{type: runs, value: {setup: "(def h (make-hash-table))"}}``):
Gerbil forms run before the answer that bind the variables the prompt talks about, so a right
answer written as a snippet over them (``(hash-ref h 'a 0)``) runs; the answer's own definitions
replace them. A setup may also import what newer Gerbil has in its prelude (``(import :std/sugar)``
for ``while``/``try`` on v0.18.1), so an answer right on either version runs.

Without Gerbil each of them is *not run*: neither pass nor fail, left out of the score.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .registry import Outcome, register
from ..answer import Answer
from ..reader import read
from ..execution.executor import AnswerRun, ExecSettings, claim_specs, run_answer
from ..execution.gerbil import GerbilNotFound, find_gerbil
from ..execution.program import answer_units, check_forms, last_procedure
from .gerbil import defined_names

#: The scoring worker's wait for one execution assertion: the executor bounds each run itself
#: (wall clock per run, and at most one run per code block plus one), so this is only a backstop.
TIME_LIMIT = 300.0


def _settings(context: dict) -> ExecSettings:
    settings = context.get("execution")
    return settings if isinstance(settings, ExecSettings) else ExecSettings()


def _run(ans: Answer, context: dict, checks: tuple[str, ...] = (), preamble: str = "",
         setup: str = "") -> AnswerRun | Outcome:
    """The answer's run, or the Outcome to return instead (not run / no code)."""
    try:
        run = run_answer(ans, checks, _settings(context), preamble=preamble, setup=setup)
    except GerbilNotFound as exc:
        return Outcome.skipped(f"not run: {exc}")
    if run is None:
        return Outcome.of(False, "no Scheme code to run")
    return run


# --- value validators ------------------------------------------------------------------------------

#: A case's ``setup:`` forms are a few definitions, not a program.
MAX_SETUP_CHARS = 4000


def _setup(value: Any) -> str:
    """The validated ``setup:`` text ("" when absent)."""
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SETUP_CHARS:
        raise ValueError(f"setup: needs Gerbil forms as a string of at most {MAX_SETUP_CHARS} characters")
    result = read(value)
    if not result.complete:
        raise ValueError(f"setup: forms do not read: {result.errors[0] if result.errors else 'incomplete'}")
    return value


def _setup_only(value: Any, _base: Path) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"setup"}:
        raise ValueError("takes no value, or {setup: FORMS} (forms run before the answer)")
    return {"setup": _setup(value["setup"])}


def _setup_of(value: dict | None) -> str:
    return (value or {}).get("setup", "")


def _checks_value(value: Any, _base: Path) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"checks": value}
    if not isinstance(value, dict) or set(value) - {"checks", "function", "setup"} \
            or not isinstance(value.get("checks"), str):
        raise ValueError("needs check forms as a string, or {checks: FORMS, function: NAME, setup: FORMS}")
    result = read(value["checks"])
    if not result.complete:
        raise ValueError(f"check forms do not read: {result.errors[0] if result.errors else 'incomplete'}")
    if not check_forms(value["checks"]):
        raise ValueError("needs at least one check form such as (check (f 2 3) => 5)")
    function = value.get("function")
    if function is not None and (not isinstance(function, str) or not re.fullmatch(r"[^\s()\[\]{}\"';`,|#]+", function)):
        raise ValueError(f"function: must be a Gerbil identifier, got {function!r:.40}")
    setup = _setup(value.get("setup"))
    return {"checks": value["checks"], **({"function": function} if function else {}),
            **({"setup": setup} if setup else {})}


_OUTPUT_KINDS = ("equals", "contains", "matches")


def _output_value(value: Any, _base: Path) -> dict[str, str]:
    if isinstance(value, str) and value:
        return {"contains": value}
    if isinstance(value, dict) and "setup" in value:
        return {**_output_value({k: v for k, v in value.items() if k != "setup"}, _base), "setup": _setup(value["setup"])}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _OUTPUT_KINDS \
            or not isinstance(next(iter(value.values())), str):
        raise ValueError("needs {equals: TEXT}, {contains: TEXT} or {matches: REGEX} (a plain string means contains), "
                         "and optionally setup: FORMS")
    if "matches" in value:
        try:
            re.compile(value["matches"])
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
    return dict(value)


# --- checks ----------------------------------------------------------------------------------------

@register("runs", _setup_only, time_limit=TIME_LIMIT)
def runs(value: dict | None, ans: Answer, _a: Any, context: dict) -> Outcome:
    run = _run(ans, context, setup=_setup_of(value))
    if isinstance(run, Outcome):
        return run
    if run.together.finished:
        return Outcome.of(True, f"ran to completion ({run.together.seconds:.2f} s)")
    if run.alone and all(r.finished for r in run.alone):
        return Outcome.of(True, f"the blocks fail together ({run.together.error}) but each runs on its own")
    reason = f"run failed: {run.together.error}"
    if run.alone:
        bad = [f"block at line {u.line}: {r.error}" for u, r in zip(run.units, run.alone) if not r.finished]
        reason += f"; alone, {'; '.join(bad)}"
    return Outcome.of(False, reason)


def binding_preamble(ans: Answer, function: str | None) -> tuple[str, str]:
    """``(def NAME PROC)`` when the answer does not define NAME itself, and a note for the reason."""
    if not function or function in ans.derived(defined_names):
        return "", ""
    proc = last_procedure(ans)
    if proc is None:
        return "", ""
    return f"(def {function} {proc})", f"bound {function} to the answer's {proc}; "


@register("checks", _checks_value, time_limit=TIME_LIMIT)
def checks(value: dict[str, Any], ans: Answer, _a: Any, context: dict) -> Outcome:
    forms = check_forms(value["checks"])
    preamble, note = binding_preamble(ans, value.get("function"))
    run = _run(ans, context, forms, preamble, _setup_of(value))
    if isinstance(run, Outcome):
        return run
    candidates = [r for r in (run.together, *run.alone) if r.reached_end] or [run.together]
    best = max(candidates, key=lambda r: sum(c.passed for c in r.checks))
    passed = sum(c.passed for c in best.checks)
    failing = [c.reason for c in best.checks if not c.passed]
    if not failing:
        return Outcome.of(True, f"{note}{passed}/{len(forms)} checks pass")
    return Outcome(False, passed / len(forms), f"{note}{passed}/{len(forms)} checks pass; " + "; ".join(failing))


@register("output", _output_value, time_limit=TIME_LIMIT)
def output(value: dict[str, str], ans: Answer, _a: Any, context: dict) -> Outcome:
    run = _run(ans, context, setup=_setup_of(value))
    if isinstance(run, Outcome):
        return run
    printed = "".join(r.stdout for r in run.alone) if run.alone else run.together.stdout
    (kind, want), = ((k, v) for k, v in value.items() if k != "setup")
    shown = printed if len(printed) <= 80 else printed[:77] + "..."
    if kind == "equals":
        ok = printed.strip() == want.strip()
    elif kind == "contains":
        ok = want in printed
    else:
        ok = re.search(want, printed) is not None
    verb = {"equals": "equals", "contains": "contains", "matches": "matches"}[kind]
    reason = f"output {verb if ok else 'does not ' + verb.rstrip('s').replace('matche', 'match')} {want!r}: {shown!r}"
    if not run.together.finished and not run.alone:
        reason += f" (the run failed: {run.together.error})"
    return Outcome.of(ok, reason)


def _normal(text: str) -> str:
    text = " ".join(text.split())
    return text[1:] if text.startswith("'") else text


def _number(text: str) -> float | None:
    try:
        return float(text)  # Scheme's "5." and "2.0" read as Python's too
    except ValueError:
        return None


def value_matches(claimed: str, written: str, shown: str, printed: str) -> bool:
    """Does the claimed text describe the value? Compared as written, as displayed, as printed
    (REPL transcripts show output then value), numerically for numbers; a printed object such as
    ``#<table #3>`` matches any printed object."""
    want = _normal(claimed)
    first = _first_datum(claimed)  # "6 (two bytes)", "#t, inherited": the value, then a remark
    if first and first != want and value_matches(first, written, shown, printed):
        return True
    seen = [_normal(x) for x in (written, shown, printed, f"{printed} {written}", f"{printed}{written}") if x.strip()]
    if want in seen:
        return True
    if want.startswith("#<") and _normal(written).startswith("#<"):
        return True
    number = _number(want)
    return number is not None and any(_number(s) == number for s in seen)


_UNBOUND = re.compile(r"Unbound variable: (\S+)")


def _missing_context(expr: str, seen: Any) -> bool:
    """The claim raised only because a snippet leaves a variable undefined (``(hash-ref h 'a)``
    with no ``h``). An unbound name in operator position (``(read-file ...)``) is a real error."""
    m = _UNBOUND.search(seen.message) if seen.raised else None
    if m is None:
        return False
    name = m.group(1)
    from ..answer import analyse as _analyse
    from .codeindex import code_index

    return name not in _analyse(expr).derived(code_index).calls


def _first_datum(text: str) -> str | None:
    from ..reader import spans as _spans

    text = text.strip()
    top = [s for s in _spans(text) if s.kind == "datum" and s.depth == 0]
    return _normal(text[top[0].start:top[0].end]) if top else None


@register("claims", _setup_only, time_limit=TIME_LIMIT)
def claims(value: dict | None, ans: Answer, _a: Any, context: dict) -> Outcome:
    units = answer_units(ans)
    if units and not any(u.claims for u in units):
        # Nothing to evaluate, so the verdict cannot depend on a run: skip it (most answers make
        # no claims; their program would differ from `runs`' whenever a setup comes first). Still
        # *not run* without Gerbil, like every execution type.
        try:
            find_gerbil(_settings(context).gxi)
        except GerbilNotFound as exc:
            return Outcome.skipped(f"not run: {exc}")
        return Outcome.of(True, "the answer makes no claims to check")
    run = _run(ans, context, setup=_setup_of(value))
    if isinstance(run, Outcome):
        return run
    specs = claim_specs(run)
    held, problems, counted = 0, [], 0
    for spec, seen, source in specs:
        c = spec.claim
        label = f"line {c.line}: {c.expr[:60]}"
        if seen is None or _missing_context(c.expr, seen):
            # never evaluated (the program stopped earlier, or a procedure it never calls), or a
            # snippet's free variable such as `h`: the claim cannot be judged from this code alone
            continue
        counted += 1
        if c.error:
            if seen.raised:
                held += 1
            else:
                problems.append(f"{label} claimed to raise, returned {seen.written[:60]}")
        elif seen.raised:
            problems.append(f"{label} raised {seen.message[:120]}; claimed {c.value[:60]}")
        elif value_matches(c.value, seen.written, seen.shown, seen.printed):
            held += 1
        else:
            problems.append(f"{label} gives {seen.written[:60]}, claimed {c.value[:60]}")
    if counted == 0:
        return Outcome.of(True, f"none of the {len(specs)} claims can be judged from this code alone "
                                "(never reached, or about variables the snippet does not define)")
    if not problems:
        return Outcome.of(True, f"{held}/{counted} claims hold")
    return Outcome(False, held / counted, f"{held}/{counted} claims hold; " + "; ".join(problems))
