"""The sandbox with the real ``gxi``: each hostile program is stopped for its documented reason,
and the next run goes on normally.

Runs through the ``runs`` assertion, as a case would, with short limits (``--exec-timeout 3``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import assertion_from_dict
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.gerbil import find_gerbil
from gerbil_eval.execution.sandbox import Limits, isolation_level, run_gxi

from .gerbil_support import ROOT, gerbil_home

LIMITS = Limits(timeout=3, cpu_seconds=3, output_bytes=64 * 1024)


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest) -> ExecSettings:
    home = gerbil_home()
    return ExecSettings(gxi=str(home / "bin" / "gxi"), workers=2, limits=LIMITS, cache=False)


def run(code: str, settings: ExecSettings):
    return evaluate(assertion_from_dict({"type": "runs"}), analyse(f"```scheme\n{code}\n```"), {"execution": settings})


def still_works(settings: ExecSettings) -> None:
    out = run('(displayln "after")', settings)
    assert out.passed, out.reason


def test_an_infinite_loop_is_killed_at_the_timeout(settings: ExecSettings) -> None:
    start = time.monotonic()
    out = run("(let loop () (loop))", settings)
    took = time.monotonic() - start
    assert not out.passed and "timed out after 3 s" in out.reason
    assert took < 3 + 5, took  # the wall clock, not the CPU limit or anything slower, stopped it
    still_works(settings)


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing_behind(settings: ExecSettings) -> None:
    marker = "313.1717"  # a sleep no other process on the machine runs
    bomb = f'(let loop () (open-process (list path: "/bin/sleep" arguments: (list "{marker}"))) (loop))'
    out = run(bomb, settings)
    assert not out.passed
    assert "Resource temporarily unavailable" in out.reason or "timed out" in out.reason, out.reason
    deadline = time.monotonic() + 10  # the kernel reaps a killed PID namespace asynchronously
    while (left := subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout.split()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"processes of the fork bomb survived: {left}"
    still_works(settings)


def test_a_memory_hog_hits_the_address_space_limit(settings: ExecSettings) -> None:
    out = run("(let loop ((l '())) (loop (cons (make-vector 100000 0) l)))", settings)
    assert not out.passed and "Heap overflow" in out.reason, out.reason
    still_works(settings)


def test_a_write_outside_the_run_folder_fails(settings: ExecSettings, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a world-writable folder: only the run's own folder is writable
    out = run(f'(call-with-output-file "{target}" (lambda (p) (display "x" p)))', settings)
    assert not target.exists()
    assert not out.passed
    assert any(s in out.reason for s in ("Read-only file system", "Permission denied")), out.reason
    inside = run('(call-with-output-file "inside.txt" (lambda (p) (display "x" p)))', settings)
    assert inside.passed, inside.reason


def test_a_network_connect_fails(settings: ExecSettings) -> None:
    """A real listener on loopback: the program must not reach it."""
    if isolation_level(str(gerbil_home()), find_gerbil(settings.gxi).gxi) == "limits":
        pytest.skip("no network namespace available here (documented: the 'limits' level cannot cut the network)")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # the kernel completes a connect into the backlog without accept()
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        out = run(f'(open-tcp-client "127.0.0.1:{port}")', settings)
        with pytest.raises(BlockingIOError):  # nobody connected
            server.accept()
    finally:
        server.close()
    assert not out.passed and ("unreachable" in out.reason or "refused" in out.reason), out.reason


def test_an_api_key_in_the_environment_is_not_visible(settings: ExecSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak-1234")
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-test-do-not-leak-5678")
    gerbil = find_gerbil(settings.gxi)
    code = '(for-each (lambda (kv) (display (car kv)) (display "=") (displayln (cdr kv))) (get-environment-variables))'
    outcome = run_gxi(gerbil.gxi, gerbil.home, {"env.ss": code}, "env.ss", LIMITS)
    assert outcome.returncode == 0, outcome.stdout
    assert "do-not-leak" not in outcome.stdout
    names = {line.split("=", 1)[0] for line in outcome.stdout.splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "TMPDIR", "GERBIL_HOME", "LANG", "PWD"}, names  # PWD: set by the sandbox shell


def test_ten_megabytes_of_output_are_cut(settings: ExecSettings) -> None:
    gerbil = find_gerbil(settings.gxi)
    code = '(let loop ((i 0)) (when (< i 1000000) (displayln "xxxxxxxxx") (loop (+ i 1))))'  # 10 MB
    outcome = run_gxi(gerbil.gxi, gerbil.home, {"out.ss": code}, "out.ss", LIMITS)
    assert outcome.output_cut and len(outcome.stdout.encode()) <= LIMITS.output_bytes
    out = run(code, settings)
    assert not out.passed and f"printed more than {LIMITS.output_bytes} bytes" in out.reason
    still_works(settings)


# --- what the program is given, and what comes back ------------------------------------------------

def test_the_strongest_isolation_does_not_depend_on_the_callers_gerbil_home(tmp_path: Path) -> None:
    """``--gxi PATH`` without ``$GERBIL_HOME``: the probe for the namespaces level must run gxi the
    way a real run does (before, it failed there and root fell back to a level writable everywhere)."""
    if os.geteuid() != 0:
        pytest.skip("the namespaces level needs root (documented)")
    program = tmp_path / "hello.ss"
    program.write_text('(displayln "hi")\n')
    env = {k: v for k, v in os.environ.items() if k != "GERBIL_HOME"}
    done = subprocess.run([sys.executable, "-m", "gerbil_eval", "exec", str(program), "--gxi",
                           str(gerbil_home() / "bin" / "gxi"), "--json"], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["isolation"] == "namespaces"


def test_a_crash_of_gxi_itself_is_reported_as_its_signal(settings: ExecSettings) -> None:
    out = run("(##car 1)", settings)  # an unsafe primitive on a fixnum: gxi segfaults
    assert not out.passed and out.reason == "run failed: killed by signal 11", out.reason


def test_the_reported_run_time_is_the_programs(settings: ExecSettings) -> None:
    start = time.monotonic()
    out = run("(thread-sleep! 0.5)", settings)
    took = time.monotonic() - start
    seconds = float(re.fullmatch(r"ran to completion \((\d+\.\d\d) s\)", out.reason).group(1))
    assert 0.5 <= seconds <= took + 0.01, (seconds, took)


def test_a_program_that_deletes_the_results_file_fails_its_checks(settings: ExecSettings) -> None:
    code = '(def (f) 1)\n(delete-file ".gerbil-eval-results")'
    out = evaluate(assertion_from_dict({"type": "checks", "value": "(check (f) => 1)"}),
                   analyse(f"```scheme\n{code}\n```"), {"execution": settings})
    assert not out.passed and "not run, the program failed" in out.reason, out.reason


def test_the_program_sees_gerbil_in_its_own_folder_read_only(settings: ExecSettings) -> None:
    gerbil = find_gerbil(settings.gxi)
    code = ('(displayln (getenv "HOME"))\n(displayln (getenv "GERBIL_HOME"))\n'
            '(call-with-output-file (path-expand "planted.ss" (getenv "GERBIL_HOME")) (lambda (p) (display 1 p)))')
    outcome = run_gxi(gerbil.gxi, gerbil.home, {"home.ss": code}, "home.ss", LIMITS)
    folder, seen = outcome.stdout.splitlines()[:2]
    if isolation_level(gerbil.home, gerbil.gxi) != "namespaces":
        assert seen == gerbil.home
        return
    assert seen == f"{folder}/.gerbil"  # bind-mounted, read-only
    assert outcome.returncode != 0 and "Read-only file system" in outcome.stdout, outcome.stdout
    assert not (Path(gerbil.home) / "planted.ss").exists()


def test_the_wall_clock_stops_a_program_at_the_limit_not_before(settings: ExecSettings) -> None:
    gerbil = find_gerbil(settings.gxi)
    inside = run_gxi(gerbil.gxi, gerbil.home, {"a.ss": "(thread-sleep! 1.2)"}, "a.ss", Limits(timeout=2.2, cpu_seconds=3))
    assert inside.returncode == 0 and not inside.timed_out, inside
    over = run_gxi(gerbil.gxi, gerbil.home, {"b.ss": "(thread-sleep! 30)"}, "b.ss", Limits(timeout=1, cpu_seconds=3))
    assert over.timed_out and over.returncode is None  # killed by us, not exited
    assert 1 <= over.seconds < 1.9, over.seconds


def test_output_up_to_the_cap_is_kept_whole(settings: ExecSettings) -> None:
    gerbil = find_gerbil(settings.gxi)
    code = "(display (make-string 200000 #\\x))"
    outcome = run_gxi(gerbil.gxi, gerbil.home, {"o.ss": code}, "o.ss", Limits(timeout=5, cpu_seconds=5, output_bytes=200000))
    assert not outcome.output_cut and outcome.returncode == 0
    assert outcome.stdout == "x" * 200000


def test_the_results_file_is_read_up_to_one_mebibyte(settings: ExecSettings) -> None:
    """A program that floods the driver's results file cannot make the harness read all of it:
    what comes after the first MiB (here the end of the program and the checks) is not seen."""
    flood = ('(call-with-output-file (list path: ".gerbil-eval-results" append: #t)'
             ' (lambda (p) (display (make-string (* 1100 1024) #\\-) p) (newline p)))')
    out = evaluate(assertion_from_dict({"type": "checks", "value": "(check (f) => 1)"}),
                   analyse(f"```scheme\n(def (f) 1)\n{flood}\n```"), {"execution": settings})
    assert not out.passed and "not run, the program failed" in out.reason, out.reason
    small = flood.replace("(* 1100 1024)", "(* 900 1024)")
    out = evaluate(assertion_from_dict({"type": "checks", "value": "(check (f) => 1)"}),
                   analyse(f"```scheme\n(def (f) 1)\n{small}\n```"), {"execution": settings})
    assert out.passed, out.reason


@pytest.fixture
def busy_harness() -> Iterator[None]:
    """The harness process is busy (a scoring worker among other threads): each time the reader
    wakes up it waits up to 50 ms for the interpreter, so the program is ahead of it."""
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(old)


def test_a_busy_harness_keeps_the_last_output_and_cuts_at_the_cap_exactly(settings: ExecSettings,
                                                                          busy_harness: None) -> None:
    gerbil = find_gerbil(settings.gxi)
    last = run_gxi(gerbil.gxi, gerbil.home, {"l.ss": "(display (make-string 60000 #\\x))"}, "l.ss", LIMITS)
    assert last.returncode == 0 and last.stdout == "x" * 60000  # written just before it exited
    flood = run_gxi(gerbil.gxi, gerbil.home, {"f.ss": "(display (make-string 200000 #\\x))"}, "f.ss", LIMITS)
    assert flood.output_cut and flood.stdout == "x" * LIMITS.output_bytes


# --- the weaker levels: a user without root, a machine without unshare or prlimit --------------------
#
# Most developers run the harness without root, and some machines lack util-linux. Each level is
# chosen by what the harness finds on its PATH, so a driver process given a PATH with only some of
# the tools takes exactly the path such a machine takes: without `setpriv` the namespaces level is
# out of reach and `unshare --user` gives the user-netns level; without `unshare` and `prlimit` only
# the rlimits set before exec (the `limits` level) remain.

_DRIVER = """
import json, sys
from gerbil_eval.execution.sandbox import Limits, isolation_level, run_gxi
gxi, home, code = sys.argv[1:4]
outcome = run_gxi(gxi, home, {"main.ss": code}, "main.ss", Limits(timeout=5, cpu_seconds=7, memory_mb=900,
                                                                     file_mb=3, processes=21))
