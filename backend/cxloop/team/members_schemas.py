"""The members API's bodies and answers, as msgspec Structs (the wire and OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cxloop.access import Member, Role

__all__ = ["AddedMember", "Conflict", "MemberInput", "MemberList", "RoleInput"]


class MemberInput(msgspec.Struct, forbid_unknown_fields=True):
    """Add a person (created if they have no console account yet) in a role."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    role: Role
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class RoleInput(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class MemberList(msgspec.Struct):
    members: list[Member]


class AddedMember(msgspec.Struct):
    """The new member; ``set_password_url`` only when the person has no password yet: a
    one-time console link the admin hands over (no mail is sent), valid for
    ``set_password_expires_in_s`` seconds."""

    member: Member
    created_user: bool
    set_password_url: str | None = None
    set_password_expires_in_s: int | None = None


class Conflict(msgspec.Struct):
    """409: ``already_a_member``, or ``last_owner`` (the project must keep an owner)."""

    code: str
    message: str
