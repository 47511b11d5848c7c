"""A wheel built from the tree carries the case library: `pip install` + `pytest --model M@URL --replay FILE`
from an empty folder runs the shipped cases.

The wheel is built from a copy of the tree (so no build/ or egg-info lands in the checkout) and
installed with pip into a fresh venv. To keep the test to seconds, the fresh venv borrows the
project venv's installed dependencies through a path entry (not its .pth files, so the editable
gerbil_eval of the checkout is not importable); the test checks that gerbil_eval and its cases
come from the fresh venv.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "reports", "build", "*.egg-info", "__pycache__", ".pytest_cache",
                              "node_modules", "pipeline-run", "cache")


def run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{cmd}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def test_installed_wheel_runs_the_shipped_library_from_an_empty_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=SKIP)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src)
    (wheel,) = (tmp_path / "dist").glob("gerbil_eval-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    probe = run(python, "-c", "import json, gerbil_eval.cases.loader as c; "
                "print(json.dumps([c.INSTALLED_LIBRARY.as_posix(), [x.id for x in c.load_cases([c.INSTALLED_LIBRARY])]]))",
                cwd=empty)
    library, case_ids = json.loads(probe.stdout)
    assert library.startswith(str(site)) and not Path(library).is_symlink()  # a real folder inside the fresh venv
    assert sorted(p.name for p in Path(library).glob("*.yaml")) == sorted(p.name for p in (ROOT / "cases").glob("*.yaml"))
    shipped = Path(library).parent / "humaneval.yaml"  # the opt-in HumanEval suite (-m humaneval), a real file too
    assert shipped.is_file() and not shipped.is_symlink()
    assert shipped.read_bytes() == (ROOT / "benchmarks" / "humaneval" / "humaneval.yaml").read_bytes()
    answers = empty / "answers.jsonl"
    answers.write_text("".join(json.dumps({"model": "m", "case_id": cid, "content": "I do not know."}) + "\n" for cid in case_ids))
    result = subprocess.run([python, "-m", "pytest", "--model", "m@http://127.0.0.1:9/v1", "--replay", answers.name,
                             "-q", "-p", "no:cacheprovider"], cwd=empty, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]  # 1: cases fail on that answer
    doc = json.loads((empty / "reports" / "latest" / "results.json").read_text())
    assert sorted({r["case_id"] for r in doc["results"]}) == sorted(case_ids) and len(case_ids) > 50
