"""What the comments say feeds the feedback component: words over polite scores, churn intent
and competitors cap it in the red, and the drivers say so in words (docs/health.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cxloop.health.score import (
    RED_FLOOR,
    AccountInputs,
    HealthConfig,
    Words,
    adjusted_wald,
    measure_feedback,
    score_account,
    words_cap,
)
from cxloop.health.service import words_of

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
    features_30={"a", "b"},
)


def account(**changes: Any) -> AccountInputs:
    return dataclasses.replace(STEADY, **changes)


# Six polite scores (four passives, two promoters); four of the comments complain.
POLITE = account(promoters=2, passives=4)
COMPLAINING = Words(comments=5, negative=4, disagreeing=4, promoters=1, passives=1, detractors=4)


def test_negative_words_count_as_the_detractors_they_are() -> None:
    before = measure_feedback(POLITE, text=False)
    after = measure_feedback(dataclasses.replace(POLITE, words=COMPLAINING))
    assert before is not None and after is not None
    # The reference: the adjusted-Wald NPS of the worded segments, on the same 0–100 scale.
    expected, _ = adjusted_wald(1, 1, 4)
    assert after.raw == pytest.approx(expected)
    assert after.normalised == pytest.approx(50 + 50 * expected)
    assert before.normalised > 50 > after.normalised
    assert after.detail["words"]["disagreeing"] == 4


def test_one_negative_comment_does_not_swing_it_like_many() -> None:
    one = Words(comments=1, negative=1, disagreeing=1, promoters=1, passives=3, detractors=1)
    many = Words(comments=40, negative=40, disagreeing=40, promoters=0, passives=0, detractors=40)
    few = measure_feedback(account(promoters=2, passives=3, words=one))
    lots = measure_feedback(account(passives=40, words=many))
    assert few is not None and lots is not None
    assert 40 < few.normalised < 55  # shrunk toward neutral
    assert lots.normalised < 5


def test_switching_off_the_words_gives_the_ratings_alone() -> None:
    with_words = dataclasses.replace(POLITE, words=COMPLAINING)
    assert measure_feedback(with_words, text=False) == measure_feedback(POLITE)
    on = score_account(with_words, HealthConfig(), ["a", "b"])
    off = score_account(with_words, HealthConfig(feedback_text=False), ["a", "b"])
    assert on.score < off.score
    assert off == score_account(POLITE, HealthConfig(), ["a", "b"])


@pytest.mark.parametrize(
    ("churn", "competitor", "cap"),
    [(0, 0, 100.0), (0, 1, 50.0), (1, 0, RED_FLOOR / 2), (1, 3, RED_FLOOR / 2), (2, 0, 0.0)],
)
def test_churn_intent_and_competitors_cap_feedback_in_the_red(
    churn: int, competitor: int, cap: float
) -> None:
    words = Words(comments=3, promoters=3, churn_intent=churn, competitor_comments=competitor)
    assert words_cap(words) == cap
    # Three glowing promoters do not outweigh a comment that says the account is leaving.
    measure = measure_feedback(account(promoters=3, words=words))
    assert measure is not None
    assert measure.normalised == pytest.approx(min(cap, 50 + 50 * adjusted_wald(3, 0, 0)[0]))


def test_the_drivers_say_it_in_words() -> None:
    words = Words(
        comments=5,
        negative=3,
        disagreeing=2,
        passives=2,
        detractors=3,
        churn_intent=2,
        competitor_comments=1,
        competitors=("Acme BI",),
    )
    health = score_account(account(passives=5, words=words), HealthConfig(), ["a", "b"])
    feedback = next(d for d in health.drivers if "feedback" in d)
    assert feedback.startswith("▼ ")
    assert "2 comments in the last 90 days say they are switching tools or not renewing" in (
        feedback
    )
    assert "competitors named in the last 90 days: Acme BI" in feedback
    assert "2 of 5 comments negative although the score was passive or better" in feedback
    one = dataclasses.replace(words, churn_intent=1, competitors=(), disagreeing=0)
    text = score_account(account(passives=5, words=one), HealthConfig(), ["a", "b"]).drivers
    assert any("1 comment in the last 90 days says they are switching" in d for d in text)
    assert any("3 of 5 comments negative" in d for d in text)


def test_words_of_a_feedback_row() -> None:
    row = {"comments": 0}
    assert words_of(row) is None and words_of(None) is None
    row = {
        "comments": 4,
        "negative": 2,
        "disagreeing": 1,
        "w_promoters": 1,
        "w_passives": 1,
        "w_detractors": 2,
        "churn_intent": 1,
        "competitor_comments": 1,
        "competitor_names": ["Beta", "Acme"],
    }
    assert words_of(row) == Words(4, 2, 1, 1, 1, 2, 1, 1, ("Beta", "Acme"))


def test_without_the_words_alerts_opened_by_words_do_not_count_either() -> None:
    # Three open alerts, two of them opened only because a comment said the account leaves.
    inputs = account(passives=4, open_alerts=3, open_alerts_from_words=2)
    on = measure_feedback(inputs)
    off = measure_feedback(inputs, text=False)
    assert on is not None and off is not None
    neutral = 50 + 50 * adjusted_wald(0, 4, 0)[0]
    assert on.normalised == pytest.approx(neutral - 15) and on.detail["open_alerts"] == 3
    assert off.normalised == pytest.approx(neutral - 5) and off.detail["open_alerts"] == 1
    only_words = account(open_alerts=1, open_alerts_from_words=1)
    assert measure_feedback(only_words, text=False) is None
    assert measure_feedback(only_words) is not None
