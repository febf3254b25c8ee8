"""Who is asking: the one shape every credential resolves to."""

from __future__ import annotations

import getpass
from typing import Literal

import msgspec

from cxloop.access.permissions import role_permissions

__all__ = ["ActorKind", "Principal", "cli_principal"]

ActorKind = Literal["member", "token", "secret_key", "cli", "system"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated caller, for one project.

    ``member``: a person signed in with a session cookie (``session`` is True, so CSRF applies);
    ``token``: a personal API token (``actor_id`` is the token id, ``user_id`` its person);
    ``secret_key``: the project's secret key (an admin credential, no person behind it);
    ``cli``/``system``: the command line and the pipeline, for the audit log only.
    """

    project_id: str
    kind: ActorKind
    label: str  # what the audit log and alert notes show: an email, "token <name>", "secret key sk_ab…"
    permissions: frozenset[str]
    actor_id: str | None = None  # console user id (member) or token id (token)
    user_id: str | None = None  # the console user behind a session or a token
    role: str | None = None  # the member's role in this project
    session: bool = False

    def allows(self, permission: str) -> bool:
        return permission in self.permissions


def cli_principal(project_id: str) -> Principal:
    """Who the audit log names for a command run on this machine: ``cli (<os user>)``, with an
    owner's permissions (whoever runs the CLI holds the database)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(
        project_id=project_id,
        kind="cli",
        label=f"cli ({user})",
        permissions=role_permissions("owner"),
    )
