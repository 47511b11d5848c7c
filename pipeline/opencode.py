"""``python -m pipeline opencode``: point OpenCode at the deployed model.

Adds or updates one provider (``@ai-sdk/openai-compatible``, ``options.baseURL``,
the model id exactly as the server lists it, its context limit) in an
``opencode.json``, keeping every other key of the file. ``--print`` shows the
result instead of writing it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.inputs import read_text
from gerbil_eval.fileio import write_text_atomic

from .state import add_workdir_argument, load_state

SCHEMA = "https://opencode.ai/config.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_workdir_argument(p)
    p.add_argument("--config", type=Path, default=Path("opencode.json"), help="the file to update (default ./opencode.json)")
    p.add_argument("--provider", default=None, help="provider id (default: ollama or llama.cpp, after the deployment)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible base URL (default: the recorded deployment's)")
    p.add_argument("--model", default=None, help="model id as GET /v1/models lists it (default: the recorded deployment's)")
    p.add_argument("--name", default=None, help="display name (default: the model id)")
    p.add_argument("--context", type=int, default=None, help="context limit in tokens (default: the deployment's, else 32768)")
    p.add_argument("--output", type=int, default=8192, help="output token limit (default 8192)")
    p.add_argument("--set-default", action="store_true", help='also make it the default: "model": "<provider>/<model>"')
    p.add_argument("--no-check", action="store_true", help="do not ask the server whether it lists the model id")
    p.add_argument("--print", action="store_true", help="print the updated config instead of writing it")


def strip_jsonc(text: str) -> str:
    """Remove // and /* */ comments and trailing commas outside strings (OpenCode accepts JSONC)."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif c in "]}":
            j = len(out) - 1
            while j >= 0 and out[j].isspace():
                j -= 1
            if j >= 0 and out[j] == ",":
                del out[j]
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def load_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"$schema": SCHEMA}
    text = read_text(path, str(path), 16 << 20)
    try:
        data = json.loads(strip_jsonc(text))
    except json.JSONDecodeError as exc:
        raise GerbilEvalError(f"{path}: not valid JSON/JSONC (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise GerbilEvalError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise GerbilEvalError(f"{path}: the top level must be an object")
    return data


def update_config(config: dict[str, Any], provider: str, base_url: str, model: str, name: str,
                  context: int, output: int, set_default: bool) -> dict[str, Any]:
    """Return ``config`` with the provider entry added or updated; other keys untouched."""
    providers = _object(config, "provider", '"provider"')
    entry = _object(providers, provider, f'"provider.{provider}"')
    entry["npm"] = "@ai-sdk/openai-compatible"
    entry.setdefault("name", provider)
    _object(entry, "options", f'"provider.{provider}.options"')["baseURL"] = base_url
    models = _object(entry, "models", f'"provider.{provider}.models"')
    _object(models, model, f'"provider.{provider}.models.{model}"').update(
        {"name": name, "limit": {"context": context, "output": output}})
    if set_default:
        config["model"] = f"{provider}/{model}"
    return config


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``parent[key]``, created empty when absent; a one-line error when the file has something else there."""
    value = parent.setdefault(key, {})
    if not isinstance(value, dict):
        raise GerbilEvalError(f"opencode config: {where} must be an object, not {type(value).__name__}")
    return value


def served_model_ids(base_url: str) -> list[str]:
    import httpx

    try:
        response = httpx.get(f"{base_url}/models", timeout=10)
        response.raise_for_status()
        return [m["id"] for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise GerbilEvalError(f"cannot list models at {base_url}/models ({exc.__class__.__name__}); "
                              "start the server or pass --no-check") from None


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
    context = args.context or deployment.get("context") or 32768
    config = update_config(load_config(args.config), provider, base_url, model, args.name or model,
                           context, args.output, args.set_default)
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    if args.print:
        print(text, end="")
    else:
        write_text_atomic(args.config, text)
        print(f"{args.config}: provider {provider!r} -> {base_url}, model {model!r}")
    return 0
