"""Property suite: the real command lines, fed generated hostile inputs, fail only in documented ways.

Each property runs one command as a user would (a subprocess: ``python -m pytest`` with the
plugin, ``python -m gerbil_eval lint|report|compare``, every ``python -m pipeline`` subcommand)
on inputs hypothesis generates — YAML with aliases, deep nesting, huge strings, odd unicode and
lone surrogates, NaN/inf/negative numbers, binary files, odd names — and asserts:

- the exit status is in the command's documented set (no crash status such as 2 from a traceback);
- stderr has at most a few lines and nothing anywhere says ``Traceback``;
- nothing is written outside the folders the command was given (inputs and cwd stay as they were);
- it finishes within a time bound.

Cost is fixed: ``EXAMPLES`` generated inputs per command (derandomized, so CI runs the same
ones every time; ``HOSTILE_EXAMPLES`` raises it for a local hunt). With 14 command runs per generated input that is
14 x EXAMPLES subprocess runs per CI run (see README "Trust").
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Generated inputs per command and CI run.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", 5))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
#: Seconds one command may take on one input (a loaded CI machine included).
TIME_BOUND = 90
#: stderr lines a failure may print (one line is the rule; pytest adds its own "ERROR:" framing).
MAX_STDERR_LINES = 4

# --- generated hostile material --------------------------------------------------------------------

odd_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "..", "../../x", "/etc/passwd", "a\\b", "\x00", "\x1b[2J\x1b]0;t\x07", "\u202e",
                     r"$\frac{$", "0.18.1", "skip", "-rf", "NaN", "\ud800", "é" * 50, "x" * 5000]),
)
numbers = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1e308, 10**30, -0.0]),
                    st.floats(allow_nan=True), st.integers(-10**6, 10**6))
leaves = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_like = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
                         max_leaves=12)


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8 on disk, as in the wild


def dumps(value: Any) -> bytes:
    return to_bytes(json.dumps(value))  # NaN/Infinity written as Python does


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def laughs(depth: int, width: int) -> str:
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + f"\nz: *a{depth - 1}\n"


@st.composite
def files(draw: st.DrawFn, valid: Any = None) -> bytes:
    """A file's bytes: a hostile variant of ``valid`` (JSON-able) or generic hostile content."""
    kind = draw(st.sampled_from(["json", "mutated", "deep", "bomb", "binary", "huge", "empty"]))
    if kind == "json" or (kind == "mutated" and valid is None):
        return dumps(draw(json_like))
    if kind == "mutated":
        return dumps(mutate(valid, draw))
    if kind == "deep":
        return to_bytes(nested(draw(st.sampled_from([50, 1000, 100_000]))))
    if kind == "bomb":
        return to_bytes(laughs(draw(st.integers(3, 9)), draw(st.integers(2, 10))))
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "huge":
        return b"x" * draw(st.sampled_from([100_000, 3_000_000]))
    return b""


