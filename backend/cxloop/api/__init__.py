"""The private API's shared pieces: secret-key auth, errors, the request guard, the schema."""

from cxloop.api.auth import (
    CSRF_HEADER,
    DATABASE_STATE_KEY,
    PROJECT_AUTH_STATE_KEY,
    PROJECT_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    ProjectAuth,
    app_settings,
    client_address,
    project_id_of,
    request_is_tls,
    session_principal,
)
from cxloop.api.deps import (
    PRIVATE_DEPENDENCIES,
    PUBLIC_DEPENDENCIES,
    SETTINGS_STATE_KEY,
    SIGNATURE_NAMESPACE,
    WRITE_KEYS_STATE_KEY,
    Audit,
    Db,
    Page,
    PrincipalDep,
    ProjectId,
    Transaction,
    private_router,
    public_router,
)
from cxloop.api.docs import openapi_config
from cxloop.api.errors import ApiError, api_exception_handlers, database_unavailable, found
from cxloop.api.guard import ApiGuardMiddleware
from cxloop.api.headers import security_headers
from cxloop.api.openapi import document_error_answers, document_raw_routes, error_answer
from cxloop.api.pagination import Cursor, PageRequest
from cxloop.api.request_id import request_id_of

__all__ = [
    "CSRF_HEADER",
    "DATABASE_STATE_KEY",
    "PRIVATE_DEPENDENCIES",
    "PROJECT_AUTH_STATE_KEY",
    "PROJECT_HEADER",
    "PUBLIC_DEPENDENCIES",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "SETTINGS_STATE_KEY",
    "SIGNATURE_NAMESPACE",
    "WRITE_KEYS_STATE_KEY",
    "ApiError",
    "ApiGuardMiddleware",
    "Audit",
    "Cursor",
    "Db",
    "Page",
    "PageRequest",
    "PrincipalDep",
    "ProjectAuth",
    "ProjectId",
    "Transaction",
    "api_exception_handlers",
    "app_settings",
    "client_address",
    "database_unavailable",
    "document_error_answers",
    "document_raw_routes",
    "error_answer",
    "found",
    "openapi_config",
    "private_router",
    "project_id_of",
    "public_router",
    "request_id_of",
    "request_is_tls",
    "security_headers",
    "session_principal",
]
