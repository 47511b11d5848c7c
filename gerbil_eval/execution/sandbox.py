"""Run one untrusted program: a fresh folder, limits, no network, no secrets, a hard wall clock.

Every program runs in its own temporary folder as a new session (its own process group), with
stdin closed, a scrubbed environment (``PATH``, ``HOME``/``TMPDIR`` = the folder, ``GERBIL_HOME``,
``LANG`` — nothing else, so no API key), output captured up to a cap, and rlimits set by
util-linux ``prlimit`` (or, where it is missing, in the child before exec): CPU seconds,
address space, file size, process count, no core files.
At the wall-clock timeout, or as soon as the output passes its cap, the whole group is killed.

How much more is possible depends on who runs it (probed once, recorded in the run's results):

- ``namespaces`` (root, with ``unshare`` and ``setpriv``): new mount, network and PID namespaces;
  every mount read-only except the program's folder (Gerbil's folder is bind-mounted read-only
  into it), the loopback device down so every connect fails, and the program runs as ``nobody``
  (uid 65534) with no capabilities and no-new-privs, so the process limit is enforced (it is not
  for root) and nothing outside its folder is writable. Killing the group kills the PID
  namespace's first process, and with it every process the program started, even daemons.
- ``user-netns`` (not root, unprivileged user namespaces allowed): a new user and network
  namespace, so no network; files outside the folder are protected only by the user's own
  permissions.
- ``limits`` (neither works): rlimits, the session and the scrubbed environment only; the
  program can reach the network and write wherever the user can. The results say so.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: uid/gid the program runs as when the harness runs as root.
NOBODY = 65534
#: The Gerbil installation's mount point inside the program's folder (namespaces level).
GERBIL_MOUNT = ".gerbil"

#: The setup the namespaces level runs (as root, inside the new namespaces) before dropping to nobody.
_SETUP = r"""
set -e
T=$1; H=$2; shift 2
mount --make-rprivate /
mount --bind "$T" "$T"
mount --bind "$H" "$T/.gerbil"
awk '{print $2}' /proc/self/mounts | while read -r m; do
  [ "$m" = "$T" ] || mount -o remount,bind,ro "$m" 2>/dev/null || true
done
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --no-new-privs -- "$@"
"""


@dataclass(frozen=True)
class Limits:
    """What one run may use. Defaults suit model answers: start-up plus a little work."""

    timeout: float = 10.0        # wall clock, seconds
    cpu_seconds: int = 10
    memory_mb: int = 1024        # address space; gxi needs ~512 MB to load its modules
    file_mb: int = 16            # largest file it may write
    processes: int = 32          # RLIMIT_NPROC
    output_bytes: int = 256 * 1024   # per stream; more is cut and the program stopped


@dataclass(frozen=True)
class Outcome:
    """What happened to one run."""

    returncode: int | None       # None when killed by the harness (timeout, output cap)
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    output_cut: bool = False
    #: contents of the file named by ``run_gxi(..., read_back=...)`` after the run ("" if none)
    read_back: str = ""

    @property
    def killed_by_signal(self) -> int | None:
        """The signal that ended the program on its own (e.g. SIGXCPU at the CPU limit). Only a
        negative status is one: every wrapper between us and ``gxi`` execs it or (``unshare --fork``)
        dies by the child's signal, so a status above 128 is the program's own ``(exit 137)``."""
        rc = self.returncode
        return -rc if rc is not None and rc < 0 else None


def _run_quiet(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> bool:
    try:
        return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=4)
def isolation_level(gerbil_home: str, gxi: str) -> str:
    """The strongest isolation that works here (see the module docstring), probed by running ``gxi``."""
    have = lambda name: shutil.which(name) is not None  # noqa: E731
    if os.geteuid() == 0 and have("unshare") and have("setpriv") and have("awk"):
        with tempfile.TemporaryDirectory(prefix="gerbil-eval-probe-") as folder:
            _prepare_folder(Path(folder), "namespaces")
            cmd = _wrap("namespaces", Path(folder), gerbil_home, [_inner_gxi("namespaces", folder, gxi, gerbil_home),
                                                                  "-e", "(exit 0)"])
            if _run_quiet(cmd, _environment("namespaces", Path(folder), gerbil_home)):  # as a real run
                return "namespaces"
    if have("unshare") and _run_quiet(["unshare", "--user", "--map-root-user", "--net", "--", "true"]):
        return "user-netns"
    return "limits"


def _inner_gxi(level: str, folder: str, gxi: str, home: str) -> str:
    """The path of ``gxi`` as the program's side sees it."""
    if level != "namespaces":
        return gxi
    rel = Path(gxi).resolve().relative_to(Path(home).resolve())
    return str(Path(folder) / GERBIL_MOUNT / rel)


def _prepare_folder(folder: Path, level: str) -> None:
    if level == "namespaces":
        (folder / GERBIL_MOUNT).mkdir()
        os.chown(folder, NOBODY, NOBODY)
        for entry in folder.iterdir():
            if entry.name != GERBIL_MOUNT:
                os.chown(entry, NOBODY, NOBODY)


