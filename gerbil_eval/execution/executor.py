"""Run answers: settings, the cache, the bound on concurrent runs, and the per-block fallback.

:func:`run_answer` runs an answer's program (see :mod:`.program`) with a case's checks appended and
returns what the assertions judge. When the blocks fail together and there are several, each
block also runs on its own, preceded by the imports of all blocks; the assertions then read:

- ``runs``: passes when the blocks run together, or when every block runs on its own
  (alternatives that cannot coexist are not an error).
- ``checks``: the run where most checks pass (together, else the best single block).
- ``claims``: each block's claims as evaluated in that block's own run.
- ``output``: the blocks' outputs in order.

Results are cached in memory and on disk (beside the response cache, ``exec-v1/``) by Gerbil's
version, the program, the checks and the limits: a rerun, a replay or ``lint`` runs nothing twice.
At most ``workers`` programs run at once on the machine for this user, whichever process asks
(pytest-xdist workers, scoring workers): each run holds one of ``workers`` lock files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from ..answer import Answer
from ..fileio import atomic_open
from .gerbil import Gerbil, find_gerbil
from .program import (MAIN_FILE, MAX_FIELD, RESULTS_FILE, ClaimSpec, Unit, answer_units, driver, nonce_of,
                      parse_records)
from .sandbox import Limits, isolation_level, run_gxi

CACHE_VERSION = "exec-v1"


@dataclass(frozen=True)
class ExecSettings:
    """How answers are run (picklable: it travels to scoring worker processes in the context)."""

    gxi: str | None = None           # --gxi; None: $GERBIL_HOME, then PATH
    workers: int = 2                 # --exec-workers: programs running at once
    limits: Limits = field(default_factory=Limits)
    cache: bool = True


@dataclass(frozen=True)
class CheckResult:
    form: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class ClaimSeen:
    """What evaluating one claimed expression gave."""

    raised: bool
    written: str = ""     # (write value)
    shown: str = ""       # (display value)
    printed: str = ""     # what it printed while being evaluated
    message: str = ""     # the exception's message when it raised


@dataclass(frozen=True)
class RunResult:
    """One run of one program."""

    finished: bool          # exited normally (0) or reached the end of the program
    reached_end: bool       # reached the end of the program (the checks could run)
    error: str              # why not finished, Gerbil's own words ("" when finished)
    stdout: str
    checks: tuple[CheckResult, ...]
    claims: dict[int, ClaimSeen]
    seconds: float


@dataclass(frozen=True)
class AnswerRun:
    """The runs of one answer: together, and (when that failed) each block on its own."""

    units: tuple[Unit, ...]
    together: RunResult
    alone: tuple[RunResult, ...] = ()


def settings_from_options(options: Any) -> ExecSettings:
    """The settings a run's options ask for (--gxi, --exec-workers, --exec-timeout)."""
    timeout = float(options.exec_timeout)
    return ExecSettings(gxi=options.gxi, workers=options.exec_workers,
                        limits=Limits(timeout=timeout, cpu_seconds=max(1, math.ceil(timeout))))


# --- running one program ---------------------------------------------------------------------------

_ERROR_LINE = re.compile(r"\*\*\* ERROR(?: IN .*? --(?: |$)| --(?: |$)| IN \? )?(?P<msg>.*)$")


