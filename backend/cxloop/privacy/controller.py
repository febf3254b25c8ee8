"""``/v1/privacy``: deletion requests, access (export) and retention (docs/privacy.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from litestar import Controller, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from cxloop.api import ApiError, Audit, Db, Page, ProjectId, Transaction, found
from cxloop.lake import LakeLocation
from cxloop.privacy import store
from cxloop.privacy.export import ExportSubject, export_json_chunks, export_profile, export_zip
from cxloop.privacy.schemas import (
    DeletionInput,
    DeletionPage,
    PrivacyRequest,
    RetentionConfig,
    RetentionInput,
    SubjectExport,
)
from cxloop.projects import SUPPRESSIONS_STATE_KEY, SuppressionList
from cxloop.settings import Settings

__all__ = ["PrivacyDeletionsController", "PrivacyExportsController", "PrivacyRetentionController"]


def _not_found(request_id: str) -> ApiError:
    return ApiError(404, "request_not_found", f"no privacy request {request_id!r} in this project")


def _refused(error: store.PrivacyError) -> ApiError:
    return ApiError(error.status, error.code, error.message)


class PrivacyDeletionsController(Controller):
    path = "/v1/privacy/deletions"
    tags = ["privacy"]

    @post(
        "/",
        permission="privacy:write",
        status_code=202,
        summary="Delete a data subject: suppression starts at once, the erasure is a job.",
    )
    async def create_deletion(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        state: State,
        data: JSONBody[DeletionInput],
    ) -> Response[PrivacyRequest]:
        try:
            request = await store.create_deletion(
                transaction,
                project_id,
                user_id=data.user_id,
                anonymous_id=data.anonymous_id,
                account_id=data.account_id,
                requested_by=audit.principal.label,
            )
        except store.PrivacyError as error:
            raise _refused(error) from error
        assert request.subject is not None
        digests = [digest for _, digest in store.subject_digests(project_id, request.subject)]
        # Digests only: the audit log must not keep the person the request forgets.
        await audit.record(
            transaction,
            "privacy.deletion_requested",
            "privacy_request",
            request.id,
            {"digests": digests},
        )
        # This worker suppresses at once; the others within CXLOOP_KEY_REFRESH_S.
        suppressions: SuppressionList | None = state.get(SUPPRESSIONS_STATE_KEY)
        if suppressions is not None:
            suppressions.add(project_id, digests)
        return Response(
            request,
            status_code=202,
            headers={"location": f"/v1/privacy/deletions/{request.id}"},
        )

    @get(
        "/",
        permission="privacy:read",
        summary="Deletion requests, newest first, with their status and receipt.",
    )
    async def list_deletions(self, project_id: ProjectId, db: Db, page: Page) -> DeletionPage:
        requests = await store.list_requests(
            db, project_id, after=page.after_time(str), limit=page.fetch
        )
        shown, next_cursor = page.cut(requests, lambda last: [last.created_at.isoformat(), last.id])
        return DeletionPage(deletions=list(shown), next_cursor=next_cursor)

    @get(
        "/{request_id:str}",
        permission="privacy:read",
        summary="One deletion request: its status and, once done, its receipt.",
    )
    async def get_deletion(
        self, project_id: ProjectId, db: Db, request_id: FromPath[str]
    ) -> PrivacyRequest:
        return found(await store.get_request(db, project_id, request_id), _not_found(request_id))


class PrivacyExportsController(Controller):
    path = "/v1/privacy/exports"
    tags = ["privacy"]

    @get(
        "/{user_id:str}",
        permission="privacy:read",
        summary="Everything held about an end user: profile, responses, alerts, events.",
        opt={"answer_media_types": ("application/json", "application/zip")},
        responses={
            200: ResponseSpec(
                SubjectExport,
                description="The subject's data: a JSON document, or a zip with format=zip.",
                # Litestar would import faker and polyfactory (~5 MiB per worker) for examples.
                generate_examples=False,
            )
        },
    )
    async def export_subject(
        self,
        project_id: ProjectId,
        db: Db,
        audit: Audit,
        settings: NamedDependency[Settings],
        user_id: FromPath[str],
        anonymous_id: FromQuery[str | None] = None,
        format: FromQuery[Literal["json", "zip"]] = "json",
    ) -> Response[bytes] | Stream:
        if len(user_id) > store.MAX_ID_CHARS or len(anonymous_id or "") > store.MAX_ID_CHARS:
            raise ApiError(
                400, "invalid_subject", f"ids are at most {store.MAX_ID_CHARS} characters"
            )
        subject = ExportSubject(project_id, user_id, anonymous_id or None)
        profile = await export_profile(db, subject)
        # Recorded on its own (a read has no transaction): who looked at whom, by digest.
        await audit.record(
            db,
            "privacy.exported",
            "subject",
            None,
            {"format": format, "digests": _digests(subject)},
        )
        filename = f"cxloop-export-{project_id}.{format}"
        disposition = {"content-disposition": f'attachment; filename="{filename}"'}
        if format == "zip":
            data = await asyncio.to_thread(
                export_zip, profile, LakeLocation.from_settings(settings), subject
            )
            return Response(data, media_type="application/zip", headers=disposition)
        chunks = export_json_chunks(profile, LakeLocation.from_settings(settings), subject)
        return Stream(_in_thread(chunks), media_type="application/json", headers=disposition)


def _digests(subject: ExportSubject) -> list[str]:
    pairs = store.subject_digests(
        subject.project_id,
        store.Subject(user_id=subject.user_id, anonymous_id=subject.anonymous_id),
    )
    return [digest for _, digest in pairs]


async def _in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a blocking generator (Parquet reads), each made off the event loop."""
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            return
        yield chunk


class PrivacyRetentionController(Controller):
    path = "/v1/privacy/retention"
    tags = ["privacy"]

    @get("/", permission="privacy:read", summary="How long the project's events are kept.")
    async def get_retention(self, project_id: ProjectId, db: Db) -> RetentionConfig:
        return await store.get_retention(db, project_id)

    @put(
        "/",
        permission="privacy:write",
        summary="Set how long events are kept (null: forever) and whether rollups outlive them.",
    )
    async def set_retention(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        data: JSONBody[RetentionInput],
    ) -> RetentionConfig:
        before = await store.get_retention(transaction, project_id)
        try:
            config = await store.set_retention(
                transaction,
                project_id,
                retention_days=data.retention_days,
                keep_rollups=data.keep_rollups,
            )
        except store.PrivacyError as error:
            raise _refused(error) from error
        await audit.record(
            transaction,
            "privacy.retention_changed",
            "privacy_config",
            project_id,
            {
                "retention_days": [before.retention_days, config.retention_days],
                "keep_rollups": [before.keep_rollups, config.keep_rollups],
            },
        )
        return config
