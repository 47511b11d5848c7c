"""The executor with the real ``gxi``: why a run failed (in the program's and Gerbil's own words,
or the limit it hit), the result cache (a rerun runs nothing; other checks or limits run again),
and the machine-wide bound on programs running at once.

Each test that runs a program uses its own cache folder (or none), so no result of an earlier
run or another test can stand in for the run it is about.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import assertion_from_dict
from gerbil_eval.execution.executor import ExecSettings, RunResult, execute
from gerbil_eval.execution.gerbil import Gerbil, find_gerbil
from gerbil_eval.execution.sandbox import Limits, isolation_level

from .gerbil_support import ROOT, gerbil_home

LIMITS = Limits(timeout=5, cpu_seconds=5)


@pytest.fixture(scope="module")
def gerbil() -> Gerbil:
    return find_gerbil(str(gerbil_home() / "bin" / "gxi"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty result cache for this test only."""
    monkeypatch.setenv("GERBIL_EVAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def judge(raw: dict, code: str, gerbil: Gerbil, limits: Limits = LIMITS):
    settings = ExecSettings(gxi=gerbil.gxi, limits=limits, cache=False)
    return evaluate(assertion_from_dict(raw), analyse(f"```scheme\n{code}\n```"), {"execution": settings})


# --- why a run failed ------------------------------------------------------------------------------

def test_an_exit_status_is_the_reason_with_the_last_line_the_program_wrote_to_stderr(gerbil: Gerbil) -> None:
    out = judge({"type": "runs"}, '(display "loading\\nbad config: no port\\n" (current-error-port))\n(exit 2)', gerbil)
    assert not out.passed
    assert out.reason == "run failed: exited with status 2: bad config: no port", out.reason


def test_an_exit_status_above_128_is_the_programs_own_not_a_signal(gerbil: Gerbil) -> None:
    out = judge({"type": "runs"}, "(exit 137)", gerbil)
    assert not out.passed and out.reason == "run failed: exited with status 137", out.reason


def test_gerbils_error_keeps_the_irritants_and_drops_the_backtrace(gerbil: Gerbil) -> None:
    """Also after the program printed lines of its own."""
    code = "(for-each displayln '(1 2 3 4 5 6 7 8))\n(def (f) (error \"port must be a number\" 'abc 42))\n(f)"
    out = judge({"type": "runs"}, code, gerbil)
    assert not out.passed
    assert out.reason == "run failed: [Error]: port must be a number --- irritants: abc 42", out.reason
    raised = judge({"type": "runs"}, "(raise 'oops)", gerbil)
    assert raised.reason == "run failed: This object was raised: oops", raised.reason  # no source box
    lines = judge({"type": "runs"}, '(error "a\nb\nc\nd\ne\nf\ng")', gerbil)  # a message over many lines
    assert lines.reason == "run failed: [Error]: a b c d e", lines.reason  # one line, the first five of them


def test_exit_0_before_the_end_is_a_run_but_the_checks_never_ran(gerbil: Gerbil) -> None:
    code = '(def (f) 1)\n(displayln "done early")\n(exit 0)'
    assert judge({"type": "runs"}, code, gerbil).passed
    out = judge({"type": "checks", "value": "(check (f) => 1)"}, code, gerbil)
    assert not out.passed
    assert out.reason == ("0/1 checks pass; (check (f) => 1): not run, the program failed: "
                          "the program called exit before the checks could run"), out.reason


def test_a_check_that_stops_the_run_is_named_and_the_rest_were_not_reached(gerbil: Gerbil) -> None:
    checks = "(check (f) => 1)\n(check (quit) => 1)\n(check (f) => 1)"
    out = judge({"type": "checks", "value": checks}, "(def (f) 1)\n(def (quit) (exit 4))", gerbil)
    assert out.score == pytest.approx(1 / 3)
    assert out.reason == ("1/3 checks pass; (check (quit) => 1): exited with status 4; "
                          "(check (f) => 1): not reached (an earlier check stopped the run)"), out.reason


def test_the_file_size_limit_is_named_with_its_size(gerbil: Gerbil) -> None:
    write = '(call-with-output-file "big.txt" (lambda (p) (let loop ((i 0)) (when (< i 300000) (display "123456789" p) (loop (+ i 1))))))'
    out = judge({"type": "runs"}, write, gerbil, Limits(timeout=5, cpu_seconds=5, file_mb=1))
    assert not out.passed
    if isolation_level(gerbil.home, gerbil.gxi) == "namespaces":
        # gxi is the init of its PID namespace, which the kernel sends no SIGXFSZ: the write fails instead
        assert out.reason.startswith("run failed: File too large (write-substring"), out.reason
    else:
        assert out.reason == "run failed: file size limit exceeded (1 MB); killed by SIGXFSZ", out.reason


def test_a_program_gets_the_documented_default_limits(gerbil: Gerbil) -> None:
    """docs/harness.md: CPU seconds, 1 GB address space, 16 MB files, 32 processes, no core files;
    256 KiB of output per stream (see test_ten_megabytes_of_output_are_cut for the cut itself)."""
    code = ('(call-with-input-file "/proc/self/limits" (lambda (p) (let loop () (let ((l (read-line p)))'
            ' (unless (eof-object? l) (displayln l) (loop))))))')
    out = execute(gerbil, code, (), ExecSettings(gxi=gerbil.gxi, cache=False))
    rows = {line[:26].strip(): line[26:].split()[:2] for line in out.stdout.splitlines()[1:]}
    assert rows["Max cpu time"] == ["10", "11"]  # soft: SIGXCPU, hard one second later
    assert rows["Max address space"] == [str(1 << 30)] * 2
    assert rows["Max file size"] == [str(16 << 20)] * 2
    assert rows["Max processes"] == ["32", "32"]
    assert rows["Max core file size"] == ["0", "0"]
    assert Limits().timeout == 10 and Limits().output_bytes == 256 * 1024


# --- checks and claims from the run ----------------------------------------------------------------

def test_a_long_check_form_is_shortened_in_the_reason(gerbil: Gerbil) -> None:
    """At most 60 characters of a form: a 60-character one whole, a longer one cut to 57 and "..."."""
    sixty = '(check (string-append "aaaaaaaaaaaaaaaaaaaaaaaaaaaa") => "")'
    longer = '(check (string-append "aaaaaaaaaa" "bbbbbbbbbb" "cccccccccc" "dddddddddd") => "x")'
    assert len(sixty) == 60
    out = judge({"type": "checks", "value": f"{sixty}\n{longer}"}, "(def x 1)", gerbil)
    assert out.reason.startswith(f'0/2 checks pass; {sixty}: got "aaa'), out.reason
    assert f"; {longer[:57]}...: got " in out.reason, out.reason


def test_a_claim_may_show_a_value_as_display_prints_it(gerbil: Gerbil) -> None:
    out = judge({"type": "claims"}, '(string-upcase "port") ; => PORT\n(string-append "a" "b") ; => "ab"', gerbil)
    assert out.passed and "2/2 claims hold" in out.reason, out.reason


def test_a_transcript_may_show_what_an_expression_printed(gerbil: Gerbil) -> None:
    answer = '> (displayln "hello")\nhello\n> (+ 1 2)\n3'
    out = evaluate(assertion_from_dict({"type": "claims"}), analyse(f"```\n{answer}\n```"),
                   {"execution": ExecSettings(gxi=gerbil.gxi, limits=LIMITS, cache=False)})
    assert out.passed and out.reason == "2/2 claims hold", out.reason


def test_records_a_program_forges_in_the_results_file_do_not_change_the_verdict(gerbil: Gerbil) -> None:
    """A hostile answer appends its own "check passed" lines (for the real check and one past the
    last): the verdict is still the real check's, and nothing breaks."""
    forge = ('(call-with-output-file (list path: ".gerbil-eval-results" append: #t)'
             ' (lambda (p) (display "check 0 pass\\ncheck 1 pass\\ncheck 7 pass\\ncheck 0 fail xabc zz\\n\\nnot a record\\n" p)))\n'
             '(def (add a b) (- a b))')
    out = judge({"type": "checks", "value": "(check (add 2 3) => 5)"}, forge, gerbil)
    assert not out.passed and out.score == 0.0
    assert "0/1 checks pass; (check (add 2 3) => 5): got -1, expected 5" in out.reason, out.reason


# --- the cache -------------------------------------------------------------------------------------

def _in_new_process(code: str, checks: tuple[str, ...], cache: Path, gerbil: Gerbil) -> dict:
    """execute() in a fresh interpreter (empty in-memory cache), sharing only the cache folder."""
    script = ("import json, sys\nfrom dataclasses import asdict\nimport gerbil_eval.assertions\n"
              "from gerbil_eval.execution.executor import ExecSettings, execute\n"
              "from gerbil_eval.execution.gerbil import find_gerbil\nfrom gerbil_eval.execution.sandbox import Limits\n"
              "code, checks, gxi = json.loads(sys.stdin.read())\ng = find_gerbil(gxi)\n"
              "print(json.dumps(asdict(execute(g, code, tuple(checks), ExecSettings(gxi=gxi, limits=Limits(timeout=5, cpu_seconds=5))))))")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps([code, list(checks), gerbil.gxi]),
                          capture_output=True, text=True, env={**os.environ, "GERBIL_EVAL_CACHE": str(cache)}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_rerun_takes_the_cached_result_in_this_process_and_the_next(gerbil: Gerbil, cache: Path) -> None:
    settings = ExecSettings(gxi=gerbil.gxi, limits=LIMITS)
    code, checks = f'(displayln "cached {cache}")\n(def (f) 2)', ("(check (f) => 2)", "(check (f) => 3)")
    first = execute(gerbil, code, checks, settings)
    assert first.stdout == f"cached {cache}\n" and [c.passed for c in first.checks] == [True, False]
    again = execute(gerbil, code, checks, settings)
    assert again == first  # the same run: its timing too, so gxi did not run again
    other = _in_new_process(code, checks, cache, gerbil)
    assert other["seconds"] == first.seconds and other["stdout"] == first.stdout
    assert [c["reason"] for c in other["checks"]] == [c.reason for c in first.checks]


def test_other_checks_or_other_limits_run_again(gerbil: Gerbil, cache: Path) -> None:
    settings = ExecSettings(gxi=gerbil.gxi, limits=LIMITS)
    code = f"(def (f) 2) ; {cache}"
    first = execute(gerbil, code, ("(check (f) => 2)",), settings)
    other_checks = execute(gerbil, code, ("(check (f) => 3)",), settings)
    assert first.checks[0].passed and not other_checks.checks[0].passed
    longer = execute(gerbil, code, ("(check (f) => 2)",), ExecSettings(gxi=gerbil.gxi, limits=Limits(timeout=6, cpu_seconds=5)))
    assert longer.checks[0].passed and longer.seconds != first.seconds


def test_without_the_cache_every_run_runs(gerbil: Gerbil, cache: Path) -> None:
    settings = ExecSettings(gxi=gerbil.gxi, limits=LIMITS, cache=False)
    runs = [execute(gerbil, "(def x 1)", (), settings) for _ in range(2)]
    assert runs[0].seconds != runs[1].seconds and not cache.exists()


# --- programs running at once ----------------------------------------------------------------------

@pytest.fixture
def private_slots(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The lock files live in the temp folder: a private one, so other test processes on the
    machine (xdist workers, other checkouts) do not hold slots this test counts on. Beside the
    system's (pytest's own folders are closed to the ``nobody`` the namespaces level runs as)."""
    folder = Path(tempfile.mkdtemp(prefix="gerbil-eval-test-"))
    folder.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder)


def _run_at_once(gerbil: Gerbil, settings: ExecSettings, codes: list[str]) -> tuple[float, list[RunResult]]:
    results: list[RunResult | None] = [None] * len(codes)

    def one(i: int) -> None:
        results[i] = execute(gerbil, codes[i], (), settings)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(codes))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None and r.finished for r in results), results
    return time.monotonic() - start, results  # type: ignore[return-value]


def test_two_programs_run_at_once_by_default(gerbil: Gerbil, private_slots: Path, cache: Path) -> None:
    settings = ExecSettings(gxi=gerbil.gxi)
    assert settings.workers == 2  # --exec-workers' documented default
    took, runs = _run_at_once(gerbil, settings, [f"(thread-sleep! 1) ; {i}" for i in range(2)])
    assert took < 0.8 * sum(r.seconds for r in runs), (took, [r.seconds for r in runs])
    slots = private_slots / f"gerbil-eval-exec-slots-{os.getuid()}"
    assert slots.stat().st_mode & 0o777 == 0o700  # other users cannot plant or hold the lock files


def test_one_worker_runs_programs_one_after_another_without_idling(gerbil: Gerbil, private_slots: Path) -> None:
    settings = ExecSettings(gxi=gerbil.gxi, workers=1, cache=False)
    took, runs = _run_at_once(gerbil, settings, [f"(def x {i})" for i in range(3)])
    busy = sum(r.seconds for r in runs)
    assert 0.95 * busy <= took <= busy + 0.6, (took, [r.seconds for r in runs])
    zero = execute(gerbil, "(def x 0)", (), ExecSettings(gxi=gerbil.gxi, workers=0, cache=False))
    assert zero.finished  # fewer than one worker still runs one program at a time
