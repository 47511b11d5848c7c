"""OpenCode's project config: the deployed model as an OpenAI-compatible provider in it.

Used by ``python -m pipeline opencode`` (``pipeline/commands/opencode.py``). Adds or updates one provider (``@ai-sdk/openai-compatible``, ``options.baseURL``,
the model id exactly as the server lists it, its context and output limits) in the
project config OpenCode reads, keeping every other key of the file. ``--print`` shows
the result instead of writing it.

Which file: OpenCode merges ``opencode.jsonc`` over ``opencode.json`` of the same folder
(checked with OpenCode 1.18.33's ``debug config``), so an existing ``opencode.jsonc`` is the
one to edit; writing ``opencode.json`` beside it would change nothing. The limits are the
deployment's real ones: a context larger than the server's makes OpenCode send prompts
the server must refuse. A user's own ``name`` and ``limit`` are kept unless
``--name``/``--context``/``--output`` ask to change them.

Comments: the file is rewritten as plain JSON, so JSONC comments are dropped; the command
says so and keeps the original as ``<file>.bak``.

System prompt: OpenCode sends its own system message (its agent prompt, environment and
``AGENTS.md``), so the server's default system prompt -- the one the model was trained
with -- does not apply to OpenCode's requests. ``--instructions`` adds a file with the
project's prompt to OpenCode's ``instructions``, which OpenCode appends to its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.safety.inputs import read_text

SCHEMA = "https://opencode.ai/config.json"
#: When nothing records the server's context: OpenCode's default for unknown models is no
#: limit at all, which is worse; this says so on the terminal each time it is used.
FALLBACK_CONTEXT = 32768
#: The project's system prompt as a file OpenCode's ``instructions`` can list.
INSTRUCTIONS_FILE = "gerbil-system-prompt.md"


def default_config_path(folder: Path = Path(".")) -> Path:
    """The project file OpenCode gives the last word: ``opencode.jsonc`` when present, else ``opencode.json``."""
    jsonc = folder / "opencode.jsonc"
    return jsonc if jsonc.is_file() else folder / "opencode.json"


def overriding_configs(config: Path) -> list[str]:
    """Config sources OpenCode reads *after* ``config``, which can override what we write there."""
    folder = config.parent
    later = [folder / "opencode.jsonc"] if config.name == "opencode.json" else []
    later += [folder / ".opencode" / "opencode.json", folder / ".opencode" / "opencode.jsonc"]
    found = [str(p) for p in later if p.is_file()]
    return found + (["$OPENCODE_CONFIG_CONTENT"] if os.environ.get("OPENCODE_CONFIG_CONTENT") else [])


def strip_jsonc(text: str) -> str:
    """Remove // and /* */ comments and trailing commas outside strings (OpenCode accepts JSONC)."""
    return _scan_jsonc(text)[0]


def has_comments(text: str) -> bool:
    """Whether JSONC ``text`` has comments (what rewriting it as JSON loses)."""
    return _scan_jsonc(text)[1]


def _scan_jsonc(text: str) -> tuple[str, bool]:
    out: list[str] = []
    comments = False
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
            comments = True
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            comments = True
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
    return "".join(out), comments


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


def update_config(config: dict[str, Any], provider: str, base_url: str, model: str, name: str | None,
                  limit: dict[str, int] | None, set_default: bool, default_limit: dict[str, int] | None = None) -> dict[str, Any]:
    """Return ``config`` with the provider entry added or updated; other keys untouched.

    ``name``/``limit`` replace the model's; when ``None``, an existing one is kept and an
    absent one becomes the model id / ``default_limit``.
    """
    providers = _object(config, "provider", '"provider"')
    entry = _object(providers, provider, f'"provider.{provider}"')
    entry["npm"] = "@ai-sdk/openai-compatible"
    entry.setdefault("name", provider)
    _object(entry, "options", f'"provider.{provider}.options"')["baseURL"] = base_url
    models = _object(entry, "models", f'"provider.{provider}.models"')
    item = _object(models, model, f'"provider.{provider}.models.{model}"')
    if name is not None or "name" not in item:
        item["name"] = name or model
    if limit is not None:
        item["limit"] = {**(item.get("limit") if isinstance(item.get("limit"), dict) else {}), **limit}
    elif "limit" not in item and default_limit is not None:
        item["limit"] = dict(default_limit)
    if set_default:
        config["model"] = f"{provider}/{model}"
        # OpenCode titles sessions with its small model, which defaults to its hosted "opencode"
        # provider: offline, every run would then fail on the title request before answering.
        config.setdefault("small_model", f"{provider}/{model}")
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
        if response.status_code == 404 and not base_url.endswith("/v1"):
            raise GerbilEvalError(f"{base_url}/models answered 404: OpenAI-compatible servers list models under /v1; "
                                  f"try --base-url {base_url}/v1")
        response.raise_for_status()
        return [m["id"] for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise GerbilEvalError(f"cannot list models at {base_url}/models ({exc.__class__.__name__}); "
                              "start the server or pass --no-check") from None


