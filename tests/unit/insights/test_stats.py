"""insights.stats: metrics, tests of change, difference in differences and BH, each against
a reference computed here from the textbook formula."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.insights.stats import (
    MIN_N,
    Change,
    Counts,
    benjamini_hochberg,
    change_against_rest,
    change_between,
    settle,
    summarise,
)
from cxloop.surveys import SCALES, Kind, segment_of


def counts_of(kind: Kind, scores: Sequence[float]) -> Counts:
    segments = [segment_of(kind, s) for s in scores]
    return Counts(
        n=len(scores),
        promoters=segments.count("promoter"),
        passives=segments.count("passive"),
        detractors=segments.count("detractor"),
        total=sum(scores),
        squares=sum(s * s for s in scores),
    )


def two_sided_normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def test_nps_metric_interval_and_variance() -> None:
    scores = [10] * 40 + [8] * 35 + [3] * 25
    summary = summarise("nps", counts_of("nps", scores))
    assert (summary.n, summary.promoters, summary.passives, summary.detractors) == (100, 40, 35, 25)
    assert summary.metric == pytest.approx(15.0)
    assert summary.variance == pytest.approx(1e4 * (0.40 + 0.25 - 0.15**2) / 100)
    # Adjusted Wald written out: z²/4 pseudo-answers each side, z²/2 in n.
    z = 1.96
    n_adj = 100 + z * z / 2
    p, d = (40 + z * z / 4) / n_adj, (25 + z * z / 4) / n_adj
    half = z * math.sqrt((p + d - (p - d) ** 2) / n_adj)
    assert summary.low == pytest.approx(100 * (p - d - half))
    assert summary.high == pytest.approx(100 * (p - d + half))


@pytest.mark.parametrize("kind", ["csat", "emoji", "thumbs"])
def test_share_satisfied_with_wilson(kind: Kind) -> None:
    scale = SCALES[kind]
    scores = [scale.promoter_edge] * 30 + [scale.detractor_edge] * 10
    summary = summarise(kind, counts_of(kind, scores))
    assert summary.metric == pytest.approx(75.0)
    assert summary.low is not None and summary.high is not None
    assert summary.low < 75.0 < summary.high
    assert summary.variance == pytest.approx(1e4 * 0.75 * 0.25 / 40)


def test_ces_mean_with_t_interval_and_low_effort() -> None:
    scores = [1.0, 2.0, 2.0, 3.0, 5.0, 6.0, 7.0, 2.0, 3.0, 1.0]
    summary = summarise("ces", counts_of("ces", scores))
    mean, sd = statistics.fmean(scores), statistics.stdev(scores)
    half = 2.262157162740992 * sd / math.sqrt(10)  # t(0.975, 9)
    assert summary.metric == pytest.approx(mean)
    assert (summary.low, summary.high) == pytest.approx((mean - half, mean + half), abs=1e-9)
    assert summary.low_effort == pytest.approx(70.0)  # scores ≤ 3
    assert summary.variance == pytest.approx(statistics.variance(scores) / 10)


def test_no_ratings_no_metric() -> None:
    summary = summarise("nps", Counts())
    assert (summary.n, summary.metric, summary.low, summary.variance) == (0, None, None, None)


def test_nps_change_is_a_normal_test_of_the_difference() -> None:
    now = summarise("nps", counts_of("nps", [10] * 50 + [7] * 30 + [2] * 20))
    before = summarise("nps", counts_of("nps", [10] * 35 + [7] * 30 + [2] * 35))
    change = change_between("nps", now, before)
    v1 = 1e4 * (0.5 + 0.2 - 0.3**2) / 100
    v0 = 1e4 * (0.35 + 0.35 - 0.0) / 100
    assert change.difference == pytest.approx(30.0)
    assert change.p == pytest.approx(two_sided_normal_p(30.0 / math.sqrt(v1 + v0)))
    assert (change.low, change.high) == pytest.approx(
        (30 - 1.96 * math.sqrt(v1 + v0), 30 + 1.96 * math.sqrt(v1 + v0))
    )
    assert change.tested and change.note is None


def test_csat_change_is_a_two_proportion_z_test() -> None:
    now = summarise("csat", counts_of("csat", [5] * 70 + [1] * 30))
    before = summarise("csat", counts_of("csat", [5] * 50 + [1] * 50))
    change = change_between("csat", now, before)
    pooled = 120 / 200
    z = (0.7 - 0.5) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert change.difference == pytest.approx(20.0)
    assert change.p == pytest.approx(two_sided_normal_p(z))


def test_ces_change_is_welchs_t_test_on_a_published_example() -> None:
    # Welch's (1947)-style example as used in textbooks: t ≈ −2.46, ν ≈ 24.9, p ≈ 0.021.
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
          21.4]  # fmt: skip
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
          24.4]  # fmt: skip
    change = change_between("ces", summarise("ces", counts_of("ces", a1)),
                            summarise("ces", counts_of("ces", a2)))  # fmt: skip
    v1, v2 = statistics.variance(a1) / 15, statistics.variance(a2) / 15
    t = (statistics.fmean(a1) - statistics.fmean(a2)) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / 14 + v2**2 / 14)
    assert (round(t, 2), round(df, 1)) == (-2.46, 25.0)
    assert change.difference == pytest.approx(statistics.fmean(a1) - statistics.fmean(a2))
    assert change.p == pytest.approx(0.0214, abs=5e-4)


def test_small_groups_are_never_significant() -> None:
    now = summarise("nps", counts_of("nps", [10] * (MIN_N - 1)))
    before = summarise("nps", counts_of("nps", [0] * 200))
    change = change_between("nps", now, before)
    assert change.p is not None and change.p < 1e-6
    [settled] = settle([change])
    assert not settled.significant and settled.q is None
    assert settled.note is not None and "fewer than 10" in settled.note
    empty = change_between("nps", summarise("nps", Counts()), before)
    assert (empty.difference, empty.p, empty.tested) == (None, None, False)
    assert empty.note is not None and "no ratings" in empty.note


def test_a_shared_dip_cancels_out_against_the_rest() -> None:
    # Every segment drops 20 points (a holiday); one segment also drops 25 more.
    def nps(promoters: int, detractors: int, n: int = 400) -> Counts:
        return Counts(n, promoters, n - promoters - detractors, detractors)

    rest_before, rest_now = nps(200, 80), nps(160, 120)  # 30 → 10
    shared_before, shared_now = nps(200, 80), nps(160, 120)  # same dip
    hit_before, hit_now = nps(200, 80), nps(90, 150)  # 30 → −15

    def did(before: Counts, now: Counts) -> Change:
        return change_against_rest(
            "nps", summarise("nps", now), summarise("nps", before),
            summarise("nps", rest_now), summarise("nps", rest_before),
        )  # fmt: skip

    plain = change_between("nps", summarise("nps", shared_now), summarise("nps", shared_before))
    shared, hit = settle([did(shared_before, shared_now), did(hit_before, hit_now)])
    assert settle([plain])[0].significant  # the dip is real...
    assert shared.difference == pytest.approx(0.0) and not shared.significant  # ...but shared
    assert hit.difference == pytest.approx(-25.0) and hit.significant
    variances = [summarise("nps", c).variance for c in (hit_now, hit_before, rest_now, rest_before)]
    half = 1.96 * math.sqrt(sum(v for v in variances if v is not None))
    assert (hit.low, hit.high) == pytest.approx((-25 - half, -25 + half))


def test_benjamini_hochberg_worked_example() -> None:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005, None]) == pytest.approx(
        [0.02, 0.04, 0.04, 0.02, None]
    )


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_benjamini_hochberg_matches_its_definition(p_values: list[float]) -> None:
    # q_i = min over j with p_j ≥ p_i of p_j · m / rank_j (ranks by ascending p).
    m = len(p_values)
    ordered = sorted(p_values)
    expected = [
        min(1.0, min(ordered[j] * m / (j + 1) for j in range(m) if ordered[j] >= p))
        for p in p_values
    ]
    assert benjamini_hochberg(p_values) == pytest.approx(expected)
