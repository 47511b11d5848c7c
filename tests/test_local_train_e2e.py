"""The whole local loop on the embedded model: data slice -> train -> convert -> serve -> compare.

A small fixed budget (2 steps on 12 real cookbook examples) cannot be expected to make
SmolLM2 better, so the test asserts the chain, not a gain: ``pipeline run --backend local``
trains, converts the adapter, serves the base GGUF with and without it on one llama.cpp
server, runs the harness on two cases and writes a report holding both models, with the
cases marked seen/unseen against the training slice; the checkpoints are scored by the harness
during training and the best one is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.state import PipelineState, load_state, save_state

pytestmark = pytest.mark.slow

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("llama_cpp")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GERBIL_EVAL_SHARED", ROOT.parent / "shared"))
COOKBOOK = SHARED / "data" / "gerbil-mcp" / "cookbooks.json"
CASES = ["hash-get-vs-hash-ref", "hash-table-predicate"]


def pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_embedded_model_trained_converted_served_and_compared(tmp_path):
    if not COOKBOOK.is_file():
        pytest.skip(f"{COOKBOOK} is absent (the shared data beside the project; CI has it)")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hash.md").write_text("# Hash tables\n\nUse `hash-get` for a lookup that returns #f when the key is missing.\n")
    built = pipeline("data", "--cookbook", str(COOKBOOK), "--docs", str(docs), "-o", str(tmp_path / "all"), cwd=ROOT)
    assert built.returncode == 0, built.stderr
    workdir = tmp_path / "run"
    (workdir / "data").mkdir(parents=True)
    lines = (tmp_path / "all" / "training_data_together.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    (workdir / "data" / "training_data_together.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    save_state(workdir, PipelineState(completed_steps=["data"]))

    run = pipeline("run", "--backend", "local", "--workdir", str(workdir), "--cases", str(ROOT / "cases"), "--gate", "",
                   "--train-args", "--max-steps 2 --batch-size 2 --max-seq-length 192 --no-progress --save-every 1 "
                   f"--eval-every 2 --eval-k {CASES[0]} --eval-max-tokens 32 --eval-cases {ROOT / 'cases'} --keep-best",
                   "--pytest-args", f"-k '{' or '.join(CASES)}' --max-tokens 48",
                   cwd=tmp_path)  # reports/ goes to tmp_path, where the gate check reads it
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    state = load_state(workdir)
    assert state.completed_steps == ["data", "train", "convert", "deploy", "gate"]
    assert state.backend == "local" and state.training["steps"] == 2 and state.training["peak_rss_mb"] > 0
    assert Path(state.adapter_gguf).is_file() and (Path(state.adapter_dir) / "adapter_config.json").is_file()
    # evaluation during training: the base (step 0) and the checkpoint scored by the harness, recorded in the state
    assert [c["step"] for c in state.checkpoints] == [0, 2]
    assert all(c["cases"] == 1 and c["errors"] == 0 and 0 <= c["mean_score"] <= 1 for c in state.checkpoints)
    best = max(state.checkpoints[1:], key=lambda c: (c["mean_score"], -c["step"]))
    assert state.training["adapter_from"] == f"step-{best['step']:06d}"
    assert "training-chart" in (workdir / "local-train" / "training.html").read_text(encoding="utf-8")

    run_dir = (tmp_path / "reports" / "latest").resolve()
    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    models = {m["name"]: m["role"] for m in doc["config"]["models"]}
    # the adapted model carries its deployed name (after its base), the base its GGUF's name
    assert models == {"gerbil-smollm2-135m-instruct": "candidate", "SmolLM2-135M-Instruct.Q4_1": "baseline"}
    assert sorted((r["case_id"], r["model"]) for r in doc["results"]) == sorted((c, m) for c in CASES for m in models)
    assert all(r["error"] is None for r in doc["results"])
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "gerbil-smollm2-135m-instruct" in html and "SmolLM2-135M-Instruct.Q4_1 " in html.replace("<", " ")
    assert "training data" in html  # the seen/unseen table from --train-data
