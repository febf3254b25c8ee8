"""Each component of the score on its own: what it measures, when it is absent, its 0–100 value."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from cxloop.health.score import (
    DEFAULT_WEIGHTS,
    AccountInputs,
    HealthConfig,
    Measure,
    ProjectNorms,
    band_of,
    confidence_of,
    measure_adoption,
    measure_depth,
    measure_feedback,
    measure_recency,
    measure_trend,
    measure_utilisation,
    score_account,
    weigh,
)

# A steady account: 10 seats, 8 monthly actives, 42 events a week for the last 8 weeks.
STEADY = AccountInputs(
    account_id="acct",
    seats=10,
    history_days=200,
    users_30=8,
    users_7=4,
    active_days_28=20,
    events_recent=84,
    events_baseline=252,
    days_since_active=0,
)
NO_NORMS = ProjectNorms()


def account(**changes: Any) -> AccountInputs:
    return dataclasses.replace(STEADY, **changes)


def test_adoption_is_the_share_of_key_features_used() -> None:
    measure = measure_adoption(account(features_30={"b", "a", "other"}), ["a", "b", "c", "d"])
    assert measure == Measure("adoption", 0.5, 50.0, {"used": ["a", "b"], "key_features": 4})
    assert measure_adoption(account(features_30={"a"}), []) is None


@pytest.mark.parametrize("seats", [None, 0])
def test_utilisation_needs_seats(seats: int | None) -> None:
    assert measure_utilisation(account(seats=seats), NO_NORMS) is None


def test_utilisation_is_monthly_actives_per_seat_without_a_project_median() -> None:
    measure = measure_utilisation(account(users_30=8), NO_NORMS)
    assert measure is not None
    assert (measure.raw, measure.normalised) == (0.8, 80.0)
    assert measure.detail == {"active_users_30d": 8, "seats": 10}
    # More actives than seats: the raw value says so, the 0–100 value stops at 100.
    over = measure_utilisation(account(users_30=15), NO_NORMS)
    assert over is not None and (over.raw, over.normalised) == (1.5, 100.0)


def test_utilisation_with_a_median_weighs_how_often_seats_are_used() -> None:
    norms = ProjectNorms(user_days_per_seat=4.0)
    # Half from actives per seat (0.8 → 40), half from seat-days against the median (capped at 2×).
    at_median = measure_utilisation(account(user_days_28=40), norms)
    twice = measure_utilisation(account(user_days_28=80), norms)
    far_beyond = measure_utilisation(account(user_days_28=800), norms)
    idle = measure_utilisation(account(user_days_28=0), norms)
    assert at_median is not None and at_median.normalised == 40 + 25
    assert at_median.detail["user_days_vs_median"] == 1.0
    assert twice is not None and twice.normalised == 40 + 50
    assert far_beyond is not None and far_beyond.normalised == twice.normalised
    assert idle is not None and idle.normalised == 40


def test_depth_is_regularity_and_stickiness() -> None:
    # 20 of 28 days is full regularity (50); 4 of 8 monthly users active this week (25).
    measure = measure_depth(account(active_days_28=20, users_7=4, users_30=8), NO_NORMS)
    assert measure == Measure("depth", 20 / 28, 75.0, {"active_days_28d": 20, "wau_mau": 0.5})
    none_active = measure_depth(account(active_days_28=0, users_7=0, users_30=0), NO_NORMS)
    assert (none_active.raw, none_active.normalised) == (0.0, 0.0)


def test_depth_with_a_median_adds_actions_per_user_day_as_one_third() -> None:
    norms = ProjectNorms(actions_per_user_day=5.0)
    busy = measure_depth(account(user_days_28=100, events_28=1000), norms)  # 10 a day: 2×
    assert busy.normalised == pytest.approx((2 * 75 + 100) / 3)
    assert busy.detail["actions_vs_median"] == 2.0
    no_days = measure_depth(account(user_days_28=0, events_28=0), norms)
    assert no_days.normalised == pytest.approx(2 * 75 / 3)
    assert no_days.detail["actions_vs_median"] == 0.0


def test_trend_needs_a_baseline() -> None:
    assert measure_trend(account(events_baseline=0), NO_NORMS) is None


@pytest.mark.parametrize(
    ("events_recent", "normalised", "significant"),
    [(84, 50.0, False), (42, 0.0, True), (168, 100.0, True), (21, 0.0, True)],
)
def test_trend_is_volume_against_the_own_baseline_on_a_log_scale(
    events_recent: int, normalised: float, significant: bool
) -> None:
    measure = measure_trend(account(events_recent=events_recent), NO_NORMS)
    assert measure is not None
    assert measure.normalised == pytest.approx(normalised)
    assert measure.raw == pytest.approx(events_recent / 84)
    assert measure.detail["significant"] is significant


def test_trend_is_relative_to_the_project_and_the_worse_of_volume_and_breadth() -> None:
    shared_dip = measure_trend(account(events_recent=42), ProjectNorms(trend_ratio=0.5))
    assert shared_dip is not None and shared_dip.normalised == 50.0
    narrowing = measure_trend(account(breadth_recent=2, breadth_baseline=8), NO_NORMS)
    assert narrowing is not None and narrowing.normalised == 0.0
    assert narrowing.detail["set_by"] == "breadth" and narrowing.detail["narrowing"] is True
    wider = measure_trend(account(breadth_recent=8, breadth_baseline=4), NO_NORMS)
    assert wider is not None and wider.normalised == 50.0  # volume is flat: the worse
    assert wider.detail["set_by"] == "volume" and wider.detail["narrowing"] is False


@pytest.mark.parametrize(
    ("days", "normalised"), [(0, 100.0), (7, 100 / math.e), (14, 100 / math.e**2), (None, 0.0)]
)
def test_recency_decays_by_e_a_week(days: int | None, normalised: float) -> None:
    measure = measure_recency(account(days_since_active=days))
    assert measure.raw == days and measure.normalised == pytest.approx(normalised)


def test_feedback_needs_answers_or_open_alerts() -> None:
    assert measure_feedback(account()) is None


@pytest.mark.parametrize(("open_alerts", "normalised"), [(1, 45.0), (3, 35.0), (9, 35.0)])
def test_open_alerts_cost_five_points_each_up_to_fifteen(
    open_alerts: int, normalised: float
) -> None:
    measure = measure_feedback(account(open_alerts=open_alerts))
    assert measure is not None and measure.normalised == pytest.approx(normalised)


def test_feedback_follows_promoters_against_detractors() -> None:
    good = measure_feedback(account(promoters=300))
    bad = measure_feedback(account(detractors=300))
    mixed = measure_feedback(account(promoters=5, passives=2, detractors=5))
    assert good is not None and good.normalised > 99
    assert bad is not None and bad.normalised < 1
    assert mixed is not None and mixed.normalised == pytest.approx(50.0)
    assert mixed.detail["responses"] == 12


def test_weights_are_renormalised_over_the_components_an_account_has() -> None:
    measures = [Measure("depth", 0.5, 80.0, {}), Measure("recency", 0, 100.0, {})]
    depth, recency = weigh(measures, DEFAULT_WEIGHTS)
    assert depth.weight == pytest.approx(0.6) and recency.weight == pytest.approx(0.4)
    assert (depth.contribution, recency.contribution) == (48.0, 40.0)
    # A component in the red counts its shortfall below 30 five-fold.
    (red,) = weigh([Measure("depth", 0.0, 10.0, {})], DEFAULT_WEIGHTS)
    assert red.contribution == 10 - 4 * 20
    # A name without a weight counts for nothing, and no weights at all is not a division by 0.
    (unknown,) = weigh([Measure("other", None, 70.0, {})], DEFAULT_WEIGHTS)
    assert (unknown.weight, unknown.contribution) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("score", "band"), [(60.0, "green"), (59.9, "yellow"), (40.0, "yellow"), (39.9, "red")]
)
def test_bands_at_the_project_thresholds(score: float, band: str) -> None:
    assert band_of(score, HealthConfig()) == band


def test_confidence_is_low_with_thin_evidence() -> None:
    five = [Measure(name, None, 50.0, {}) for name in list(DEFAULT_WEIGHTS)[:5]]
    assert confidence_of(STEADY, five) == "normal"  # one component missing is fine
    assert confidence_of(STEADY, five[:4]) == "low"
    assert confidence_of(account(history_days=13), five) == "low"
    assert confidence_of(account(users_30=2, users_7=2), five) == "low"


def test_the_score_is_the_clamped_sum_of_the_components() -> None:
    health = score_account(account(features_30={"a"}, promoters=3), HealthConfig(), ["a", "b"])
    assert [c.name for c in health.components] == list(DEFAULT_WEIGHTS)
    assert health.score == round(sum(c.contribution for c in health.components), 1)
    assert health.band == band_of(health.score, HealthConfig())
