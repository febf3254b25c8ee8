"""The surveys API's answers, as msgspec Structs (the wire and OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cxloop.surveys.model import (
    AccountCap,
    Filters,
    FollowUp,
    Frequency,
    SurveyInput,
    Trigger,
)
from cxloop.surveys.ratings import Kind
from cxloop.surveys.store import Survey

__all__ = [
    "Rating",
    "SdkConfig",
    "SurveyAnswer",
    "SurveyList",
    "SurveyResponse",
    "SurveyResponsePage",
    "survey_of",
]

SurveyStatus = Literal["draft", "active", "paused"]


class SurveyAnswer(msgspec.Struct):
    """A survey: id and status, its definition's fields, then when it was created and changed.

    The definition's fields are ``SurveyInput``'s, in its order (a unit test holds them equal).
    """

    id: str
    status: SurveyStatus
    name: str
    kind: Kind
    question: dict[str, str]
    follow_up: FollowUp | None
    feature: str | None
    trigger: Trigger
    filters: Filters
    sample_percent: float
    frequency: Frequency
    account_cap: AccountCap | None
    placement: Literal["popover", "modal", "inline"]
    inline_selector: str | None
    created_at: str
    updated_at: str


class SurveyList(msgspec.Struct):
    surveys: list[SurveyAnswer]


class SdkConfig(msgspec.Struct):
    """What the browser SDK needs: throttling settings and the active surveys."""

    cooldown_days: int
    snooze_days: int
    surveys: list[dict[str, Any]]


class Rating(msgspec.Struct):
    """What a survey response says, as every answer that shows responses starts."""

    response_id: str
    survey_id: str | None
    kind: Kind | None
    score: float | None
    comment: str | None
    feature: str | None
    user_id: str | None


class SurveyResponse(Rating):
    """One survey response (the latest event of its ``response_id``); times are ISO 8601."""

    anonymous_id: str | None
    account_id: str | None
    partial: bool
    responded_at: str
    updated_at: str


class SurveyResponsePage(msgspec.Struct):
    responses: list[SurveyResponse]
    next_cursor: str | None


def survey_of(survey: Survey) -> SurveyAnswer:
    definition: SurveyInput = survey.definition
    return SurveyAnswer(
        id=survey.id,
        status=survey.status,  # type: ignore[arg-type]  # the table's CHECK constraint
        **msgspec.structs.asdict(definition),
        created_at=survey.created_at.isoformat(),
        updated_at=survey.updated_at.isoformat(),
    )
