"""Usage drivers' maths against references computed independently: Johnson's relative weights
(orthogonal predictors, least squares' R², the SVD formulation), the interval of a difference
(Newcombe's published example, the adjusted-Wald variances), the ranking's guards."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxloop.insights.drivers import compare, metric_of, relative_weights, usage_drivers


def r_squared_lstsq(x: np.ndarray, y: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return float(1 - residual @ residual / ((y - y.mean()) @ (y - y.mean())))


def johnson_by_svd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson (2000) as first written: the orthonormal Z closest to the standardised X from
    its SVD (Z = U·Vᵀ), y regressed on Z, each X regressed on Z."""
    zx = (x - x.mean(axis=0)) / x.std(axis=0)
    zy = (y - y.mean()) / y.std()
    u, _, vt = np.linalg.svd(zx, full_matrices=False)
    z = u @ vt * math.sqrt(len(y))  # columns of unit variance, uncorrelated
    beta = np.linalg.lstsq(z, zy, rcond=None)[0]
    lam = np.linalg.lstsq(z, zx, rcond=None)[0]  # lam[k, j]: x_j on z_k
    return (lam**2).T @ (beta**2)


def test_orthogonal_predictors_get_their_squared_correlations() -> None:
    # A balanced 2 × 2 design: the two indicators are exactly uncorrelated.
    a = np.array([0, 0, 1, 1] * 25, dtype=float)
    b = np.array([0, 1, 0, 1] * 25, dtype=float)
    rng = np.random.default_rng(3)
    y = 2 * a + 0.5 * b + rng.normal(0, 1, 100)
    weights = relative_weights(np.column_stack([a, b]), y)
    expected = [np.corrcoef(a, y)[0, 1] ** 2, np.corrcoef(b, y)[0, 1] ** 2]
    assert weights.raw == pytest.approx(expected, rel=1e-9)
    assert weights.r_squared == pytest.approx(r_squared_lstsq(np.column_stack([a, b]), y))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_correlated_data_sum_to_r_squared_and_match_the_svd_formulation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=400)
    x = np.column_stack(
        [
            (latent + rng.normal(size=400)) > 0,
            (latent + 0.3 * rng.normal(size=400)) > 0,
            rng.random(400) < 0.3,
            rng.random(400) < 0.6,
        ]
    ).astype(float)
    y = x @ np.array([1.0, 0.5, -0.8, 0.0]) + rng.normal(0, 1.5, 400)
    weights = relative_weights(x, y)
    assert weights.r_squared == pytest.approx(r_squared_lstsq(x, y), rel=1e-9)
    assert weights.raw.sum() == pytest.approx(weights.r_squared)
    assert weights.raw == pytest.approx(johnson_by_svd(x, y), rel=1e-7)
    assert (weights.raw >= 0).all()


def test_an_identical_twin_shares_the_credit_instead_of_doubling_it() -> None:
    rng = np.random.default_rng(5)
    used = (rng.random(300) < 0.5).astype(float)
    y = 3 * used + rng.normal(0, 1, 300)
    alone = relative_weights(used[:, None], y)
    twins = relative_weights(np.column_stack([used, used]), y)
    assert twins.raw == pytest.approx([alone.r_squared / 2] * 2, rel=1e-6)
    assert twins.r_squared == pytest.approx(alone.r_squared, rel=1e-6)


def test_refuses_what_has_no_weights() -> None:
    with pytest.raises(ValueError, match="vary"):
        relative_weights(np.ones((10, 1)), np.arange(10.0))
    with pytest.raises(ValueError, match="vary"):
        relative_weights(np.arange(10.0)[:, None], np.ones(10))
    with pytest.raises(ValueError, match="n × p"):
        relative_weights(np.ones(10), np.ones(10))


def test_a_difference_of_shares_is_newcombes_hybrid_score_interval() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example: 56/70 against 48/80;
    # method 10 gives 0.0524 to 0.3339.
    users = [5.0] * 56 + [1.0] * 14
    non_users = [5.0] * 48 + [1.0] * 32
    result = compare("csat", users, non_users)
    assert result.difference == pytest.approx(20.0)
    assert result.low == pytest.approx(5.24, abs=0.01)
    assert result.high == pytest.approx(33.39, abs=0.01)
    assert result.significant


