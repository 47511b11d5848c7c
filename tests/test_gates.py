"""Each release gate passing and failing, with the one-line message a CI log shows."""

from __future__ import annotations

import argparse

import pytest

from gerbil_eval.errors import GerbilEvalError
from gerbil_eval.analysis.gates import GateLimits, add_gate_flags, argparse_getter, check_gates, gate_status

from .rundocs import make_doc, result_of

# 20 cases: the fine-tune passes 16, the base 8; the fine-tune never does worse on a case.
FT = {f"c{i:02d}": (1.0 if i < 16 else 0.5) for i in range(20)}
BASE = {f"c{i:02d}": (1.0 if i < 8 else 0.5) for i in range(20)}


def doc_with_baseline(ft=FT, base=BASE) -> dict:
    return make_doc([("gerbil-qwen", "candidate", ft), ("qwen2.5:7b", "baseline", base)])


def test_no_gate_flags_means_no_failures() -> None:
    assert check_gates(result_of(doc_with_baseline()), GateLimits()) == []


def test_min_score_passes_and_fails() -> None:
    doc = doc_with_baseline()  # ft mean 0.9, base mean 0.7
    assert check_gates(result_of(doc), GateLimits(min_score=0.85)) == []
    assert check_gates(result_of(doc), GateLimits(min_score=0.9)) == []  # meeting the limit exactly passes
    (msg,) = check_gates(result_of(doc), GateLimits(min_score=0.95))
    assert msg == "--min-score 0.95: gerbil-qwen mean score 0.90 is below 0.95"


def test_min_gates_never_fail_on_the_baseline() -> None:
    """The baseline scores 0.70 / 40%: below both limits, yet it is the reference, not gated."""
    assert check_gates(result_of(doc_with_baseline()), GateLimits(min_score=0.8, min_pass_rate=0.5)) == []


def test_min_pass_rate_passes_and_fails() -> None:
    doc = doc_with_baseline()  # ft passes 16/20
    assert check_gates(result_of(doc), GateLimits(min_pass_rate=0.8)) == []
    (msg,) = check_gates(result_of(doc), GateLimits(min_pass_rate=0.9))
    assert msg == "--min-pass-rate 0.90: gerbil-qwen pass rate 0.80 is below 0.90"


def test_min_score_fails_a_candidate_whose_every_request_failed() -> None:
    doc = make_doc([("gerbil-qwen", "candidate", {"a": None, "b": None})])
    (msg,) = check_gates(result_of(doc), GateLimits(min_score=0.1))
    assert msg == "gerbil-qwen: 2 of 2 items errored; a gate needs them answered (--max-errors 0)"


# 49 of 50 items errored, the one answered item passes: the summary's pass rate over scored items is 100%.
BROKEN = {f"c{i:02d}": (1.0 if i == 0 else None) for i in range(50)}


@pytest.mark.parametrize("options", [
    GateLimits(min_pass_rate=0.9), GateLimits(min_score=0.9), GateLimits(max_regression=0.5),
    GateLimits(require_better=True), GateLimits(min_pass_rate=0.9, min_score=0.9)])
def test_a_run_with_errored_items_fails_every_gate_in_one_line(options) -> None:
    doc = doc_with_baseline(ft=BROKEN, base={c: 0.0 for c in BROKEN})
    assert check_gates(result_of(doc), options) == [
        "gerbil-qwen: 49 of 50 items errored; a gate needs them answered (--max-errors 0)"]


def test_errored_items_count_as_failed_and_zero_within_max_errors() -> None:
    """Under --max-errors the gates still count each errored item as failed (pass rate) and 0 (mean score)."""
    doc = make_doc([("gerbil-qwen", "candidate", {"a": 1.0, "b": 1.0, "c": 1.0, "d": None})])
    assert check_gates(result_of(doc), GateLimits(min_pass_rate=0.7, min_score=0.7, max_errors=1)) == []
    assert check_gates(result_of(doc), GateLimits(min_pass_rate=0.8, min_score=0.8, max_errors=1)) == [
        "--min-score 0.80: gerbil-qwen mean score 0.75 is below 0.80",
        "--min-pass-rate 0.80: gerbil-qwen pass rate 0.75 is below 0.80"]
    assert check_gates(result_of(doc), GateLimits(max_errors=0)) == []  # no gate given: nothing to fail


