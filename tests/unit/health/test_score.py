"""The score's components: bounds, monotonicity, shrinkage, explanation."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from cxloop.health.score import (
    RED_FLOOR,
    RED_PENALTY,
    AccountInputs,
    Component,
    HealthConfig,
    ProjectNorms,
    adjusted_wald,
    penalised,
    score_account,
)

KEY = ["a", "b", "c", "d"]

inputs_strategy = st.builds(
    AccountInputs,
    account_id=st.just("acct"),
    seats=st.one_of(st.none(), st.integers(1, 500)),
    history_days=st.integers(1, 400),
    users_30=st.integers(0, 300),
    users_7=st.integers(0, 300),
    active_days_28=st.integers(0, 28),
    events_recent=st.integers(0, 10_000),
    events_baseline=st.integers(0, 30_000),
    days_since_active=st.one_of(st.none(), st.integers(0, 89)),
    features_30=st.sets(st.sampled_from(["a", "b", "c", "d", "x"])),
    breadth_recent=st.integers(0, 12),
    breadth_baseline=st.integers(0, 12),
    user_days_28=st.integers(0, 3000),
    events_28=st.integers(0, 30_000),
    promoters=st.integers(0, 50),
    passives=st.integers(0, 50),
    detractors=st.integers(0, 50),
    open_alerts=st.integers(0, 5),
).map(lambda i: dataclasses.replace(i, users_7=min(i.users_7, i.users_30)))


@given(inputs_strategy, st.floats(0.2, 3), st.floats(0, 20), st.floats(0, 50))
def test_everything_stays_within_bounds_and_adds_up(
    inputs: AccountInputs, ratio: float, per_seat: float, per_user_day: float
) -> None:
    norms = ProjectNorms(ratio, 1.0, per_seat, per_user_day)
    health = score_account(inputs, HealthConfig(), KEY, norms)
    assert 0 <= health.score <= 100
    assert all(0 <= c.normalised <= 100 for c in health.components)
    assert abs(sum(c.weight for c in health.components) - 1) < 1e-3
    total = sum(c.contribution for c in health.components)
    # Contributions add up to the score; only a sum below 0 (several components deep in the
    # red) is clamped.
    assert abs(total - health.score) < 0.1 or (health.score == 0 and total < 0)
    config = HealthConfig()
    assert health.band == (
        "green"
        if health.score >= config.green_at
        else "yellow"
        if health.score >= config.yellow_at
        else "red"
    )


@given(inputs_strategy, st.integers(1, 50), st.floats(0.2, 3))
def test_more_usage_never_lowers_the_score(inputs: AccountInputs, more: int, ratio: float) -> None:
    busier = dataclasses.replace(
        inputs,
        users_30=inputs.users_30 + more,
        users_7=inputs.users_7 + more,
        events_recent=inputs.events_recent + more,
        features_30=inputs.features_30 | {"a"},
        days_since_active=0,
        active_days_28=min(28, inputs.active_days_28 + 1),
    )
    before = score_account(inputs, HealthConfig(), KEY, ProjectNorms(ratio)).score
    after = score_account(busier, HealthConfig(), KEY, ProjectNorms(ratio)).score
    assert after >= before - 0.1


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(1, 10))
def test_the_adjusted_wald_interval_shrinks_with_more_answers(
    p: int, q: int, d: int, factor: int
) -> None:
    score, width = adjusted_wald(p, q, d)
    _, more_width = adjusted_wald(p * (factor + 1), q * (factor + 1), d * (factor + 1))
    assert -1 <= score <= 1 and width > 0
    assert more_width <= width + 1e-9


def test_three_detractors_do_not_swing_the_score_like_three_hundred() -> None:
    few, _ = adjusted_wald(0, 0, 3)
    many, _ = adjusted_wald(0, 0, 300)
    assert -0.65 < few < -0.5 and many < -0.98


def test_a_shared_dip_is_not_a_decline() -> None:
    account = AccountInputs("acct", 10, 200, 10, 6, 20, events_recent=600, events_baseline=3600,
                            days_since_active=0, features_30=set(KEY))  # fmt: skip
    # Everyone's usage halved (a public holiday): this account did what everyone did.
    trend = next(c for c in score_account(account, HealthConfig(), KEY, ProjectNorms(0.5)).components
                 if c.name == "trend")  # fmt: skip
    assert trend.normalised == 50 and trend.detail["significant"] is False
    # The same numbers when nobody else dipped: a significant decline.
    alone = next(c for c in score_account(account, HealthConfig(), KEY).components
                 if c.name == "trend")  # fmt: skip
    assert alone.normalised == 0 and alone.detail["significant"] is True


def _component(health_inputs: AccountInputs, name: str, **norms: float) -> Component:
    health = score_account(health_inputs, HealthConfig(), KEY, ProjectNorms(1.0, 0.85, **norms))
    return next(c for c in health.components if c.name == name)


def test_narrowing_feature_use_is_a_decline_and_says_so() -> None:
    steady = AccountInputs("acct", 10, 200, 8, 6, 20, events_recent=1000, events_baseline=3000,
                           days_since_active=0, features_30=set(KEY),
                           breadth_recent=6, breadth_baseline=7)  # fmt: skip
    narrowing = dataclasses.replace(steady, breadth_recent=2)
    a, b = _component(steady, "trend"), _component(narrowing, "trend")
    # Volume is flat for both; the narrowing account's breadth fell to a third of its own.
    assert a.normalised == 50 and not a.detail["narrowing"]
    assert b.normalised < 20 and b.detail["narrowing"]
    health = score_account(narrowing, HealthConfig(), KEY, ProjectNorms(1.0, 0.85))
    assert health.score < score_account(steady, HealthConfig(), KEY, ProjectNorms(1.0, 0.85)).score
    assert any("feature use narrowing: 2 features" in d for d in health.drivers)


def test_idle_seats_and_thin_sessions_count_against_the_median_account() -> None:
    busy = AccountInputs("acct", 10, 200, 8, 6, 20, events_recent=1000, events_baseline=3000,
                         days_since_active=0, features_30=set(KEY),
                         user_days_28=80, events_28=800)  # fmt: skip
    # Same monthly actives, but they show up a quarter as often and do half as much.
    idle = dataclasses.replace(busy, user_days_28=20, events_28=100)
    norms = {"user_days_per_seat": 8.0, "actions_per_user_day": 10.0}
    assert _component(busy, "utilisation", **norms).detail["user_days_vs_median"] == 1.0
    assert (_component(idle, "utilisation", **norms).normalised
            < _component(busy, "utilisation", **norms).normalised)  # fmt: skip
    assert _component(idle, "depth", **norms).detail["actions_vs_median"] == 0.5
    assert (_component(idle, "depth", **norms).normalised
            < _component(busy, "depth", **norms).normalised)  # fmt: skip
    # Without the project's medians (a first refresh, no seats) the plain measures apply.
    assert "user_days_vs_median" not in _component(idle, "utilisation").detail


@given(st.floats(0, 100), st.floats(0, 100))
def test_a_component_in_the_red_is_not_averaged_away(low: float, high: float) -> None:
    # Points below the red floor count five-fold; above it, one for one; never decreasing.
    assert penalised(high) >= penalised(low) or high < low
    if low < RED_FLOOR:
        assert penalised(low) == low - RED_PENALTY * (RED_FLOOR - low)
    else:
        assert penalised(low) == low
