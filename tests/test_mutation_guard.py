"""A fixed sample of mutants of the reader and the gates must stay killed.

The whole mutation benchmark (``benchmarks/mutation.py``) takes many minutes and is not part of
``make test``; these few mutants run here so that a test deleted or weakened by accident shows
up at once. Each one is a bug a user would meet: a plain string read as nothing, a huge integer
dropped, an unclosed string losing its text, ``--require-better`` reading the upper bound of
the interval, ``--min-score`` failing a case that meets it exactly, a run whose every request
failed scoring 1, a failing gate exiting 0. Each mutant runs only the module's guard tests
(``--tests``: no traced baseline), so the guard costs a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: module -> (mutant key as ``mutation.py --list --all`` prints it, the test that kills it)
GUARD = {
    "reader": [
        ("_unescape: return body → return None",
         "tests/test_reader.py::test_a_plain_string_and_a_one_digit_hex_escape"),
        ("_atom: return Symbol(text) → return None",
         "tests/test_reader.py::test_an_integer_too_long_for_python_stays_one_symbol_token"),
        ("_Reader.read: …top, _unescape(text[start + 1:])) → …top, _unescape(text[start + 0:]))",
         "tests/test_reader.py::test_unclosed_string_at_the_start_keeps_its_text_and_the_data_before_it"),
    ],
    "analysis.gates": [
        ("_better_failure: … is not None and c.delta_ci[0] > 0: → … is not None and c.delta_ci[1] > 0:",
         "tests/test_gates.py::test_require_better_fails_a_noisy_tie_whose_interval_straddles_zero"),
        ("_threshold_failures: elif value < limit: → elif (value <= limit):",
         "tests/test_gates.py::test_min_score_passes_and_fails"),
        ("gate_figures: …r.score, (int, float)) else 0.0 for r in rows] → …r.score, (int, float)) else 1.0 for r in rows]",
         "tests/test_gates.py::test_errored_items_count_as_failed_and_zero_within_max_errors"),
        ("gate_status: return 1 if failures else 0 → return 1 if (not failures) else 0",
         "tests/test_gates.py::test_gate_status_prints_each_failure_and_exits_1_else_0"),
    ],
}


def run_guard(module: str, entries: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    """One benchmark run per module: each of its mutants against the module's guard tests."""
    argv = [sys.executable, str(ROOT / "benchmarks" / "mutation.py"), "--jobs", "2", "--target", "1", "--module", module]
    for key, test in entries:
        argv += ["--mutant", key, "--tests", test]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sampled_mutants_of_the_reader_and_the_gates_are_killed() -> None:
    for module, entries in GUARD.items():
        proc = run_guard(module, entries)
        assert proc.returncode == 0, f"a guarded {module} mutant survived, or the sample is stale:\n{proc.stdout}{proc.stderr}"
        assert f"{len(entries)} {len(entries):>6}" in proc.stdout  # every one run and killed