def test_max_regression_against_the_in_run_baseline() -> None:
    worse = doc_with_baseline(ft=BASE, base=FT)  # the "fine-tune" is 0.20 below the base
    assert check_gates(result_of(worse), GateLimits(max_regression=0.25)) == []
    (msg,) = check_gates(result_of(worse), GateLimits(max_regression=0.1))
    assert msg == ("--max-regression 0.10: gerbil-qwen mean score 0.70 is 0.20 below qwen2.5:7b (0.90) "
                   "on 20 shared cases")
    assert check_gates(result_of(doc_with_baseline()), GateLimits(max_regression=0.0)) == []  # better: no regression


def test_max_regression_against_the_compare_to_run() -> None:
    release = make_doc([("gerbil-qwen", "candidate", FT)], run_id="release-1.2")
    now = make_doc([("gerbil-qwen", "candidate", {**FT, "c00": 0.5, "c01": 0.5})], run_id="now")  # 0.05 lower
    assert check_gates(result_of(now, release), GateLimits(max_regression=0.05)) == []
    (msg,) = check_gates(result_of(now, release), GateLimits(max_regression=0.02))
    assert msg.startswith("--max-regression 0.02: gerbil-qwen mean score 0.85 is 0.05 below gerbil-qwen (release-1.2) (0.90)")


def test_require_better_passes_when_the_ci_is_above_zero_and_fails_otherwise() -> None:
    assert check_gates(result_of(doc_with_baseline()), GateLimits(require_better=True)) == []
    tie = doc_with_baseline(base=FT)
    (msg,) = check_gates(result_of(tie), GateLimits(require_better=True))
    assert msg.startswith("--require-better: no significant difference between gerbil-qwen and qwen2.5:7b (+0.00, 95% CI +0.00..+0.00")
    assert msg.endswith("the 95% CI lower bound must be above 0")


def test_require_better_fails_a_noisy_tie_whose_interval_straddles_zero() -> None:
    """Half the cases +0.5, half -0.5: the upper bound is well above 0, the lower below; no release."""
    ft = {f"c{i:02d}": (1.0 if i % 2 else 0.5) for i in range(20)}
    base = {f"c{i:02d}": (0.5 if i % 2 else 1.0) for i in range(20)}
    (msg,) = check_gates(result_of(doc_with_baseline(ft=ft, base=base)), GateLimits(require_better=True))
    assert msg.startswith("--require-better: no significant difference between gerbil-qwen and qwen2.5:7b (+0.00, 95% CI -")


def test_require_better_against_the_compare_to_run() -> None:
    release = make_doc([("gerbil-qwen", "candidate", BASE)], run_id="release-1.2")
    assert check_gates(result_of(make_doc([("gerbil-qwen", "candidate", FT)]), release), GateLimits(require_better=True)) == []
    (msg,) = check_gates(result_of(make_doc([("gerbil-qwen", "candidate", BASE)]), release), GateLimits(require_better=True))
    assert "gerbil-qwen (release-1.2)" in msg


def test_comparison_gates_without_a_reference_say_what_to_add() -> None:
    doc = make_doc([("gerbil-qwen", "candidate", FT)])
    (msg,) = check_gates(result_of(doc), GateLimits(max_regression=0.1, require_better=True))
    assert msg == ("--max-regression and --require-better: nothing to compare against; "
                   "add --baseline NAME or --compare-to RUN")


def test_every_failure_is_one_line() -> None:
    doc = doc_with_baseline(ft=BASE, base=FT)
    failures = check_gates(result_of(doc), GateLimits(min_score=0.99, min_pass_rate=0.99, max_regression=0.0, require_better=True))
    assert len(failures) == 4
    assert all("\n" not in f for f in failures)


def gate_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_gate_flags(parser.add_argument)
    return parser.parse_args(list(argv))


def limits(*argv: str) -> GateLimits:
    return GateLimits.from_flags(argparse_getter(gate_args(*argv)))


