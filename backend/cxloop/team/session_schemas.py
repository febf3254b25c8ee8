"""Wire shapes of ``/v1/session`` and ``/v1/password-resets``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = [
    "ErrorAnswer",
    "PasswordChange",
    "PasswordReset",
    "ResetDone",
    "SessionAnswer",
    "SessionPerson",
    "SessionProject",
    "SessionsEnded",
    "SignIn",
]

# Long enough for any real address or password; the password rules give the clear message
# (at most 1024 characters), this only stops a megabyte from being hashed.
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
Password = Annotated[str, msgspec.Meta(max_length=4096)]


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class SessionPerson(msgspec.Struct):
    id: str
    email: str
    name: str


class SessionProject(msgspec.Struct):
    id: str
    name: str
    role: str
    permissions: list[str]


class SessionAnswer(msgspec.Struct):
    """Who is signed in, where, and the token unsafe requests carry as ``X-CSRF-Token``."""

    user: SessionPerson
    projects: list[SessionProject]
    csrf_token: str
    expires_at: datetime  # the session's absolute end; it also ends after idle_timeout_s
    idle_timeout_s: float


class SessionsEnded(msgspec.Struct):
    ended: int


class ResetDone(msgspec.Struct):
    user_id: str
    email: str


class ErrorAnswer(msgspec.Struct):
    """``{code, message}``, as every error answer (documented here for the public routes)."""

    code: str
    message: str
