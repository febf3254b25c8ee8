"""``/v1/members``: who belongs to the project, in which role.

Granting, changing or removing the owner role needs ``owners:write`` besides
``members:write``; the last owner can never be removed or demoted (409 ``last_owner``).
Removing a member revokes their tokens for the project; their sessions stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from cxloop.access import (
    AccessError,
    Member,
    Principal,
    add_member,
    create_password_reset,
    create_user,
    find_user,
    get_member,
    list_members,
    normalise_email,
    remove_member,
    set_role,
)
from cxloop.api import ApiError, Audit, Db, PrincipalDep, ProjectId, Transaction, found
from cxloop.team.members_schemas import AddedMember, Conflict, MemberInput, MemberList, RoleInput

if TYPE_CHECKING:
    from cxloop.settings import Settings

__all__ = [
    "INVITE_LINK_TTL_S",
    "MembersController",
    "check_owner_change",
    "refused",
    "set_password_url",
]

# A link handed to a new member by hand may take a while to reach them.
INVITE_LINK_TTL_S = 72 * 3600


def refused(exc: AccessError) -> ApiError:
    """An access store's refusal as the API's ``{code, message}`` answer."""
    return ApiError(exc.status, exc.code, exc.message)


def set_password_url(origin: str, token: str) -> str:
    """The console page where a person sets their password with a one-time link (as
    ``cxloop users reset-password`` prints it): the token after ``#`` never reaches a server
    log or a Referer. ``POST /v1/password-resets/{token}`` does the same from a script."""
    return f"{origin}/console/reset#{token}"


def _conflict(what: str) -> dict[int, ResponseSpec]:
    return {409: ResponseSpec(Conflict, description=what, generate_examples=False)}


def _not_found(user_id: str) -> ApiError:
    return ApiError(404, "member_not_found", f"{user_id[:40]!r} is not a member of this project")


def check_owner_change(principal: Principal, *roles: str | None) -> None:
    """403 naming ``owners:write`` when an owner role is involved and the caller lacks it."""
    if "owner" in roles and not principal.allows("owners:write"):
        raise ApiError(
            403,
            "forbidden",
            f"granting, changing or removing the owner role needs the 'owners:write' "
            f"permission, which {principal.label} (role {principal.role or 'none'}) does not "
            "have: ask an owner",
            permission="owners:write",
        )


class MembersController(Controller):
    path = "/v1/members"
    tags = ["members"]

    @get("/", permission="members:read", summary="The project's members and their roles.")
    async def list_members(self, project_id: ProjectId, db: Db) -> MemberList:
        return MemberList(members=await list_members(db, project_id))

    @get("/{user_id:str}", permission="members:read", summary="One member.")
    async def get_member(self, project_id: ProjectId, db: Db, user_id: FromPath[str]) -> Member:
        return found(await get_member(db, project_id, user_id), _not_found(user_id))

    @post(
        "/",
        permission="members:write",
        responses=_conflict("already_a_member: the person is a member already."),
        summary="Add a person to the project in a role (their console account is created if "
        "needed; a one-time set-password link comes back when they have no password).",
    )
    async def add_member(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        settings: NamedDependency[Settings],
        request: Request[Any, Any, Any],
        data: JSONBody[MemberInput],
    ) -> AddedMember:
        check_owner_change(principal, data.role)
        try:
            normalise_email(data.email)
            user = await find_user(transaction, data.email)
            created = user is None
            if user is None:
                user = await create_user(transaction, data.email, name=data.name)
            member = await add_member(transaction, project_id, user.id, data.role)
            link = None
            if not user.has_password:
                token = await create_password_reset(transaction, user.id, ttl_s=INVITE_LINK_TTL_S)
                origin = settings.public_origin or str(request.base_url).rstrip("/")
                link = set_password_url(origin, token)
        except AccessError as exc:
            raise refused(exc) from exc
        await audit.record(
            transaction,
            "member.added",
            "member",
            user.id,
            {"email": member.email, "role": member.role, "created_user": created},
        )
        return AddedMember(
            member=member,
            created_user=created,
            set_password_url=link,
            set_password_expires_in_s=INVITE_LINK_TTL_S if link else None,
        )

    @patch(
        "/{user_id:str}",
        permission="members:write",
        responses=_conflict("last_owner: the project's last owner cannot be demoted."),
        summary="Change a member's role.",
    )
    async def change_member_role(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        user_id: FromPath[str],
        data: JSONBody[RoleInput],
    ) -> Member:
        current = found(await get_member(transaction, project_id, user_id), _not_found(user_id))
        check_owner_change(principal, data.role, current.role)
        try:
            change = await set_role(transaction, project_id, user_id, data.role)
        except AccessError as exc:
            raise refused(exc) from exc
        # Checked again on the locked row: the role may have changed since the request began.
        check_owner_change(principal, change.old_role)
        if change.old_role != change.new_role:
            await audit.record(
                transaction,
                "member.role_changed",
                "member",
                user_id,
                {
                    "email": change.member.email,
                    "old_role": change.old_role,
                    "new_role": change.new_role,
                },
            )
        return found(await get_member(transaction, project_id, user_id), _not_found(user_id))

    @delete(
        "/{user_id:str}",
        permission="members:write",
        responses=_conflict("last_owner: the project's last owner cannot be removed."),
        summary="Remove a member from the project (their tokens for it are revoked).",
    )
    async def remove_member(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        user_id: FromPath[str],
    ) -> None:
        current = found(await get_member(transaction, project_id, user_id), _not_found(user_id))
        check_owner_change(principal, current.role)
        try:
            change = await remove_member(transaction, project_id, user_id)
        except AccessError as exc:
            raise refused(exc) from exc
        # Checked again on the locked row (raising rolls the removal back).
        check_owner_change(principal, change.old_role)
        await audit.record(
            transaction,
            "member.removed",
            "member",
            user_id,
            {
                "email": change.member.email,
                "old_role": change.old_role,
                "tokens_revoked": change.tokens_revoked,
            },
        )