print(json.dumps({"level": isolation_level(home, gxi), "returncode": outcome.returncode,
                  "stdout": outcome.stdout, "stderr": outcome.stderr, "timed_out": outcome.timed_out}))
"""
#: The same through the ``runs`` assertion: the reason a user reads.
_RUNS_DRIVER = """
import json, sys
from gerbil_eval.answer import analyse
from gerbil_eval.assertions.registry import evaluate
from gerbil_eval.cases.loader import assertion_from_dict
from gerbil_eval.execution.executor import ExecSettings
from gerbil_eval.execution.sandbox import Limits
gxi, home, code = sys.argv[1:4]
settings = ExecSettings(gxi=gxi, cache=False, limits=Limits(timeout=20, cpu_seconds=1, file_mb=1))
out = evaluate(assertion_from_dict({"type": "runs"}), analyse("```scheme\\n" + code + "\\n```"), {"execution": settings})
print(json.dumps({"passed": out.passed, "reason": out.reason}))
"""
_READ_LIMITS = ('(call-with-input-file "/proc/self/limits" (lambda (p) (let loop () (let ((l (read-line p)))'
                ' (unless (eof-object? l) (displayln l) (loop))))))')


def _run_with_tools(tools: tuple[str, ...], code: str, tmp_path: Path, refusing: str | None = None,
                    driver: str = _DRIVER) -> dict:
    """Run ``code`` through the sandbox in a fresh interpreter whose PATH holds only ``tools`` (and
    ``refusing``: a command that fails as util-linux's does where the kernel forbids what it asks)."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if refusing:
        (bin_dir / refusing).write_text(f"#!/bin/sh\necho '{refusing}: unshare failed: Operation not permitted' >&2\n"
                                        "exit 1\n")
        (bin_dir / refusing).chmod(0o755)
    for tool in tools:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    home = gerbil_home()
    done = subprocess.run([sys.executable, "-c", driver, str(home / "bin" / "gxi"), str(home), code],
                          capture_output=True, text=True, env={**os.environ, "PATH": str(bin_dir)}, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _limits_of(result: dict) -> dict[str, list[str]]:
    assert result["returncode"] == 0, result
    return {line[:26].strip(): line[26:].split()[:2] for line in result["stdout"].splitlines()[1:]}


def test_without_setpriv_a_user_namespace_still_cuts_the_network(tmp_path: Path) -> None:
    """The user-netns level (no root, or no setpriv): prlimit's limits, and no network."""
    if subprocess.run(["unshare", "--user", "--map-root-user", "--net", "--", "true"],
                      capture_output=True).returncode != 0:
        pytest.skip("unprivileged user namespaces are not allowed on this machine")
    result = _run_with_tools(("unshare", "prlimit", "true"), _READ_LIMITS, tmp_path)
    assert result["level"] == "user-netns"
    rows = _limits_of(result)
    assert rows["Max cpu time"] == ["7", "8"] and rows["Max address space"] == [str(900 << 20)] * 2
    assert rows["Max file size"] == [str(3 << 20)] * 2 and rows["Max processes"] == ["21", "21"]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    try:
        out = _run_with_tools(("unshare", "prlimit", "true"), f'(open-tcp-client "127.0.0.1:{server.getsockname()[1]}")',
                              tmp_path)
        with pytest.raises(BlockingIOError):  # nobody connected
            server.accept()
    finally:
        server.close()
    assert out["returncode"] != 0 and "Network is unreachable" in out["stdout"] + out["stderr"], out


def test_without_unshare_and_prlimit_the_limits_are_set_before_exec(tmp_path: Path) -> None:
    """The `limits` level: the same rlimits as prlimit would set (CPU soft/hard one second apart,
    address space, file size, processes, no core files), and the program still runs and is stopped."""
    result = _run_with_tools((), _READ_LIMITS, tmp_path)
    assert result["level"] == "limits"
    rows = _limits_of(result)
    assert rows["Max cpu time"] == ["7", "8"]
    assert rows["Max address space"] == [str(900 << 20)] * 2
    assert rows["Max file size"] == [str(3 << 20)] * 2
    assert rows["Max processes"] == ["21", "21"]
    assert rows["Max core file size"] == ["0", "0"]
    looping = _run_with_tools((), "(let loop () (loop))", tmp_path)
    assert looping["timed_out"] and looping["returncode"] is None


def test_where_user_namespaces_are_forbidden_the_limits_level_is_used(tmp_path: Path) -> None:
    """A kernel that forbids unprivileged user namespaces (``unshare --user`` exits 1 with
    "Operation not permitted" — stood in by a command failing the same way, as the real kernel
    setting cannot be changed in a test): the probe sees it and the programs still run, under
    prlimit's limits, instead of every run failing in a namespace that cannot be made."""
    result = _run_with_tools(("prlimit",), _READ_LIMITS, tmp_path, refusing="unshare")
    assert result["level"] == "limits"
    assert _limits_of(result)["Max processes"] == ["21", "21"]


def test_the_program_may_rewrite_the_files_it_was_given() -> None:
    """The run folder is the program's own at every level: at the namespaces level it runs as
    nobody, so the files written for it must be nobody's too (not only the folder)."""
    home = gerbil_home()
    code = ('(call-with-output-file "data.txt" (lambda (p) (display "new" p)))'
            '(display (call-with-input-file "data.txt" read-line))')
    outcome = run_gxi(str(home / "bin" / "gxi"), str(home), {"main.ss": code, "data.txt": "old"}, "main.ss", LIMITS)
    assert (outcome.returncode, outcome.stdout) == (0, "new"), outcome


@pytest.mark.parametrize("code, reason", [
    ("(let loop () (loop))", "CPU time limit exceeded (1 s); killed by SIGXCPU"),
    ('(call-with-output-file "big" (lambda (p) (let loop () (display (make-string 65536 #\\x) p) (loop))))',
     "file size limit exceeded (1 MB); killed by SIGXFSZ"),
])
def test_outside_a_pid_namespace_the_cpu_and_file_limits_are_named(tmp_path: Path, code: str, reason: str) -> None:
    """Where the program is not its PID namespace's first process (no root, or no setpriv), the
    kernel's SIGXCPU / SIGXFSZ reach it, and the reason names the limit, not a bare signal number."""
    out = _run_with_tools(("prlimit",), code, tmp_path, driver=_RUNS_DRIVER)
    assert (out["passed"], out["reason"]) == (False, f"run failed: {reason}")
