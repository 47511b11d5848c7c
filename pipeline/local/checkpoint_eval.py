"""Score a training checkpoint with the harness itself, exactly as a release would be scored.

The checkpoint's PEFT folder is converted by ``pipeline convert``'s own function, the base
GGUF is served with that adapter by the harness's llama.cpp server (``pytest --serve
BASE --serve-lora ADAPTER``), and the case library (or the subset ``--eval-k`` selects)
runs through the usual plugin into a run folder. The score read back is the run's
``results.json`` summary, so "best checkpoint" means best by the same numbers the final
comparison reports, not by training loss.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerbil_eval.errors import GerbilEvalError

from ..convert.convert import convert_adapter


@dataclass(frozen=True)
class HarnessEval:
    """How checkpoints are scored: which base GGUF, which cases, where the runs go."""

    base_gguf: Path
    cases: Path
    out_dir: Path
    max_tokens: int = 256
    select: str | None = None        # pytest -k expression choosing the case subset
    base_config: Path | None = None  # the base's config.json, when the converter does not know the base

    def score_base(self) -> dict[str, Any]:
        """The base alone: the step-0 point of the score curve."""
        return self._run(0, None)

    def __call__(self, step: int, adapter_dir: Path) -> dict[str, Any]:
        gguf = self.out_dir / f"step-{step:06d}.gguf"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        convert_adapter(adapter_dir, gguf, base_config=self.base_config, force=True)
        try:
            return self._run(step, gguf)
        finally:
            gguf.unlink(missing_ok=True)  # the folder is the checkpoint; the GGUF is rebuilt on demand

    def _run(self, step: int, lora: Path | None) -> dict[str, Any]:
        report_dir = self.out_dir / f"step-{step:06d}"
        log = self.out_dir / f"step-{step:06d}.log"
        command = [sys.executable, "-m", "pytest", "--serve", str(self.base_gguf), "--serve-alias", f"step-{step}",
                   *(["--serve-lora", str(lora)] if lora else []), "--cases", str(self.cases),
                   "--max-tokens", str(self.max_tokens), "--report-dir", str(report_dir), "--no-cache",
                   "-q", "-p", "no:cacheprovider", *(["-k", self.select] if self.select else [])]
        report_dir.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            status = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
        results = report_dir / "latest" / "results.json"
        if status not in (0, 1) or not results.is_file():  # 1 = some case failed, which is expected
            raise GerbilEvalError(f"harness evaluation of step {step} failed (pytest exit {status}); see {log}")
        summary = next(iter(json.loads(results.read_text(encoding="utf-8"))["summary"].values()))
        if summary["mean_score"] is None or summary["errors"] == summary["samples"]:
            raise GerbilEvalError(f"harness evaluation of step {step}: every answer errored; see {log}")
        return {"step": step, "mean_score": summary["mean_score"], "pass_rate": summary["pass_rate"],
                "cases": summary["cases"], "errors": summary["errors"], "run": str(results.parent.resolve())}
