"""``python -m pipeline opencode``: point OpenCode at the deployed model.

Reads the deployment recorded in the state file (or ``--base-url``/``--model``), checks the
server lists the model id, and writes it as a provider into the config OpenCode reads
(``pipeline/deploy/opencode.py``); ``--print`` shows the result instead of writing it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.fileio import write_text_atomic
from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT

from ..deploy.opencode import (FALLBACK_CONTEXT, INSTRUCTIONS_FILE, default_config_path, has_comments, load_config,
                               overriding_configs, served_model_ids, update_config)
from ..state import add_workdir_argument, load_state

def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--config", type=Path, default=None,
                   help="the file to update (default: ./opencode.jsonc if it exists, else ./opencode.json: the one "
                   "OpenCode gives precedence)")
    p.add_argument("--provider", default=None, help="provider id (default: ollama or llama.cpp, after the deployment)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible base URL (default: the recorded deployment's)")
    p.add_argument("--model", default=None, help="model id as GET /v1/models lists it (default: the recorded deployment's)")
    p.add_argument("--name", default=None, help="display name (default: the model id; an existing name is kept)")
    p.add_argument("--context", type=int, default=None,
                   help=f"context limit in tokens (default: the recorded deployment's, else {FALLBACK_CONTEXT}, said aloud; "
                   "an existing limit is kept)")
    p.add_argument("--output", type=int, default=None,
                   help="output token limit (default: the deployment's answer budget, else a quarter of the context, "
                   "at most 8192)")
    p.add_argument("--instructions", action="store_true",
                   help=f"write the project's system prompt to {INSTRUCTIONS_FILE} beside the config and list it in "
                   "OpenCode's instructions (OpenCode sends its own system prompt; this adds the trained one to it)")
    p.add_argument("--set-default", action="store_true",
                   help='also make it the default: "model" and (unless set) "small_model", which OpenCode uses for titles')
    p.add_argument("--no-check", action="store_true", help="do not ask the server whether it lists the model id")
    p.add_argument("--print", action="store_true", help="print the updated config instead of writing it")


def run(args: argparse.Namespace) -> int:
    deployment = load_state(args.workdir).deployment
    base_url = (args.base_url or deployment.get("base_url") or "").rstrip("/")
    model = args.model or deployment.get("model")
    if not base_url or not model:
        raise GerbilEvalError("no deployment recorded: run `python -m pipeline deploy ...` or pass --base-url and --model")
    provider = args.provider or ("ollama" if deployment.get("kind") == "ollama" else "llama.cpp")
    if not args.no_check:
        ids = served_model_ids(base_url)
        if model not in ids:
            raise GerbilEvalError(f"{base_url} does not list model {model!r} (it lists: {', '.join(ids) or 'nothing'}); "
                                  "OpenCode needs the exact id")
    path = args.config or default_config_path()
    context = args.context or deployment.get("context")
    if context is None:
        context = FALLBACK_CONTEXT
        print(f"note: no context size recorded for {model}; assuming {FALLBACK_CONTEXT} tokens. If the server has less, "
              "OpenCode's requests will be refused: pass --context N (the server's --ctx)")
    output = args.output or deployment.get("output") or min(context // 4, 8192)
    if output >= context:
        raise GerbilEvalError(f"--output {output} must be below the context ({context} tokens): OpenCode keeps that many "
                              "tokens free for the answer")
    limit = {"context": context, "output": output}
    asked = bool(args.context or args.output)
    config = load_config(path)
    existing = config.get("provider", {}).get(provider, {}).get("models", {}).get(model, {}) if isinstance(
        config.get("provider"), dict) else {}
    config = update_config(config, provider, base_url, model, args.name, limit if asked else None, args.set_default,
                           default_limit=limit)
    kept = config["provider"][provider]["models"][model]
    if isinstance(existing, dict) and "limit" in existing and not asked:
        limit = kept.get("limit", {})
        print(f"kept the existing limit {json.dumps(limit)} (pass --context/--output to change it)")
        if isinstance(limit.get("context"), int) and limit["context"] > context:
            print(f"warning: that limit is above the server's context ({context} tokens); prompts that big will be refused")
    if args.instructions:
        instructions = config.setdefault("instructions", [])
        if not isinstance(instructions, list):
            raise GerbilEvalError(f'{path}: "instructions" must be a list of files')
        if INSTRUCTIONS_FILE not in instructions:
            instructions.append(INSTRUCTIONS_FILE)
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    if args.print:
        print(text, end="")
        return 0
    if path.is_file() and has_comments(path.read_text(encoding="utf-8")):
        shutil.copyfile(path, path.with_name(path.name + ".bak"))
        print(f"note: {path} had comments; they are not kept in the rewritten file (the original is {path.name}.bak)")
    write_text_atomic(path, text)
    if args.instructions:
        system = deployment.get("system_prompt") or DEFAULT_SYSTEM_PROMPT
        write_text_atomic(path.parent / INSTRUCTIONS_FILE, system + "\n")
    print(f"{path}: provider {provider!r} -> {base_url}, model {model!r}, limit {json.dumps(kept.get('limit'))}")
    for other in overriding_configs(path):
        print(f"warning: {other} is read after {path} and can override these settings")
    print(f"try: OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_MODELS_FETCH=1 opencode run -m {provider}/{model} 'hello'")
    return 0
