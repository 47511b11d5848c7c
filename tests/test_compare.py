"""Pairing two models' rows by case: per-case, per-category and total figures, and the verdict."""

from __future__ import annotations

import random
import re

import pytest

from gerbil_eval.analysis import stats
from gerbil_eval.analysis.comparison import ModelCase, compare_rows, mean_pass_at_k
from gerbil_eval.analysis.totals import with_reference

from .rundocs import make_doc, model_rows, result_of

CATS = {"a": "syntax", "b": "syntax", "c": "stdlib", "d": "stdlib", "e": "ffi"}


def test_rows_are_paired_by_case_id_whatever_their_order() -> None:
    cand = model_rows("ft", "candidate", {"a": 1.0, "b": 0.5, "c": 0.0, "d": 1.0}, CATS)
    base = model_rows("base", "baseline", {"d": 0.0, "c": 0.0, "b": 1.0, "a": 0.5}, CATS)
    random.Random(3).shuffle(cand)
    c = compare_rows(cand, base, "ft", "base")
    deltas = {x.info.case_id: x.delta for x in c.cases}
    assert deltas == {"a": 0.5, "b": -0.5, "c": 0.0, "d": 1.0}
    assert (c.wins, c.losses, c.ties) == (2, 1, 1)
    assert c.delta == pytest.approx(0.25)


def test_a_case_only_one_model_scored_is_unpaired_and_left_out_of_the_totals() -> None:
    cand = model_rows("ft", "candidate", {"a": 1.0, "b": None, "c": 1.0})  # b: request failed
    base = model_rows("base", "baseline", {"a": 0.0, "b": 1.0, "c": 1.0, "d": 1.0})
    c = compare_rows(cand, base, "ft", "base")
    assert c.unpaired == 2  # b errored for ft, d has no ft row
    assert [x.info.case_id for x in c.paired] == ["a", "c"]
    assert c.candidate_totals.cases == c.baseline_totals.cases == 2
    b = next(x for x in c.cases if x.info.case_id == "b")
    assert (b.candidate.errors, b.candidate.score, b.delta) == (1, None, None)
    assert c.delta == pytest.approx(0.5)


def test_category_block_holds_paired_means_and_outcomes() -> None:
    cand = model_rows("ft", "candidate", {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.5, "e": 1.0}, CATS)
    base = model_rows("base", "baseline", {"a": 0.0, "b": 1.0, "c": 1.0, "d": 0.5, "e": 0.0}, CATS)
    blocks = {g.name: g for g in compare_rows(cand, base, "ft", "base").categories}
    assert list(blocks) == ["ffi", "stdlib", "syntax"]
    assert (blocks["syntax"].candidate_mean, blocks["syntax"].baseline_mean) == (1.0, 0.5)
    assert (blocks["syntax"].wins, blocks["syntax"].losses, blocks["syntax"].ties) == (1, 0, 1)
    assert blocks["stdlib"].delta == pytest.approx(-0.5)
    assert blocks["ffi"].cases == 1


def test_totals_mcnemar_uses_the_discordant_pass_fail_pairs() -> None:
    cand_scores = {f"c{i}": (1.0 if i < 14 else 0.0) for i in range(20)}
    base_scores = {f"c{i}": (1.0 if 10 <= i < 16 else 0.0) for i in range(20)}
    c = compare_rows(model_rows("ft", "candidate", cand_scores), model_rows("base", "baseline", base_scores), "ft", "base")
    # ft alone passes c0..c9 (10 cases), base alone passes c14, c15 (2 cases)
    assert (c.candidate_only_passes, c.baseline_only_passes) == (10, 2)
    assert c.mcnemar_p == pytest.approx(stats.mcnemar_exact_p(10, 2))
    assert c.candidate_totals.pass_rate == pytest.approx(14 / 20)
    assert c.baseline_totals.pass_rate == pytest.approx(6 / 20)
    assert c.delta_ci == pytest.approx(stats.paired_bootstrap_delta_ci(
        [cand_scores[k] for k in sorted(cand_scores)], [base_scores[k] for k in sorted(base_scores)])[1:])


