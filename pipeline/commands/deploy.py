"""``python -m pipeline deploy {ollama,llama-server}``: make the adapter servable.

``ollama`` creates an Ollama model (base + GGUF adapter); ``llama-server`` serves
base GGUF + adapter in the foreground on the harness's own llama.cpp server
(``python -m gerbil_eval serve``). Either records the deployment (kind, model
id, base URL) in the state file for ``pipeline opencode`` and the gate.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.server import output_budget

from ..families import FAMILIES, ModelFamily, family_for, family_named
from ..state import ADAPTER_GGUF, PipelineState, add_workdir_argument, load_state, save_state
from ..deploy.llama_server import deploy_llama_server
from ..deploy.ollama import DEFAULT_HOST, OllamaModel, deploy as deploy_ollama, modelfile_text, write_modelfile

DEFAULT_OLLAMA_BASE = FAMILIES[0].ollama_base
#: Where ``--merged`` writes the merged model, beside the adapter in the run's folder.
MERGED_GGUF = "merged.gguf"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    sub.required = True
    o = sub.add_parser("ollama", help="create an Ollama model: FROM base + ADAPTER the GGUF adapter")
    add_workdir_argument(o)
    o.add_argument("--name", default="gerbil-qwen", help="Ollama model name to create (default gerbil-qwen)")
    o.add_argument("--base", default=None,
                   help=f"Ollama base model, pulled when the server lacks it (default: the family's, {DEFAULT_OLLAMA_BASE} for qwen2.5)")
    o.add_argument("--family", choices=[f.name for f in FAMILIES], default=None,
                   help="model family: chat template, stop tokens, default base (default: from --base, else from the "
                   "trained base model in the state file, else qwen2.5)")
    o.add_argument("--adapter", type=Path, default=None, help=f"GGUF adapter (default: the one `pipeline run` recorded, else WORKDIR/{ADAPTER_GGUF})")
    o.add_argument("--num-ctx", type=int, default=32768, help="context length (PARAMETER num_ctx, default 32768)")
    o.add_argument("--host", default=DEFAULT_HOST, help=f"Ollama server (default {DEFAULT_HOST})")
    o.add_argument("--force", action="store_true", help="create even on an Ollama version reported to reject adapters")
    o.add_argument("--http", action="store_true", help="use the HTTP API even when the ollama CLI is installed")
    o.add_argument("--modelfile-only", action="store_true",
                   help="write WORKDIR/Modelfile and stop: no server needed (then: ollama create NAME -f WORKDIR/Modelfile)")
    o.add_argument("--print", dest="print_only", action="store_true", help="print the Modelfile; write nothing, no server needed")
    o.add_argument("--merged", action="store_true",
                   help=f"where ADAPTER is refused (Ollama >= 0.34.1, or create fails on it), merge the adapter into "
                   f"--base-gguf as WORKDIR/{MERGED_GGUF} and create FROM it; with --modelfile-only, always")
    o.add_argument("--base-gguf", type=Path, default=None, help="the base model's GGUF file, for --merged")
    o.add_argument("--quantize", choices=("q4_k_m", "q8_0", "f16", "none"), default="q4_k_m",
                   help="type of the --merged model (default q4_k_m, the Ollama library's usual type)")
    s = sub.add_parser("llama-server", help="serve base GGUF + adapter on a local llama.cpp server (foreground)")
    add_workdir_argument(s)
    s.add_argument("--gguf", type=Path, required=True, help="base model GGUF (e.g. qwen2.5-7b-instruct-q4_k_m.gguf)")
    s.add_argument("--adapter", type=Path, default=None, help=f"GGUF adapter (default: the one `pipeline run` recorded, else WORKDIR/{ADAPTER_GGUF})")
    s.add_argument("--alias", default="gerbil-qwen", help="model id the server reports (default gerbil-qwen)")
    s.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    s.add_argument("--ctx", type=int, default=None,
                   help="context length (default: the model's own, at most 32768: OpenCode's prompt and tools alone "
                   "take about 7k tokens)")
    s.add_argument("--max-tokens", type=int, default=None, help="cap every answer at N tokens (serve --max-tokens)")
    s.add_argument("--record-only", action="store_true",
                   help="record the deployment in the state file and print the serve command, without serving")


def _adapter(args: argparse.Namespace, recorded: str | None) -> Path:
    """--adapter, else the one `pipeline run` recorded, else WORKDIR/adapter.gguf (`pipeline convert` records nothing)."""
    adapter = args.adapter or Path(recorded or Path(args.workdir) / ADAPTER_GGUF)
    if not adapter.is_file():
        hint = "" if args.adapter else f"; run `python -m pipeline convert ADAPTER_DIR -o {adapter}` first or pass --adapter"
        raise GerbilEvalError(f"{adapter}: no such adapter file{hint}")
    return adapter


def ollama_family(args: argparse.Namespace, state: PipelineState) -> ModelFamily:
    """--family, else the family of --base, else of the base model the run trained, else the first (qwen2.5)."""
    if args.family:
        return family_named(args.family)
    known = args.base or state.base_model
    return family_for(known) if known else FAMILIES[0]


def _merger(args: argparse.Namespace, adapter: Path):
    """The --merged step: WORKDIR/merged.gguf from --base-gguf + the adapter (None without --merged)."""
    if not args.merged:
        return None
    if args.base_gguf is None or not args.base_gguf.is_file():
        raise GerbilEvalError(f"--merged needs --base-gguf BASE.gguf (the base model's GGUF){'' if args.base_gguf is None else f'; {args.base_gguf}: no such file'}")

    def merge() -> Path:
        from ..merge.build import build_merged

        output = Path(args.workdir) / MERGED_GGUF
        kind = None if args.quantize == "none" else args.quantize
        build_merged(args.base_gguf, adapter, output, kind=kind, force=True, progress=sys.stderr.isatty())
        print(f"merged {adapter} into {args.base_gguf}: {output}", file=sys.stderr)
        return output
    return merge


def run(args: argparse.Namespace) -> int:
    state = load_state(args.workdir)
    adapter = _adapter(args, state.adapter_gguf)
    if args.target == "ollama":
        family = ollama_family(args, state)
        base = args.base or family.ollama_base
        model = OllamaModel(name=args.name, base=base, adapter=adapter, num_ctx=args.num_ctx, family=family,
                            **({"system": state.system_prompt} if state.system_prompt else {}))
        merge = _merger(args, adapter)
        if args.print_only or args.modelfile_only:
            if merge is not None:
                model = replace(model, merged=merge())
            if args.print_only:
                print(modelfile_text(model), end="")
            else:
                path = write_modelfile(model, Path(args.workdir) / "Modelfile")
                print(f"wrote {path} ({family.name}); create the model with: ollama create {args.name} -f {path}")
            return 0
        how = deploy_ollama(model, Path(args.workdir) / "Modelfile", args.host, args.force,
                            use_cli=False if args.http else None, merge=merge)
        state = load_state(args.workdir)
        state.deployment = {"kind": "ollama", "model": f"{args.name}:latest", "base_model": base,
                            "base_url": f"{args.host}/v1", "context": args.num_ctx,
                            "output": output_budget(args.num_ctx, None), "system_prompt": model.system}
        state.mark_done("deploy")
        save_state(args.workdir, state)
        print(f"created Ollama model {args.name} via {how}; try: pytest --model {args.name} --baseline {base}")
        return 0
    return deploy_llama_server(Path(args.workdir), state, gguf=args.gguf, adapter=adapter, alias=args.alias,
                               port=args.port, ctx=args.ctx, max_tokens=args.max_tokens, record_only=args.record_only)
