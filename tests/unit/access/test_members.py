"""Member rules without a database: roles are checked, and the owner-permission check the
routes make names ``owners:write``."""

from __future__ import annotations

import pytest

from cxloop.access import ROLES, AccessError, Principal, check_role, role_permissions
from cxloop.api import ApiError
from cxloop.team.members_controller import check_owner_change


@pytest.mark.parametrize("role", ROLES)
def test_every_role_is_accepted(role: str) -> None:
    assert check_role(role) == role


@pytest.mark.parametrize("role", ["boss", "", "Owner", "admin "])
def test_anything_else_is_refused_listing_the_roles(role: str) -> None:
    with pytest.raises(AccessError) as refused:
        check_role(role)
    assert refused.value.code == "invalid_role" and refused.value.status == 400
    assert all(name in refused.value.message for name in ROLES)


def _caller(role: str) -> Principal:
    return Principal(
        project_id="prj_1", kind="member", label="a@example.com", role=role,
        permissions=role_permissions(role),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("role", "involved", "allowed"),
    [
        ("owner", ("owner",), True),
        ("owner", ("admin", "owner"), True),
        ("admin", ("analyst", "viewer"), True),
        ("admin", ("owner",), False),
        ("admin", ("viewer", "owner"), False),
        ("admin", (None,), True),
    ],
)
def test_the_owner_role_needs_owners_write(
    role: str, involved: tuple[str | None, ...], allowed: bool
) -> None:
    if allowed:
        check_owner_change(_caller(role), *involved)
        return
    with pytest.raises(ApiError) as refused:
        check_owner_change(_caller(role), *involved)
    assert refused.value.status == 403 and refused.value.extra["permission"] == "owners:write"
    assert "owners:write" in refused.value.message
