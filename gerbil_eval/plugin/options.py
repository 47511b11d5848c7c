"""Every command-line option of the pytest plugin, in one place.

The option names are a user-facing contract (see the README); features that
live in other modules read them from :class:`RunOptions`, never from pytest's
config directly, so they can be called and tested without pytest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GerbilEvalError
from ..analysis.gates import GateLimits, add_gate_flags
from ..run.models import ModelSpec
from ..safety.inputs import MAX_KEY_FILE_BYTES, finite, read_text
from ..scoring.limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_SCORE_TIMEOUT
from ..safety.redact import register_secret, register_url_secrets
from ..system_prompt import system_prompt_from_flags

#: Ollama's OpenAI-compatible endpoint: the default when nothing else is given.
DEFAULT_BASE_URL = "http://localhost:11434/v1"


def parse_model_spec(text: str, default_base_url: str, role: str = "candidate") -> ModelSpec:
    """Parse ``NAME`` or ``NAME@URL`` (the URL is an OpenAI-compatible base URL)."""
    flag = "--baseline" if role == "baseline" else "--model"
    name, sep, url = text.partition("@")
    name = name.strip()
    if not name or (sep and not url.strip()):
        raise GerbilEvalError(f"{flag} {text!r}: expected NAME or NAME@URL")
    if sep and not url.startswith(("http://", "https://")):
        raise GerbilEvalError(f"{flag} {text!r}: the URL after @ must start with http:// or https://")
    base_url = (url.strip() if sep else default_base_url).rstrip("/")
    register_url_secrets(base_url)
    return ModelSpec(name=name, base_url=base_url, role=role)


@dataclass(frozen=True)
class RunOptions:
    """The parsed options of one evaluation run (pytest or programmatic)."""

    models: tuple[ModelSpec, ...] = ()
    baselines: tuple[ModelSpec, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)  # never written anywhere
    cases: tuple[Path, ...] = (Path("cases"),)
    samples: int = 1
    temperature: float = 0.0
    max_tokens: int | None = None
    #: System prompt for cases that set none (the CLI's default: the project's one, see system_prompt.py).
    system: str | None = None
    seed: int | None = None
    timeout: float = 120.0
    retries: int = 4
    concurrency: int = 8
    report_dir: Path = Path("reports")
    replay: Path | None = None
    no_cache: bool = False
    #: --min-score, --min-pass-rate, --max-regression, --require-better, --max-errors
    gates: GateLimits = GateLimits()
    compare_to: Path | None = None
    report_screenshot: bool = False
    serve: Path | None = None
    serve_lora: Path | None = None
    serve_alias: str | None = None
    train_data: Path | None = None
    seen_threshold: float = 0.88
    #: execution assertions (runs/checks/output/claims): gxi to use, programs at once, wall seconds per program
    gxi: str | None = None
    exec_workers: int = 2
    exec_timeout: float = 10.0
    #: missing Gerbil is a usage error instead of "not run"
    require_exec: bool = False
    #: run ``python`` assertions (code from the case's folder); case files are data otherwise
    allow_python: bool = False
    #: hard limit in seconds on scoring one answer (each check); a check that runs longer fails "timed out"
    score_timeout: float = DEFAULT_SCORE_TIMEOUT
    #: answers longer than this (UTF-8 bytes) are cut before scoring; the row says so
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES

    @property
    def all_models(self) -> tuple[ModelSpec, ...]:
        """Candidates first, then baselines."""
        return self.models + self.baselines

    @property
    def active(self) -> bool:
        """True when the plugin should collect and run cases at all.

        ``--serve-lora``/``--serve-alias`` alone activate it too, so that their missing
        ``--serve`` is reported instead of the flags being ignored silently.
        """
        return bool(self.models or self.baselines or self.replay or self.serve or self.serve_lora or self.serve_alias)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


def _api_key(flag: str | None, key_file: str | None) -> str | None:
    """The key from --api-key, --api-key-file or $OPENAI_API_KEY, registered for redaction wherever it came from."""
    key = flag
    if key_file:
        key = read_text(key_file, f"--api-key-file {key_file}", MAX_KEY_FILE_BYTES).strip()
        if not key:
            raise GerbilEvalError(f"--api-key-file {key_file}: the file is empty")
    key = key or _env("OPENAI_API_KEY")
    register_secret(key)
    return key


def add_options(parser: Any) -> None:
    """Register the plugin's options on a pytest ``Parser``."""
    g = parser.getgroup("gerbil-eval", "gerbil-eval: run YAML cases against an OpenAI-compatible endpoint")
    add = g.addoption
    add("--model", action="append", default=[], metavar="NAME[@URL]",
        help="model to evaluate (repeatable). NAME@URL targets another OpenAI-compatible endpoint. "
             "Without --model/--baseline/--replay/--serve no case is collected.")
    add("--baseline", action="append", default=[], metavar="NAME[@URL]",
        help="reference model run on the same cases in the same run; reported and compared, never fails the run (repeatable)")
    add("--base-url", default=None, metavar="URL",
        help=f"OpenAI-compatible base URL (default: $OPENAI_BASE_URL, else Ollama's {DEFAULT_BASE_URL})")
    add("--api-key", default=None, metavar="KEY",
        help="API key (default: $OPENAI_API_KEY). Prefer $OPENAI_API_KEY or --api-key-file: a key on the "
             "command line is visible to every user in `ps`. Never written to any file or printed.")
    add("--api-key-file", default=None, metavar="FILE",
        help="read the API key from this file (recommended, with $OPENAI_API_KEY, over --api-key)")
    add("--allow-python", action="store_true", default=False,
        help="run `python` assertions: functions in .py files in or under a case file's folder. Case files "
             "are data unless you opt in; without this flag a case that uses one is refused")
    add("--score-timeout", type=float, default=DEFAULT_SCORE_TIMEOUT, metavar="SECONDS",
        help=f"hard time limit on each check of one answer, scored in worker processes off the request loop; "
             f"a check that runs longer fails as 'timed out' (default {DEFAULT_SCORE_TIMEOUT:g})")
    add("--max-answer-bytes", type=int, default=DEFAULT_MAX_ANSWER_BYTES, metavar="N",
        help=f"cut longer answers to N bytes before scoring; the row says so (default {DEFAULT_MAX_ANSWER_BYTES})")
    add("--cases", action="append", default=[], metavar="PATH",
        help="case file or folder (repeatable; default: cases/ when the folder or the rootdir has one, else the "
             "library installed with gerbil-eval)")
    add("--samples", type=int, default=1, metavar="N", help="answers per case and model (default 1); with N>1 pass@k is reported")
    add("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    add("--max-tokens", type=int, default=None, metavar="N", help="max output tokens per answer (default: endpoint's)")
    add("--system", default=None, metavar="TEXT|FILE",
        help="system prompt for cases that set none (default: the project's, the one the training data carries; "
             "a case's own system: wins)")
    add("--no-system", action="store_true", default=False, help="send no system prompt unless a case sets one")
    add("--seed", type=int, default=None, help="sampling seed sent to the endpoint (where supported)")
    add("--timeout", type=float, default=120.0, metavar="SECONDS", help="per-request timeout (default 120)")
    add("--retries", type=int, default=4, metavar="N",
        help="retries on 429/5xx/timeouts/connection errors, exponential backoff with jitter, honouring Retry-After (default 4)")
    add("--concurrency", type=int, default=8, metavar="N", help="requests in flight at once (default 8)")
    add("--report-dir", default="reports", metavar="DIR", help="where run folders are written (default reports/)")
    add("--replay", default=None, metavar="FILE",
        help='score recorded answers with no network: JSONL of {"model","case_id","sample","content"} (a responses.jsonl works)')
    add("--no-cache", action="store_true", default=False, help="ignore and do not fill the on-disk response cache")
    add_gate_flags(add)
    add("--compare-to", default=None, metavar="RUN", help="compare against an earlier run (run folder or results.json)")
    add("--report-screenshot", action="store_true", default=False,
        help="also save report.png, a headless-Chromium screenshot of report.html")
    add("--serve", default=None, metavar="GGUF",
        help="start a local llama.cpp server on this GGUF for the run and evaluate it (needs the [local] extra)")
    add("--serve-lora", default=None, metavar="ADAPTER.gguf", help="LoRA adapter (GGUF) applied by the --serve server")
    add("--serve-alias", default=None, metavar="NAME", help="model name of the --serve server (default: the GGUF's stem)")
    add("--train-data", default=None, metavar="FILE",
        help="training JSONL: mark each case seen/unseen (nearest training example above the threshold) and report both groups")
    add("--gxi", default=None, metavar="PATH",
        help="Gerbil interpreter for the execution assertions (runs/checks/output/claims); default $GERBIL_HOME/bin/gxi, "
             "then gxi on PATH. Without Gerbil those assertions are 'not run' and left out of the score")
    add("--exec-workers", type=int, default=2, metavar="N", help="answers run by gxi at once, machine-wide (default 2)")
    add("--exec-timeout", type=float, default=10.0, metavar="SECONDS",
        help="wall-clock limit per program run; the sandbox kills it after that (default 10; CPU limit the same)")
    add("--require-exec", action="store_true", default=False,
        help="fail with a usage error (exit 4) when no Gerbil is found, instead of leaving execution assertions out")
    add("--seen-threshold", type=float, default=0.88, metavar="X",
        help="similarity in [0,1] (rapidfuzz token_set_ratio) above which a case counts as seen in --train-data (default 0.88)")


def options_from_config(config: Any) -> RunOptions:
    """Build :class:`RunOptions` from a pytest ``Config``; raises GerbilEvalError on bad values."""
    get = config.getoption
    base_url = (get("--base-url") or _env("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    register_url_secrets(base_url)
    models = tuple(parse_model_spec(m, base_url) for m in get("--model"))
    baselines = tuple(parse_model_spec(m, base_url, role="baseline") for m in get("--baseline"))
    # Checked only when a model uses it: a stray $OPENAI_BASE_URL must not break unrelated pytest runs.
    if not base_url.startswith(("http://", "https://")) and any(m.base_url == base_url for m in (*models, *baselines)):
        source = "--base-url" if get("--base-url") else "$OPENAI_BASE_URL"
        raise GerbilEvalError(f"{source} {base_url!r}: must start with http:// or https://")
    seen: set[str] = set()
    for spec in (*models, *baselines):
        if spec.name in seen:  # item ids, answers and result rows are keyed by the name
            raise GerbilEvalError(f"model {spec.name!r} is given twice (--model/--baseline); give each model once")
        seen.add(spec.name)
    for name in ("--samples", "--concurrency", "--max-tokens", "--exec-workers", "--max-answer-bytes"):
        if get(name) is not None and get(name) < 1:
            raise GerbilEvalError(f"{name} must be at least 1, got {get(name)}")
    if get("--retries") < 0:
        raise GerbilEvalError(f"--retries must be 0 or more, got {get('--retries')}")
    for name in ("--timeout", "--score-timeout", "--exec-timeout"):
        if finite(get(name), name, 0.0) <= 0:
            raise GerbilEvalError(f"{name} must be positive, got {get(name)}")
    finite(get("--temperature"), "--temperature", 0.0)
    finite(get("--seen-threshold"), "--seen-threshold", 0.0, 1.0)
    gates = GateLimits.from_flags(get)
    opt_path = lambda name: Path(get(name)) if get(name) else None  # noqa: E731
    return RunOptions(
        models=models,
        baselines=baselines,
        base_url=base_url,
        api_key=_api_key(get("--api-key"), get("--api-key-file")),
        cases=tuple(Path(p) for p in get("--cases")) or (Path("cases"),),
        samples=get("--samples"),
        temperature=get("--temperature"),
        max_tokens=get("--max-tokens"),
        system=system_prompt_from_flags(get("--system"), get("--no-system")),
        seed=get("--seed"),
        timeout=get("--timeout"),
        retries=get("--retries"),
        concurrency=get("--concurrency"),
        report_dir=Path(get("--report-dir")),
        replay=opt_path("--replay"),
        no_cache=get("--no-cache"),
        gates=gates,
        compare_to=opt_path("--compare-to"),
        report_screenshot=get("--report-screenshot"),
        serve=opt_path("--serve"),
        serve_lora=opt_path("--serve-lora"),
        serve_alias=get("--serve-alias"),
        train_data=opt_path("--train-data"),
        seen_threshold=get("--seen-threshold"),
        gxi=get("--gxi"),
        exec_workers=get("--exec-workers"),
        exec_timeout=get("--exec-timeout"),
        require_exec=get("--require-exec"),
        allow_python=get("--allow-python"),
        score_timeout=get("--score-timeout"),
        max_answer_bytes=get("--max-answer-bytes"),
    )
