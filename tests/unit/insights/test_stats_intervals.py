"""surveys.intervals against tabulated values, closed forms and simulated coverage."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.surveys import (
    adjusted_wald,
    incomplete_beta,
    mean_interval,
    normal_cdf,
    normal_quantile,
    t_cdf,
    t_quantile,
    wilson,
)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, 0.0),
        (0.8413447460685429, 1.0),
        (0.95, 1.6448536269514722),
        (0.975, 1.959963984540054),
        (0.995, 2.5758293035489004),
        (0.999, 3.090232306167813),
        (1e-10, -6.361340902404056),
    ],
)
def test_normal_quantile_matches_tables(p: float, expected: float) -> None:
    assert normal_quantile(p) == pytest.approx(expected, abs=1e-9)


@given(st.floats(-8, 5))  # beyond 5, 1 − Φ(x) is below a double's resolution near 1
def test_normal_quantile_inverts_the_cdf(x: float) -> None:
    assert normal_quantile(normal_cdf(x)) == pytest.approx(x, abs=1e-7)


# Student t quantiles as printed in statistical tables (two-sided 95% and 99%).
@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706204736174707),
        (0.975, 2, 4.302652729749464),
        (0.975, 5, 2.570581835636314),
        (0.975, 9, 2.262157162740992),
        (0.975, 10, 2.228138851986274),
        (0.975, 30, 2.042272456301238),
        (0.975, 120, 1.979930405052777),
        (0.995, 4, 4.604094871415897),
        (0.995, 20, 2.845339709785144),
        (0.95, 7, 1.894578605090006),
    ],
)
def test_t_quantile_matches_tables(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, rel=1e-9)
    assert t_cdf(expected, df) == pytest.approx(p, abs=1e-10)


@given(st.floats(-50, 50))
def test_t_cdf_matches_its_closed_forms(t: float) -> None:
    # df = 1 is the Cauchy distribution; df = 2 has an algebraic CDF.
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_t_tends_to_the_normal() -> None:
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959963984540054, abs=1e-6)


def _t_cdf_by_simpson(t: float, df: float, steps: int = 20_000) -> float:
    """0.5 + ∫₀ᵗ of the t density, by Simpson's rule: independent of the continued fraction."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))

    h = t / steps
    total = density(0) + density(t)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return 0.5 + total * h / 3


@pytest.mark.parametrize(("t", "df"), [(0.7, 3.5), (2.1, 17.3), (-1.3, 24.9), (3.0, 8)])
def test_t_cdf_agrees_with_numerical_integration(t: float, df: float) -> None:
    assert t_cdf(t, df) == pytest.approx(_t_cdf_by_simpson(t, df), abs=1e-10)


@given(st.floats(0, 1), st.integers(1, 12), st.integers(1, 12))
def test_incomplete_beta_matches_the_binomial_sum(x: float, a: int, b: int) -> None:
    # For whole a, b: I_x(a, b) = P(Binomial(a + b − 1, x) ≥ a).
    n = a + b - 1
    expected = sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))
    assert incomplete_beta(x, a, b) == pytest.approx(expected, abs=1e-12)


def test_wilson_matches_the_formula_and_stays_in_bounds() -> None:
    z = 1.96
    for successes, n in [(0, 10), (3, 10), (10, 10), (57, 100), (1, 1)]:
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        interval = wilson(successes, n)
        assert interval.estimate == p
        assert interval.low == pytest.approx(max(0, centre - half), abs=1e-12)
        assert interval.high == pytest.approx(min(1, centre + half), abs=1e-12)
        assert 0 <= interval.low <= p <= interval.high <= 1
    assert wilson(0, 0) == (0.0, 0.0, 1.0)


def test_mean_interval_matches_a_worked_example() -> None:
    values = [2.0, 4.0, 4.0, 5.0, 3.0, 6.0, 1.0, 5.0, 3.0, 7.0]
    n, mean, sd = len(values), statistics.fmean(values), statistics.stdev(values)
    half = 2.262157162740992 * sd / math.sqrt(n)  # t(0.975, 9) from the table
    interval = mean_interval(n, mean, statistics.variance(values))
    assert interval == pytest.approx((mean, mean - half, mean + half), abs=1e-10)
    assert mean_interval(1, 4.0, 0.0) == (4.0, 4.0, 4.0)


def _coverage(trials: int, sample: Callable[[], bool]) -> float:
    return sum(1 for _ in range(trials) if sample()) / trials


@pytest.mark.parametrize(("p", "n"), [(0.1, 40), (0.5, 30), (0.85, 60)])
def test_wilson_covers_about_95_percent(p: float, n: int) -> None:
    rng = random.Random(f"wilson-{p}-{n}")

    def covered() -> bool:
        successes = sum(1 for _ in range(n) if rng.random() < p)
        interval = wilson(successes, n)
        return interval.low <= p <= interval.high

    assert 0.92 <= _coverage(3000, covered) <= 0.985


@pytest.mark.parametrize(("promoters", "detractors", "n"), [(0.5, 0.2, 50), (0.3, 0.3, 25)])
def test_adjusted_wald_covers_about_95_percent(promoters: float, detractors: float, n: int) -> None:
    rng = random.Random(f"wald-{promoters}-{detractors}-{n}")
    truth = promoters - detractors

    def covered() -> bool:
        draws = [rng.random() for _ in range(n)]
        p = sum(x < promoters for x in draws)
        d = sum(x >= 1 - detractors for x in draws)
        score, half = adjusted_wald(p, n - p - d, d)
        return score - half <= truth <= score + half

    assert 0.92 <= _coverage(3000, covered) <= 0.985
