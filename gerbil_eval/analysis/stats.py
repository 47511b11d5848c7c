"""The statistics behind "is the fine-tune really better?": small, exact and reproducible.

Bootstraps use a seeded ``numpy.random.Generator`` so the same results give the same
intervals on every machine and every re-render; McNemar and pass@k are exact integer
arithmetic (``math.comb``), so no scipy is needed at run time.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Resamples per bootstrap: enough for a stable 95% interval, small enough for 200-case runs.
DEFAULT_RESAMPLES = 5000
#: One seed for every interval, so a report re-rendered later shows the same numbers.
DEFAULT_SEED = 20240611


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


#: Index entries drawn per batch: bounds the memory of a bootstrap on a very large run (~16 MB).
_BATCH_CELLS = 2_000_000


def _resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples (with replacement) of ``values``."""
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_CELLS // len(values))
    means = [values[rng.integers(0, len(values), size=(min(batch, resamples - done), len(values)))].mean(axis=1)
             for done in range(0, resamples, batch)]
    return np.concatenate(means)


def bootstrap_mean_ci(values: Sequence[float], *, confidence: float = 0.95,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values``.

    One value gives a zero-width interval at that value; no values is a caller bug.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap_mean_ci needs at least one value")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    return _percentile_interval(_resampled_means(arr, resamples, seed), confidence)


def paired_bootstrap_delta_ci(candidate: Sequence[float], baseline: Sequence[float], *,
                              confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                              seed: int = DEFAULT_SEED) -> tuple[float, float, float]:
    """Mean of ``candidate - baseline`` over paired cases and its percentile bootstrap CI.

    Cases are resampled as pairs, which keeps the per-case correlation between the two
    models (both find the same cases hard) and gives a much tighter interval than two
    independent CIs would.
    """
    a = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    deltas = a - b
    lo, hi = bootstrap_mean_ci(deltas, confidence=confidence, resamples=resamples, seed=seed)
    return float(deltas.mean()), lo, hi


def mcnemar_exact_p(candidate_only: int, baseline_only: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pair counts.

    ``candidate_only`` cases pass only for the candidate, ``baseline_only`` only for the
    baseline. Under "no difference" each discordant case is a fair coin, so the p-value is
    the two-sided binomial tail ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Bin(b + c, 1/2)``.
    """
    if candidate_only < 0 or baseline_only < 0:
        raise ValueError("discordant counts must be non-negative")
    n = candidate_only + baseline_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(candidate_only, baseline_only) + 1))
    return min(1.0, 2.0 * tail / 2**n)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one case with ``c`` of ``n`` samples passing (Chen et al. 2021).

    The product form ``1 - prod(1 - k/i for i in n-c+1..n)`` equals
    ``1 - C(n-c, k) / C(n, k)`` without the huge binomials.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean (sample standard deviation / sqrt(n)); None below two values."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return None
    return float(arr.std(ddof=1) / math.sqrt(arr.size))
