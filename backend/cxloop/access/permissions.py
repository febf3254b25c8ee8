"""Who may do what: the permissions, the roles and the token scopes — one table.

Every private route declares the one permission it needs (``@get(..., permission="x:read")``);
the guard in :mod:`cxloop.api.auth` checks it against the caller's permissions. A role is a
set of permissions; a token's scopes are permissions too (plus ``admin`` and ``read``, which
stand for the admin and viewer roles' sets), and a token never grants more than its person's
current role. ``docs/access.md`` shows this table; a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, get_args

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SCOPES",
    "SECRET_KEY_ROLE",
    "Role",
    "expand_scopes",
    "role_permissions",
    "token_permissions",
]

Role = Literal["owner", "admin", "analyst", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

# name -> what it allows, in the order the docs list them.
PERMISSIONS: Final[dict[str, str]] = {
    "health:read": "read health scores, accounts, their usage and health configuration",
    "health:refresh": "recompute health scores now",
    "responses:read": "read survey responses and comments",
    "insights:read": "read rating statistics, topics, terms, verbatims, drivers and insights configuration",
    "surveys:read": "read survey definitions",
    "surveys:write": "create, change, activate, pause and delete surveys",
    "alerts:read": "read alerts and their notes",
    "alerts:write": "assign alerts, change their status, add notes",
    "views:read": "see one's own and the shared saved views of the console's pages",
    "views:write": "save, change and delete one's own views",
    "webhooks:read": "read webhooks and their delivery logs",
    "webhooks:write": "create, delete and test webhooks",
    "config:write": "change the health and insights configuration",
    "members:read": "list the project's members and their roles",
    "members:write": "invite members, change their roles (not to or from owner), remove them",
    "owners:write": "make a member an owner, or change or remove an owner",
    "tokens:own": "create, list and revoke one's own API tokens",
    "keys:read": "see the project's keys' prefixes, rotations and grace periods",
    "keys:write": "rotate and revoke the secret key and the write key",
    "audit:read": "read the audit log",
    "privacy:read": "read privacy requests and their receipts, export a data subject's data, read the retention setting",
    "privacy:write": "delete a data subject, change retention",
}

_VIEWER: Final = frozenset(
    {
        "health:read",
        "responses:read",
        "insights:read",
        "surveys:read",
        "alerts:read",
        "views:read",
        "webhooks:read",
        "members:read",
        "tokens:own",
    }
)
_ANALYST: Final = _VIEWER | {"health:refresh", "surveys:write", "alerts:write", "views:write"}
_ADMIN: Final = _ANALYST | {
    "webhooks:write",
    "config:write",
    "members:write",
    "keys:read",
    "keys:write",
    "audit:read",
    "privacy:read",
    "privacy:write",
}
_OWNER: Final = _ADMIN | {"owners:write"}

ROLE_PERMISSIONS: Final[dict[Role, frozenset[str]]] = {
    "owner": _OWNER,
    "admin": _ADMIN,
    "analyst": _ANALYST,
    "viewer": _VIEWER,
}

# The project secret key is an admin credential (what it could do before roles existed).
SECRET_KEY_ROLE: Final[Role] = "admin"  # noqa: S105 (a role name)

# Scopes a token may carry: every permission, plus two shorthands.
_SHORTHANDS: Final[dict[str, frozenset[str]]] = {
    "admin": _ADMIN,
    "read": _VIEWER - {"tokens:own"},
}
SCOPES: Final[tuple[str, ...]] = (*_SHORTHANDS, *PERMISSIONS)


def role_permissions(role: str) -> frozenset[str]:
    """The permissions of ``role``; none for a name that is not a role."""
    for name, permissions in ROLE_PERMISSIONS.items():
        if name == role:
            return permissions
    return frozenset()


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Scopes → permissions: shorthands expanded, ``x:write`` implies ``x:read``.

    Raises ValueError naming the first scope that is not one (the message lists the valid ones).
    """
    granted: set[str] = set()
    for scope in scopes:
        if scope in _SHORTHANDS:
            granted |= _SHORTHANDS[scope]
        elif scope in PERMISSIONS:
            granted.add(scope)
            area, _, verb = scope.partition(":")
            if verb == "write" and f"{area}:read" in PERMISSIONS:
                granted.add(f"{area}:read")
        else:
            raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    return frozenset(granted)


def token_permissions(scopes: Iterable[str], role: str) -> frozenset[str]:
    """What a token may do: its scopes, but never more than its person's current role."""
    return expand_scopes(scopes) & role_permissions(role)
