"""`pipeline opencode` (config update) and `pipeline run` (the chained loop)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI
from pipeline.deploy.opencode import strip_jsonc, update_config
from pipeline.commands.run import STEPS

ROOT = Path(__file__).resolve().parents[1]


def pipeline(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


@pytest.fixture
def models_server():
    """The stand-in OpenAI server listing one model id on /v1/models, as llama-server lists its alias."""
    with FakeOpenAI(models=("gerbil-qwen",)) as server:
        yield server.url


def test_opencode_adds_provider_and_keeps_everything_else(tmp_path: Path, models_server: str) -> None:
    config = tmp_path / "opencode.json"
    config.write_text("""{
  // my settings
  "$schema": "https://opencode.ai/config.json",
  "theme": "tokyonight", /* keep me */
  "provider": {"anthropic": {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}},},
  "url": "http://example.com/a//b"
}""")
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(config), "--base-url", models_server,
                      "--model", "gerbil-qwen", "--provider", "llama.cpp", "--context", "16384", "--set-default")
    assert result.returncode == 0, result.stderr
    data = json.loads(config.read_text())
    assert data["theme"] == "tokyonight" and data["url"] == "http://example.com/a//b"
    assert data["provider"]["anthropic"] == {"options": {"apiKey": "{env:ANTHROPIC_API_KEY}"}}
    entry = data["provider"]["llama.cpp"]
    assert entry["npm"] == "@ai-sdk/openai-compatible" and entry["options"]["baseURL"] == models_server
    assert entry["models"]["gerbil-qwen"]["limit"] == {"context": 16384, "output": 4096}  # a quarter of it
    assert data["model"] == "llama.cpp/gerbil-qwen"


def test_opencode_refuses_a_model_id_the_server_does_not_list(tmp_path: Path, models_server: str) -> None:
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path / "o.json"),
                      "--base-url", models_server, "--model", "gerbil-qwen:latest")
    assert result.returncode == 4 and "does not list model 'gerbil-qwen:latest'" in result.stderr
    assert "gerbil-qwen" in result.stderr and not (tmp_path / "o.json").exists()


def test_opencode_print_uses_the_recorded_deployment_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "pipeline-state.json").write_text(json.dumps(
        {"deployment": {"kind": "ollama", "model": "gerbil-qwen:latest", "base_url": "http://localhost:11434/v1",
                        "context": 32768}}))
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path / "o.json"), "--print", "--no-check")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"]["ollama"]["models"]["gerbil-qwen:latest"]["limit"]["context"] == 32768
    assert not (tmp_path / "o.json").exists()


def test_update_is_idempotent_and_updates_in_place() -> None:
    config = update_config({}, "p", "http://a/v1", "m", "m", {"context": 100, "output": 10}, False)
    again = update_config(json.loads(json.dumps(config)), "p", "http://b/v1", "m", "m", {"context": 200, "output": 10}, False)
    assert again["provider"]["p"]["options"]["baseURL"] == "http://b/v1"
    assert again["provider"]["p"]["models"]["m"]["limit"]["context"] == 200 and "model" not in again


def test_jsonc_comments_inside_strings_survive() -> None:
    assert json.loads(strip_jsonc('{"a": "x // not a comment", "b": "/* nor this */", /* c */ "d": [1,2,],}')) == \
        {"a": "x // not a comment", "b": "/* nor this */", "d": [1, 2]}


def test_dry_run_walks_every_step_with_no_key_no_network_no_files(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TOGETHER_API_KEY", "OPENAI_API_KEY")}
    env["TOGETHER_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens: any network use would fail
    workdir = tmp_path / "run"
    result = pipeline("run", "--dry-run", "--workdir", str(workdir), env=env)
    assert result.returncode == 0, result.stderr
    announced = [line.split(":")[0][4:] for line in result.stdout.splitlines() if line.startswith("==> ")]
    assert announced == list(STEPS)
    assert '"lora_r": 16' in result.stdout and "--require-better" in result.stdout
    assert not workdir.exists()


def test_make_pipeline_dry_run(tmp_path: Path) -> None:
    """The README's `make pipeline` in dry-run form, as CI runs it."""
    if not (ROOT / ".venv" / ".setup-stamp").exists():
        pytest.skip("make setup has not run in this checkout")
    env = {k: v for k, v in os.environ.items() if k != "TOGETHER_API_KEY"}
    result = subprocess.run(["make", "-s", "pipeline", f"PIPELINE_ARGS=--dry-run --workdir {tmp_path / 'run'}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "dry run complete" in result.stdout


def test_run_resumes_after_the_last_completed_step_and_stops_on_failure(tmp_path: Path) -> None:
    from argparse import Namespace

    from pipeline.commands import run as run_mod

    (tmp_path / "pipeline-state.json").write_text(json.dumps({"completed_steps": ["data", "train", "watch"],
                                                              "adapter_dir": "/x/adapter"}))
    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:  # stands in for the subprocess boundary only
        calls.append(cmd)
        return 3 if "deploy" in cmd else 0

    parser_args = ["--workdir", str(tmp_path)]
    import argparse

    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    args: Namespace = parser.parse_args(parser_args)
    assert run_mod.run(args, call=fake_call) == 3
    assert [c[3] for c in calls] == ["download", "convert", "deploy"]
    assert calls[1][4] == "/x/adapter"
    state = json.loads((tmp_path / "pipeline-state.json").read_text())
    assert state["completed_steps"] == ["data", "train", "watch", "download", "convert"]
    assert state["adapter_gguf"] == str(tmp_path / "adapter.gguf")
    calls.clear()
    args = parser.parse_args(parser_args + ["--from", "gate"])
    assert run_mod.run(args, call=fake_call) == 0
    assert len(calls) == 1 and calls[0][1:3] == ["-m", "pytest"]


def test_run_skips_a_step_done_by_hand_and_from_reruns_it(tmp_path: Path) -> None:
    """`pipeline train` run by hand marks only "train": `pipeline run` rebuilds data, then must not start a second job."""
    import argparse

    from pipeline.commands import run as run_mod

    (tmp_path / "pipeline-state.json").write_text(json.dumps({"completed_steps": ["train"], "job_id": "ft-1"}))
    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:
        calls.append(cmd)
        return 3 if "status" in cmd else 0

    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    data = ["--cookbook", "cookbooks.json", "--docs", "doc"]
    assert run_mod.run(parser.parse_args(["--workdir", str(tmp_path), *data]), call=fake_call) == 3
    assert [c[3] for c in calls] == ["data", "status"]
    calls.clear()
    assert run_mod.run(parser.parse_args(["--workdir", str(tmp_path), "--from", "train"]), call=fake_call) == 3
    assert [c[3] for c in calls] == ["train", "status"]


def test_a_new_train_by_hand_voids_the_later_steps_so_run_resumes_after_it(tmp_path: Path) -> None:
    """The original complaint: after `pipeline train --force` the completed steps were skipped unless --from was given."""
    import argparse

    from pipeline.commands import run as run_mod
    from pipeline.state import load_state, save_state

    (tmp_path / "pipeline-state.json").write_text(json.dumps({"completed_steps": list(STEPS), "job_id": "ft-1"}))
    state = load_state(tmp_path)
    state.mark_done("train")  # what `pipeline train --force` records for the new job
    save_state(tmp_path, state)
    assert load_state(tmp_path).completed_steps == ["data", "train"]
    calls: list[list[str]] = []
    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    run_mod.run(parser.parse_args(["--workdir", str(tmp_path)]), call=lambda cmd: calls.append(cmd) or 3)
    assert [c[3] for c in calls] == ["status"]


def test_retrain_dry_run_prints_the_whole_loop_with_a_new_job_and_the_previous_release_gate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TOGETHER_API_KEY", "OPENAI_API_KEY")}
    env["TOGETHER_BASE_URL"] = "http://127.0.0.1:9"
    workdir = tmp_path / "run"
    result = pipeline("run", "--retrain", "--dry-run", "--workdir", str(workdir), "--epochs", "5", "--learning-rate", "2e-05",
                      "--batch-size", "16", "--lora-r", "32", "--lora-alpha", "64", "--sources", "src", env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("==> ")]
    assert [line.split(":")[0][4:] for line in lines] == [*STEPS, "gate vs previous release"]
    train = next(line for line in lines if line.startswith("==> train:"))
    assert "--epochs 5 --learning-rate 2e-05 --batch-size 16 --lora-r 32 --lora-alpha 64 --force" in train
    assert "--sources src" in lines[0] and "--max-regression 0.02" in lines[-1]
    assert '"n_epochs": 5' in result.stdout and not workdir.exists()


def test_data_step_without_inputs_says_where_they_come_from(tmp_path: Path) -> None:
    result = pipeline("run", "--workdir", str(tmp_path / "run"))
    assert result.returncode == 4 and result.stderr.count("\n") == 1
    assert "cookbooks.json of the gerbil-mcp repository" in result.stderr and "doc/" in result.stderr


@pytest.mark.parametrize("text", ["[1, 2]", '"x"', '{"deployment": null}', '{"completed_steps": "train"}'])
def test_a_damaged_state_file_is_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "pipeline-state.json").write_text(text)
    result = pipeline("status", "--workdir", str(tmp_path))
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1 and "pipeline-state.json" in result.stderr and "Traceback" not in result.stderr


def test_llama_server_gate_command_is_accepted_by_compare_adapter(tmp_path: Path) -> None:
    """The gate of --target llama-server passes --cases and the gate flags to pytest, after compare-adapter's --."""
    import argparse

    from gerbil_eval.commands import compare_adapter
    from pipeline.commands import run as run_mod

    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    args = parser.parse_args(["--workdir", str(tmp_path), "--target", "llama-server", "--base-gguf", "base.gguf",
                              "--gate", "--max-regression 0.02"])
    gate = run_mod.step_commands(args, None)["gate"]
    assert gate[1:4] == ["-m", "gerbil_eval", "compare-adapter"]
    adapter_parser = argparse.ArgumentParser()
    compare_adapter.add_arguments(adapter_parser)
    parsed = adapter_parser.parse_args(gate[4:])
    assert str(parsed.gguf) == "base.gguf" and parsed.adapter == tmp_path / "adapter.gguf"
    assert parsed.alias == "gerbil-qwen"  # the report names the adapted model as it is deployed
    assert parsed.pytest_args == ["--", "--cases", "cases", "--max-regression", "0.02"]


@pytest.mark.parametrize("config", [{"provider": []}, {"provider": {"ollama": "x"}},
                                    {"provider": {"ollama": {"options": None}}},
                                    {"provider": {"ollama": {"models": {"m:latest": "old"}}}}])
def test_update_config_with_a_non_object_where_one_is_needed_is_one_line(config: dict) -> None:
    from gerbil_eval.errors import GerbilEvalError

    with pytest.raises(GerbilEvalError, match="must be an object"):
        update_config(config, "ollama", "http://h/v1", "m:latest", "m", 4096, 1024, False)


def test_opencode_config_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path), "--no-check",
                      "--base-url", "http://127.0.0.1:1/v1", "--model", "m")
    assert result.returncode == 4 and result.stderr.count("\n") == 1 and "is a folder, expected a file" in result.stderr


