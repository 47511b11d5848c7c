"""One build: load → exclude → generate → clean → decontaminate → validate → split → write.

Everything is computed and validated in memory before the first file is written, so a bad
input leaves the output folder as it was; each file is then written to a temporary name and
renamed (:mod:`gerbil_eval.fileio`), and ``manifest.json`` is written last, so a folder with a
manifest holds a complete build. Nothing here depends on time, the machine or dict ordering
beyond insertion, so the same inputs and options give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gerbil_eval.analysis import contamination
from gerbil_eval.cases.loader import load_cases
from gerbil_eval.fileio import write_json_atomic, write_text_atomic

from . import DataError
from .clean import DEFAULT_MAX_CHARS, Dropped, clean
from .cookbook import load_cookbook
from .denylist import exclusion_reason, load_exclude_file, section_exclusion_reason
from .formats import FORMATS, jsonl, to_together
from .generate import DEFAULT_SYSTEM_PROMPT, Example, generate
from .gerbil_sources import load_source_tree
from .manifest import build_manifest, sha256_bytes, sha256_path
from .markdown_docs import load_markdown_tree
from .split import split
from .validate import validate_examples

SPLIT_FILES = ("train.jsonl", "validation.jsonl")  # Together format, split by origin
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuildConfig:
    """The options of one build (``python -m pipeline data``)."""

    cookbook: Path
    docs: tuple[Path, ...]
    out_dir: Path
    sources: tuple[Path, ...] = ()
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    val_fraction: float = 0.05
    seed: int = 0
    decontaminate: bool = False
    cases: tuple[Path, ...] = ()
    threshold: float = contamination.DEFAULT_THRESHOLD
    max_chars: int = DEFAULT_MAX_CHARS
    exclude_ids: Path | None = None
    progress: Callable[[str], None] = field(default=lambda step: None, compare=False, repr=False)

    def options(self) -> dict[str, Any]:
        """The options that shape the output, as recorded in the manifest."""
        return {"system_prompt": self.system_prompt, "val_fraction": self.val_fraction, "seed": self.seed,
                "decontaminate": self.decontaminate, "threshold": self.threshold, "max_chars": self.max_chars,
                "scorer": contamination.SCORER_NAME}


def _input(kind: str, path: Path, suffixes: tuple[str, ...] = ()) -> dict[str, str]:
    return {"kind": kind, "path": str(path), "sha256": sha256_path(path, suffixes)}


def decontaminate(kept: list[Example], cases: list[Any], threshold: float,
                  drop: bool) -> tuple[list[Example], list[Dropped], dict[str, Any]]:
    """Compare every example with every case; drop the leaking ones when ``drop``."""
    texts = [contamination.TrainingText(e.prompt, e.answer) for e in kept]
    matches = contamination.leaks(cases, texts, threshold)
    flagged = [{"example": kept[m.example].id, "case": m.case_id, "field": m.field, "score": m.score}
               for m in matches]
    report = {"cases": len(cases), "threshold": threshold, "scorer": contamination.SCORER_NAME,
              "action": "dropped" if drop else "reported", "flagged": flagged}
    if not drop:
        return kept, [], report
    leaking: dict[int, str] = {}
    for m in matches:
        leaking.setdefault(m.example, f"{m.case_id} {m.field} {m.score:.2f}")
    dropped = [Dropped(kept[i].id, kept[i].origin, "contaminated", detail) for i, detail in sorted(leaking.items())]
    return [e for i, e in enumerate(kept) if i not in leaking], dropped, report


def _check_config(config: BuildConfig) -> None:
    if not 0.0 <= config.val_fraction < 1.0:
        raise DataError(f"--val-fraction must be in [0, 1), got {config.val_fraction}")
    if not 0.0 < config.threshold <= 1.0:
        raise DataError(f"--threshold must be in (0, 1], got {config.threshold}")
    if config.max_chars < 1:
        raise DataError(f"--max-chars must be positive, got {config.max_chars}")
    if not config.system_prompt.strip():
        raise DataError("--system-prompt is empty; Together rejects messages with empty content")
    if config.out_dir.exists() and not config.out_dir.is_dir():
        raise DataError(f"-o {config.out_dir}: exists and is not a folder")
    if config.decontaminate and not config.cases:
        raise DataError("--decontaminate needs eval cases: pass --cases DIR (no cases/ folder here)")


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the build, write every output, return the manifest."""
    _check_config(config)
    step = config.progress
    step("loading inputs")
    excluded_ids = load_exclude_file(config.exclude_ids) if config.exclude_ids else {}
    recipes = load_cookbook(config.cookbook)
    unknown = sorted(set(excluded_ids) - {r.id for r in recipes})
    if unknown:
        raise DataError(f"--exclude-ids {config.exclude_ids}: no recipe with id {', '.join(unknown)} in {config.cookbook}")
    sections = [s for root in config.docs for s in load_markdown_tree(root)]
    definitions = [d for root in config.sources for d in load_source_tree(root)]
    cases = load_cases(config.cases) if config.cases else []  # the harness's loader: same validation as pytest
    inputs = [_input("cookbook", config.cookbook)]
    inputs += [_input("docs", p, (".md",)) for p in config.docs] + [_input("sources", p, (".ss",)) for p in config.sources]
    inputs += [_input("cases", p, (".yaml", ".yml")) for p in config.cases]
    inputs += [_input("exclude-ids", config.exclude_ids)] if config.exclude_ids else []

    recipe_reasons = {f"cookbook:{r.id}": exclusion_reason(r, excluded_ids) for r in recipes}
    section_reasons = {s.origin: section_exclusion_reason(s) for s in sections}
    dropped = [Dropped(origin, origin, "excluded", reason)
               for origin, reason in (*recipe_reasons.items(), *section_reasons.items()) if reason]
    step("generating examples")
    generated = generate([r for r in recipes if not recipe_reasons[f"cookbook:{r.id}"]],
                         [s for s in sections if not section_reasons[s.origin]], definitions, config.system_prompt)
    step("cleaning (duplicates, near duplicates)")
    kept, cleaned = clean(generated, max_chars=config.max_chars)
    dropped += cleaned
    step("checking against the eval cases")
    report: dict[str, Any] = {"cases": 0, "action": "not checked (no --cases)", "flagged": []}
    if cases:
        kept, leaked, report = decontaminate(kept, cases, config.threshold, config.decontaminate)
        dropped += leaked
    if not kept:
        raise DataError("no training examples left after cleaning; check the inputs and --max-chars")
    step("validating against Together's rules")
    together = [to_together(e) for e in kept]
    validate_examples(together, kept)
    train, validation = split(kept, config.val_fraction, config.seed)

    step("writing")
    files = {name: jsonl(convert(e) for e in kept) for name, convert in FORMATS.values()}
    files[SPLIT_FILES[0]] = jsonl(to_together(e) for e in train)
    files[SPLIT_FILES[1]] = jsonl(to_together(e) for e in validation)
    counts = {name: len(kept) for name, _ in FORMATS.values()} | {SPLIT_FILES[0]: len(train), SPLIT_FILES[1]: len(validation)}
    outputs = {}
    for name, text in files.items():
        write_text_atomic(config.out_dir / name, text)
        outputs[name] = {"records": counts[name], "sha256": sha256_bytes(text.encode("utf-8"))}
    manifest = build_manifest(
        inputs=inputs, options=config.options(),
        input_counts={"cookbook": len(recipes), "docs": len(sections), "sources": len(definitions), "cases": len(cases)},
        generated=generated, kept=kept, train=train, validation=validation, dropped=dropped,
        repaired=[r.id for r in recipes if r.repaired], contamination=report, outputs=outputs)
    write_json_atomic(config.out_dir / MANIFEST, manifest)
    return manifest
