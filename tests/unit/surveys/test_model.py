"""Survey definitions: validation."""

from __future__ import annotations

import msgspec
import pytest

from cxloop.surveys.model import SurveyInput, validate_survey
from cxloop.surveys.ratings import KINDS

BASE = {"name": "n", "kind": "nps", "question": {"en": "Q?"}}


def survey(**fields: object) -> SurveyInput:
    return msgspec.convert({**BASE, **fields}, SurveyInput)


def test_a_minimal_definition_is_valid_with_defaults() -> None:
    s = survey()
    assert validate_survey(s) == []
    assert (s.sample_percent, s.placement, s.frequency.mode) == (100, "popover", "until_answered")


@pytest.mark.parametrize("kind", KINDS)
def test_a_definition_takes_every_rating_kind(kind: str) -> None:
    assert validate_survey(survey(kind=kind)) == []


def test_a_kind_that_is_not_a_rating_kind_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="kind"):
        survey(kind="stars")


def test_every_problem_is_reported_at_once() -> None:
    problems = validate_survey(survey(name="", sample_percent=-1, question={"de": ""}))
    assert len(problems) >= 4
