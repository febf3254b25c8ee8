"""``/v1/surveys`` (secret key) and ``GET /v1/sdk/config`` (write key, public)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cxloop.api.errors import ApiError, database_unavailable
from cxloop.projects.write_keys import LookupUnavailable, project_for_write_key
from cxloop.surveys import store
from cxloop.surveys.model import SurveyInput, SurveyPatch, validate_survey
from cxloop.surveys.schemas import SdkConfig, SurveyAnswer, SurveyList, SurveyStatus, survey_of

if TYPE_CHECKING:
    from cxloop.db.pool import Connection
    from cxloop.projects.write_keys import KeyResolver

__all__ = ["SdkConfigController", "SurveysController"]

COOLDOWN_DAYS = 14
SNOOZE_DAYS = 3


def _checked(survey: SurveyInput) -> SurveyInput:
    problems = validate_survey(survey)
    if problems:
        raise ApiError(400, "invalid_survey", "; ".join(problems), problems=problems)
    return survey


def _not_found(survey_id: str) -> ApiError:
    return ApiError(404, "survey_not_found", f"no survey {survey_id!r} in this project")


class SurveysController(Controller):
    path = "/v1/surveys"
    tags = ["surveys"]

    @post(
        "/",
        operation_id="createSurvey",
        summary="Create a survey (as a draft: activate it to show it).",
    )
    async def create(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        data: JSONBody[SurveyInput],
    ) -> SurveyAnswer:
        return survey_of(await store.create_survey(db, project_id, _checked(data)))

    @get("/", operation_id="listSurveys", summary="List the project's surveys.")
    async def list(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        status: FromQuery[SurveyStatus | None] = None,
    ) -> SurveyList:
        surveys = await store.list_surveys(db, project_id, status)
        return SurveyList(surveys=[survey_of(survey) for survey in surveys])

    @get("/{survey_id:str}", operation_id="getSurvey", summary="One survey.")
    async def read(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        survey_id: FromPath[str],
    ) -> SurveyAnswer:
        survey = await store.get_survey(db, project_id, survey_id)
        if survey is None:
            raise _not_found(survey_id)
        return survey_of(survey)

    @put("/{survey_id:str}", operation_id="replaceSurvey", summary="Replace a survey's definition.")
    async def replace(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        survey_id: FromPath[str],
        data: JSONBody[SurveyInput],
    ) -> SurveyAnswer:
        survey = await store.replace_survey(db, project_id, survey_id, _checked(data))
        if survey is None:
            raise _not_found(survey_id)
        return survey_of(survey)

    @patch(
        "/{survey_id:str}",
        operation_id="updateSurvey",
        summary="Change some fields of a survey's definition.",
    )
    async def update(
        self,
        project_id: NamedDependency[str],
        transaction: NamedDependency[Connection],
        survey_id: FromPath[str],
        data: JSONBody[SurveyPatch],
    ) -> SurveyAnswer:
        current = await store.get_survey(transaction, project_id, survey_id)
        if current is None:
            raise _not_found(survey_id)
        changes = {
            name: value
            for name, value in msgspec.structs.asdict(data).items()
            if value is not msgspec.UNSET
        }
        merged = msgspec.structs.replace(current.definition, **changes)
        # Nested Structs came in as Structs; a round trip re-checks the whole definition.
        merged = msgspec.convert(msgspec.to_builtins(merged), SurveyInput)
        survey = await store.replace_survey(transaction, project_id, survey_id, _checked(merged))
        assert survey is not None
        return survey_of(survey)

    @post(
        "/{survey_id:str}/activate",
        status_code=200,
        operation_id="activateSurvey",
        summary="Start showing a survey.",
    )
    async def activate(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        survey_id: FromPath[str],
    ) -> SurveyAnswer:
        return await _set_status(db, project_id, survey_id, "active")

    @post(
        "/{survey_id:str}/pause",
        status_code=200,
        operation_id="pauseSurvey",
        summary="Stop showing a survey.",
    )
    async def pause(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        survey_id: FromPath[str],
    ) -> SurveyAnswer:
        return await _set_status(db, project_id, survey_id, "paused")

    @delete(
        "/{survey_id:str}",
        operation_id="deleteSurvey",
        summary="Delete a survey (its responses are kept).",
    )
    async def remove(
        self,
        project_id: NamedDependency[str],
        db: NamedDependency[Connection],
        survey_id: FromPath[str],
    ) -> None:
        if not await store.delete_survey(db, project_id, survey_id):
            raise _not_found(survey_id)


async def _set_status(
    db: Connection, project_id: str, survey_id: str, status: SurveyStatus
) -> SurveyAnswer:
    survey = await store.set_status(db, project_id, survey_id, status)
    if survey is None:
        raise _not_found(survey_id)
    return survey_of(survey)


class SdkConfigController(Controller):
    path = "/v1/sdk"
    tags = ["sdk"]

    @get(
        "/config",
        operation_id="getSdkConfig",
        summary="What the browser SDK needs: active surveys and throttling settings.",
        description="Public: authenticated by the write key. Cacheable with its ETag.",
        responses={
            200: ResponseSpec(SdkConfig, generate_examples=False, description="The SDK's config.")
        },
    )
    async def config(
        self,
        request: Request[Any, Any, Any],
        write_keys: NamedDependency[KeyResolver],
        db: NamedDependency[Connection],
        write_key: Annotated[str, QueryParameter(name="writeKey", min_length=1, max_length=200)],
        group_id: Annotated[str | None, QueryParameter(name="groupId", max_length=500)] = None,
    ) -> Response[bytes]:
        try:
            project_id = await project_for_write_key(write_keys, write_key)
        except LookupUnavailable as exc:
            raise database_unavailable() from exc
        if project_id is None:
            raise ApiError(401, "invalid_write_key", "unknown write key: check the snippet")
        surveys = await store.active_config(db, project_id, group_id or None)
        # Encoded here, not by Litestar: the ETag is the digest of these very bytes.
        body = msgspec.json.encode(
            SdkConfig(cooldown_days=COOLDOWN_DAYS, snooze_days=SNOOZE_DAYS, surveys=surveys)
        )
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            "cache-control": "no-cache",
            "etag": etag,
            "access-control-allow-origin": "*",
            "access-control-expose-headers": "ETag",
            "vary": "Origin",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)
