"""Who is asking: the one shape every credential resolves to."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["ActorKind", "Principal"]

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