def test_verdict_says_which_model_is_better_with_the_figures() -> None:
    cand = model_rows("gerbil-qwen", "candidate", {f"c{i}": 1.0 for i in range(30)})
    base = model_rows("qwen2.5:7b", "baseline", {f"c{i}": (1.0 if i % 3 == 0 else 0.0) for i in range(30)})
    better = compare_rows(cand, base, "gerbil-qwen", "qwen2.5:7b")
    assert better.significant
    assert re.fullmatch(r"gerbil-qwen is better than qwen2\.5:7b \(\+0\.67, 95% CI \+0\.\d\d\.\.\+0\.\d\d, "
                        r"McNemar p<0\.001\)", better.verdict), better.verdict
    worse = compare_rows(base, cand, "qwen2.5:7b", "gerbil-qwen")
    assert worse.verdict.startswith("qwen2.5:7b is worse than gerbil-qwen (-0.67, 95% CI -0.")


def test_verdict_says_no_significant_difference_when_the_ci_spans_zero() -> None:
    cand = model_rows("ft", "candidate", {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0})
    base = model_rows("base", "baseline", {"a": 0.0, "b": 1.0, "c": 1.0, "d": 0.0})
    c = compare_rows(cand, base, "ft", "base")
    assert not c.significant
    assert re.fullmatch(r"no significant difference between ft and base \(\+0\.00, 95% CI -0\.\d\d\.\.\+0\.\d\d, "
                        r"McNemar p=1\.000\)", c.verdict), c.verdict


def test_nothing_paired_gives_a_verdict_instead_of_a_crash() -> None:
    c = compare_rows(model_rows("ft", "candidate", {"a": None}), model_rows("base", "baseline", {"a": 1.0}), "ft", "base")
    assert c.delta is None and c.candidate_totals is None
    assert "nothing to compare" in c.verdict


def test_samples_give_per_case_mean_passes_and_pass_at_k() -> None:
    cand = model_rows("ft", "candidate", {"a": [1.0, 1.0, 0.0, 1.0], "b": [0.0, 0.0, 1.0, 0.5], "c": [1.0, None, 1.0, 1.0]})
    base = model_rows("base", "baseline", {"a": [0.0] * 4, "b": [0.0] * 4, "c": [1.0] * 4})
    c = compare_rows(cand, base, "ft", "base")
    by_id = {x.info.case_id: x.candidate for x in c.cases}
    assert by_id["a"].score == pytest.approx(0.75) and (by_id["a"].passes, by_id["a"].n) == (3, 4)
    assert by_id["a"].se == pytest.approx(stats.standard_error([1, 1, 0, 1]))
    assert by_id["a"].passed and not by_id["b"].passed  # McNemar: more than half of the samples
    assert (by_id["c"].n, by_id["c"].errors, by_id["c"].score) == (3, 1, 1.0)
    totals = c.candidate_totals
    assert sorted(totals.pass_at_k) == [1, 2, 3]  # k only up to the fewest scored samples (case c: 3)
    expected = {k: (stats.pass_at_k(4, 3, k) + stats.pass_at_k(4, 1, k) + stats.pass_at_k(3, 3, k)) / 3 for k in (1, 2, 3)}
    assert totals.pass_at_k == pytest.approx(expected)
    assert totals.pass_rate == pytest.approx((3 / 4 + 1 / 4 + 3 / 3) / 3)
    assert c.baseline_totals.pass_at_k[1] == pytest.approx(1 / 3)


def test_single_sample_runs_report_no_pass_at_k() -> None:
    c = compare_rows(model_rows("ft", "candidate", {"a": 1.0}), model_rows("b", "baseline", {"a": 0.0}), "ft", "b")
    assert c.candidate_totals.pass_at_k == {}


def test_seen_and_unseen_groups_when_rows_carry_seen() -> None:
    seen = {"a": True, "b": True, "c": False}
    doc = make_doc([("ft", "candidate", {"a": 1.0, "b": 1.0, "c": 0.0}),
                    ("base", "baseline", {"a": 0.0, "b": 0.5, "c": 0.0})], seen=seen)
    run = result_of(doc)
    (c,) = run.comparisons
    groups = {g.name: g for g in c.seen_groups}
    assert groups["seen"].delta == pytest.approx(0.75) and groups["unseen"].delta == 0.0
    assert compare_rows(run.rows_of("ft"), run.rows_of("ft"), "x", "y").seen_groups  # present whenever seen is known
    plain = make_doc([("ft", "candidate", {"a": 1.0}), ("base", "baseline", {"a": 1.0})])
    assert result_of(plain).comparisons[0].seen_groups == ()


