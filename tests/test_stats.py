"""The statistics checked against independent references: scipy, closed forms, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gerbil_eval.analysis import stats

scipy_stats = pytest.importorskip("scipy.stats", reason="scipy (dev dependency) is the independent reference")


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (0, 5), (3, 3), (10, 2), (2, 10), (7, 1), (25, 12), (40, 60), (0, 30)])
def test_mcnemar_exact_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert stats.mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_mcnemar_hand_computed_table() -> None:
    # 10 discordant pairs split 9/1: 2 * (C(10,0) + C(10,1)) / 2**10 = 22/1024
    assert stats.mcnemar_exact_p(9, 1) == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact_p(1, 9) == stats.mcnemar_exact_p(9, 1)  # two-sided: symmetric
    assert stats.mcnemar_exact_p(5, 5) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        stats.mcnemar_exact_p(-1, 3)
    with pytest.raises(ValueError):
        stats.mcnemar_exact_p(3, -1)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_closed_form_for_small_n(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            closed = 1.0 - math.comb(n - c, k) / math.comb(n, k)
            assert stats.pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12), (n, c, k)


def test_pass_at_1_is_the_fraction_passing_and_pass_at_n_is_any_pass() -> None:
    assert stats.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert stats.pass_at_k(5, 1, 5) == 1.0
    assert stats.pass_at_k(5, 0, 5) == 0.0


def test_pass_at_k_rejects_k_above_n() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        stats.pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="0 <= c"):
        stats.pass_at_k(5, -1, 1)
    with pytest.raises(ValueError, match="1 <= k"):
        stats.pass_at_k(5, 2, 0)


def test_standard_error_matches_numpy_and_needs_two_values() -> None:
    values = [0.2, 0.5, 1.0, 0.0, 0.75]
    assert stats.standard_error(values) == pytest.approx(np.std(values, ddof=1) / math.sqrt(5))
    assert stats.standard_error([0.5]) is None
    assert stats.standard_error([0.0, 1.0]) == pytest.approx(0.5)


def test_bootstrap_ci_is_reproducible_with_a_seed_and_varies_without_it() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(60), rng.random(60)
    assert stats.paired_bootstrap_delta_ci(a, b, seed=3) == stats.paired_bootstrap_delta_ci(a, b, seed=3)
    assert stats.paired_bootstrap_delta_ci(a, b, seed=3) != stats.paired_bootstrap_delta_ci(a, b, seed=4)
    assert stats.bootstrap_mean_ci(a, seed=1) == stats.bootstrap_mean_ci(a, seed=1)


def test_default_interval_is_pinned_so_re_rendered_reports_show_the_same_numbers() -> None:
    """Pinned from the default seed and resample count: changing either on purpose changes
    every interval in every re-rendered report, so it must show up here (update the pin then)."""
    values = [round(abs(math.sin(i)), 3) for i in range(1, 31)]
    assert stats.bootstrap_mean_ci(values) == pytest.approx((0.5404991666666666, 0.7621349999999999), abs=1e-12)


def test_two_value_interval_spans_both_values() -> None:
    """Resampling [1, 0] draws each index: means 0, 0.5 and 1, so the 95% interval is 0..1."""
    assert stats.bootstrap_mean_ci([1.0, 0.0]) == (0.0, 1.0)


def test_bootstrap_ci_brackets_the_sample_mean() -> None:
    values = np.random.default_rng(0).random(50)
    lo, hi = stats.bootstrap_mean_ci(values)
    assert lo < values.mean() < hi
    assert stats.bootstrap_mean_ci([0.4]) == (0.4, 0.4)
    with pytest.raises(ValueError, match="at least one value"):
        stats.bootstrap_mean_ci([])


def test_paired_bootstrap_covers_the_true_delta_about_95_percent_of_the_time() -> None:
    """Simulation: per-case difficulty shared by both models, candidate truly +0.1 better.

    The paired percentile bootstrap should cover the true delta in roughly 95% of runs; with
    300 runs the binomial spread is about +-1.3 points, so [0.90, 0.99] is a safe band.
    """
    rng = np.random.default_rng(2024)
    true_delta, runs, cases, covered = 0.1, 300, 40, 0
    for i in range(runs):
        difficulty = rng.random(cases)
        base = difficulty + rng.normal(0, 0.15, cases)  # unclipped, so the true delta stays exact
        cand = difficulty + true_delta + rng.normal(0, 0.15, cases)
        _, lo, hi = stats.paired_bootstrap_delta_ci(cand, base, resamples=1000, seed=i)
        covered += lo <= true_delta <= hi
    assert 0.90 <= covered / runs <= 0.99


def test_paired_bootstrap_is_tighter_than_the_difference_of_independent_intervals() -> None:
    """Pairing removes the shared per-case difficulty: the point of a paired comparison."""
    rng = np.random.default_rng(5)
    difficulty = rng.random(80)
    base, cand = difficulty + rng.normal(0, 0.05, 80), difficulty + 0.05 + rng.normal(0, 0.05, 80)
    _, lo, hi = stats.paired_bootstrap_delta_ci(cand, base)
    a_lo, a_hi = stats.bootstrap_mean_ci(cand)
    b_lo, b_hi = stats.bootstrap_mean_ci(base)
    assert lo > 0, "a consistent +0.05 on every case must be significant when paired"
    assert (hi - lo) < (a_hi - a_lo) / 2 and a_lo < b_hi, "unpaired intervals overlap; paired one does not"


def test_paired_bootstrap_rejects_unpaired_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_bootstrap_delta_ci([1, 0], [1])


def test_batched_draws_give_exactly_the_plain_bootstrap() -> None:
    """1000 values x 5000 resamples are drawn in batches of 2000 rows; the interval must be the
    one a single draw of all 5000 resamples from the same seed gives."""
    values = np.random.default_rng(3).random(1000)
    means = values[np.random.default_rng(stats.DEFAULT_SEED).integers(0, 1000, size=(5000, 1000))].mean(axis=1)
    assert stats.bootstrap_mean_ci(values) == tuple(np.quantile(means, [0.025, 0.975]))


def test_a_run_larger_than_one_batch_row_still_gets_an_interval() -> None:
    assert stats.bootstrap_mean_ci(np.zeros(2_000_001), resamples=3) == (0.0, 0.0)


def test_bootstrap_of_a_large_run_is_drawn_in_batches_yet_reproducible() -> None:
    values = np.random.default_rng(9).random(3000)  # 3000 x 5000 draws: several batches
    lo, hi = stats.bootstrap_mean_ci(values, seed=11)
    assert (lo, hi) == stats.bootstrap_mean_ci(values, seed=11)
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert lo < values.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1), "a 95% interval is about +-1.96 standard errors"


def test_an_interval_asked_again_is_the_same_and_other_settings_are_not_served_from_it() -> None:
    """Every renderer asks for a model's interval again; the answer is computed once per distinct input."""
    values = [round(abs(math.cos(i)), 3) for i in range(1, 41)]
    first = stats.bootstrap_mean_ci(values)
    assert stats.bootstrap_mean_ci(np.array(values)) == first
    narrow = stats.bootstrap_mean_ci(values, confidence=0.5)
    assert first[0] < narrow[0] < narrow[1] < first[1]
    assert stats.bootstrap_mean_ci(values, resamples=200) != first
    assert stats.bootstrap_mean_ci(values, seed=5) != first
    assert stats.bootstrap_mean_ci(values[:-1]) != first
