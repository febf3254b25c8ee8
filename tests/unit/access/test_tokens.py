"""Token scopes without a database: what a scope grants, the limits of the maker's role, and
what a token may do once its person's role changes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from cxloop.access import (
    ROLE_PERMISSIONS,
    SCOPES,
    AccessError,
    check_scopes,
    expand_scopes,
    role_permissions,
    token_permissions,
    token_principal,
)
from cxloop.access.tokens import hash_token


class NoDatabase:
    """A connection that must not be used: junk tokens are refused before any query."""

    async def fetchrow(self, *args: Any) -> None:
        raise AssertionError("a query was made")

    async def execute(self, *args: Any) -> None:
        raise AssertionError("a query was made")


@pytest.mark.parametrize(
    ("scopes", "granted"),
    [
        (["health:read"], {"health:read"}),
        (["surveys:write"], {"surveys:write", "surveys:read"}),
        (["alerts:write", "alerts:read"], {"alerts:write", "alerts:read"}),
        (["config:write"], {"config:write"}),  # no config:read permission exists
        (["read"], ROLE_PERMISSIONS["viewer"] - {"tokens:own"}),
        (["admin"], ROLE_PERMISSIONS["admin"]),
    ],
)
def test_scopes_expand_to_permissions(scopes: list[str], granted: set[str]) -> None:
    assert expand_scopes(scopes) == granted


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        ("viewer", ["read"]),
        ("viewer", ["health:read", "responses:read"]),
        ("analyst", ["surveys:write", "alerts:write"]),
        ("admin", ["admin"]),
        ("owner", ["admin", "owners:write"]),
    ],
)
def test_scopes_within_the_role_are_accepted(role: str, scopes: list[str]) -> None:
    assert check_scopes(scopes, role_permissions(role)) == scopes


@pytest.mark.parametrize(
    ("role", "scopes", "named"),
    [
        ("viewer", ["surveys:write"], "surveys:write"),
        ("analyst", ["admin"], "'admin'"),
        ("analyst", ["health:read", "webhooks:write"], "webhooks:write"),
        ("admin", ["owners:write"], "owners:write"),
    ],
)
def test_a_scope_beyond_the_role_is_refused_naming_it(
    role: str, scopes: list[str], named: str
) -> None:
    with pytest.raises(AccessError) as refused:
        check_scopes(scopes, role_permissions(role))
    assert refused.value.status == 403 and refused.value.code == "forbidden"
    assert named in refused.value.message


@pytest.mark.parametrize("scope", ["health:write", "everything", "", "HEALTH:READ"])
def test_an_unknown_scope_is_refused_listing_the_valid_ones(scope: str) -> None:
    with pytest.raises(AccessError) as refused:
        check_scopes(["health:read", scope], role_permissions("owner"))
    assert refused.value.status == 400 and refused.value.code == "invalid_scope"
    assert all(valid in refused.value.message for valid in SCOPES)


def test_no_scope_and_repeated_scopes() -> None:
    with pytest.raises(AccessError) as refused:
        check_scopes([], role_permissions("owner"))
    assert refused.value.code == "invalid_scope"
    assert check_scopes(["read", "read"], role_permissions("viewer")) == ["read"]


def test_a_token_never_exceeds_its_persons_current_role() -> None:
    scopes = ["surveys:write", "health:refresh"]
    assert token_permissions(scopes, "analyst") == {
        "surveys:write",
        "surveys:read",
        "health:refresh",
    }
    # Demoted to viewer: only what the viewer also has remains.
    assert token_permissions(scopes, "viewer") == {"surveys:read"}
    # No longer a role at all: nothing.
    assert token_permissions(scopes, "") == frozenset()


def test_tokens_are_stored_as_sha256_hex() -> None:
    assert hash_token("cxp_x") == hashlib.sha256(b"cxp_x").hexdigest()


@pytest.mark.parametrize(
    "credential", ["sk_not_a_token", "cxp", "wk_abc", "cxp_" + "a" * 200, "Cxp_abc"]
)
async def test_what_is_not_a_token_is_refused_without_a_query(credential: str) -> None:
    assert await token_principal(NoDatabase(), credential) is None  # type: ignore[arg-type]