def test_gate_status_prints_each_failure_and_exits_1_else_0(capsys) -> None:
    doc = doc_with_baseline()  # ft mean 0.90, pass rate 0.80
    assert gate_status(result_of(doc), limits("--min-score", "0.85")) == 0
    assert capsys.readouterr().out == ""
    assert gate_status(result_of(doc), limits("--min-score", "0.95", "--min-pass-rate", "0.9")) == 1
    assert capsys.readouterr().out.splitlines() == [
        "GATE FAILED: --min-score 0.95: gerbil-qwen mean score 0.90 is below 0.95",
        "GATE FAILED: --min-pass-rate 0.90: gerbil-qwen pass rate 0.80 is below 0.90"]


@pytest.mark.parametrize("flag", ["--min-score", "--min-pass-rate"])
def test_gate_limits_0_and_1_are_accepted_and_out_of_range_ones_refused(flag: str) -> None:
    doc = doc_with_baseline()
    assert gate_status(result_of(doc), limits(flag, "0")) == 0
    assert gate_status(result_of(doc), limits(flag, "1")) == 1  # below a perfect score: fails, but is accepted
    for bad in ("1.5", "-0.1"):
        with pytest.raises(GerbilEvalError, match=f"^{flag} must be between 0 and 1, got {bad}$"):
            gate_status(result_of(doc), limits(flag, bad))


@pytest.mark.parametrize("argv, message", [
    (("--max-regression", "1.5"), "--max-regression must be between 0 and 1, got 1.5"),
    (("--max-regression", "nan"), "--max-regression must be between 0 and 1, got nan"),
    (("--max-errors", "-1"), "--max-errors must be 0 or more, got -1"),
])
def test_gate_limits_refuse_every_out_of_range_flag_in_one_line(argv, message) -> None:
    """One range check for pytest (``config.getoption``) and the commands (argparse) alike."""
    with pytest.raises(GerbilEvalError) as exc:
        limits(*argv)
    assert str(exc.value) == message


def test_the_pytest_options_declare_the_same_gate_flags_as_the_commands(pytester: pytest.Pytester) -> None:
    """``--help`` of a pytest run lists each gate flag with the commands' help text."""
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split())
    parser = argparse.ArgumentParser()
    add_gate_flags(parser.add_argument)
    for action in parser._actions[1:]:
        assert action.option_strings[0] in text
        assert " ".join((action.help or "").replace("%%", "%").split()) in text


def test_one_errored_item_fails_a_gate_by_default_and_max_errors_1_tolerates_it(capsys) -> None:
    """Out of the box a single errored request fails any gate (a flaky endpoint must not pass CI)."""
    doc = make_doc([("gerbil-qwen", "candidate", {"a": 1.0, "b": 1.0, "c": None})])
    assert gate_status(result_of(doc), limits("--min-score", "0.5")) == 1
    assert capsys.readouterr().out == (
        "GATE FAILED: gerbil-qwen: 1 of 3 items errored; a gate needs them answered (--max-errors 0)\n")
    assert gate_status(result_of(doc), limits("--min-score", "0.5", "--max-errors", "1")) == 0


def test_items_not_run_fail_a_gate_like_errored_ones(capsys) -> None:
    """A candidate whose checks all needed Gerbil, run where Gerbil was not found, has no score on
    those items: a gate must not pass a release nobody judged, and the line says why."""
    doc = make_doc([("gerbil-qwen", "candidate", {"a": 1.0, "b": 1.0, "c": None})])
    (not_run,) = [r for r in doc["results"] if r["score"] is None]
    not_run.update(error=None, not_run=True)
    assert gate_status(result_of(doc), limits("--min-score", "0.5")) == 1
    assert capsys.readouterr().out == ("GATE FAILED: gerbil-qwen: 1 of 3 items were not run (Gerbil not found); "
                                       "a gate needs them answered (--max-errors 0)\n")
    assert gate_status(result_of(doc), limits("--min-score", "0.5", "--max-errors", "1")) == 0
    doc["results"][0].update(score=None, passed=None, error="HTTP 500 after 4 retries", assertions=[])
    assert gate_status(result_of(doc), limits("--min-score", "0.5", "--max-errors", "1")) == 1
    assert capsys.readouterr().out == ("GATE FAILED: gerbil-qwen: 1 of 3 items errored and 1 were not run "
                                       "(Gerbil not found); a gate needs them answered (--max-errors 1)\n")