def test_an_nps_difference_adds_the_adjusted_wald_variances() -> None:
    users = [10.0] * 30 + [8.0] * 10 + [3.0] * 10  # NPS 40
    non_users = [10.0] * 10 + [8.0] * 10 + [3.0] * 20  # NPS −25
    result = compare("nps", users, non_users)
    z = 1.96

    def adjusted(p: int, n: int, d: int) -> tuple[float, float]:
        n_adj = n + z * z / 2
        pp, dd = (p + z * z / 4) / n_adj, (d + z * z / 4) / n_adj
        return pp - dd, (pp + dd - (pp - dd) ** 2) / n_adj

    (a, va), (b, vb) = adjusted(30, 50, 10), adjusted(10, 40, 20)
    assert result.users.value == pytest.approx(40.0)
    assert result.non_users.value == pytest.approx(-25.0)
    assert result.difference == pytest.approx(65.0)
    assert result.low == pytest.approx(100 * (a - b - z * math.sqrt(va + vb)))
    assert result.high == pytest.approx(100 * (a - b + z * math.sqrt(va + vb)))
    assert result.significant


def test_a_ces_difference_is_welchs() -> None:
    rng = np.random.default_rng(8)
    users = rng.integers(1, 4, 2000).astype(float).tolist()
    non_users = rng.integers(2, 8, 3000).astype(float).tolist()
    result = compare("ces", users, non_users)
    a, b = np.array(users), np.array(non_users)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    # With thousands of raters Welch's t is the normal: 1.96 standard errors either side.
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert result.high - result.difference == pytest.approx(1.96 * se, rel=2e-3)  # type: ignore[operator]


def test_small_sides_are_never_significant() -> None:
    result = compare("nps", [10.0] * 9, [0.0] * 50)
    assert result.low is not None and result.low > 0  # the interval alone would say so
    assert not result.significant
    assert metric_of("nps", []).value is None
    assert compare("nps", [], [1.0]).difference is None


def test_drivers_rank_the_feature_that_matters_and_flag_twins() -> None:
    rng = np.random.default_rng(11)
    n = 400
    reports = rng.random(n) < 0.5
    exports = reports ^ (rng.random(n) < 0.05)  # a twin of reports, 95% the same
    search = rng.random(n) < 0.5
    everyone = np.ones(n, dtype=bool)
    scores = np.clip(np.round(6 + 3 * reports + rng.normal(0, 1.5, n)), 0, 10)
    used = np.column_stack([search, exports, reports, everyone])
    answer = usage_drivers(
        "nps",
        scores.tolist(),
        used,
        ["search", "exports", "reports", "dashboards"],
        since="2026-01-01",
        until="2026-06-30",
        window_days=30,
    )
    by_name = {f.feature: f for f in answer.features}
    assert answer.ranked and answer.features[0].feature == "reports"
    assert by_name["reports"].significant and by_name["exports"].significant
    assert not by_name["search"].significant
    # The twin gets a share, but less than the feature itself: credit split, not doubled.
    assert by_name["reports"].share_of_r2 > by_name["exports"].share_of_r2 > 0.1  # type: ignore[operator]
    total = sum(f.share_of_r2 or 0 for f in answer.features)
    assert total == pytest.approx(1.0, abs=1e-3)
    assert by_name["dashboards"].rank is None and by_name["dashboards"].users == n
    assert [(p.a, p.b) for p in answer.correlated] == [("exports", "reports")]
    assert any("every rater or by none: dashboards" in note for note in answer.notes)
    assert answer.r_squared == pytest.approx(
        r_squared_lstsq(used[:, :3].astype(float), scores), abs=1e-4
    )


def test_too_few_raters_give_no_ranking_and_say_why() -> None:
    answer = usage_drivers(
        "nps",
        [9.0, 3.0, 10.0, 7.0],
        [[True], [False], [True], [False]],
        ["reports"],
        since="2026-01-01",
        until="2026-01-31",
        window_days=30,
    )
    assert not answer.ranked and answer.r_squared is None
    assert answer.features[0].rank is None and answer.features[0].users == 2
    assert any("no ranking: 4 raters" in note for note in answer.notes)
