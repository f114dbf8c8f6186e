"""Paired comparisons of two methods over the same seeds (same folds): the statistics behind
every "A beats B" claim in the benchmark reports."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["paired_comparison", "mean_interval"]


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """`(mean, low, high)`: the Student-t confidence interval of the mean of `values`."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        raise ValueError(f"an interval needs at least 2 values, got {v.size}")
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def paired_comparison(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    r"""`a - b` per seed: mean, `level` t-interval and a two-sided Wilcoxon signed-rank test.

    Args:
        a (sequence of float): one score per seed.
        b (sequence of float): one score per seed, the same seeds in the same order.
        level (float): confidence level of the interval. (default: `0.95`)

    Returns:
        dict with `mean`, `low`, `high`, `wilcoxon_p` (`1.0` when every difference is
        zero), `wins` (seeds where `a > b`), `n` and `significant` (the interval
        excludes zero).

    Example:
        >>> paired_comparison([0.80, 0.82, 0.81], [0.78, 0.80, 0.80])["mean"]  # doctest: +SKIP
        0.0166...
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need the same seeds: shapes {a.shape} and {b.shape}")
    diff = a - b
    mean, low, high = mean_interval(diff, level)
    p = 1.0 if not np.any(diff) else float(stats.wilcoxon(diff).pvalue)
    return {"mean": mean, "low": low, "high": high, "wilcoxon_p": p,
            "wins": int((diff > 0).sum()), "n": int(diff.size),
            "significant": bool(low > 0 or high < 0)}
