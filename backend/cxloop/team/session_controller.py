"""``/v1/session`` and ``/v1/password-resets``: people sign in to the console (public routes
that read the ``cxloop_session`` cookie themselves; docs/access.md, "Signing in")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter

from cxloop.access import (
    AccessError,
    ConsoleUser,
    LoginPolicy,
    Principal,
    anonymize_ip,
    confirm_password,
    create_session,
    csrf_matches,
    csrf_token,
    end_all_sessions,
    end_session,
    get_user,
    projects_of,
    record_audit,
    role_permissions,
    session_expires_at,
    session_user,
    set_password,
    sign_in,
    use_password_reset,
)
from cxloop.api import (
    CSRF_HEADER,
    SESSION_COOKIE,
    ApiError,
    Db,
    client_address,
    request_id_of,
    request_is_tls,
)
from cxloop.projects import list_projects
from cxloop.team.session_schemas import (
    ErrorAnswer,
    PasswordChange,
    PasswordReset,
    ResetDone,
    SessionAnswer,
    SessionPerson,
    SessionProject,
    SessionsEnded,
    SignIn,
)

if TYPE_CHECKING:
    from cxloop.db import Connection
    from cxloop.settings import Settings

__all__ = ["SessionController", "cleared_session_cookie", "login_policy", "session_cookie"]


def session_cookie(value: str, *, secure: bool, max_age: int) -> Cookie:
    """The session cookie: script cannot read it (HttpOnly), other sites' forms and fetches do
    not carry it (SameSite=Lax; top-level links still do), only over TLS when TLS is in use."""
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def cleared_session_cookie(*, secure: bool) -> Cookie:
    """Tells the browser to forget the session cookie."""
    return session_cookie("", secure=secure, max_age=0)


def login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout_s=settings.login_lockout_s,
        address_limit=settings.login_address_limit,
    )


def _refusal(exc: AccessError) -> ApiError:
    headers = {"retry-after": str(exc.retry_after)} if exc.retry_after is not None else None
    return ApiError(exc.status, exc.code, exc.message, headers=headers)


def _secure(request: Request[Any, Any, Any], settings: Settings) -> bool:
    return request_is_tls(request.url.scheme, request.headers.get("x-forwarded-proto"), settings)


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        401: "Not signed in, session ended, or wrong email or password.",
        403: "CSRF token missing or wrong, or the current password is wrong.",
        404: "The reset link is unknown, used or expired.",
        429: "Locked after too many wrong passwords, or too many failures from this address "
        "(Retry-After says how long).",
    }
    return {
        status: ResponseSpec(ErrorAnswer, description=descriptions[status], generate_examples=False)
        for status in statuses
    }


async def _signed_in(
    request: Request[Any, Any, Any], db: Connection, settings: Settings, *, unsafe: bool
) -> tuple[str, ConsoleUser]:
    """The session cookie and its person; 401 without a live session, 403 without the CSRF
    token on a state-changing request."""
    cookie_value = request.cookies.get(SESSION_COOKIE)
    user = (
        await session_user(db, cookie_value, idle_s=settings.session_idle_s)
        if cookie_value
        else None
    )
    if cookie_value is None or user is None:
        raise ApiError(
            401,
            "not_signed_in",
            "no live console session (signed out, expired or idle): sign in with "
            "POST /v1/session {email, password}",
        )
    if unsafe and not csrf_matches(cookie_value, request.headers.get(CSRF_HEADER)):
        raise ApiError(
            403,
            "csrf_failed",
            "send the session's CSRF token in X-CSRF-Token (GET /v1/session answers it as "
            "csrf_token)",
        )
    return cookie_value, user


async def _answer(
    db: Connection, user: ConsoleUser, cookie_value: str, settings: Settings
) -> SessionAnswer:
    names = {project.id: project.name for project in await list_projects(db)}
    projects = [
        SessionProject(
            id=project_id,
            name=names.get(project_id, ""),
            role=role,
            permissions=sorted(role_permissions(role)),
        )
        for project_id, role in await projects_of(db, user.id)
    ]
    expires_at = await session_expires_at(db, cookie_value)
    if expires_at is None:  # ended between the check and now (a concurrent sign-out)
        raise ApiError(401, "not_signed_in", "the session just ended: sign in again")
    return SessionAnswer(
        user=SessionPerson(id=user.id, email=user.email, name=user.name),
        projects=projects,
        csrf_token=csrf_token(cookie_value),
        expires_at=expires_at,
        idle_timeout_s=settings.session_idle_s,
    )


async def _audit_person(
    db: Connection,
    request: Request[Any, Any, Any],
    settings: Settings,
    user: ConsoleUser,
    action: str,
    details: dict[str, Any] | None = None,
) -> None:
    """One entry in each project the person belongs to: their own account changed."""
    address = client_address(request, settings)
    for project_id, role in await projects_of(db, user.id):
        actor = Principal(
            project_id=project_id,
            kind="member",
            label=user.email,
            actor_id=user.id,
            user_id=user.id,
            role=role,
            permissions=role_permissions(role),
            session=True,
        )
        await record_audit(
            db,
            actor,
            action,
            "console_user",
            user.id,
            details,
            address=anonymize_ip(address) if address else None,
            request_id=request_id_of(request.scope),
        )


async def _new_session(
    db: Connection,
    request: Request[Any, Any, Any],
    settings: Settings,
    user: ConsoleUser,
    address: str | None,
) -> Response[SessionAnswer]:
    """A fresh session for ``user``: the answer, with its cookie set."""
    cookie_value = await create_session(
        db,
        user.id,
        address=address,
        user_agent=request.headers.get("user-agent"),
        ttl_s=settings.session_lifetime_s,
    )
    answer = await _answer(db, user, cookie_value, settings)
    cookie = session_cookie(
        cookie_value, secure=_secure(request, settings), max_age=int(settings.session_lifetime_s)
    )
    return Response(answer, cookies=[cookie])


class SessionController(Controller):
    """Sign in and out; the signed-in person's own password."""

    path = "/v1"
    tags = ["session"]

    @post(
        "/session",
        status_code=200,
        summary="Sign in with email and password; sets the session cookie.",
        responses=_errors(401, 429),
    )
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: NamedDependency[Settings],
        data: JSONBody[SignIn],
    ) -> Response[SessionAnswer]:
        address = client_address(request, settings)
        try:
            user = await sign_in(
                db, data.email, data.password, address=address, policy=login_policy(settings)
            )
        except AccessError as exc:
            raise _refusal(exc) from None
        # Never keep a cookie the browser brought (it may have been planted: session fixation).
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:
            await end_session(db, previous)
        return await _new_session(db, request, settings, user, address)

    @get(
        "/session",
        summary="Who is signed in, their projects and the CSRF token.",
        responses=_errors(401),
    )
    async def get_session(
        self, request: Request[Any, Any, Any], db: Db, settings: NamedDependency[Settings]
    ) -> SessionAnswer:
        cookie_value, user = await _signed_in(request, db, settings, unsafe=False)
        return await _answer(db, user, cookie_value, settings)

    @delete(
        "/session",
        summary="Sign out: end this session and clear its cookie.",
        responses=_errors(401, 403),
    )
    async def sign_out(
        self, request: Request[Any, Any, Any], db: Db, settings: NamedDependency[Settings]
    ) -> Response[None]:
        cookie_value, _ = await _signed_in(request, db, settings, unsafe=True)
        await end_session(db, cookie_value)
        return Response(
            None,
            status_code=204,
            cookies=[cleared_session_cookie(secure=_secure(request, settings))],
        )

    @post(
        "/session/revoke-all",
        status_code=200,
        summary="Sign out everywhere: end every session of the signed-in person.",
        responses=_errors(401, 403),
    )
    async def revoke_all_sessions(
        self, request: Request[Any, Any, Any], db: Db, settings: NamedDependency[Settings]
    ) -> Response[SessionsEnded]:
        _, user = await _signed_in(request, db, settings, unsafe=True)
        ended = await end_all_sessions(db, user.id)
        await _audit_person(
            db, request, settings, user, "console_user.sessions_revoked", {"ended": ended}
        )
        return Response(
            SessionsEnded(ended=ended),
            cookies=[cleared_session_cookie(secure=_secure(request, settings))],
        )

    @post(
        "/session/password",
        status_code=200,
        summary="Change one's own password; every other session ends.",
        responses=_errors(401, 403, 429),
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: NamedDependency[Settings],
        data: JSONBody[PasswordChange],
    ) -> Response[SessionAnswer]:
        _, user = await _signed_in(request, db, settings, unsafe=True)
        try:
            await confirm_password(
                db, user.id, data.current_password, policy=login_policy(settings)
            )
            # Ends every session of the person, this one too: a fresh one replaces it below.
            await set_password(db, user.id, data.new_password)
        except AccessError as exc:
            raise _refusal(exc) from None
        await _audit_person(db, request, settings, user, "console_user.password_changed")
        return await _new_session(db, request, settings, user, client_address(request, settings))

    @post(
        "/password-resets/{token:str}",
        status_code=200,
        summary="Set a password with a one-time link (cxloop users create / reset-password).",
        responses=_errors(404),
    )
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: NamedDependency[Settings],
        token: Annotated[str, PathParameter(min_length=1, max_length=128)],
        data: JSONBody[PasswordReset],
    ) -> ResetDone:
        try:
            user_id = await use_password_reset(db, token, data.password)
        except AccessError as exc:
            raise _refusal(exc) from None
        user = await get_user(db, user_id)
        assert user is not None  # the link's person: deleting a person deletes their links
        await _audit_person(db, request, settings, user, "console_user.password_reset")
        return ResetDone(user_id=user.id, email=user.email)
