"""``/v1/surveys`` (secret key) and ``GET /v1/sdk/config`` (write key, public)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cxloop.api import ApiError, Audit, Db, ProjectId, Transaction, database_unavailable, found
from cxloop.projects import LookupUnavailable, project_for_write_key
from cxloop.surveys import store
from cxloop.surveys.model import SurveyInput, SurveyPatch, validate_survey
from cxloop.surveys.schemas import SdkConfig, SurveyAnswer, SurveyList, SurveyStatus, survey_of
from cxloop.surveys.store import audit_details

if TYPE_CHECKING:
    from cxloop.db import Connection
    from cxloop.projects import KeyResolver

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


def _changed_fields(before: SurveyInput, after: SurveyInput) -> list[str]:
    """The definition's fields a change touched (names only: texts stay out of the audit log)."""
    old, new = msgspec.to_builtins(before), msgspec.to_builtins(after)
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


class SurveysController(Controller):
    path = "/v1/surveys"
    tags = ["surveys"]

    @post(
        "/",
        permission="surveys:write",
        summary="Create a survey (as a draft: activate it to show it).",
    )
    async def create_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        data: JSONBody[SurveyInput],
    ) -> SurveyAnswer:
        survey = await store.create_survey(transaction, project_id, _checked(data))
        await audit.record(
            transaction, "survey.created", "survey", survey.id, audit_details(survey)
        )
        return survey_of(survey)

    @get("/", permission="surveys:read", summary="List the project's surveys.")
    async def list_surveys(
        self, project_id: ProjectId, db: Db, status: FromQuery[SurveyStatus | None] = None
    ) -> SurveyList:
        surveys = await store.list_surveys(db, project_id, status)
        return SurveyList(surveys=[survey_of(survey) for survey in surveys])

    @get("/{survey_id:str}", permission="surveys:read", summary="One survey.")
    async def get_survey(
        self, project_id: ProjectId, db: Db, survey_id: FromPath[str]
    ) -> SurveyAnswer:
        survey = found(await store.get_survey(db, project_id, survey_id), _not_found(survey_id))
        return survey_of(survey)

    @put("/{survey_id:str}", permission="surveys:write", summary="Replace a survey's definition.")
    async def replace_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        survey_id: FromPath[str],
        data: JSONBody[SurveyInput],
    ) -> SurveyAnswer:
        current = found(
            await store.get_survey(transaction, project_id, survey_id), _not_found(survey_id)
        )
        survey = found(
            await store.replace_survey(transaction, project_id, survey_id, _checked(data)),
            _not_found(survey_id),
        )
        changed = _changed_fields(current.definition, survey.definition)
        await audit.record(
            transaction,
            "survey.replaced",
            "survey",
            survey_id,
            audit_details(survey, changed=changed),
        )
        return survey_of(survey)

    @patch(
        "/{survey_id:str}",
        permission="surveys:write",
        summary="Change some fields of a survey's definition.",
    )
    async def update_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
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
        changed = _changed_fields(current.definition, survey.definition)
        await audit.record(
            transaction,
            "survey.updated",
            "survey",
            survey_id,
            audit_details(survey, changed=changed),
        )
        return survey_of(survey)

    @post(
        "/{survey_id:str}/activate",
        permission="surveys:write",
        status_code=200,
        summary="Start showing a survey.",
    )
    async def activate_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        survey_id: FromPath[str],
    ) -> SurveyAnswer:
        return await _set_status(transaction, audit, project_id, survey_id, "active")

    @post(
        "/{survey_id:str}/pause",
        permission="surveys:write",
        status_code=200,
        summary="Stop showing a survey.",
    )
    async def pause_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        survey_id: FromPath[str],
    ) -> SurveyAnswer:
        return await _set_status(transaction, audit, project_id, survey_id, "paused")

    @delete(
        "/{survey_id:str}",
        permission="surveys:write",
        summary="Delete a survey (its responses are kept).",
    )
    async def delete_survey(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        survey_id: FromPath[str],
    ) -> None:
        survey = found(
            await store.get_survey(transaction, project_id, survey_id), _not_found(survey_id)
        )
        if not await store.delete_survey(transaction, project_id, survey_id):
            raise _not_found(survey_id)
        await audit.record(
            transaction, "survey.deleted", "survey", survey_id, audit_details(survey)
        )


_STATUS_ACTIONS: dict[SurveyStatus, str] = {"active": "survey.activated", "paused": "survey.paused"}


async def _set_status(
    transaction: Connection,
    audit: Audit,
    project_id: str,
    survey_id: str,
    status: SurveyStatus,
) -> SurveyAnswer:
    current = found(
        await store.get_survey(transaction, project_id, survey_id), _not_found(survey_id)
    )
    survey = found(
        await store.set_status(transaction, project_id, survey_id, status),
        _not_found(survey_id),
    )
    await audit.record(
        transaction,
        _STATUS_ACTIONS[status],
        "survey",
        survey_id,
        audit_details(survey, previous_status=current.status),
    )
    return survey_of(survey)


class SdkConfigController(Controller):
    path = "/v1/sdk"
    tags = ["sdk"]

    @get(
        "/config",
        summary="What the browser SDK needs: active surveys and throttling settings.",
        description="Public: authenticated by the write key. Cacheable with its ETag.",
        responses={
            200: ResponseSpec(SdkConfig, generate_examples=False, description="The SDK's config.")
        },
    )
    async def get_sdk_config(
        self,
        request: Request[Any, Any, Any],
        write_keys: NamedDependency[KeyResolver],
        db: Db,
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
