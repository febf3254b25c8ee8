"""The team's own routes: sign-in and sessions, members and roles, personal API tokens, key
rotation and revocation, the audit log; ``cxloop users|members|tokens|keys``."""

from litestar.types import ControllerRouterHandler

from cxloop.team.audit_controller import AuditController
from cxloop.team.keys_cli import keys_group
from cxloop.team.keys_controller import KeysController
from cxloop.team.members_cli import members_group
from cxloop.team.members_controller import MembersController
from cxloop.team.session_controller import SessionController
from cxloop.team.tokens_cli import tokens_group
from cxloop.team.tokens_controller import TokensController
from cxloop.team.users_cli import users_group

__all__ = [
    "TEAM_PRIVATE_HANDLERS",
    "TEAM_PUBLIC_HANDLERS",
    "keys_group",
    "members_group",
    "tokens_group",
    "users_group",
]

# Sign-in, sign-out, password reset: public routes that read the session cookie themselves.
TEAM_PUBLIC_HANDLERS: list[ControllerRouterHandler] = [SessionController]
# Members, tokens, keys, audit: behind a credential, each with its declared permission.
TEAM_PRIVATE_HANDLERS: list[ControllerRouterHandler] = [
    MembersController,
    TokensController,
    KeysController,
    AuditController,
]
