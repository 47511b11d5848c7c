"""The retrain loop end to end: `pipeline run`, then `pipeline run --retrain`, in one workdir.

Together and Ollama cannot exist here, so both are loopback stand-ins of their documented HTTP
APIs (tests/together_standin.py, the Ollama stand-in of tests/test_pipeline_ollama.py); every
other part is real: the data builder, the SDK client, download and extraction, the converter,
the Modelfile and blob upload, and the harness as the gate. The gate scores recorded answers
(``--replay``), since no model can answer here: the candidate's answers pass every case, the
base's fail them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_pipeline_ollama import OllamaStandIn
from tests.test_pipeline_together import tar_zst
from tests.together_standin import TogetherStandIn

pytestmark = pytest.mark.slow

CASE_IDS = [f"retrain-{i}" for i in range(8)]
GOOD = "```scheme\n(import :std/iter)\n(for ((x (in-range 3))) (displayln x))\n```"


def inputs(tmp_path: Path) -> dict[str, Path]:
    """A tiny cookbook, doc tree, case file and the recorded answers the gate replays."""
    cookbook = tmp_path / "cookbooks.json"
    cookbook.write_text(json.dumps([
        {"id": f"recipe-{i}", "title": f"Loop over a range, variant {i}", "tags": ["iteration"], "imports": [":std/iter"],
         "code": f"(import :std/iter)\n(for ((x (in-range {i + 2}))) (displayln x))", "notes": "in-range counts from 0.",
         "related": [], "gerbil_version": "0.18.1"} for i in range(4)]))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "iter.md").write_text("# Iteration\n\n## for\n\n`for` binds each element of its iterators in turn:\n\n"
                                  "```scheme\n(for ((x [1 2 3])) (displayln x))\n```\n")
    cases = tmp_path / "retrain-cases.yaml"
    cases.write_text("cases:\n" + "".join(
        f"  - id: {cid}\n    prompt: How do I loop over the numbers below {i + 3} in Gerbil Scheme? ({i})\n"
        "    assert:\n      - {type: mentions, value: in-range}\n" for i, cid in enumerate(CASE_IDS)))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"model": model, "case_id": cid, "content": content}) + "\n"
                               for cid in CASE_IDS for model, content in (("gerbil-qwen", GOOD),
                                                                          ("qwen2.5:7b-instruct", "Use a loop."))))
    return {"cookbook": cookbook, "docs": docs, "cases": cases, "answers": answers}


def peft_archive() -> bytes:
    """A real (rank-1, one module) PEFT adapter for Qwen2.5-7B-Instruct, as Together's adapter download holds it."""
    from safetensors.numpy import save

    rng = np.random.default_rng(0)
    tensors = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": rng.standard_normal((1, 3584), dtype=np.float32),
               "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": rng.standard_normal((3584, 1), dtype=np.float32)}
    config = {"peft_type": "LORA", "r": 1, "lora_alpha": 2, "target_modules": ["q_proj"],
              "base_model_name_or_path": "Qwen/Qwen2.5-7B-Instruct"}
    return tar_zst({"ckpt/adapter_config.json": json.dumps(config).encode(), "ckpt/adapter_model.safetensors": save(tensors)})


def test_run_then_retrain_gates_the_second_release_against_the_first(tmp_path: Path) -> None:
    together = TogetherStandIn(statuses=["completed"], archive=peft_archive()).start()
    ollama = OllamaStandIn()
    try:
        files = inputs(tmp_path)
        workdir = tmp_path / "run"
        env = {k: v for k, v in os.environ.items() if k not in ("PATH", "OPENAI_BASE_URL")}
        env.update(PATH="/usr/bin:/bin", TOGETHER_BASE_URL=together.base_url, TOGETHER_API_KEY=together.api_key)
        common = ["--workdir", str(workdir), "--cookbook", str(files["cookbook"]), "--docs", str(files["docs"]),
                  "--cases", str(files["cases"]), "--ollama-host", ollama.host,
                  "--gate", f"--replay {files['answers']} --require-better"]

        def run(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "pipeline", "run", *common, *extra], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)

        first = run()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        state = json.loads((workdir / "pipeline-state.json").read_text())
        (release1,) = state["releases"]
        assert release1["job_id"] == "ft-0001" and release1["verdict"] == "pass" and release1["compared_to"] is None

        second = run("--retrain", "--epochs", "2", "--lora-r", "8")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        state = json.loads((workdir / "pipeline-state.json").read_text())
        release1_again, release2 = state["releases"]
        assert release1_again == release1
        assert release2["job_id"] == "ft-0002" and release2["verdict"] == "pass"
        assert release2["compared_to"] == release1["report"] and release2["report"] != release1["report"]
        assert "==> gate vs previous release:" in second.stdout and f"--compare-to {release1['report']}" in second.stdout
        # the new job got the current data and the passed-through hyper-parameters
        assert len(together.jobs) == 2 and together.jobs["ft-0002"]["request"]["n_epochs"] == 2
        assert together.jobs["ft-0002"]["request"]["training_type"]["lora_r"] == 8
        # the previous release's adapter is kept, hash for hash; both were deployed
        from gerbil_eval.fileio import sha256_file

        for release in (release1, release2):
            assert sha256_file(release["adapter_gguf"]) == release["adapter_sha256"]
        assert len(ollama.created) == 2
    finally:
        together.stop()
        ollama.stop()
