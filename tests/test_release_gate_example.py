"""The example release-gate workflow stays runnable: valid YAML, and every flag it passes exists."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import yaml

from gerbil_eval.commands import report as report_cmd
from gerbil_eval.plugin.options import add_options

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "github-actions-release-gate.yml"


class _Group:
    """Collects the flag names the plugin registers (pytest's Parser shape: getgroup().addoption)."""

    def __init__(self) -> None:
        self.flags: set[str] = set()

    def getgroup(self, *_: object) -> _Group:
        return self

    def addoption(self, *names: str, **_: object) -> None:
        self.flags.update(names)


def commands() -> list[str]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    scripts = [s.get("run", "") for s in doc["jobs"]["evaluate"]["steps"]]
    return [" ".join(line.strip().rstrip("\\") for line in script.splitlines()) for script in scripts]


def flags_of(command: str, program: str) -> set[str]:
    words = shlex.split(command.split(program, 1)[1].split("||")[0])
    return {w.split("=")[0] for w in words if re.fullmatch(r"--[a-z][a-z-]*(=.*)?", w)}


def test_workflow_pytest_flags_are_plugin_options() -> None:
    (pytest_cmd,) = [c for c in commands() if "python -m pytest" in c]
    plugin = _Group()
    add_options(plugin)
    assert flags_of(pytest_cmd, "python -m pytest") <= plugin.flags
    assert {"--model", "--baseline", "--report-screenshot"} <= flags_of(pytest_cmd, "python -m pytest")


def test_workflow_gate_step_uses_the_report_commands_gate_flags() -> None:
    (gate_cmd,) = [c for c in commands() if "python -m gerbil_eval report" in c]
    parser = argparse.ArgumentParser()
    report_cmd.add_arguments(parser)
    known = {s for a in parser._actions for s in a.option_strings}
    used = flags_of(gate_cmd, "python -m gerbil_eval report")
    assert used <= known
    assert {"--max-regression", "--require-better", "--min-pass-rate"} <= used
