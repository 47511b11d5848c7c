"""Benchmark: a whole ``pytest --model`` run of 500 requests against a slow endpoint.

Workload: 500 cases (distinct prompts, three deterministic assertions each) against the
stand-in OpenAI chat-completions server (tests/fake_openai.py, its own process on
127.0.0.1) answering every request after a fixed 200 ms, at concurrency 32.

Measured in the same run, each as a fresh process (so start-up and imports count):

- ``ideal``          500 / 32 x 0.2 s: the floor set by the server's delay;
- ``gerbil-eval``    ``pytest --model ... --concurrency 32 --no-cache``: start-up,
                     collection, requests, scoring, results.json/csv, summary.md, report.html;
- ``AsyncOpenAI``    a bare ``openai.AsyncOpenAI`` loop (semaphore 32), no scoring, no reports;
- ``sequential``     a plain ``httpx.Client`` loop, one request at a time;
- ``promptfoo``      ``promptfoo eval -j 32 --no-cache`` on the same prompts and assertions
                     (installed with npm into a scratch folder, never into the repo).

Target: gerbil-eval at most 0.8x promptfoo's wall time.
Run: ``.venv/bin/python benchmarks/bench_harness.py [--sequential N] [--skip-promptfoo]``;
exit 1 when the target is missed (or promptfoo could not run and --skip-promptfoo was not given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS, CONCURRENCY, DELAY = 500, 32, 0.2
TARGET = 0.8
PROMPTFOO_VERSION = "0.121.20"
ANSWER = "```scheme\n(hash-for-each (lambda (k v) (displayln k)) h)\n```"


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


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, done


def run_gerbil_eval(url: str, work: Path, *extra: str) -> float:
    env = {**os.environ, "GERBIL_EVAL_CACHE": str(work / "cache")}
    env.pop("OPENAI_API_KEY", None)
    seconds, done = timed([sys.executable, "-m", "pytest", "--model", "fake-model", f"--base-url={url}",
                           f"--concurrency={CONCURRENCY}", "--no-cache", f"--report-dir={work / 'reports'}",
                           "-q", "-p", "no:cacheprovider", *extra], work, env)
    if done.returncode != 0 or f"{REQUESTS} passed" not in done.stdout:
        raise SystemExit(f"gerbil-eval run failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def run_async_openai(url: str, work: Path) -> float:
    script = textwrap.dedent(f"""
        import asyncio
        from openai import AsyncOpenAI
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
    seconds, done = timed([sys.executable, "-c", script], work)
    if done.returncode != 0:
        raise SystemExit(f"AsyncOpenAI loop failed:\n{done.stderr[-2000:]}")
    return seconds


def run_sequential(url: str, work: Path, n: int) -> float:
    script = textwrap.dedent(f"""
        import httpx
        with httpx.Client(timeout=60) as client:
            for i in range({n}):
                r = client.post({url!r} + "/chat/completions", json={{"model": "fake-model", "temperature": 0,
                    "messages": [{{"role": "user", "content": f"prompt {{i}}: iterate over a hash table"}}]}})
                r.raise_for_status()
    """)
    seconds, done = timed([sys.executable, "-c", script], work)
    if done.returncode != 0:
        raise SystemExit(f"sequential loop failed:\n{done.stderr[-2000:]}")
    return seconds


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


def run_promptfoo(binary: Path, url: str, work: Path) -> float:
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
    seconds, done = timed([str(binary), "eval", "-c", "promptfooconfig.json", "-j", str(CONCURRENCY), "--no-cache",
                           "-o", "promptfoo-results.json", "--no-table", "--no-progress-bar"], work, env)
    if done.returncode not in (0, 100) or not (work / "promptfoo-results.json").exists():
        raise SystemExit(f"promptfoo failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    results = json.loads((work / "promptfoo-results.json").read_text())["results"]
    passed = results.get("stats", {}).get("successes")
    if passed != REQUESTS:
        raise SystemExit(f"promptfoo scored {passed} of {REQUESTS} as passing; the workloads differ")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=REQUESTS, metavar="N",
                        help=f"requests in the sequential loop (default {REQUESTS}; fewer are scaled up to {REQUESTS})")
    parser.add_argument("--skip-promptfoo", action="store_true", help="do not install or run promptfoo")
    parser.add_argument("--node-dir", type=Path, default=Path(tempfile.gettempdir()) / "gerbil-eval-bench-node",
                        help="where promptfoo is npm-installed (default: a folder in the temp dir, never the repo)")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = start_server(port)
    rows: list[tuple[str, float, str]] = [("ideal (500 / 32 x 0.2 s)", REQUESTS / CONCURRENCY * DELAY, "")]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
            work = Path(tmp)
            write_cases(work)
            binary = None if args.skip_promptfoo else promptfoo_binary(args.node_dir)
            if binary is not None:
                rows.append((f"promptfoo {PROMPTFOO_VERSION} eval -j 32 --no-cache", run_promptfoo(binary, url, work), ""))
            rows.append(("gerbil-eval: pytest --model", run_gerbil_eval(url, work), ""))
            rows.append(("  same, -p no:hypothesispytest", run_gerbil_eval(url, work, "-p", "no:hypothesispytest"),
                         "the dev-only hypothesis plugin costs every pytest start-up"))
            rows.append(("bare AsyncOpenAI loop (no scoring/reports)", run_async_openai(url, work), ""))
            seq = run_sequential(url, work, args.sequential)
            note = "" if args.sequential == REQUESTS else f"measured on {args.sequential}, scaled x{REQUESTS / args.sequential:g}"
            rows.append(("sequential httpx loop", seq * REQUESTS / args.sequential, note))
    finally:
        server.terminate()
        server.wait()

    ours = next(s for name, s, _ in rows if name.startswith("gerbil-eval"))
    promptfoo = next((s for name, s, _ in rows if name.startswith("promptfoo")), None)
    print(f"\n{REQUESTS} requests, {DELAY * 1000:.0f} ms each, concurrency {CONCURRENCY}\n")
    print(f"{'run':48} {'wall s':>8} {'x gerbil-eval':>14} {'x promptfoo':>12}  note")
    for name, seconds, note in rows:
        vs_pf = f"{seconds / promptfoo:.2f}" if promptfoo else "-"
        print(f"{name:48} {seconds:8.2f} {seconds / ours:14.2f} {vs_pf:>12}  {note}")
    if promptfoo is None:
        print("\npromptfoo did not run (npm unavailable or --skip-promptfoo)")
        return 0 if args.skip_promptfoo else 1
    ratio = ours / promptfoo
    print(f"\ngerbil-eval / promptfoo = {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
