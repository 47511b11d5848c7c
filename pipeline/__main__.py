"""``python -m pipeline COMMAND``: build the candidate model the harness scores."""

from __future__ import annotations

import sys

from gerbil_eval.cli import main as dispatch

COMMANDS = {
    "data": ("pipeline.commands.data", "build training data (Together, ShareGPT, Alpaca) from the cookbook, docs and sources"),
    "train": ("pipeline.commands.train", "upload the training file and start a LoRA fine-tune on Together AI"),
    "status": ("pipeline.commands.status", "show the run's state and the fine-tune job's status (--watch to follow it)"),
    "download": ("pipeline.commands.download", "download the LoRA adapter checkpoint and extract it safely"),
    "convert": ("pipeline.commands.convert", "convert a PEFT LoRA adapter to a GGUF LoRA adapter"),
    "merge": ("pipeline.commands.merge", "merge a LoRA adapter into its base GGUF (or HF folder), optionally quantized"),
    "inspect": ("pipeline.commands.inspect", "print a GGUF file's metadata and tensor table"),
    "deploy": ("pipeline.commands.deploy", "deploy the adapter to Ollama or a local llama.cpp server"),
    "opencode": ("pipeline.commands.opencode", "add or update the model as a provider in opencode.json"),
    "run": ("pipeline.commands.run", "data -> train -> watch -> download -> convert -> deploy -> gate, resumable"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("pipeline", "gerbil-eval pipeline: build, convert and deploy a Gerbil fine-tune", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
