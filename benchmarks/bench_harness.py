"""Benchmark: a whole ``pytest --model`` run of 500 requests against a slow endpoint.

Workload: 500 cases (distinct prompts, three deterministic assertions each) against the
stand-in OpenAI chat-completions server (tests/fake_openai.py, its own process on
127.0.0.1) answering every request after a fixed 200 ms, at concurrency 32.

Measured on the same server in the same run, each as a fresh process (so start-up and
imports count), ``--repeat`` rounds (default 3) with the runs interleaved inside each round:

- ``gerbil-eval``    ``pytest --model ... --concurrency 32 --no-cache``: start-up, collection,
                     requests, scoring, results.json/csv, summary.md, report.html, gates. Run
                     as a user's install runs it: ``-p no:hypothesispytest`` leaves out the
                     dev-only hypothesis plugin this venv has (``--dev-plugins`` keeps it);
- ``AsyncOpenAI``    a bare ``openai.AsyncOpenAI`` loop (semaphore 32), no scoring, no reports:
                     the baseline of the target;
- ``promptfoo``      ``promptfoo eval -j 32 --no-cache`` on the same prompts and assertions
                     (installed with npm into a scratch folder, never into the repo; skipped
                     with ``--skip-promptfoo``);
- ``ideal``          500 / 32 x 0.2 s, the floor set by the server's delay, and (once, with
                     ``--sequential N``) a plain ``httpx.Client`` loop, one request at a time.

gerbil-eval's run is split into phases by a timing plugin (benchmarks/phase_clock.py, loaded
with ``-p phase_clock``): interpreter start (Python + pytest), plugin import (every entry-point
plugin), collection (options, case files, items), fetch (every request; scoring overlaps it in
worker processes), scoring (items assert and make their rows), report (results files, summary,
report.html, terminal table, gates, exit).

Targets: gerbil-eval / bare AsyncOpenAI <= 1.3 and gerbil-eval / promptfoo <= 0.8, on the
median of the rounds' ratios. Run: ``.venv/bin/python benchmarks/bench_harness.py
[--repeat N] [--sequential N] [--skip-promptfoo]``; exit 1 when a target is missed (or promptfoo
could not run and --skip-promptfoo was not given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
REQUESTS, CONCURRENCY, DELAY = 500, 32, 0.2
TARGET_BARE = 1.3
TARGET_PROMPTFOO = 0.8
PROMPTFOO_VERSION = "0.121.20"
ANSWER = "```scheme\n(hash-for-each (lambda (k v) (displayln k)) h)\n```"
#: gerbil-eval's phases: (name, the phase_clock mark that ends it; None = the process's exit)
PHASES = (("interpreter start", "started"), ("plugin import", "plugins_imported"), ("collection", "collected"),
          ("fetch", "fetched"), ("scoring", "items_done"), ("report", None))
#: the report phase in detail: files + gates (pytest_sessionfinish), terminal table, shutdown, interpreter exit
REPORT_PARTS = (("files+gates", "results_written"), ("terminal", "terminal_summary"), ("shutdown", "unconfigured"),
                ("exit", None))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", str(port),
                               "--delay", str(DELAY), "--answer", ANSWER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    server.stdout.readline()  # "serving ..." once it listens
    return server


def write_cases(folder: Path) -> None:
    lines = ["defaults: {category: bench}", "cases:"]
    for i in range(REQUESTS):
        lines += [f"  - id: bench-{i}", f"    prompt: 'prompt {i}: iterate over a hash table'", "    assert:",
                  "      - {type: contains, value: hash-for-each}", "      - {type: not-contains, value: maphash}",
                  "      - {type: regex, value: 'lambda \\(k v\\)'}"]
    (folder / "cases").mkdir()
    (folder / "cases" / "bench.yaml").write_text("\n".join(lines) + "\n")


class Timed(NamedTuple):
    start: float  #: time.monotonic() when the process was started
    wall: float  #: seconds until it exited
    cpu: float  #: user + system CPU seconds of it and every child it waited for (os.wait4)
    stdout: str
    stderr: str
    returncode: int


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timed:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return Timed(start, wall, usage.ru_utime + usage.ru_stime, out.read(), err.read(), proc.returncode)


def run_gerbil_eval(url: str, work: Path, dev_plugins: bool) -> tuple[Timed, dict[str, float]]:
    """One whole ``pytest --model`` run and its phases (seconds each, in PHASES order)."""
    clock = work / "phases.json"
    env = {**os.environ, "GERBIL_EVAL_CACHE": str(work / "cache"), "PHASE_CLOCK_FILE": str(clock),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")]))}
    env.pop("OPENAI_API_KEY", None)
    plugins = ["-p", "phase_clock", *([] if dev_plugins else ["-p", "no:hypothesispytest"])]
    done = timed([sys.executable, "-m", "pytest", *plugins, "--model", "fake-model", f"--base-url={url}",
                                  f"--concurrency={CONCURRENCY}", "--no-cache", f"--report-dir={work / 'reports'}",
                                  "-q", "-p", "no:cacheprovider"], work, env)
    if done.returncode != 0 or f"{REQUESTS} passed" not in done.stdout:
        raise SystemExit(f"gerbil-eval run failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    marks = json.loads(clock.read_text())
    phases, previous = {}, done.start
    for name, mark in PHASES:
        end = marks[mark] if mark else done.start + done.wall
        phases[name], previous = end - previous, end
    previous = marks["items_done"]
    for name, mark in REPORT_PARTS:
        end = marks.get(mark, previous) if mark else done.start + done.wall
        phases[name], previous = end - previous, end
    return done, phases


def run_async_openai(url: str, work: Path) -> tuple[Timed, float]:
    """The bare loop, and the seconds of it spent before the first request (Python + openai import)."""
    script = textwrap.dedent(f"""
        import asyncio, time
        from openai import AsyncOpenAI
        print(time.monotonic(), flush=True)
        async def main():
            client = AsyncOpenAI(base_url={url!r}, api_key="x", max_retries=4)
            limit = asyncio.Semaphore({CONCURRENCY})
            async def one(i):
                async with limit:
                    r = await client.chat.completions.create(model="fake-model", temperature=0,
                        messages=[{{"role": "user", "content": f"prompt {{i}}: iterate over a hash table"}}])
                    return r.choices[0].message.content
            answers = await asyncio.gather(*(one(i) for i in range({REQUESTS})))
            assert len(answers) == {REQUESTS}
        asyncio.run(main())
    """)
    done = timed([sys.executable, "-c", script], work)
    if done.returncode != 0:
        raise SystemExit(f"AsyncOpenAI loop failed:\n{done.stderr[-2000:]}")
    return done, float(done.stdout.split()[0]) - done.start


def run_sequential(url: str, work: Path, n: int) -> float:
    script = textwrap.dedent(f"""
        import httpx
        with httpx.Client(timeout=60) as client:
            for i in range({n}):
                r = client.post({url!r} + "/chat/completions", json={{"model": "fake-model", "temperature": 0,
                    "messages": [{{"role": "user", "content": f"prompt {{i}}: iterate over a hash table"}}]}})
                r.raise_for_status()
    """)
    done = timed([sys.executable, "-c", script], work)
    if done.returncode != 0:
        raise SystemExit(f"sequential loop failed:\n{done.stderr[-2000:]}")
    return done.wall


def promptfoo_binary(node_dir: Path) -> Path | None:
    """promptfoo installed with npm into ``node_dir`` (installed on first use; None if npm fails)."""
    binary = node_dir / "node_modules" / ".bin" / "promptfoo"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        return None
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "package.json").write_text('{"name": "bench", "private": true}\n')
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
                          cwd=node_dir, capture_output=True, text=True)
    return binary if done.returncode == 0 and binary.exists() else None


def run_promptfoo(binary: Path, url: str, work: Path) -> Timed:
    tests = [{"vars": {"prompt": f"prompt {i}: iterate over a hash table"},
              "assert": [{"type": "contains", "value": "hash-for-each"}, {"type": "not-contains", "value": "maphash"},
                         {"type": "regex", "value": "lambda \\(k v\\)"}]} for i in range(REQUESTS)]
    config = {"prompts": ["{{prompt}}"], "tests": tests,
              "providers": [{"id": "openai:chat:fake-model",
                             "config": {"apiBaseUrl": url, "apiKey": "x", "temperature": 0}}]}
    (work / "promptfooconfig.json").write_text(json.dumps(config))
    home = work / "promptfoo-home"
    env = {**os.environ, "PROMPTFOO_CONFIG_DIR": str(home), "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1", "NO_COLOR": "1"}
    done = timed([str(binary), "eval", "-c", "promptfooconfig.json", "-j", str(CONCURRENCY), "--no-cache",
                           "-o", "promptfoo-results.json", "--no-table", "--no-progress-bar"], work, env)
    if done.returncode not in (0, 100) or not (work / "promptfoo-results.json").exists():
        raise SystemExit(f"promptfoo failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    results = json.loads((work / "promptfoo-results.json").read_text())["results"]
    passed = results.get("stats", {}).get("successes")
    if passed != REQUESTS:
        raise SystemExit(f"promptfoo scored {passed} of {REQUESTS} as passing; the workloads differ")
    return done


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds of interleaved runs (default 3)")
    parser.add_argument("--sequential", type=int, default=0, metavar="N",
                        help=f"also time a one-at-a-time httpx loop on N requests, scaled to {REQUESTS} (default: skip)")
    parser.add_argument("--skip-promptfoo", action="store_true", help="do not install or run promptfoo")
    parser.add_argument("--dev-plugins", action="store_true",
                        help="keep the dev-only hypothesis pytest plugin loaded in gerbil-eval's runs")
    parser.add_argument("--node-dir", type=Path, default=Path(tempfile.gettempdir()) / "gerbil-eval-bench-node",
                        help="where promptfoo is npm-installed (default: a folder in the temp dir, never the repo)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(f"{REQUESTS} requests, {DELAY * 1000:.0f} ms each, concurrency {CONCURRENCY}; {os.cpu_count()} cores, "
          f"at the start {load()}", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port)
    rounds: list[dict[str, float]] = []
    phases: list[dict[str, float]] = []
    sequential = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
            work = Path(tmp)
            write_cases(work)
            binary = None if args.skip_promptfoo else promptfoo_binary(args.node_dir)
            for i in range(args.repeat):
                row: dict[str, float] = {}
                if binary is not None:
                    pf = run_promptfoo(binary, url, work)
                    row["promptfoo"], row["promptfoo cpu"] = pf.wall, pf.cpu
                ours, split = run_gerbil_eval(url, work, args.dev_plugins)
                bare, row["bare start"] = run_async_openai(url, work)
                row |= {"ours": ours.wall, "ours cpu": ours.cpu, "bare": bare.wall, "bare cpu": bare.cpu}
                rounds.append(row)
                phases.append(split)
                pf_text = f", promptfoo {row['promptfoo']:.2f} s" if "promptfoo" in row else ""
                print(f"round {i + 1}: gerbil-eval {row['ours']:.2f} s, bare AsyncOpenAI {row['bare']:.2f} s{pf_text}; "
                      f"{load()}", flush=True)
            if args.sequential:
                sequential = run_sequential(url, work, args.sequential) * REQUESTS / args.sequential
    finally:
        server.terminate()
        server.wait()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    print(f"\nmedian of {len(rounds)} rounds{'':26} wall s  x bare async   CPU s")
    lines = [("ideal (500 / 32 x 0.2 s)", REQUESTS / CONCURRENCY * DELAY, None),
             ("bare AsyncOpenAI loop", median("bare"), median("bare cpu")),
             ("  of which Python start + import openai", median("bare start"), None),
             ("gerbil-eval: pytest --model", median("ours"), median("ours cpu"))]
    lines += [(f"  {name}", statistics.median(p[name] for p in phases), None) for name, _ in PHASES]
    lines += [(f"    {name}", statistics.median(p[name] for p in phases), None) for name, _ in REPORT_PARTS]
    if "promptfoo" in rounds[0]:
        lines.append((f"promptfoo {PROMPTFOO_VERSION} eval -j 32 --no-cache", median("promptfoo"), median("promptfoo cpu")))
    if sequential is not None:
        lines.append((f"sequential httpx loop ({args.sequential} scaled to {REQUESTS})", sequential, None))
    for name, seconds, cpu in lines:
        print(f"{name:48} {seconds:7.2f} {seconds / median('bare'):10.2f} {'' if cpu is None else f'{cpu:7.2f}'}")
    vs_bare = statistics.median(r["ours"] / r["bare"] for r in rounds)
    per_round = ", ".join(f"{r['ours'] / r['bare']:.2f}" for r in rounds)
    print(f"\ngerbil-eval / bare AsyncOpenAI = {vs_bare:.2f} (rounds: {per_round}; target <= {TARGET_BARE})")
    missed = vs_bare > TARGET_BARE
    if "promptfoo" in rounds[0]:
        vs_pf = statistics.median(r["ours"] / r["promptfoo"] for r in rounds)
        per_round = ", ".join(f"{r['ours'] / r['promptfoo']:.2f}" for r in rounds)
        print(f"gerbil-eval / promptfoo = {vs_pf:.2f} (rounds: {per_round}; target <= {TARGET_PROMPTFOO})")
        missed |= vs_pf > TARGET_PROMPTFOO
    else:
        print("promptfoo did not run (npm unavailable or --skip-promptfoo)")
        missed |= not args.skip_promptfoo
    print(f"at the end {load()}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
