"""The private API's shared pieces: secret-key auth, errors, the request guard, the schema."""

from cxloop.api.auth import ProjectAuth, project_id_of
from cxloop.api.errors import ApiError, api_exception_handlers
from cxloop.api.guard import ApiGuardMiddleware
from cxloop.api.openapi import document_error_answers
from cxloop.api.pagination import Cursor

__all__ = [
    "ApiError",
    "ApiGuardMiddleware",
    "Cursor",
    "ProjectAuth",
    "api_exception_handlers",
    "document_error_answers",
    "project_id_of",
]