@pytest.mark.parametrize("gates_pass", [True, False])
def test_gate_step_fails_on_a_failed_gate_not_on_failing_cases(tmp_path: Path, gates_pass: bool) -> None:
    """The harness exits 1 for a failed case as for a failed gate; the gate check (`gerbil_eval report`) decides."""
    import argparse

    from pipeline.commands import run as run_mod

    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:
        calls.append(cmd)
        if cmd[1:3] == ["-m", "pytest"]:
            return 1  # some case failed, perhaps a gate too
        return 0 if gates_pass else 1

    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    args = parser.parse_args(["--workdir", str(tmp_path), "--from", "gate", "--gate", "--max-regression 0.02"])
    assert run_mod.run(args, call=fake_call) == (0 if gates_pass else 1)
    assert len(calls) == 2 and calls[1][1:5] == ["-m", "gerbil_eval", "report", str(Path("reports") / "latest")]
    assert calls[1][5:] == ["--max-regression", "0.02"]
    state_file = tmp_path / "pipeline-state.json"
    done = json.loads(state_file.read_text())["completed_steps"] if state_file.exists() else []
    assert ("gate" in done) == gates_pass


def test_merged_is_forwarded_to_the_ollama_deploy_step(tmp_path: Path) -> None:
    import argparse

    from pipeline.commands import deploy
    from pipeline.commands import run as run_mod

    parser = argparse.ArgumentParser()
    run_mod.add_arguments(parser)
    args = parser.parse_args(["--workdir", str(tmp_path), "--merged", "--base-gguf", "base.gguf",
                              "--model", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"])
    run_mod.resolve_target(args)  # as run() does: the Together backend deploys to Ollama
    cmd = run_mod.step_commands(args, None)["deploy"]
    deploy_parser = argparse.ArgumentParser()
    deploy.add_arguments(deploy_parser)
    parsed = deploy_parser.parse_args(cmd[4:])
    assert parsed.merged and str(parsed.base_gguf) == "base.gguf" and parsed.base == "llama3.1:8b"
    assert "--baseline llama3.1:8b" in " ".join(run_mod.step_commands(args, None)["gate"])
    result = pipeline("run", "--workdir", str(tmp_path / "run"), "--merged", "--from", "deploy")
    assert result.returncode == 4 and "--merged needs --base-gguf" in result.stderr


def test_an_existing_opencode_jsonc_is_the_file_edited_as_opencode_gives_it_precedence(tmp_path: Path,
                                                                                        models_server: str) -> None:
    """OpenCode 1.18 merges opencode.jsonc over opencode.json of the same folder (checked with `opencode debug config`)."""
    (tmp_path / "opencode.jsonc").write_text('{\n  // mine\n  "theme": "nord",\n  "model": "anthropic/claude",\n}\n')
    result = pipeline("opencode", "--workdir", str(tmp_path), "--base-url", models_server, "--model", "gerbil-qwen",
                      "--context", "8192", "--set-default", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "opencode.json").exists()
    data = json.loads(strip_jsonc((tmp_path / "opencode.jsonc").read_text()))
    assert data["model"] == "llama.cpp/gerbil-qwen" and data["theme"] == "nord"
    assert "opencode.jsonc" in result.stdout


def test_comments_are_reported_dropped_and_the_original_kept(tmp_path: Path, models_server: str) -> None:
    original = '{\n  // my settings\n  "theme": "nord"\n}\n'
    (tmp_path / "opencode.jsonc").write_text(original)
    result = pipeline("opencode", "--workdir", str(tmp_path), "--base-url", models_server, "--model", "gerbil-qwen",
                      "--context", "8192", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "comments" in result.stdout and "opencode.jsonc.bak" in result.stdout
    assert (tmp_path / "opencode.jsonc.bak").read_text() == original
    no_comments = tmp_path / "plain"
    no_comments.mkdir()
    (no_comments / "opencode.json").write_text('{"theme": "nord"}')
    quiet = pipeline("opencode", "--workdir", str(tmp_path), "--base-url", models_server, "--model", "gerbil-qwen",
                     "--context", "8192", cwd=no_comments)
    assert "comments" not in quiet.stdout and not (no_comments / "opencode.json.bak").exists()


def test_a_users_name_and_limit_are_kept_unless_flags_change_them(tmp_path: Path, models_server: str) -> None:
    config = tmp_path / "opencode.json"
    config.write_text(json.dumps({"provider": {"llama.cpp": {"models": {"gerbil-qwen": {
        "name": "My Gerbil", "limit": {"context": 16384, "output": 2048}}}}}}))
    (tmp_path / "pipeline-state.json").write_text(json.dumps({"deployment": {
        "kind": "llama-server", "model": "gerbil-qwen", "base_url": models_server, "context": 8192, "output": 1024}}))
    kept = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(config))
    assert kept.returncode == 0, kept.stderr
    model = json.loads(config.read_text())["provider"]["llama.cpp"]["models"]["gerbil-qwen"]
    assert model == {"name": "My Gerbil", "limit": {"context": 16384, "output": 2048}}
    assert "kept the existing limit" in kept.stdout and "above the server's context (8192" in kept.stdout
    changed = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(config), "--context", "8192",
                       "--output", "1024", "--name", "Gerbil Qwen")
    assert changed.returncode == 0, changed.stderr
    model = json.loads(config.read_text())["provider"]["llama.cpp"]["models"]["gerbil-qwen"]
    assert model == {"name": "Gerbil Qwen", "limit": {"context": 8192, "output": 1024}}


def test_the_recorded_deployment_gives_the_real_limits_and_a_missing_one_is_said_aloud(tmp_path: Path,
                                                                                      models_server: str) -> None:
    (tmp_path / "pipeline-state.json").write_text(json.dumps({"deployment": {
        "kind": "llama-server", "model": "gerbil-qwen", "base_url": models_server, "context": 8192, "output": 512}}))
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path / "o.json"), "--set-default")
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["provider"]["llama.cpp"]["models"]["gerbil-qwen"]["limit"] == {"context": 8192, "output": 512}
    assert data["small_model"] == "llama.cpp/gerbil-qwen"  # OpenCode's titles would go to its hosted model offline
    bare = pipeline("opencode", "--workdir", str(tmp_path / "none"), "--config", str(tmp_path / "p.json"),
                    "--base-url", models_server, "--model", "gerbil-qwen")
    assert bare.returncode == 0 and "assuming 32768" in bare.stdout


