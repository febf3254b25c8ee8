"""The surveys API's answer Structs stay in step with the definition they carry."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from cxloop.surveys.model import SurveyInput
from cxloop.surveys.schemas import SurveyAnswer, survey_of
from cxloop.surveys.store import Survey


def test_a_survey_answer_is_id_status_the_definition_then_its_times() -> None:
    names = [f.name for f in msgspec.structs.fields(SurveyAnswer)]
    definition = [f.name for f in msgspec.structs.fields(SurveyInput)]
    assert names == ["id", "status", *definition, "created_at", "updated_at"]


def test_a_survey_answer_encodes_as_the_api_always_answered() -> None:
    definition = msgspec.convert(
        {"name": "NPS", "kind": "nps", "question": {"en": "Recommend us?"}}, SurveyInput
    )
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    survey = Survey(id="srv_1", status="draft", created_at=at, updated_at=at, definition=definition)
    assert msgspec.json.encode(survey_of(survey)) == msgspec.json.encode(survey.to_json())
