"""Case scores: weighted mean, weight 0, thresholds (0 honoured), reasons, shared analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from gerbil_eval import Case, score_answer
from gerbil_eval.answer import analyse
from gerbil_eval.cases.loader import assertion_from_dict
from gerbil_eval.scoring.score import NO_CODE, AssertionResult, combine


def case(*asserts: dict, threshold: float | None = None, base: Path = Path(".")) -> Case:
    return Case(id="c", messages=({"role": "user", "content": "q"},), category="t", tags=(),
                assertions=tuple(assertion_from_dict(a, base, allow_python=True) for a in asserts), threshold=threshold)


def test_weighted_mean_matches_promptfoos_documented_example():
    """equals (weight 2) fails, contains (weight 1) passes => 1/3."""
    c = case({"type": "equals", "value": "x", "weight": 2}, {"type": "contains", "value": "y"})
    result = score_answer(c, "y")
    assert result.score == pytest.approx(1 / 3)
    assert not result.passed
    assert result.reason == "equals: answer differs from the expected text at character 0"


def test_weight_zero_is_reported_but_neither_counts_nor_fails():
    c = case({"type": "contains", "value": "a"}, {"type": "contains", "value": "zzz", "weight": 0})
    result = score_answer(c, "abc")
    assert (result.score, result.passed) == (1.0, True)
    assert [(r.type, r.weight, r.passed) for r in result.assertions] == [("contains", 1.0, True), ("contains", 0.0, False)]
    assert result.failures == ()


def test_all_zero_weights_score_zero_and_pass():
    result = score_answer(case({"type": "contains", "value": "zzz", "weight": 0}, threshold=0.9), "abc")
    assert (result.score, result.passed) == (0.0, True)
    assert result.reason == "no weighted assertions (all weights are 0)"


def test_without_threshold_any_weighted_failure_fails_the_case_even_with_a_high_score():
    c = case(*[{"type": "contains", "value": v} for v in "abcdefghi"], {"type": "contains", "value": "zzz"})
    result = score_answer(c, "abcdefghi")
    assert result.score == pytest.approx(0.9)
    assert not result.passed
    assert result.reason == "contains: does not contain 'zzz'"


def test_threshold_decides_on_the_score_and_says_so():
    c = case({"type": "contains", "value": "a"}, {"type": "contains", "value": "b"},
             {"type": "contains", "value": "c"}, {"type": "contains", "value": "zzz"}, threshold=0.75)
    result = score_answer(c, "abc")
    assert (result.score, result.passed) == (0.75, True)
    assert result.reason == "score 0.75 >= threshold 0.75; failed contains: does not contain 'zzz'"
    result = score_answer(c, "ab")
    assert (result.score, result.passed) == (0.5, False)
    assert result.reason.startswith("score 0.50 < threshold 0.75; failed contains: does not contain 'c'")
    assert [r.value for r in result.failures] == ["c", "zzz"]
    one = score_answer(case({"type": "contains", "value": "a"}, threshold=0.5), "a")
    assert one.reason == "score 1.00 >= threshold 0.5"


def test_threshold_zero_is_honoured():
    """promptfoo @45aee376 ignored threshold 0 (falsy); here it means the case always passes."""
    result = score_answer(case({"type": "contains", "value": "zzz"}, threshold=0), "abc")
    assert (result.score, result.passed) == (0.0, True)


def test_threshold_tie_survives_float_rounding():
    weights = [0.1, 0.2, 0.3, 0.4]
    c = case(*[{"type": "contains", "value": v, "weight": w} for v, w in zip("abcz", weights)], threshold=0.6)
    assert score_answer(c, "abc").passed  # (0.1 + 0.2 + 0.3) / 1.0 == 0.6 up to rounding


def test_fractional_scores_enter_the_weighted_mean():
    c = case({"type": "fuzzy", "value": "hash-for-each", "weight": 1}, {"type": "contains", "value": "zzz", "weight": 1})
    result = score_answer(c, "call hash-for-eech")
    fuzzy_score = result.assertions[0].score
    assert 0.8 < fuzzy_score < 1.0
    assert result.score == pytest.approx(fuzzy_score / 2)


def test_all_passing_reason_counts_weighted_assertions():
    result = score_answer(case({"type": "contains", "value": "a"}, {"type": "parses"}), "(a)")
    assert result.passed and result.reason == "all 2 assertions pass"


def test_results_carry_type_value_weight_passed_score_reason():
    result = score_answer(case({"type": "not-calls-any", "value": ["maphash"], "weight": 2}), "(maphash f h)")
    [row] = result.assertions
    assert (row.type, row.value, row.weight, row.passed, row.score, row.reason) == (
        "not-calls-any", ("maphash",), 2.0, False, 0.0, "calls maphash")


def test_python_context_gets_case_model_and_vars(tmp_path):
    (tmp_path / "ctx_check.py").write_text(
        "def f(answer, context):\n"
        "    return {'pass': True, 'score': 1.0, 'reason': f\"{context['case'].id} {context['model']} {context['vars']}\"}\n")
    c = case({"type": "python", "value": "ctx_check:f"}, base=tmp_path)
    assert score_answer(c, "x").assertions[0].reason == "c None {}"
    assert score_answer(c, "x", {"model": "gerbil-qwen", "vars": {"n": 1}}).assertions[0].reason == "c gerbil-qwen {'n': 1}"


def test_each_answer_is_analysed_once_and_shared():
    """The tokenizer/reader runs once per answer text, however many assertions and cases use it."""
    text = "```scheme\n(hash-for-each f h) ; unique-marker-4711\n```"
    c = case({"type": "calls", "value": "hash-for-each"}, {"type": "parses"}, {"type": "mentions", "value": "f"})
    score_answer(c, text)
    shared = analyse(text)
    reads = shared.reads
    score_answer(c, text)
    assert analyse(text) is shared and shared.reads is reads


def test_none_answer_scores_as_empty_text():
    result = score_answer(case({"type": "contains", "value": "a"}), None)  # type: ignore[arg-type]
    assert (result.score, result.passed) == (0.0, False)


def test_assertions_built_in_code_with_a_single_string_work_like_loaded_ones():
    """Other modules and users may build Assertion("calls", "x") directly, without the loader."""
    from gerbil_eval import Assertion

    c = Case(id="c", messages=(), category="t", tags=(),
             assertions=(Assertion("calls", "hash-map"), Assertion("contains-any", "zz"), Assertion("form", "(f _)")))
    result = score_answer(c, "(hash-map f h) (f 1)")
    assert [r.passed for r in result.assertions] == [True, False, True]
    assert {c: 1}[c] == 1 and hash(Assertion("equals", {"a": [1]}))  # usable as keys


def row(type_: str, weight: float, passed: bool, *, not_run: bool = False) -> AssertionResult:
    """One assertion's verdict as a scoring worker reports it."""
    return AssertionResult(type_, None, weight, passed, 1.0 if passed else 0.0, "r", not_run)