def mutate(value: Any, draw: st.DrawFn) -> Any:
    """``value`` with one field (at any depth) replaced by a hostile leaf or structure."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value, key=str)))
        return {**value, key: mutate(value[key], draw)}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return value[:i] + [mutate(value[i], draw)] + value[i + 1:]
    return draw(json_like)


# --- running a command and checking the rules -------------------------------------------------------

def snapshot(root: Path, skip: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if not p.is_relative_to(skip)}


def check_command(args: list[str], inputs: dict[str, bytes], allowed: Iterable[int], *, env: dict[str, str] | None = None,
                  before_run: Any = None) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in a fresh folder holding ``inputs`` (under in/); outputs go to out/."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        (root / "out").mkdir()
        for name, data in inputs.items():
            path = root / "in" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if before_run is not None:
            before_run(root)
        before = snapshot(root, root / "out")
        full_env = {**os.environ, "GERBIL_EVAL_CACHE": str(root / "out" / "cache"), "OPENAI_API_KEY": "",
                    "TOGETHER_API_KEY": "", "HOME": str(root / "out" / "home"), "PYTHONWARNINGS": "ignore",
                    **(env or {})}
        try:
            result = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True,
                                    errors="replace", timeout=TIME_BOUND, env=full_env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{args} took more than {TIME_BOUND} s on {list(inputs)}")
        after = snapshot(root, root / "out")
        assert after == before, f"{args} wrote outside out/: {sorted(set(after) ^ set(before))}"
        report = f"{args}\nexit {result.returncode}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-1500:]}"
        assert result.returncode in set(allowed), report
        assert "Traceback" not in result.stdout + result.stderr, report
        assert len(result.stderr.strip().splitlines()) <= MAX_STDERR_LINES, report
        return result


# --- the harness ------------------------------------------------------------------------------------

CASES = [{"id": "greet", "category": "basics", "tags": ["seed"], "prompt": "Print hello.",
          "assert": [{"type": "contains", "value": "hello"}, {"type": "regex", "value": "h.*o"}, {"type": "parses"}],
          "reference": "(displayln \"hello\")", "counterexamples": ["bye", "nope"]}]
ANSWER = {"model": "m", "case_id": "greet", "sample": 0, "content": "(displayln \"hello\")", "latency_s": 0.5}
PYTEST = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--report-dir", "out/reports"]
#: pytest: 0 ok, 1 failed, 4 usage error, 5 nothing selected (7 infra cannot happen without a network)
PYTEST_EXITS = (0, 1, 4, 5)


@SETTINGS
@given(case_file=files(CASES), answers=st.lists(st.one_of(st.just(ANSWER), json_like.map(
    lambda v: v if not isinstance(v, dict) else {**ANSWER, **v})), min_size=1, max_size=3),
       flags=st.lists(st.sampled_from([["--temperature", "nan"], ["--timeout", "inf"], ["--max-regression", "-1"],
                                       ["--min-score", "0.5"], ["--samples", "0"], ["--score-timeout", "0.5"],
                                       ["--max-answer-bytes", "10"], ["-m", "seed"], ["--max-errors", "-3"]]),
                      max_size=2))
def test_pytest_plugin_on_hostile_cases_and_answers(case_file: bytes, answers: list[Any], flags: list[list[str]]) -> None:
    replay = b"".join(dumps(a) + b"\n" for a in answers)
    check_command([*PYTEST, "--cases", "in/cases.yaml", "--replay", "in/answers.jsonl", *sum(flags, [])],
                  {"cases.yaml": case_file, "answers.jsonl": replay}, PYTEST_EXITS)


@SETTINGS
@given(answer=st.one_of(odd_text, st.text(min_size=1000, max_size=20000), st.just("(" * 50_000),
                        st.just("a" * 40 + "!")),
       case=st.sampled_from([CASES[0], {**CASES[0], "assert": [{"type": "regex", "value": "(a+)+$"}]}]))
def test_pytest_plugin_against_an_endpoint_with_hostile_answers(answer: str, case: dict) -> None:
    from .fake_openai import FakeOpenAI

    with FakeOpenAI(default=answer) as server:
        check_command([*PYTEST, "--cases", "in/cases.yaml", "--model", f"fake-model@{server.url}", "--score-timeout",
                       "2", "--retries", "0"], {"cases.yaml": dumps([case])}, (0, 1))


@SETTINGS
@given(case_file=files(CASES), extra=st.sampled_from([[], ["--strict"], ["--allow-python"], ["--explain", "greet"]]))
def test_lint_on_hostile_case_files(case_file: bytes, extra: list[str]) -> None:
    check_command(["-m", "gerbil_eval", "lint", "in/cases.yaml", "--score-timeout", "2", *extra],
                  {"cases.yaml": case_file}, (0, 1, 4))


def results_doc() -> dict[str, Any]:
    from .rundocs import make_doc

    return make_doc([("gerbil-qwen", "candidate", {"a": 1.0, "b": 0.5}), ("base", "baseline", {"a": 0.0, "b": None})])


@SETTINGS
@given(doc=files(results_doc()), gate=st.sampled_from([[], ["--min-score", "nan"], ["--require-better"],
                                                        ["--max-errors", "0", "--min-pass-rate", "0.9"]]))
def test_report_on_hostile_results(doc: bytes, gate: list[str]) -> None:
    def copy_run(root: Path) -> None:  # the report is written beside results.json, so the run lives in out/
        run_dir = root / "out" / "run"
        run_dir.mkdir()
        (run_dir / "results.json").write_bytes((root / "in" / "results.json").read_bytes())

    check_command(["-m", "gerbil_eval", "report", "out/run", *gate], {"results.json": doc}, (0, 1, 4),
                  before_run=copy_run)


@SETTINGS
@given(a=files(results_doc()), b=files(results_doc()))
def test_compare_on_hostile_results(a: bytes, b: bytes) -> None:
    check_command(["-m", "gerbil_eval", "compare", "in/a/results.json", "in/b/results.json", "--max-regression", "0.1"],
                  {"a/results.json": a, "b/results.json": b}, (0, 1, 4))


# --- the pipeline -----------------------------------------------------------------------------------

PIPELINE_EXITS = (0, 1, 4)
RECIPE = {"id": "r1", "title": "Hash tables", "tags": ["hash"], "imports": [":std/misc/hash"],
          "code": "(def h (make-hash-table))", "notes": "n"}
STATE = {"job_id": "ft-123", "job_status": "completed", "completed_steps": ["data"]}
ADAPTER = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],
           "base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}
HEADER = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight":
          {"dtype": "F32", "shape": [2, 896], "data_offsets": [0, 7168]}}


@SETTINGS
@given(cookbook=files([RECIPE]), exclude=files(), system=files())
def test_pipeline_data(cookbook: bytes, exclude: bytes, system: bytes) -> None:
    check_command(["-m", "pipeline", "data", "--cookbook", "in/cookbook.json", "--docs", "in/docs", "-o", "out/data",
                   "--exclude-ids", "in/exclude.txt", "--system-prompt-file", "in/system.txt"],
                  {"cookbook.json": cookbook, "exclude.txt": exclude, "system.txt": system, "docs/a.md": b"# A\n"},
                  PIPELINE_EXITS)


def workdir(state: bytes) -> Any:
    def make(root: Path) -> None:
        (root / "out" / "w").mkdir()
        (root / "out" / "w" / "pipeline-state.json").write_bytes(state)
    return make


@SETTINGS
@given(state=files(STATE), training=files(), lr=st.sampled_from(["nan", "-1", "1e-5", "inf"]))
def test_pipeline_train_dry_run(state: bytes, training: bytes, lr: str) -> None:
    check_command(["-m", "pipeline", "train", "--workdir", "out/w", "--training-file", "in/train.jsonl",
                   "--learning-rate", lr, "--dry-run"], {"train.jsonl": training}, PIPELINE_EXITS,
                  before_run=workdir(state))


@SETTINGS
@given(state=files(STATE), job=odd_text, key=files())
def test_pipeline_status_and_download_refuse_before_the_network(state: bytes, job: str, key: bytes) -> None:
    # No Together here: every run stops at the key, the id or the connection, in one line.
    for command in ("status", "download"):
        check_command(["-m", "pipeline", command, "--workdir", "out/w", "--api-key-file", "in/key.txt",
                       *([f"--job={job}"] if job and "\x00" not in job and "\ud800" not in job else [])],
                      {"key.txt": key}, PIPELINE_EXITS, before_run=workdir(state),
                      env={"TOGETHER_BASE_URL": "http://127.0.0.1:9/v1"})


@SETTINGS
@given(config=files(ADAPTER), header=st.one_of(st.just(HEADER), json_like))
def test_pipeline_convert_and_inspect(config: bytes, header: Any) -> None:
    blob = dumps(header if header else HEADER)
    tensors = struct.pack("<Q", len(blob)) + blob + b"\0" * 7168
    check_command(["-m", "pipeline", "convert", "in/adapter", "-o", "out/adapter.gguf"],
                  {"adapter/adapter_config.json": config, "adapter/adapter_model.safetensors": tensors}, PIPELINE_EXITS)
    check_command(["-m", "pipeline", "inspect", "in/x.gguf"], {"x.gguf": b"GGUF" + config[:200]}, PIPELINE_EXITS)


@SETTINGS
@given(state=files(STATE), name=odd_text, opencode=files({"$schema": "https://opencode.ai/config.json"}))
def test_pipeline_deploy_opencode_and_run(state: bytes, name: str, opencode: bytes) -> None:
    safe = name if name and "\x00" not in name and "\ud800" not in name else "x"
    check_command(["-m", "pipeline", "deploy", "ollama", "--workdir", "out/w", f"--name={safe}", "--host",
                   "http://127.0.0.1:9", "--adapter", "in/none.gguf"], {}, PIPELINE_EXITS, before_run=workdir(state))
    check_command(["-m", "pipeline", "opencode", "--config", "out/opencode.json", "--base-url", "http://127.0.0.1:9/v1",
                   f"--model={safe}", "--no-check"], {}, PIPELINE_EXITS,
                  before_run=lambda root: (root / "out" / "opencode.json").write_bytes(opencode))
    check_command(["-m", "pipeline", "run", "--workdir", "out/w", "--dry-run", f"--name={safe}"],
                  {}, PIPELINE_EXITS, before_run=workdir(state))