def test_every_candidate_is_compared_with_every_baseline() -> None:
    doc = make_doc([("ft1", "candidate", {"a": 1.0}), ("ft2", "candidate", {"a": 1.0}),
                    ("base", "baseline", {"a": 0.0}), ("other", "baseline", {"a": 0.0})])
    assert [(c.candidate, c.baseline) for c in result_of(doc).comparisons] == [
        ("ft1", "base"), ("ft1", "other"), ("ft2", "base"), ("ft2", "other")]
    assert result_of(make_doc([("ft", "candidate", {"a": 1.0})])).comparisons == ()


def test_with_reference_pairs_each_candidate_with_its_own_earlier_run() -> None:
    now_doc = make_doc([("ft", "candidate", {"a": 1.0, "b": 1.0}), ("base", "baseline", {"a": 0.0, "b": 0.0})],
                       run_id="new")
    old = make_doc([("ft", "candidate", {"a": 1.0, "b": 0.0}), ("base", "baseline", {"a": 0.0, "b": 0.0})], run_id="rel-1.0")
    now = result_of(now_doc, answers={("ft", "a", 0): "new a"})
    merged = with_reference(now, result_of(old, answers={("ft", "a", 0): "old a", ("base", "a", 0): "base a"}))
    assert merged.models() == ["ft", "base", "ft (rel-1.0)"]
    assert [(c.candidate, c.baseline) for c in merged.comparisons] == [("ft", "base"), ("ft", "ft (rel-1.0)")]
    assert merged.comparisons[1].delta == pytest.approx(0.5)
    assert merged.comparisons[0] is now.comparisons[0], "the run's own comparison is kept, not computed again"
    assert merged.summaries["ft (rel-1.0)"].role == "baseline" and merged.summaries["ft (rel-1.0)"].mean_score == 0.5
    assert merged.answers == {("ft", "a", 0): "new a", ("ft (rel-1.0)", "a", 0): "old a"}, \
        "the earlier run's answers come along under their label; its other models' do not"
    assert len(now.rows) == 4, "the current run is not modified"


def test_with_reference_falls_back_to_the_earlier_runs_only_candidate() -> None:
    now = make_doc([("ft-v2", "candidate", {"a": 1.0})], run_id="new")
    old = make_doc([("ft-v1", "candidate", {"a": 0.0}), ("base", "baseline", {"a": 0.0})], run_id="old")
    merged = result_of(now, old)
    assert merged.models() == ["ft-v2", "ft-v1 (old)"]
    assert [(c.candidate, c.baseline, c.delta) for c in merged.comparisons] == [("ft-v2", "ft-v1 (old)", 1.0)]


def test_one_shared_case_is_too_few_to_call_a_winner() -> None:
    c = compare_rows(model_rows("ft", "candidate", {"a": 1.0}), model_rows("b", "baseline", {"a": 0.0}), "ft", "b")
    assert c.delta == 1.0 and c.delta_ci is None and not c.significant
    assert c.verdict == "only 1 case was scored for both ft and b: too few to tell them apart (+1.00)"


def test_a_saved_runs_figures_come_from_its_rows_whatever_its_summary_says() -> None:
    """One definition: an old or hand-edited ``summary`` in results.json cannot make a report disagree
    with the rows it shows."""
    doc = make_doc([("ft", "candidate", {"a": 1.0, "b": 0.0, "c": None})])
    doc["summary"] = {"ft": {"mean_score": 0.42, "latency_p50": 1.5, "pass_at_k": {"1": 0.5}}}
    view = result_of(doc).summaries["ft"]
    assert (view.cases, view.errors, view.mean_score, view.pass_rate) == (3, 1, 0.5, 0.5)
    assert view.latency_p50 == 0.5 and view.pass_at_k == {}
    assert view.ci[0] <= 0.5 <= view.ci[1]


