"""``/v1/views``: saved views of the console's list pages (accounts, feedback, alerts).

Everyone with ``views:read`` sees their own views and the shared ones; only a view's owner
changes or deletes it. The owner is the person behind the credential (a session or one of
their API tokens), else the credential itself (the secret key).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from cxloop.access import Principal
from cxloop.api import ApiError, Audit, Db, PrincipalDep, ProjectId, Transaction, found
from cxloop.views import store
from cxloop.views.schemas import (
    MAX_QUERY_BYTES,
    MAX_QUERY_KEYS,
    PAGES,
    QueryValue,
    View,
    ViewInput,
    ViewList,
    ViewPage,
    ViewPatch,
)

__all__ = ["ViewsController"]

_decode_query = msgspec.json.Decoder(dict[str, QueryValue]).decode


def owner_of(principal: Principal) -> str:
    """Whose a view is: the person, else the credential (the secret key's label)."""
    return principal.user_id or principal.actor_id or principal.label


def _not_found(view_id: str) -> ApiError:
    return ApiError(404, "view_not_found", f"no view {view_id!r} in this project")


def _checked_query(query: dict[str, QueryValue]) -> dict[str, QueryValue]:
    if len(query) > MAX_QUERY_KEYS:
        raise ApiError(
            400, "invalid_view", f"query has {len(query)} keys; at most {MAX_QUERY_KEYS}"
        )
    size = len(msgspec.json.encode(query))
    if size > MAX_QUERY_BYTES:
        raise ApiError(
            400, "invalid_view", f"query is {size} bytes as JSON; at most {MAX_QUERY_BYTES}"
        )
    for key, value in query.items():
        texts = [key, *(value if isinstance(value, list) else [value])]
        if not key or any("\x00" in text for text in texts):
            raise ApiError(
                400, "invalid_view", "query keys must be non-empty and no text may contain NUL"
            )
    return query


def _checked_page(page: Any) -> str:
    if not isinstance(page, str) or page not in PAGES:
        raise ApiError(400, "invalid_view", f"page must be one of {', '.join(PAGES)}")
    return page


def _checked_name(name: str) -> str:
    if not name.strip() or "\x00" in name:
        raise ApiError(400, "invalid_view", "name must not be blank or contain NUL")
    return name


def view_of(row: Any, principal: Principal) -> View:
    return View(
        id=row["id"],
        name=row["name"],
        page=row["page"],
        query=_decode_query(row["query"]),
        shared=row["shared"],
        owner_label=row["owner_label"],
        mine=row["owner_id"] == owner_of(principal),
        created_at=row["created_at"].isoformat(),
        updated_at=row["updated_at"].isoformat(),
    )


async def _owned(conn: Any, project_id: str, view_id: str, principal: Principal) -> Any:
    row = found(await store.get_view(conn, project_id, view_id), _not_found(view_id))
    if row["owner_id"] != owner_of(principal):
        if not row["shared"]:
            raise _not_found(view_id)  # someone else's private view is not there for you
        raise ApiError(
            403,
            "not_view_owner",
            f"view {view_id!r} belongs to {row['owner_label']}; only its owner may change or "
            "delete it (save your own copy with POST /v1/views)",
        )
    return row


class ViewsController(Controller):
    path = "/v1/views"
    tags = ["views"]

    @get("/", permission="views:read", summary="Your saved views and the shared ones.")
    async def list_views(
        self,
        project_id: ProjectId,
        db: Db,
        principal: PrincipalDep,
        # ``page`` is the query parameter; the name ``page`` is the pagination dependency's.
        of_page: Annotated[ViewPage | None, QueryParameter(name="page")] = None,
    ) -> ViewList:
        rows = await store.list_views(db, project_id, owner_of(principal), of_page)
        return ViewList(views=[view_of(row, principal) for row in rows])

    @post("/", permission="views:write", summary="Save a view: a page's filters and sort.")
    async def create_view(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        data: JSONBody[ViewInput],
    ) -> View:
        row = await store.create_view(
            transaction,
            project_id,
            owner_id=owner_of(principal),
            owner_label=principal.label,
            name=_checked_name(data.name),
            page=_checked_page(data.page),
            query=_checked_query(data.query),
            shared=data.shared,
        )
        await audit.record(
            transaction,
            "view.created",
            "view",
            row["id"],
            {"name": data.name, "page": data.page, "shared": data.shared},
        )
        return view_of(row, principal)

    @patch(
        "/{view_id:str}",
        permission="views:write",
        summary="Rename a view, change its query or share it (its owner only).",
    )
    async def update_view(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        view_id: FromPath[str],
        data: JSONBody[ViewPatch],
    ) -> View:
        given = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if not given:
            raise ApiError(
                400, "invalid_request", "nothing to change: send name, query and/or shared"
            )
        await _owned(transaction, project_id, view_id, principal)
        row = found(
            await store.update_view(
                transaction,
                project_id,
                view_id,
                name=None if data.name is msgspec.UNSET else _checked_name(data.name),
                query=None if data.query is msgspec.UNSET else _checked_query(data.query),
                shared=None if data.shared is msgspec.UNSET else data.shared,
            ),
            _not_found(view_id),
        )
        await audit.record(transaction, "view.updated", "view", view_id, {"changed": sorted(given)})
        return view_of(row, principal)

    @delete(
        "/{view_id:str}",
        permission="views:write",
        summary="Delete a view (its owner only).",
        status_code=204,
    )
    async def delete_view(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        view_id: FromPath[str],
    ) -> None:
        row = await _owned(transaction, project_id, view_id, principal)
        await store.delete_view(transaction, project_id, view_id)
        await audit.record(
            transaction, "view.deleted", "view", view_id, {"name": row["name"], "page": row["page"]}
        )
