"""Each input that used to crash a command with a traceback now gives one line and a documented exit status.

Every test runs the real command line in a subprocess (``python -m pytest`` with the plugin,
``python -m gerbil_eval``, ``python -m pipeline``), in a fresh folder, with no network: the
pytest runs replay recorded answers, the pipeline commands fail before any request.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

CASE = """\
- id: greet
  category: basics
  prompt: Print hello in Gerbil.
  assert: [{type: contains, value: hello}]
"""


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "GERBIL_EVAL_CACHE": str(cwd / "cache"),
                               "OPENAI_API_KEY": "", "PYTHONWARNINGS": "ignore"})


def replay_file(folder: Path, records: list[dict] | None = None) -> Path:
    path = folder / "answers.jsonl"
    records = records or [{"model": "m", "case_id": "greet", "content": "hello"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def harness(folder: Path, *extra: str, cases: str = CASE, records: list[dict] | None = None) -> list[str]:
    (folder / "cases.yaml").write_text(cases, encoding="utf-8")
    return ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--cases", "cases.yaml", "--report-dir", "reports",
            "--replay", str(replay_file(folder, records)), *extra]


def safetensors(folder: Path, header: dict) -> None:
    blob = json.dumps(header).encode()
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * 64)


def adapter(folder: Path, config: dict | None = None, header: dict | None = None) -> list[str]:
    folder = folder / "adapter"
    folder.mkdir()
    base = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],
            "base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}
    (folder / "adapter_config.json").write_text(json.dumps({**base, **(config or {})}), encoding="utf-8")
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    safetensors(folder, header or {key: {"dtype": "F32", "shape": [2, 896], "data_offsets": [0, 2 * 896 * 4]}})
    return ["-m", "pipeline", "convert", str(folder), "-o", "out.gguf"]


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


Setup = Callable[[Path], list[str]]
TENSOR = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"

CRASHES: dict[str, tuple[Setup, str]] = {
    "--timeout nan": (lambda d: harness(d, "--timeout", "nan"), "--timeout must be"),
    "--temperature nan": (lambda d: harness(d, "--temperature", "nan"), "--temperature must be"),
    "--temperature inf": (lambda d: harness(d, "--temperature", "inf"), "--temperature must be"),
    "--max-regression nan": (lambda d: harness(d, "--max-regression", "nan"), "--max-regression must be"),
    "--max-regression -1": (lambda d: harness(d, "--max-regression", "-1"), "--max-regression must be"),
    "--train-data binary": (lambda d: (d / "train.jsonl").write_bytes(b"\x00\xff\xfe" * 100) and
                            harness(d, "--train-data", "train.jsonl"), "--train-data"),
    "replay line nested 100k deep": (lambda d: harness(d)[:-1] + [str(write(d / "deep.jsonl", deep_json() + "\n"))],
                                     "nested too deeply"),
    "pipeline download --api-key-file /dev/zero": (
        lambda d: ["-m", "pipeline", "download", "--workdir", "w", "--job", "ft-1", "--api-key-file", "/dev/zero"],
        "--api-key-file /dev/zero"),
    "pipeline data: cookbook nested 100k deep": (
        lambda d: (d / "cookbook.json").write_text(deep_json()) and
        ["-m", "pipeline", "data", "--cookbook", "cookbook.json", "--docs", ".", "-o", "out"], "nested too deeply"),
    "pipeline data: non-UTF-8 --exclude-ids": (
        lambda d: (d / "cookbook.json").write_text("[]") and (d / "ex.txt").write_bytes(b"\xff\xfe id\n") and
        ["-m", "pipeline", "data", "--cookbook", "cookbook.json", "--docs", ".", "-o", "out", "--exclude-ids", "ex.txt"],
        "not UTF-8"),
    "pipeline data: non-UTF-8 --system-prompt-file": (
        lambda d: (d / "cookbook.json").write_text("[]") and (d / "sys.txt").write_bytes(b"\xff\xfe\n") and
        ["-m", "pipeline", "data", "--cookbook", "cookbook.json", "--docs", ".", "-o", "out", "--system-prompt-file", "sys.txt"],
        "not UTF-8"),
    "convert: base_model_name_or_path 123": (lambda d: adapter(d, {"base_model_name_or_path": 123}),
                                             "base_model_name_or_path must be a string"),
    "convert: lora_alpha NaN": (lambda d: adapter(d, {"lora_alpha": float("nan")}), "lora_alpha must be"),
    "convert: lora_alpha Infinity": (lambda d: adapter(d, {"lora_alpha": float("inf")}), "lora_alpha must be"),
    "convert: rank_pattern {'(': 2}": (lambda d: adapter(d, {"rank_pattern": {"(": 2}}),
                                       "not a valid regular expression"),
    "convert: alpha_pattern NaN": (lambda d: adapter(d, {"alpha_pattern": {"q_proj": float("nan")}}),
                                   "alpha_pattern must map"),
    "convert: dtype ['BF16']": (lambda d: adapter(d, header={TENSOR: {"dtype": ["BF16"], "shape": [2, 896],
                                                                      "data_offsets": [0, 8]}}), "dtype"),
    "convert: string data_offsets": (lambda d: adapter(d, header={TENSOR: {"dtype": "F32", "shape": [2, 896],
                                                                           "data_offsets": ["0", "8"]}}),
                                     "data_offsets"),
    "convert: float data_offsets": (lambda d: adapter(d, header={TENSOR: {"dtype": "F32", "shape": [2, 896],
                                                                          "data_offsets": [0.0, 7168.0]}}),
                                    "data_offsets"),
}


@pytest.mark.parametrize("name", list(CRASHES))
def test_crash_input_gives_one_line_and_no_traceback(tmp_path: Path, name: str) -> None:
    setup, expected = CRASHES[name]
    args = setup(tmp_path)
    result = run(args, tmp_path)
    err = result.stderr.strip()
    assert "Traceback" not in result.stdout + result.stderr, err[-2000:]
    assert result.returncode == 4, (result.returncode, err[-2000:])
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


LABEL = r"$\frac{$"


@pytest.mark.parametrize("where", ["category", "model"])
def test_mathtext_in_a_label_still_writes_every_report(tmp_path: Path, where: str) -> None:
    """matplotlib read ``$\\frac{$`` as math and aborted pytest_sessionfinish: no report.html, no latest."""
    cases = CASE.replace("category: basics", f"category: {json.dumps(LABEL)}") if where == "category" else CASE
    model = LABEL if where == "model" else "m"
    result = run(harness(tmp_path, cases=cases, records=[{"model": model, "case_id": "greet", "content": "hello"}]),
                 tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    latest = tmp_path / "reports" / "latest"
    assert (latest / "report.html").is_file() and (latest / "summary.md").is_file()
    assert LABEL in (latest / "report.html").read_text() or where == "category"


def test_tag_starting_with_a_digit_is_a_marker_and_selects(tmp_path: Path) -> None:
    """``add_marker`` refused ``_0_18_1``; the marker is now ``tag_0_18_1``, selectable with -m."""
    cases = CASE.replace("category: basics", "category: basics\n  tags: ['0.18.1']")
    result = run(harness(tmp_path, "-m", "tag_0_18_1", cases=cases), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_reserved_marker_tag_is_refused_by_lint_as_by_collection(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(CASE.replace("category: basics", "category: basics\n  tags: [skip]"))
    lint = run(["-m", "gerbil_eval", "lint", "cases.yaml"], tmp_path)
    collect = run(harness(tmp_path, cases=(tmp_path / "cases.yaml").read_text()), tmp_path)
    assert lint.returncode == 1 and "tag 'skip' is a pytest marker" in lint.stdout
    assert collect.returncode == 4 and "tag 'skip' is a pytest marker" in collect.stderr


def test_lone_surrogate_answer_is_written_and_scored(tmp_path: Path) -> None:
    """A recorded answer or model name holding ``\\ud800`` left an empty run folder; now the run completes."""
    records = [{"model": "m\ud800", "case_id": "greet", "content": "hello \ud800"}]
    (tmp_path / "r.jsonl").write_text(json.dumps(records[0]) + "\n")  # json.dumps escapes it as \\ud800
    result = run(harness(tmp_path, records=records), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    doc = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text(encoding="utf-8"))
    assert doc["results"][0]["passed"] is True


def test_non_finite_latency_in_a_replay_is_refused_and_results_json_is_strict(tmp_path: Path) -> None:
    records = [{"model": "m", "case_id": "greet", "content": "hello", "latency_s": float("nan")}]
    result = run(harness(tmp_path, records=records), tmp_path)
    assert result.returncode == 4 and "NaN is not valid JSON" in result.stderr
    from gerbil_eval.fileio import write_json_atomic

    write_json_atomic(tmp_path / "x.json", {"latency_s": float("nan"), "p95": [float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(c)) == {
        "latency_s": None, "p95": [None]}
