import numpy as np
import pytest

from graphaug.stats import mean_interval, paired_comparison


def test_paired_comparison_against_direct_formulas():
    from scipy import stats
    rng = np.random.default_rng(0)
    b = rng.normal(0.75, 0.01, 10)
    a = b + 0.01 + rng.normal(0, 0.002, 10)
    out = paired_comparison(a, b)
    d = a - b
    half = stats.t.ppf(0.975, 9) * d.std(ddof=1) / np.sqrt(10)
    assert out["mean"] == pytest.approx(d.mean())
    assert (out["low"], out["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert out["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert out["significant"] and out["wins"] == 10 and out["n"] == 10
    same = paired_comparison(b, b)
    assert same["wilcoxon_p"] == 1.0 and not same["significant"]
    noisy = paired_comparison(b + rng.normal(0, 0.01, 10), b)
    assert noisy["low"] < noisy["mean"] < noisy["high"]


def test_errors():
    with pytest.raises(ValueError, match="same seeds"):
        paired_comparison([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])
