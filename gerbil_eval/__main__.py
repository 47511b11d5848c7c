"""``python -m gerbil_eval COMMAND``: the harness's commands outside pytest."""

from __future__ import annotations

import sys

from .cli import main as dispatch

COMMANDS = {
    "lint": ("gerbil_eval.commands.lint", "check case files: load, references pass, counterexamples fail, ids unique"),
    "compare": ("gerbil_eval.commands.compare", "compare two saved runs (run folders or results.json) and write the table"),
    "report": ("gerbil_eval.commands.report", "re-render summary.md and report.html of a run from its results.json"),
    "serve": ("gerbil_eval.commands.serve", "serve a GGUF model (optionally with a LoRA) on an OpenAI-compatible llama.cpp server"),
    "model-path": ("gerbil_eval.commands.model_path", "print the path of the embedded default model (SmolLM2-135M-Instruct GGUF)"),
    "bindings": ("gerbil_eval.commands.bindings", "build the Gerbil binding index from the sources, or show where a name is defined"),
    "exec": ("gerbil_eval.commands.exec", "run a Gerbil file or Markdown answer in the sandbox (what runs/checks/claims conclude)"),
    "compare-adapter": ("gerbil_eval.commands.compare_adapter", "run base vs base+adapter on the local server and write the comparison report"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("gerbil_eval", "gerbil-eval: Gerbil Scheme evaluation harness", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
