"""Team access: permissions and roles, people and their sessions, API tokens, the audit log.

The model and its SQL, without HTTP: ``cxloop.api`` turns credentials into a
:class:`Principal` with these functions, and ``cxloop.team`` serves the routes.
"""

from cxloop.access.address import anonymize_ip
from cxloop.access.audit import AuditEntry, list_audit, record_audit
from cxloop.access.errors import AccessError
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
from cxloop.access.principal import ActorKind, Principal
from cxloop.access.sessions import (
    create_session,
    csrf_matches,
    csrf_token,
    end_all_sessions,
    end_session,
    session_user,
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
    "Principal",
    "Role",
    "address_key",
    "anonymize_ip",
    "check_password_rules",
    "confirm_password",
    "create_password_reset",
    "create_session",
    "create_user",
    "csrf_matches",
    "csrf_token",
    "end_all_sessions",
    "end_session",
    "expand_scopes",
    "find_user",
    "get_user",
    "hash_password",
    "list_audit",
    "list_users",
    "normalise_email",
    "record_audit",
    "role_permissions",
    "session_user",
    "set_password",
    "sign_in",
    "token_permissions",
    "unlock_user",
    "use_password_reset",
    "verify_password",
]
