"""validate_text_config: a usable TextConfig, or every problem named in plain words."""

from __future__ import annotations

import pytest

from cxloop.text import TextConfig, TextConfigError, TopicSpec, validate_text_config


def problems_of(raw: object) -> list[str]:
    with pytest.raises(TextConfigError) as caught:
        validate_text_config(raw)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


def test_a_valid_config() -> None:
    config = validate_text_config(
        {
            "user_dictionary": ["多维表格", "Smart Report"],
            "topics": [
                {"id": "performance", "names": {"en": "Speed"}},
                {"id": "pricing", "enabled": False},
                {"id": "ai_assistant", "names": {"en": "AI"}, "terms": ["copilot"]},
                {"id": "support", "add_terms": ["值班"]},
            ],
            "competitors": ["Tableau", "飞书"],
        }
    )
    assert config.user_dictionary == ["多维表格", "Smart Report"]
    assert config.topics[2] == TopicSpec(id="ai_assistant", names={"en": "AI"}, terms=["copilot"])
    assert config.topics[1].enabled is False
    assert config.competitors == ["Tableau", "飞书"]


@pytest.mark.parametrize("raw", [None, {}])
def test_empty_is_the_default(raw: object) -> None:
    assert validate_text_config(raw) == TextConfig()


def test_a_text_config_round_trips() -> None:
    config = TextConfig(user_dictionary=["a"], competitors=["b"])
    assert validate_text_config(config) == config


def test_not_an_object() -> None:
    assert problems_of(["a"]) == ["the text configuration must be a JSON object, not a list"]


def test_every_problem_is_listed_at_once() -> None:
    problems = problems_of(
        {
            "dictionary": [],
            "user_dictionary": ["ok", "", "x" * 65, 3, "bad\x00term", "line\nbreak"],
            "competitors": "Tableau",
            "topics": [
                {"id": "Performance!", "terms": ["a"]},
                {"id": "new_one"},
                {"id": "dup", "terms": ["a"]},
                {"id": "dup", "terms": ["b"]},
                {"id": "pricing", "enabled": "no", "colour": "red"},
                {"id": "mobile", "names": {"fr": "Mobile", "en": ""}},
                "pricing",
                {"terms": ["x"]},
            ],
        }
    )
    expected_fragments = [
        "unknown field 'dictionary'",
        "user_dictionary[1] is empty",
        "user_dictionary[2] has 65 characters; at most 64",
        "user_dictionary[3] must be a string, not a number",
        "user_dictionary[4] contains a control character",
        "user_dictionary[5] contains a control character",
        "competitors must be a list of strings, not a string",
        "topics[0].id 'Performance!' must be 1–40 characters",
        "topics[1] ('new_one') is a new topic without terms",
        "topics[3].id 'dup' appears twice",
        "topics[4].enabled must be true or false, not a string",
        "topics[4]: unknown field 'colour'",
        "topics[5].names has language 'fr'",
        "topics[5].names['en'] is empty",
        "topics[6] must be an object with an id, not a string",
        "topics[7].id is missing",
    ]
    for fragment in expected_fragments:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    assert len(problems) == len(expected_fragments)


@pytest.mark.parametrize(
    ("field", "count", "limit"),
    [("user_dictionary", 5_001, 5_000), ("competitors", 201, 200)],
)
def test_list_caps(field: str, count: int, limit: int) -> None:
    problems = problems_of({field: [f"term{i}" for i in range(count)]})
    assert problems == [f"{field} has {count} entries; at most {limit} are allowed"]


def test_topic_caps() -> None:
    too_many = [{"id": f"t{i}", "terms": ["x"]} for i in range(101)]
    assert problems_of({"topics": too_many}) == ["topics has 101 entries; at most 100 are allowed"]
    many_terms = [{"id": "big", "terms": [f"w{i}" for i in range(201)]}]
    assert problems_of({"topics": many_terms}) == [
        "topics[0].terms has 201 entries; at most 200 are allowed"
    ]


def test_the_caps_themselves_are_allowed() -> None:
    config = validate_text_config(
        {
            "user_dictionary": [f"term{i}" for i in range(5_000)],
            "competitors": [f"c{i}" for i in range(200)],
            "topics": [{"id": f"t{i}", "terms": [f"w{j}" for j in range(200)]} for i in range(100)],
        }
    )
    assert len(config.topics) == 100


def test_a_weak_marker_alone_is_not_a_term() -> None:
    assert problems_of({"topics": [{"id": "speed", "terms": ["~", "~fast"]}]}) == [
        "topics[0].terms[0] is only '~': write the weak term after it (~quick)"
    ]


def test_a_disabled_new_topic_needs_no_terms() -> None:
    assert (
        validate_text_config({"topics": [{"id": "later", "enabled": False}]}).topics[0].enabled
        is False
    )