def _environment(level: str, folder: Path, home: str) -> dict[str, str]:
    """The program's whole environment: no variable of ours (no API key) reaches it. ``gxi`` finds
    its libraries through ``GERBIL_HOME`` only (the install prefix compiled into it may not exist)."""
    inner_home = str(folder / GERBIL_MOUNT) if level == "namespaces" else home
    return {"PATH": "/usr/bin:/bin", "HOME": str(folder), "TMPDIR": str(folder), "GERBIL_HOME": inner_home,
            "LANG": "C.UTF-8"}


def _rlimits(limits: Limits) -> list[tuple[str, int, int]]:
    """Each rlimit as (prlimit's name for it, soft, hard): CPU seconds, address space, file size,
    process count, no core files. The CPU limit's hard value is one second above the soft one: at the
    soft limit the kernel sends SIGXCPU (reported as the CPU limit), at the hard one SIGKILL — with
    the two equal it sends SIGKILL at once and the reason could only say "killed by signal 9"."""
    mb = 1024 * 1024
    return [("cpu", limits.cpu_seconds, limits.cpu_seconds + 1),
            ("as", limits.memory_mb * mb, limits.memory_mb * mb),
            ("fsize", limits.file_mb * mb, limits.file_mb * mb),
            ("nproc", limits.processes, limits.processes),
            ("core", 0, 0)]


def _limits_argv(limits: Limits) -> list[str]:
    """util-linux ``prlimit``'s arguments setting :func:`_rlimits` for the program."""
    return ["prlimit", *(f"--{name}={soft}:{hard}" for name, soft, hard in _rlimits(limits)), "--"]


def _wrap(level: str, folder: Path, home: str, inner: list[str]) -> list[str]:
    """``inner`` run inside the isolation ``level`` gives."""
    if level == "namespaces":
        return ["unshare", "--mount", "--net", "--pid", "--fork", "--", "sh", "-c", _SETUP, "sandbox",
                str(folder), home, *inner]
    if level == "user-netns":
        return ["unshare", "--user", "--map-root-user", "--net", "--", *inner]
    return inner


def _set_rlimits(rlimits: list[tuple[str, int, int]]) -> None:  # pragma: no cover - in the child, before exec
    """Without ``prlimit``: set :func:`_rlimits` (computed before the fork) in the child itself."""
    for name, soft, hard in rlimits:
        resource.setrlimit(getattr(resource, f"RLIMIT_{name.upper()}"), (soft, hard))


#: Bytes of the read-back file kept.
MAX_READ_BACK = 1 << 20


def run_gxi(gxi: str, home: str, files: dict[str, str], main: str, limits: Limits, read_back: str | None = None) -> Outcome:
    """Write ``files`` into a fresh folder and run ``gxi MAIN`` there under ``limits``; the folder is
    removed afterwards (after reading back the file ``read_back``). Never raises for anything the program does."""
    level = isolation_level(home, gxi)
    with tempfile.TemporaryDirectory(prefix="gerbil-eval-run-") as tmp:
        folder = Path(tmp)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        _prepare_folder(folder, level)
        argv = [_inner_gxi(level, tmp, gxi, home), main]
        has_prlimit = shutil.which("prlimit") is not None  # else the child sets the limits itself
        cmd = _wrap(level, folder, home, _limits_argv(limits) + argv if has_prlimit else argv)
        outcome = _supervise(cmd, tmp, _environment(level, folder, home), limits,
                             None if has_prlimit else _rlimits(limits))
        if read_back:
            data = _read_regular_file(folder / read_back)
            outcome = dataclasses.replace(outcome, read_back=data.decode("utf-8", "replace"))
        return outcome


def _read_regular_file(path: Path) -> bytes:
    """The first bytes of ``path`` if it is a regular file; never follows a symlink or opens a FIFO
    the program may have put there instead."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.read(fd, MAX_READ_BACK) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    finally:
        os.close(fd)


def _supervise(cmd: list[str], cwd: str, env: dict[str, str], limits: Limits,
               in_child: list[tuple[str, int, int]] | None) -> Outcome:
    """Start ``cmd`` as a new session (setting the rlimits ``in_child`` there, when given), collect
    capped output, kill the group at the deadline."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=(lambda: _set_rlimits(in_child)) if in_child else None)
    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    sel = selectors.DefaultSelector()
    for stream in buffers:
        sel.register(stream, selectors.EVENT_READ)
    timed_out = cut = False
    deadline = start + limits.timeout
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if proc.poll() is not None:  # the program is done: what it left running must not hold the pipes
                remaining = min(remaining, 0.2)
            events = sel.select(remaining)
            if not events and proc.poll() is not None:
                break
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = buffers[key.fileobj]
                room = limits.output_bytes - len(buf)
                buf += chunk[:max(room, 0)]
                if len(chunk) > room:
                    cut = True
            if cut:
                break
        if not (timed_out or cut):
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        _kill_group(proc)
        sel.close()
        for stream in buffers:
            stream.close()
    seconds = time.monotonic() - start
    rc = None if (timed_out or cut) else proc.returncode
    decode = lambda b: bytes(b).decode("utf-8", "replace")  # noqa: E731
    return Outcome(rc, decode(buffers[proc.stdout]), decode(buffers[proc.stderr]), seconds, timed_out, cut)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the program's whole process group (also what it left running) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        proc.kill()
        proc.wait()
