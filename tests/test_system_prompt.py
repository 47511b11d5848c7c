"""One system prompt from training to serving to evaluation: the places that carry it hold the same text.

The data builder writes it into every example and the manifest; `pipeline train` records the
manifest's into the state; the Ollama Modelfile carries it as SYSTEM; `serve` (and `deploy
llama-server`) give it to requests without one; the case library sends it by default.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.commands.serve import add_arguments as add_serve_arguments
from gerbil_eval.commands.serve import serving_options
from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT, system_prompt_from_flags
from pipeline.data.build import MANIFEST, BuildConfig, build
from pipeline.deploy.ollama import OllamaModel, modelfile_text
from pipeline.state import load_state, save_state
from pipeline.together.train import training_system_prompt
from tests.fake_openai import FakeOpenAI

RECIPE = ('{"id": "r1", "title": "Add numbers", "tags": [], "imports": [], "code": "(+ 1 2)", '
          '"notes": "+ takes any number of arguments."}')
CASES = """\
cases:
  - id: no-system
    prompt: Say hi.
    assert:
      - {type: contains, value: hi}
  - id: own-system
    system: You answer in French.
    prompt: Say hi again.
    assert:
      - {type: contains, value: hi}
"""


def serve_args(*argv: str):
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(list(argv))


def systems_sent(tmp_path: Path, *flags: str) -> dict[str, str | None]:
    """Run the case library on a loopback stand-in; what system message each case's request carried."""
    seen: dict[str, str | None] = {}

    def answer(messages: list[dict]) -> str:
        user = messages[-1]["content"]
        seen[user] = next((m["content"] for m in messages if m["role"] == "system"), None)
        return "hi"

    (tmp_path / "cases.yaml").write_text(CASES)
    with FakeOpenAI(models=("m",), answers=answer) as server:
        result = subprocess.run([sys.executable, "-m", "pytest", "--model", f"m@{server.url}", "--cases",
                                 str(tmp_path / "cases.yaml"), "--report-dir", str(tmp_path / "reports"), "--no-cache",
                                 "-p", "no:cacheprovider", "-q", *flags], cwd=tmp_path, capture_output=True, text=True,
                                timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return seen


def test_training_data_manifest_state_modelfile_server_and_cases_hold_the_same_prompt(tmp_path: Path) -> None:
    cookbook = tmp_path / "cookbooks.json"
    cookbook.write_text(f"[{RECIPE}]")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hash.md").write_text("# Hash tables\n\n## hash-get\n```\n(hash-get h k)\n```\nReturns the value or #f.\n")
    manifest = build(BuildConfig(cookbook=cookbook, docs=(docs,), out_dir=tmp_path / "data"))
    training = tmp_path / "data" / "training_data_together.jsonl"
    rows = [json.loads(line) for line in training.read_text().splitlines()]
    assert {r["messages"][0]["content"] for r in rows} == {DEFAULT_SYSTEM_PROMPT}  # 1. every example
    assert manifest["options"]["system_prompt"] == DEFAULT_SYSTEM_PROMPT            # 2. the manifest
    assert json.loads((tmp_path / "data" / MANIFEST).read_text())["options"]["system_prompt"] == DEFAULT_SYSTEM_PROMPT
    state = load_state(tmp_path)
    state.system_prompt = training_system_prompt(training)                           # what `pipeline train` records
    save_state(tmp_path, state)
    recorded = load_state(tmp_path).system_prompt
    assert recorded == DEFAULT_SYSTEM_PROMPT                                          # 3. the state file
    modelfile = modelfile_text(OllamaModel("gerbil-qwen", "qwen2.5:7b-instruct", tmp_path / "a.gguf", system=recorded))
    assert f'SYSTEM """{DEFAULT_SYSTEM_PROMPT}"""' in modelfile.splitlines()         # 4. the Modelfile
    assert serving_options(serve_args()).system_prompt == DEFAULT_SYSTEM_PROMPT      # 5. the served default
    sent = systems_sent(tmp_path)
    assert sent["Say hi."] == DEFAULT_SYSTEM_PROMPT                                   # 6. the case library
    assert sent["Say hi again."] == "You answer in French."                          # a case's own wins


def test_system_flags_for_cases_and_the_server(tmp_path: Path) -> None:
    prompt_file = tmp_path / "system.txt"
    prompt_file.write_text("From a file.\n")
    assert systems_sent(tmp_path, "--no-system")["Say hi."] is None
    assert systems_sent(tmp_path, "--system", str(prompt_file))["Say hi."] == "From a file."
    assert serving_options(serve_args("--system", "Inline text")).system_prompt == "Inline text"
    assert serving_options(serve_args("--no-system")).system_prompt is None
    with pytest.raises(GerbilEvalError, match="contradict"):
        system_prompt_from_flags("x", True)
    with pytest.raises(GerbilEvalError, match="empty"):
        system_prompt_from_flags("  ", False)
