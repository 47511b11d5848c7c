"""``python -m gerbil_eval bindings build|where``: regenerate the binding index, or look a name up."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from ..errors import GerbilEvalError
from ..fileio import atomic_path
from ..bindings.build import GAMBIT_FOLDER, SOURCES, build_index
from ..bindings.index import DATA_FILE, load_index

HELP = "build the Gerbil binding index from the Gerbil/Gambit sources, or show where a name is defined"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="regenerate the index from a data folder",
                           description="Read the module files of every Gerbil version under DATA "
                           f"({', '.join(f'{f}/ = {v}' for v, f in SOURCES.items())}, {GAMBIT_FOLDER}/) "
                           "and write the index (gzip'd JSON).")
    build.add_argument("data", type=Path, help="folder holding the sources, e.g. ../shared/data")
    build.add_argument("-o", "--output", type=Path, default=DATA_FILE,
                       help="where to write the index (default: the one the package uses)")
    where = sub.add_parser("where", help="which versions and modules define NAME (or list a module's exports)")
    where.add_argument("name", nargs="+", help="a name such as read-file-string, or a module such as :std/iter")


def encode(index: dict) -> bytes:
    """The index file's bytes: deterministic (sorted JSON, gzip without a timestamp), so a rebuild
    from the same sources gives the same file and a test can compare them."""
    text = json.dumps(index, separators=(",", ":"), sort_keys=True)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        missing = [f for f in (*SOURCES.values(), GAMBIT_FOLDER) if not (args.data / f).is_dir()]
        if missing:
            raise GerbilEvalError(f"{args.data}: no {', '.join(missing)} folder here; "
                                  "give the folder that holds the Gerbil sources (e.g. ../shared/data)")
        index = build_index(args.data)
        with atomic_path(args.output) as tmp:
            Path(tmp).write_bytes(encode(index))
        counts = ", ".join(f"{v}: {len(index['prelude'][v])} prelude names" for v in index["versions"])
        print(f"wrote {args.output}: {len(index['modules'])} modules; {counts}")
        return 0
    index = load_index()
    for name in args.name:
        if name.startswith(":"):
            for v in index.versions:
                shown = " ".join(sorted(index.exports(name, v))) if index.has_module(name, v) else "(no such module)"
                print(f"{name} [{v}]: {shown}")
            continue
        for v in index.versions:
            print(f"{name} [{v}]: {', '.join(index.homes(name, v)) or 'not defined'}")
    return 0