def test_the_summary_pass_rate_and_the_comparison_pass_rate_are_one_definition() -> None:
    """Uneven scored samples (one errored): per answer 4/7 would be 0.57; the mean over cases of each
    case's passing fraction is (3/4 + 1/3) / 2 = 0.54, the same as pass@1 and as the comparison's."""
    doc = make_doc([("ft", "candidate", {"a": [1.0, 1.0, 1.0, 0.0], "b": [1.0, 0.0, 0.0, None]}),
                    ("base", "baseline", {"a": [0.0] * 4, "b": [0.0] * 4})], samples=4)
    run = result_of(doc)
    summary, totals = run.summaries["ft"], run.comparisons[0].candidate_totals
    assert summary.pass_rate == pytest.approx((3 / 4 + 1 / 3) / 2) == totals.pass_rate
    assert summary.pass_at_k[1] == pytest.approx(summary.pass_rate)
    assert summary.mean_score == pytest.approx((0.75 + 1 / 3) / 2) == totals.mean_score
    assert (summary.passed, summary.failed, summary.errors) == (4, 3, 1)
    assert doc["summary"]["ft"]["pass_rate"] == pytest.approx(summary.pass_rate), "results.json says the same"


def test_a_case_passes_only_when_more_than_half_of_its_samples_pass() -> None:
    cand = model_rows("ft", "candidate", {"a": [1.0, 0.0], "b": [1.0, 1.0]})
    base = model_rows("base", "baseline", {"a": [0.0, 0.0], "b": [0.0, 0.0]})
    c = compare_rows(cand, base, "ft", "base")
    by_id = {x.info.case_id: x.candidate for x in c.cases}
    assert by_id["a"].passed is False and by_id["b"].passed is True  # one of two is no majority
    assert c.candidate_only_passes == 1


@pytest.mark.parametrize("cand, base, verdict", [
    ({"a": 0.5, "b": 1.0, "c": 1.0}, {"a": 0.0, "b": 1.0, "c": 1.0}, r"no significant difference between ft and base "
     r"\(\+0\.17, 95% CI \+0\.00\.\.\+0\.50, McNemar p=1\.000\)"),
    ({"a": 0.0, "b": 1.0, "c": 1.0}, {"a": 0.5, "b": 1.0, "c": 1.0}, r"no significant difference between ft and base "
     r"\(-0\.17, 95% CI -0\.50\.\.\+0\.00, McNemar p=1\.000\)"),
])
def test_an_interval_that_touches_zero_is_no_significant_difference(cand, base, verdict) -> None:
    c = compare_rows(model_rows("ft", "candidate", cand), model_rows("base", "baseline", base), "ft", "base")
    assert 0.0 in c.delta_ci and not c.significant
    assert re.fullmatch(verdict, c.verdict), c.verdict


def test_a_case_whose_every_sample_errored_is_left_out_of_pass_at_k() -> None:
    cand = model_rows("ft", "candidate", {"a": [1.0, 0.0], "b": [None, None]})
    base = model_rows("base", "baseline", {"a": [0.0, 0.0], "b": [0.0, 0.0]})
    c = compare_rows(cand, base, "ft", "base")
    assert c.candidate_totals.pass_at_k == pytest.approx({1: 0.5, 2: 1.0})
    assert next(x for x in c.cases if x.info.case_id == "b").candidate.passed is None  # unknown, not failed


def test_pass_at_k_of_a_list_of_cases_skips_those_without_a_scored_sample() -> None:
    scored, errored = ModelCase(0.5, 1, 2, 0, None), ModelCase(None, 0, 0, 2, None)
    assert mean_pass_at_k([scored, errored]) == pytest.approx({1: 0.5, 2: 1.0})
    single = ModelCase(1.0, 1, 1, 0, None)  # one scored sample still counts, and caps k at 1
    assert mean_pass_at_k([scored, single]) == pytest.approx({1: 0.75})


def test_two_shared_cases_are_enough_for_an_interval() -> None:
    c = compare_rows(model_rows("ft", "candidate", {"a": 1.0, "b": 1.0}), model_rows("b", "baseline", {"a": 0.0, "b": 1.0}),
                     "ft", "b")
    assert c.delta_ci is not None and c.verdict.startswith("no significant difference between ft and b (+0.50, 95% CI ")
