"""The team's own routes: sign-in and sessions, members and roles, personal API tokens, key
rotation and revocation, the audit log; ``cxloop users|members|tokens|keys``."""

from litestar.types import ControllerRouterHandler

__all__ = ["TEAM_PRIVATE_HANDLERS", "TEAM_PUBLIC_HANDLERS"]

# Sign-in, sign-out, password reset: public routes that read the session cookie themselves.
TEAM_PUBLIC_HANDLERS: list[ControllerRouterHandler] = []
# Members, tokens, keys, audit: behind a credential, each with its declared permission.
TEAM_PRIVATE_HANDLERS: list[ControllerRouterHandler] = []
