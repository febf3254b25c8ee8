"""The insights configuration: every problem named at once, in words that say what to do."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cxloop.insights.config import (
    MAX_USER_TRAITS,
    InsightsConfig,
    InsightsConfigError,
    validate_insights_config,
)


def problems(raw: Any) -> list[str]:
    with pytest.raises(InsightsConfigError) as caught:
        validate_insights_config(raw)
    assert caught.value.problems, "an error without problems says nothing"
    return caught.value.problems


def test_the_empty_configuration_is_the_default() -> None:
    assert validate_insights_config({}) == InsightsConfig()
    config = InsightsConfig()
    assert (config.alert_on_churn_intent, config.alert_on_competitor) == (True, True)


def test_a_full_configuration_round_trips_through_json() -> None:
    raw = {
        "user_dictionary": ["智能报表", "Smart Export"],
        "topics": [
            {"id": "performance", "names": {"en": "Speed", "zh-CN": "速度"}},
            {"id": "billing", "names": {"en": "Billing"}, "terms": ["发票", "invoice"]},
            {"id": "mobile", "enabled": False},
        ],
        "competitors": ["Notion", "飞书"],
        "user_traits": ["role", "department"],
        "alert_on_churn_intent": True,
        "alert_on_competitor": False,
    }
    config = validate_insights_config(raw)
    assert config.user_traits == ["role", "department"]
    assert config.alert_on_competitor is False
    assert [t.id for t in config.topics] == ["performance", "billing", "mobile"]
    text = config.text_config()
    assert text.competitors == ["Notion", "飞书"] and text.user_dictionary[0] == "智能报表"
    # What is stored is read back as the same configuration.
    assert validate_insights_config(msgspec.json.decode(msgspec.json.encode(config))) == config


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        {
            "colour": "blue",
            "user_dictionary": ["ok", 7, "bad\x00term"],
            "topics": [{"id": "billing", "names": {"en": "Billing"}, "terms": ["x"], "size": 3}],
            "competitors": "Notion",
            "user_traits": ["role", "role", "", 5],
            "alert_on_churn_intent": "yes",
        }
    )
    text = "\n".join(found)
    for expected in [
        "unknown field 'colour'",
        "user_dictionary[1]",
        "user_dictionary[2]",
        "size",  # the unknown topic field
        "competitors",
        "user_traits[1]: 'role' is listed twice",
        "user_traits[2] must not be blank",
        "user_traits[3] must be a string",
        "alert_on_churn_intent must be true or false",
    ]:
        assert expected in text, (expected, found)
    assert len(found) >= 9


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "must be a JSON object"),
        ({"user_traits": "role"}, "user_traits must be a list"),
        ({"user_traits": [f"t{i}" for i in range(MAX_USER_TRAITS + 1)]}, "at most 20"),
        ({"user_traits": ["x" * 101]}, "longer than 100"),
        ({"user_traits": ["a\x00b"]}, "NUL"),
        ({"alert_on_competitor": 1}, "alert_on_competitor must be true or false"),
        ({"user_dictionary": ["x" * 5000]}, "user_dictionary[0]"),
        ({"topics": [{"names": {"en": "No id"}}]}, "topics[0].id"),
    ],
)
def test_one_problem_named(raw: Any, expected: str) -> None:
    assert any(expected in problem for problem in problems(raw)), problems(raw)
