"""``python -m pipeline data``: build the training files from the cookbook, docs and sources."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gerbil_eval.analysis.contamination import DEFAULT_THRESHOLD, SCORER_NAME
from gerbil_eval.safety.inputs import read_text
from tqdm import tqdm

from ..data.build import MANIFEST, SPLIT_FILES, BuildConfig, build
from ..data.clean import DEFAULT_MAX_CHARS
from ..data.formats import FORMATS
from ..data.generate import DEFAULT_SYSTEM_PROMPT

STEPS = 6  # the progress steps reported by build()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "outputs in OUTDIR: " + ", ".join(name for name, _ in FORMATS.values())
        + f", {SPLIT_FILES[0]} / {SPLIT_FILES[1]} (Together format, split by source entry), {MANIFEST}.\n"
        "Recipes the Gerbil sources contradict, deprecated ones and ones using modules absent from\n"
        "Gerbil v0.18.1 are always left out (listed in the manifest); add your own with --exclude-ids.\n"
        "example: python -m pipeline data --cookbook ../shared/data/gerbil-mcp/cookbooks.json \\\n"
        "           --docs ../shared/data/gerbil-docs -o build/data --decontaminate --cases cases/")
    parser.add_argument("--cookbook", required=True, type=Path, metavar="FILE", help="gerbil-mcp cookbooks.json")
    parser.add_argument("--docs", action="append", required=True, type=Path, metavar="DIR",
                        help="Markdown docs tree, split into one section per heading (repeatable)")
    parser.add_argument("--sources", action="append", default=[], type=Path, metavar="DIR",
                        help="Gerbil source tree: .ss module-level definitions with their comments (repeatable)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--system-prompt", metavar="TEXT", help=f"system message of every example (default: {DEFAULT_SYSTEM_PROMPT!r})")
    prompt.add_argument("--system-prompt-file", type=Path, metavar="FILE", help="read the system message from FILE")
    parser.add_argument("--val-fraction", type=float, default=0.05, metavar="X",
                        help="share of source entries held out for validation (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/validation split (default 0)")
    parser.add_argument("--decontaminate", action="store_true",
                        help="drop training examples that match an eval case (without it they are only reported)")
    parser.add_argument("--cases", action="append", default=[], type=Path, metavar="PATH",
                        help="eval case files or folders to check against (repeatable; default: cases/ when it exists)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                        help=f"similarity 0..1 ({SCORER_NAME}) at or above which an example leaks a case (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, metavar="N",
                        help=f"drop examples longer than N characters in all (default {DEFAULT_MAX_CHARS})")
    parser.add_argument("--exclude-ids", type=Path, metavar="FILE",
                        help="recipe ids to leave out, one per line, optional reason after a space, # comments")


def _system_prompt(args: argparse.Namespace) -> str:
    if args.system_prompt_file:
        return read_text(args.system_prompt_file, f"--system-prompt-file {args.system_prompt_file}", 1 << 20).strip()
    return DEFAULT_SYSTEM_PROMPT if args.system_prompt is None else args.system_prompt


def run(args: argparse.Namespace) -> int:
    cases = tuple(args.cases) or ((Path("cases"),) if Path("cases").is_dir() else ())
    with tqdm(total=STEPS, desc="pipeline data", unit="step", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        manifest = build(BuildConfig(
            cookbook=args.cookbook, docs=tuple(args.docs), sources=tuple(args.sources), out_dir=args.output,
            system_prompt=_system_prompt(args), val_fraction=args.val_fraction, seed=args.seed,
            decontaminate=args.decontaminate, cases=cases, threshold=args.threshold, max_chars=args.max_chars,
            exclude_ids=args.exclude_ids, progress=progress))
    counts = manifest["counts"]
    kept = ", ".join(f"{k} {v}" for k, v in counts["kept"].items())
    dropped = ", ".join(f"{k} {v}" for k, v in counts["dropped"].items()) or "none"
    print(f"{sum(counts['kept'].values())} examples ({kept}); dropped: {dropped}")
    print(f"split: {counts['split']['train']} train, {counts['split']['validation']} validation; "
          f"~{manifest['tokens']['all']:,} tokens")
    leak = manifest["contamination"]
    flagged = {f["example"] for f in leak["flagged"]}
    if leak["cases"]:
        print(f"contamination vs {leak['cases']} cases: {len(flagged)} example(s) at or above {leak['threshold']} "
              f"({leak['action']}; see {MANIFEST})")
    print(f"wrote {args.output}/ ({', '.join(manifest['outputs'])}, {MANIFEST})")
    return 0