def test_a_case_is_not_judged_only_when_every_weighted_assertion_was_not_run():
    """Without Gerbil a case of only `runs` checks is "not run", whatever its weight-0 rows did;
    a case where one weighted check ran was judged; a case with nothing weighted was not skipped."""
    c = case({"type": "contains", "value": "a"})
    assert combine(c, (row("runs", 1, False, not_run=True), row("contains", 0, False))).not_run
    assert not combine(c, (row("runs", 1, False, not_run=True), row("contains", 1, True))).not_run
    assert not combine(c, (row("contains", 0, True),)).not_run


def test_an_answer_without_code_scores_exactly_zero_with_the_reason_after_the_note():
    c = case({"type": "parses"}, {"type": "not-calls", "value": "maphash"})
    result = score_answer(c, "Use a hash table and iterate over it.")
    assert (result.score, result.passed, result.reason) == (0.0, False, NO_CODE)
    cut = combine(c, result.assertions, note="answer cut", has_code=False)
    assert (cut.score, cut.reason, cut.note) == (0.0, f"answer cut; {NO_CODE}", "answer cut")


def test_under_a_threshold_only_a_weighted_failing_gate_fails_the_case():
    """`resolves`/`facts` failing fails a case that meets its threshold; passing or weight 0 does not."""
    c = case({"type": "contains", "value": "a"}, threshold=0.5)
    assert combine(c, (row("contains", 1, True), row("resolves", 1, True))).passed
    assert combine(c, (row("contains", 1, True), row("resolves", 0, False))).passed
    failing = combine(c, (row("contains", 1, True), row("contains", 1, True), row("facts", 1, False)))
    assert failing.score == pytest.approx(2 / 3) and not failing.passed
