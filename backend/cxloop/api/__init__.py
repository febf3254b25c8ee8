"""The private API's shared pieces: secret-key auth, errors, the database handle."""

from cxloop.api.auth import ProjectAuth, project_id_of
from cxloop.api.errors import ApiError, api_exception_handlers
from cxloop.api.pagination import Cursor

__all__ = ["ApiError", "Cursor", "ProjectAuth", "api_exception_handlers", "project_id_of"]
