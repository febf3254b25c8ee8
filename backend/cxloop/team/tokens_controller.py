"""``/v1/tokens``: a person's API tokens for this project.

A token is made by a person signed in to the console (a token cannot make tokens, the secret
key has no person: 403 ``person_required``), within that person's permissions. Everyone lists
and revokes their own; with ``members:write`` one lists (``?all=true``) and revokes anyone's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from cxloop.access import AccessError, Principal, create_token, list_tokens, revoke_token
from cxloop.api import ApiError, Audit, Db, PrincipalDep, ProjectId, Transaction
from cxloop.team.members_controller import refused
from cxloop.team.tokens_schemas import CreatedToken, TokenInput, TokenList

__all__ = ["TokensController"]


def _person_required(principal: Principal, what: str) -> ApiError:
    return ApiError(
        403,
        "person_required",
        f"{what} needs a person: {principal.label} is not one. Sign in to the console "
        "(POST /v1/session) or use `cxloop tokens create --email …`",
    )


def _members_write_required(principal: Principal) -> ApiError:
    return ApiError(
        403,
        "forbidden",
        f"seeing or revoking other people's tokens needs the 'members:write' permission, "
        f"which {principal.label} (role {principal.role or 'none'}) does not have",
        permission="members:write",
    )


class TokensController(Controller):
    path = "/v1/tokens"
    tags = ["tokens"]

    @post(
        "/",
        permission="tokens:own",
        summary="Make an API token for yourself (shown once), within your own permissions.",
    )
    async def create_token(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        data: JSONBody[TokenInput],
    ) -> CreatedToken:
        # A session only: a leaked token must not be able to mint longer-lived ones.
        if principal.kind != "member" or principal.user_id is None:
            raise _person_required(principal, "making a token")
        if data.expires_in_days is not None and data.expires_at is not None:
            raise ApiError(400, "invalid_token", "give expires_in_days or expires_at, not both")
        expires_at = data.expires_at
        if data.expires_in_days is not None:
            expires_at = datetime.now(UTC) + timedelta(days=data.expires_in_days)
        try:
            token, info = await create_token(
                transaction,
                project_id,
                principal.user_id,
                name=data.name,
                scopes=data.scopes,
                expires_at=expires_at,
            )
        except AccessError as exc:
            raise refused(exc) from exc
        await audit.record(
            transaction,
            "token.created",
            "token",
            info.id,
            {
                "name": info.name,
                "prefix": info.prefix,
                "scopes": info.scopes,
                "email": info.email,
                "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            },
        )
        return CreatedToken(token=token, info=info)

    @get(
        "/",
        permission="tokens:own",
        summary="Your API tokens (not revoked); everyone's with all=true and members:write.",
    )
    async def list_tokens(
        self,
        project_id: ProjectId,
        db: Db,
        principal: PrincipalDep,
        all: FromQuery[bool] = False,
    ) -> TokenList:
        if all:
            if not principal.allows("members:write"):
                raise _members_write_required(principal)
            return TokenList(tokens=await list_tokens(db, project_id))
        if principal.user_id is None:
            raise _person_required(principal, "listing your tokens")
        return TokenList(tokens=await list_tokens(db, project_id, user_id=principal.user_id))

    @delete(
        "/{token_id:str}",
        permission="tokens:own",
        summary="Revoke a token now: your own, or anyone's with members:write.",
    )
    async def revoke_token(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        token_id: FromPath[str],
    ) -> None:
        if principal.allows("members:write"):
            owner = None
        elif principal.user_id is not None:
            owner = principal.user_id
        else:
            raise _person_required(principal, "revoking a token")
        info = await revoke_token(transaction, project_id, token_id, user_id=owner)
        if info is None:
            raise ApiError(
                404,
                "token_not_found",
                f"no live token {token_id[:40]!r} of yours in this project (GET /v1/tokens)",
            )
        await audit.record(
            transaction,
            "token.revoked",
            "token",
            info.id,
            {"name": info.name, "prefix": info.prefix, "email": info.email},
        )
