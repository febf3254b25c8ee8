"""The score's components: bounds, monotonicity, shrinkage, explanation."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from cxloop.health.score import AccountInputs, HealthConfig, adjusted_wald, score_account

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
    promoters=st.integers(0, 50),
    passives=st.integers(0, 50),
    detractors=st.integers(0, 50),
    open_alerts=st.integers(0, 5),
).map(lambda i: dataclasses.replace(i, users_7=min(i.users_7, i.users_30)))


@given(inputs_strategy, st.floats(0.2, 3))
def test_everything_stays_within_bounds_and_adds_up(inputs: AccountInputs, ratio: float) -> None:
    health = score_account(inputs, HealthConfig(), KEY, ratio)
    assert 0 <= health.score <= 100
    assert all(0 <= c.normalised <= 100 for c in health.components)
    assert abs(sum(c.weight for c in health.components) - 1) < 1e-3
    assert abs(sum(c.contribution for c in health.components) - health.score) < 0.1
    assert health.band == (
        "green" if health.score >= 70 else "yellow" if health.score >= 40 else "red"
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
    before = score_account(inputs, HealthConfig(), KEY, ratio).score
    after = score_account(busier, HealthConfig(), KEY, ratio).score
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
    trend = next(c for c in score_account(account, HealthConfig(), KEY, 0.5).components
                 if c.name == "trend")  # fmt: skip
    assert trend.normalised == 50 and trend.detail["significant"] is False
    # The same numbers when nobody else dipped: a significant decline.
    alone = next(c for c in score_account(account, HealthConfig(), KEY, 1.0).components
                 if c.name == "trend")  # fmt: skip
    assert alone.normalised == 0 and alone.detail["significant"] is True


def test_narrowing_feature_use_lowers_adoption_and_says_so() -> None:
    steady = AccountInputs("acct", 10, 200, 8, 6, 20, events_recent=1000, events_baseline=3000,
                           days_since_active=0, features_30=set(KEY),
                           breadth_recent=6, breadth_baseline=7)  # fmt: skip
    narrowing = dataclasses.replace(steady, breadth_recent=2)
    a = next(c for c in score_account(steady, HealthConfig(), KEY, 1.0, 0.85).components
             if c.name == "adoption")  # fmt: skip
    b = next(c for c in score_account(narrowing, HealthConfig(), KEY, 1.0, 0.85).components
             if c.name == "adoption")  # fmt: skip
    assert a.normalised == 100 and not a.detail["narrowing"]
    assert b.normalised < 70 and b.detail["narrowing"]
    health = score_account(narrowing, HealthConfig(), KEY, 1.0, 0.85)
    assert health.score < score_account(steady, HealthConfig(), KEY, 1.0, 0.85).score
