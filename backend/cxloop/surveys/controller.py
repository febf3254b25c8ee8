"""``/v1/surveys`` (secret key) and ``GET /v1/sdk/config`` (write key, public)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter

from cxloop.api.auth import database_pool, project_id_of
from cxloop.api.errors import ApiError
from cxloop.ingest.asgi import INGEST_STATE_KEY
from cxloop.ingest.service import IngestService, LookupUnavailable
from cxloop.surveys import store
from cxloop.surveys.model import SurveyInput, SurveyPatch, validate_survey

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
    dependencies = {"project_id": Provide(project_id_of)}

    @post("/", summary="Create a survey (as a draft: activate it to show it).")
    async def create(
        self, request: Request[Any, Any, Any], project_id: str, data: SurveyInput
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            survey = await store.create_survey(conn, project_id, _checked(data))
        return survey.to_json()

    @get("/", summary="List the project's surveys.")
    async def list(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        status: Literal["draft", "active", "paused"] | None = None,
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            surveys = await store.list_surveys(conn, project_id, status)
        return {"surveys": [survey.to_json() for survey in surveys]}

    @get("/{survey_id:str}", summary="One survey.")
    async def read(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            survey = await store.get_survey(conn, project_id, survey_id)
        if survey is None:
            raise _not_found(survey_id)
        return survey.to_json()

    @put("/{survey_id:str}", summary="Replace a survey's definition.")
    async def replace(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str, data: SurveyInput
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            survey = await store.replace_survey(conn, project_id, survey_id, _checked(data))
        if survey is None:
            raise _not_found(survey_id)
        return survey.to_json()

    @patch("/{survey_id:str}", summary="Change some fields of a survey's definition.")
    async def update(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str, data: SurveyPatch
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn, conn.transaction():
            current = await store.get_survey(conn, project_id, survey_id)
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
            survey = await store.replace_survey(conn, project_id, survey_id, _checked(merged))
        assert survey is not None
        return survey.to_json()

    @post("/{survey_id:str}/activate", status_code=200, summary="Start showing a survey.")
    async def activate(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str
    ) -> dict[str, Any]:
        return await self._status(request, project_id, survey_id, "active")

    @post("/{survey_id:str}/pause", status_code=200, summary="Stop showing a survey.")
    async def pause(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str
    ) -> dict[str, Any]:
        return await self._status(request, project_id, survey_id, "paused")

    async def _status(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str, status: str
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            survey = await store.set_status(conn, project_id, survey_id, status)
        if survey is None:
            raise _not_found(survey_id)
        return survey.to_json()

    @delete("/{survey_id:str}", summary="Delete a survey (its responses are kept).")
    async def remove(
        self, request: Request[Any, Any, Any], project_id: str, survey_id: str
    ) -> None:
        async with database_pool(request).acquire() as conn:
            if not await store.delete_survey(conn, project_id, survey_id):
                raise _not_found(survey_id)


class SdkConfigController(Controller):
    path = "/v1/sdk"
    tags = ["sdk"]

    @get(
        "/config",
        summary="What the browser SDK needs: active surveys and throttling settings.",
        description="Public: authenticated by the write key. Cacheable with its ETag.",
    )
    async def config(
        self,
        request: Request[Any, Any, Any],
        write_key: Annotated[str, Parameter(query="writeKey", min_length=1, max_length=200)],
        group_id: Annotated[str | None, Parameter(query="groupId", max_length=500)] = None,
    ) -> Response[bytes]:
        ingest: IngestService = request.app.state[INGEST_STATE_KEY]
        project_id = ingest.keys.resolve(write_key)
        if project_id is None:
            try:
                project_id = await ingest.keys.resolve_miss(write_key)
            except LookupUnavailable as exc:
                raise ApiError(
                    503, "database_unavailable", "the database is unreachable; retry shortly"
                ) from exc
        if project_id is None:
            raise ApiError(401, "invalid_write_key", "unknown write key: check the snippet")
        async with database_pool(request).acquire() as conn:
            surveys = await store.active_config(conn, project_id, group_id or None)
        body = msgspec.json.encode(
            {"cooldown_days": COOLDOWN_DAYS, "snooze_days": SNOOZE_DAYS, "surveys": surveys}
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
