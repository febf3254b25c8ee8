"""Survey definitions: validation and score segments."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.surveys.model import SurveyInput, segment_of, validate_survey

BASE = {"name": "n", "kind": "nps", "question": {"en": "Q?"}}


def survey(**fields: object) -> SurveyInput:
    return msgspec.convert({**BASE, **fields}, SurveyInput)


def test_a_minimal_definition_is_valid_with_defaults() -> None:
    s = survey()
    assert validate_survey(s) == []
    assert (s.sample_percent, s.placement, s.frequency.mode) == (100, "popover", "until_answered")


def test_every_problem_is_reported_at_once() -> None:
    problems = validate_survey(survey(name="", sample_percent=-1, question={"de": ""}))
    assert len(problems) >= 4


@pytest.mark.parametrize(
    ("kind", "score", "segment"),
    [
        ("nps", 0, "detractor"), ("nps", 6, "detractor"), ("nps", 7, "passive"),
        ("nps", 8, "passive"), ("nps", 9, "promoter"), ("nps", 10, "promoter"),
        ("csat", 1, "detractor"), ("csat", 2, "detractor"), ("csat", 3, "passive"),
        ("csat", 4, "promoter"), ("ces", 7, "detractor"), ("ces", 5, "detractor"),
        ("ces", 4, "passive"), ("ces", 3, "promoter"), ("ces", 1, "promoter"),
        ("thumbs", 0, "detractor"), ("thumbs", 1, "promoter"),
        ("emoji", 2, "detractor"), ("emoji", 3, "passive"), ("emoji", 5, "promoter"),
    ],
)  # fmt: skip
def test_segments_per_kind(kind: str, score: float, segment: str) -> None:
    assert segment_of(kind, score) == segment


ORDER = {"detractor": 0, "passive": 1, "promoter": 2}


@given(st.sampled_from(["nps", "csat", "emoji"]), st.floats(0, 10), st.floats(0, 10))
def test_higher_scores_never_make_a_worse_segment(kind: str, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert ORDER[segment_of(kind, low)] <= ORDER[segment_of(kind, high)]


@given(st.floats(1, 7), st.floats(1, 7))
def test_for_ces_more_effort_is_never_better(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert ORDER[segment_of("ces", low)] >= ORDER[segment_of("ces", high)]
