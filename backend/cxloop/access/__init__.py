"""Team access: permissions and roles, people and their sessions, API tokens, the audit log.

The model and its SQL, without HTTP: ``cxloop.api`` turns credentials into a
:class:`Principal` with these functions, and ``cxloop.team`` serves the routes.
"""

from cxloop.access.address import anonymize_ip
from cxloop.access.audit import AuditEntry, list_audit, record_audit
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

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "ROLE_PERMISSIONS",
    "SCOPES",
    "SECRET_KEY_ROLE",
    "ActorKind",
    "AuditEntry",
    "Principal",
    "Role",
    "anonymize_ip",
    "expand_scopes",
    "list_audit",
    "record_audit",
    "role_permissions",
    "token_permissions",
]
