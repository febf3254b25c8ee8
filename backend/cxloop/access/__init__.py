"""Team access: permissions and roles, people and their sessions, API tokens, the audit log.

The model and its SQL, without HTTP: ``cxloop.api`` turns credentials into a
:class:`Principal` with these functions, and ``cxloop.team`` serves the routes.
"""

from typing import TYPE_CHECKING

from cxloop.access.address import anonymize_ip
from cxloop.access.audit import AuditEntry, list_audit, record_audit
from cxloop.access.errors import AccessError
from cxloop.access.members import (
    Member,
    MemberChange,
    add_member,
    check_role,
    get_member,
    list_members,
    member_role,
    projects_of,
    remove_member,
    set_role,
)
from cxloop.access.permissions import (
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    SCOPES,
    SECRET_KEY_ROLE,
    Role,
    expand_scopes,
    role_permissions,
    token_permissions,
)
from cxloop.access.principal import ActorKind, Principal, cli_principal
from cxloop.access.tokens import (
    TokenInfo,
    check_scopes,
    create_token,
    get_token,
    list_tokens,
    revoke_token,
    token_principal,
)
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
    from cxloop.access.login import LoginPolicy, address_key, confirm_password, sign_in, unlock_user
    from cxloop.access.people import (
        ConsoleUser,
        check_password_rules,
        create_password_reset,
        create_user,
        find_user,
        get_user,
        hash_password,
        list_users,
        normalise_email,
        set_password,
        use_password_reset,
        verify_password,
    )
    from cxloop.access.sessions import (
        create_session,
        csrf_matches,
        csrf_token,
        end_all_sessions,
        end_session,
        session_expires_at,
        session_user,
    )

# Passwords (argon2), and the console's sign-in and sessions that check them, load on first use;
# tokens, roles and the audit log, which the API and ingest use, do without.
__getattr__ = lazy_exports(
    __name__,
    {
        "LoginPolicy": "cxloop.access.login",
        "address_key": "cxloop.access.login",
        "confirm_password": "cxloop.access.login",
        "sign_in": "cxloop.access.login",
        "unlock_user": "cxloop.access.login",
        "ConsoleUser": "cxloop.access.people",
        "check_password_rules": "cxloop.access.people",
        "create_password_reset": "cxloop.access.people",
        "create_user": "cxloop.access.people",
        "find_user": "cxloop.access.people",
        "get_user": "cxloop.access.people",
        "hash_password": "cxloop.access.people",
        "list_users": "cxloop.access.people",
        "normalise_email": "cxloop.access.people",
        "set_password": "cxloop.access.people",
        "use_password_reset": "cxloop.access.people",
        "verify_password": "cxloop.access.people",
        "create_session": "cxloop.access.sessions",
        "csrf_matches": "cxloop.access.sessions",
        "csrf_token": "cxloop.access.sessions",
        "end_all_sessions": "cxloop.access.sessions",
        "end_session": "cxloop.access.sessions",
        "session_expires_at": "cxloop.access.sessions",
        "session_user": "cxloop.access.sessions",
    },
)

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SCOPES",
    "SECRET_KEY_ROLE",
    "AccessError",
    "ActorKind",
    "AuditEntry",
    "ConsoleUser",
    "LoginPolicy",
    "Member",
    "MemberChange",
    "Principal",
    "Role",
    "TokenInfo",
    "add_member",
    "address_key",
    "anonymize_ip",
    "check_password_rules",
    "check_role",
    "check_scopes",
    "cli_principal",
    "confirm_password",
    "create_password_reset",
    "create_session",
    "create_token",
    "create_user",
    "csrf_matches",
    "csrf_token",
    "end_all_sessions",
    "end_session",
    "expand_scopes",
    "find_user",
    "get_member",
    "get_token",
    "get_user",
    "hash_password",
    "list_audit",
    "list_members",
    "list_tokens",
    "list_users",
    "member_role",
    "normalise_email",
    "projects_of",
    "record_audit",
    "remove_member",
    "revoke_token",
    "role_permissions",
    "session_expires_at",
    "session_user",
    "set_password",
    "set_role",
    "sign_in",
    "token_permissions",
    "token_principal",
    "unlock_user",
    "use_password_reset",
    "verify_password",
]