def gerbil_error(text: str) -> str:
    """Gerbil's message for an uncaught error in ``text`` (stdout or stderr of ``gxi``), one line:
    ``Unbound variable: read-file``, ``Wrong number of arguments passed to procedure (f 1 2)``.
    The first error line may follow what the program printed without a newline (``result: *** ERROR``)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _ERROR_LINE.search(line.strip())
        if not m:
            continue
        parts = [m.group("msg").strip()]
        for more in lines[i + 1:i + 6]:
            s = more.strip()
            if not s or s.startswith(("--- continuation", "┏", "[0]")) or s.startswith("\u2503"):
                break
            inner = _ERROR_LINE.match(s)
            parts.append(inner.group("msg").strip() if inner else s)
        return " ".join(p for p in parts if p)[:500]
    return ""


def clean_message(msg: str, limit: int = 500) -> str:
    """An exception's message without its backtrace and without the driver's file positions."""
    msg = msg.split("--- continuation backtrace")[0]
    msg = re.sub(r' at "[^"]*"@[\d.\-]+', "", msg)
    msg = re.sub(r"\*\*\* ERROR IN \? ", "", msg)
    return " ".join(msg.split())[:limit]


def _failure(outcome, limits: Limits) -> str:  # noqa: ANN001 - sandbox.Outcome
    if outcome.timed_out:
        return f"timed out after {limits.timeout:g} s (wall clock); the program was killed"
    if outcome.output_cut:
        return f"printed more than {limits.output_bytes} bytes; output cut and the program stopped"
    sig = outcome.killed_by_signal
    if sig == 24:
        return f"CPU time limit exceeded ({limits.cpu_seconds} s); killed by SIGXCPU"
    if sig == 25:
        return f"file size limit exceeded ({limits.file_mb} MB); killed by SIGXFSZ"
    message = gerbil_error(outcome.stdout) or gerbil_error(outcome.stderr)
    if message:
        return message
    if sig:
        return f"killed by signal {sig}"
    tail = (outcome.stderr.strip().splitlines() or outcome.stdout.strip().splitlines() or [""])[-1]
    return f"exited with status {outcome.returncode}" + (f": {tail[:200]}" if tail else "")


_EXPECTED = re.compile(r"FAILED: (?P<got>.*) \[expected: (?P<want>.*)\]\s*\Z", re.DOTALL)


def short_form(form: str, limit: int = 60) -> str:
    """A check form for a reason: one line, at most ``limit`` characters."""
    flat = " ".join(form.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _check_reason(form: str, message: str) -> str:
    form = short_form(form)
    m = _EXPECTED.search(message)
    if m:  # :std/test's "check ... FAILED: GOT [expected: WANT]": the form is ours, shorter
        got, want = (" ".join(m.group(g).split()) for g in ("got", "want"))
        return f"{form}: got {got[:100]}, expected {want[:100]}"
    return f"{form}: {message[:300]}"


def _interpret(outcome, checks: tuple[str, ...], nonce: str, limits: Limits) -> RunResult:  # noqa: ANN001
    stdout = outcome.stdout.split(nonce)[0]
    outcome = replace(outcome, stdout=outcome.stdout.replace(nonce, ""))  # the marker is ours: not in a reason
    records = parse_records(outcome.read_back)
    reached = any(r.kind == "done" for r in records)
    finished = reached or outcome.returncode == 0
    error = "" if finished else _failure(outcome, limits)
    claims: dict[int, ClaimSeen] = {}
    results: dict[int, CheckResult] = {}
    started: int | None = None
    for r in records:
        if r.kind == "claim" and r.index is not None and r.index not in claims:
            f = (*r.fields, "", "", "")
            claims[r.index] = (ClaimSeen(False, f[0], f[1], f[2]) if r.status == "value"
                               else ClaimSeen(True, printed=f[2], message=clean_message(f[0])))
        elif r.kind == "start":
            started = r.index
        elif r.kind == "check" and r.index is not None and r.index < len(checks):
            form = checks[r.index]
            results[r.index] = CheckResult(form, r.status == "pass",
                                           "passes" if r.status == "pass"
                                           else _check_reason(form, clean_message(r.fields[0] if r.fields else "",
                                                                                  limit=MAX_FIELD)))
    out: list[CheckResult] = []
    for i, form in enumerate(checks):
        if i in results:
            out.append(results[i])
        elif not reached:
            why = error or "the program called exit before the checks could run"
            out.append(CheckResult(form, False, f"{short_form(form)}: not run, the program failed: {why}"))
        else:
            why = _failure(outcome, limits) if i == started else "not reached (an earlier check stopped the run)"
            out.append(CheckResult(form, False, f"{short_form(form)}: {why}"))
    return RunResult(finished, reached, error, stdout, tuple(out), claims, outcome.seconds)


# --- concurrency and cache -------------------------------------------------------------------------

_memory: dict[str, RunResult] = {}
_memory_lock = threading.Lock()


@contextlib.contextmanager
def _slot(workers: int) -> Iterator[None]:
    """Hold one of ``workers`` machine-wide lock files while a program runs."""
    folder = Path(tempfile.gettempdir()) / f"gerbil-eval-exec-slots-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    handles = [open(folder / f"slot-{i}", "a+b") for i in range(max(1, workers))]  # noqa: SIM115
    try:
        while True:
            for fh in handles:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
                return
            time.sleep(0.02)
    finally:
        for fh in handles:
            fh.close()


def _cache_dir() -> Path:
    from ..fetch.cache import default_cache_dir

    return default_cache_dir() / CACHE_VERSION


def _to_json(result: RunResult) -> dict:
    doc = asdict(result)
    doc["claims"] = {str(k): v for k, v in doc["claims"].items()}
    return doc


def _from_json(doc: dict) -> RunResult:
    return RunResult(doc["finished"], doc["reached_end"], doc["error"], doc["stdout"],
                     tuple(CheckResult(**c) for c in doc["checks"]),
                     {int(k): ClaimSeen(**v) for k, v in doc["claims"].items()}, doc["seconds"])


def execute(gerbil: Gerbil, code: str, checks: tuple[str, ...], settings: ExecSettings) -> RunResult:
    """Run ``code`` then ``checks`` once (or take the cached result of an identical run)."""
    limits = settings.limits
    key = hashlib.sha256(json.dumps([gerbil.version, code, checks, asdict(limits),
                                     isolation_level(gerbil.home, gerbil.gxi)]).encode()).hexdigest()
    if settings.cache:
        with _memory_lock:
            if key in _memory:
                return _memory[key]
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            result = _from_json(json.loads((_cache_dir() / key[:2] / f"{key}.json").read_text(encoding="utf-8")))
            with _memory_lock:
                _memory[key] = result
            return result
    nonce = nonce_of(code, *checks)
    with _slot(settings.workers):
        outcome = run_gxi(gerbil.gxi, gerbil.home, {MAIN_FILE: driver(code, checks, nonce)}, MAIN_FILE, limits,
                          read_back=RESULTS_FILE)
    result = _interpret(outcome, checks, nonce, limits)
    if settings.cache:
        with _memory_lock:
            _memory[key] = result
        with contextlib.suppress(OSError):
            with atomic_open(_cache_dir() / key[:2] / f"{key}.json", "w", fsync=False, encoding="utf-8") as fh:
                json.dump(_to_json(result), fh)
    return result


def run_answer(ans: Answer, checks: tuple[str, ...], settings: ExecSettings, gerbil: Gerbil | None = None,
               preamble: str = "", setup: str = "") -> AnswerRun | None:
    """Run the answer's program with ``checks`` after it (and ``preamble`` between the two, e.g. a
    ``function:`` binding); None when the answer has no code. Raises GerbilNotFound.

    The answer's ``import`` forms are also run first, before ``setup``: Gerbil's expander resolves
    a name against an import anywhere in the file (``(filter ...)`` above ``(import :std/srfi/1)``
    means srfi-1's ``filter``), so the module must be loaded before the first use, as in a REPL.
    ``setup`` (a case's ``setup:``) runs next: it binds the variables the prompt talks about
    (``h``, ``lst``), so a snippet over them runs; the answer's own definitions replace them."""
    units = answer_units(ans)
    if not units:
        return None
    gerbil = gerbil or find_gerbil(settings.gxi)
    imports = "\n".join(dict.fromkeys(i for u in units for i in u.imports))
    head = f"{imports}\n{setup}\n" if imports or setup else ""
    tail = ("\n" + preamble) if preamble else ""
    together = execute(gerbil, head + "\n".join(u.code for u in units) + tail, checks, settings)
    if together.finished or len(units) < 2:
        return AnswerRun(units, together)
    alone = tuple(execute(gerbil, f"{head}{u.code}{tail}", checks, settings) for u in units)
    return AnswerRun(units, together, alone)


def claim_specs(run: AnswerRun) -> list[tuple[ClaimSpec, ClaimSeen | None, RunResult]]:
    """Each claim of the answer, what evaluating it gave (None: never evaluated), and the run it was in."""
    out = []
    for i, unit in enumerate(run.units):
        source = run.alone[i] if run.alone else run.together
        for spec in unit.claims:
            out.append((spec, source.claims.get(spec.index), source))
    return out
