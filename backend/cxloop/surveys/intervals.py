"""Confidence intervals and the distributions behind them: the one definition health's
feedback component and the insights API both use (docs/insights-ratings.md, "The maths").

Pure Python, no SciPy: the normal distribution through ``math.erf``; Student's t through the
regularised incomplete beta function, evaluated by its continued fraction (modified Lentz).
This module imports nothing from cxloop, so any layer may use it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final, NamedTuple

__all__ = [
    "Z95",
    "Interval",
    "adjusted_wald",
    "incomplete_beta",
    "mean_interval",
    "normal_cdf",
    "normal_quantile",
    "t_cdf",
    "t_quantile",
    "wilson",
]

# The normal quantile of a two-sided 95% interval, as conventionally rounded (health has always
# used it; the exact value 1.95996… moves nothing visible).
Z95: Final = 1.96

_BETA_EPSILON = 1e-15
_BETA_TINY = 1e-300
_BETA_MAX_TERMS = 500


class Interval(NamedTuple):
    """An estimate and the bounds of its interval."""

    estimate: float
    low: float
    high: float


def normal_cdf(x: float) -> float:
    """P(Z ≤ x) for a standard normal Z."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """The x with P(Z ≤ x) = p, for 0 < p < 1 (rational start, refined by Newton on erfc)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"normal_quantile needs 0 < p < 1, got {p}")
    # Start from the logistic-like approximation of Tukey's lambda family, then Newton steps
    # on the exact CDF converge to machine precision in a few iterations.
    x: float = 4.91 * (math.pow(p, 0.14) - math.pow(1.0 - p, 0.14))
    for _ in range(50):
        error = normal_cdf(x) - p
        density = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        if density == 0.0:
            break
        step = error / density
        x -= step
        if abs(step) < 1e-14 * max(1.0, abs(x)):
            break
    return x


def _beta_continued_fraction(x: float, a: float, b: float) -> float:
    # I_x(a, b) = x^a (1-x)^b / (a B(a, b)) · 1/(1+ d1/(1+ d2/(1+ …))) with
    # d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _BETA_TINY else _BETA_TINY)
    fraction = d
    for m in range(1, _BETA_MAX_TERMS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _BETA_TINY else _BETA_TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _BETA_TINY else _BETA_TINY
            fraction *= c * d
        if abs(c * d - 1.0) < _BETA_EPSILON:
            break
    return fraction


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1."""
    if a <= 0 or b <= 0:
        raise ValueError("incomplete_beta needs a > 0 and b > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast for x < (a+1)/(a+b+2); otherwise use I_x(a,b) = 1 − I_{1−x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(x, a, b) / a
    return 1.0 - front * _beta_continued_fraction(1.0 - x, b, a) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom (df > 0, not necessarily whole)."""
    if df <= 0:
        raise ValueError("t_cdf needs df > 0")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if t * t < df:
        # Near 0, df/(df + t²) rounds to 1: use the complement, which keeps t's precision.
        centre = 0.5 * incomplete_beta(t * t / (df + t * t), 0.5, df / 2.0)
        return 0.5 + centre if t > 0 else 0.5 - centre
    tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p for Student's t with ``df`` degrees of freedom."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile needs 0 < p < 1, got {p}")
    if df <= 0:
        raise ValueError("t_quantile needs df > 0")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, max(1.0, normal_quantile(p))
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):  # bisection: slow but sure, and cached
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


def adjusted_wald(
    promoters: int, passives: int, detractors: int, z: float = Z95
) -> tuple[float, float]:
    """NPS-style score in [−1, 1] shrunk toward 0 for few answers, and its half-width.

    The adjusted Wald interval for a difference of two multinomial proportions (Agresti–Caffo
    style: z²/4 pseudo-answers added to each of promoters and detractors, z²/2 to n)."""
    n = promoters + passives + detractors
    n_adj = n + z * z / 2
    p = (promoters + z * z / 4) / n_adj
    d = (detractors + z * z / 4) / n_adj
    score = p - d
    variance = max(0.0, p + d - score * score) / n_adj
    return score, z * math.sqrt(variance)


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """The proportion successes/n and its Wilson score interval (n = 0: 0 in [0, 1])."""
    if n <= 0:
        return Interval(0.0, 0.0, 1.0)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(n: int, mean: float, variance: float, confidence: float = 0.95) -> Interval:
    """A mean with its Student-t interval, from n, the mean and the sample variance (n − 1).

    With one value (or none) there is no spread to go by: the interval is the point."""
    if n < 2:
        return Interval(mean, mean, mean)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * math.sqrt(max(0.0, variance) / n)
    return Interval(mean, mean - half, mean + half)
