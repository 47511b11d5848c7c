"""A fixed sample of mutants of the reader and the gates must stay killed.

The whole mutation benchmark (``benchmarks/mutation.py``) takes minutes and is not part of
``make test``; these few mutants run here so that a test deleted or weakened by accident
shows up at once. Each one is a bug a user would meet: a plain string read as nothing, a
huge integer dropped, an unclosed string losing its text, ``--require-better`` reading the
upper bound of the interval, ``--min-score`` failing a case that meets it exactly, an out-of-range
gate flag accepted, a failing gate exiting 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GUARD = {
    "reader": [
        "_unescape: return body → return None",
        "_atom: return Symbol(text) → return None",
        "_Reader.read: …top, _unescape(text[start + 1:])) → …top, _unescape(text[start + 0:]))",
    ],
    "gates": [
        "_better_failure: … is not None and c.delta_ci[0] > 0: → … is not None and c.delta_ci[1] > 0:",
        "_threshold_failures: elif value < limit: → elif (value <= limit):",
        "gate_figures: …score\"), (int, float)) else 0.0 for r in rows] → …score\"), (int, float)) else 1.0 for r in rows]",
        "gate_status: return 1 if failures else 0 → return 1 if (not failures) else 0",
    ],
}


def test_sampled_mutants_of_the_reader_and_the_gates_are_killed() -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "mutation.py"), "--jobs", "1", "--target", "1"]
    for module, keys in GUARD.items():
        argv += ["--module", module] + [arg for key in keys for arg in ("--mutant", key)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"a guarded mutant survived or the sample is stale:\n{proc.stdout}{proc.stderr}"
    assert "killed" in proc.stdout
