"""``python -m gerbil_eval COMMAND``: the harness's commands outside pytest."""

from __future__ import annotations

import sys

from .cli import main as dispatch

COMMANDS = {
    "lint": ("gerbil_eval.lint", "check case files: load, references pass, counterexamples fail, ids unique"),
    "compare": ("gerbil_eval.compare_cmd", "compare two saved runs (run folders or results.json) and write the table"),
    "report": ("gerbil_eval.report_cmd", "re-render summary.md and report.html of a run from its results.json"),
    "serve": ("gerbil_eval.serve_cmd", "serve a GGUF model (optionally with a LoRA) on an OpenAI-compatible llama.cpp server"),
    "model-path": ("gerbil_eval.serve_cmd_path", "print the path of the embedded default model (SmolLM2-135M-Instruct GGUF)"),
    "bindings": ("gerbil_eval.bindings.command", "build the Gerbil binding index from the sources, or show where a name is defined"),
    "exec": ("gerbil_eval.execution.command", "run a Gerbil file or Markdown answer in the sandbox (what runs/checks/claims conclude)"),
    "compare-adapter": ("gerbil_eval.compare_adapter", "run base vs base+adapter on the local server and write the comparison report"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("gerbil_eval", "gerbil-eval: Gerbil Scheme evaluation harness", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