def test_a_base_url_without_v1_gets_the_hint(tmp_path: Path, models_server: str) -> None:
    root = models_server.removesuffix("/v1")
    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path / "o.json"),
                      "--base-url", root, "--model", "gerbil-qwen")
    assert result.returncode == 4 and f"try --base-url {root}/v1" in result.stderr


def test_instructions_add_the_project_system_prompt_to_opencodes(tmp_path: Path, models_server: str) -> None:
    from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT

    result = pipeline("opencode", "--workdir", str(tmp_path), "--config", str(tmp_path / "opencode.json"),
                      "--base-url", models_server, "--model", "gerbil-qwen", "--instructions")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "opencode.json").read_text())["instructions"] == ["gerbil-system-prompt.md"]
    assert (tmp_path / "gerbil-system-prompt.md").read_text().strip() == DEFAULT_SYSTEM_PROMPT


def test_deploy_llama_server_records_kind_alias_url_context_and_output(tmp_path: Path) -> None:
    from gerbil_eval.server import default_model_path

    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")
    result = pipeline("deploy", "llama-server", "--workdir", str(tmp_path), "--gguf", str(default_model_path()),
                      "--adapter", str(adapter), "--port", "8099", "--record-only")
    assert result.returncode == 0, result.stderr
    deployment = json.loads((tmp_path / "pipeline-state.json").read_text())["deployment"]
    # SmolLM2-135M was trained with 8192 tokens: the default context is the model's own.
    assert {k: deployment[k] for k in ("kind", "model", "base_url", "context", "output")} == {
        "kind": "llama-server", "model": "gerbil-qwen", "base_url": "http://127.0.0.1:8099/v1", "context": 8192,
        "output": 2048}
    assert "--ctx 8192" in result.stdout and "--workdir" in result.stdout
