"""Data-subject privacy: deletion jobs (PostgreSQL, lake rewrite, rollups, WAL), suppression of
deleted subjects, access/export, retention; ``/v1/privacy``, ``cxloop privacy``."""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
from cxloop.privacy.jobs import DeletionJobs
from cxloop.privacy.retention import RetentionSweep
from cxloop.privacy.store import (
    PrivacyError,
    PrivacyRequest,
    RetentionConfig,
    create_deletion,
    get_request,
    list_requests,
)
from cxloop.privacy.suppression import SuppressionFilter

if TYPE_CHECKING:
    from cxloop.privacy.cli import privacy_group
    from cxloop.privacy.routes import PRIVACY_HANDLERS

# The routes (Litestar) load where an app is built, the commands (click, rich) where one
# runs; the pipeline works deletion jobs and retention without either.
__getattr__ = lazy_exports(
    __name__,
    {
        "PRIVACY_HANDLERS": "cxloop.privacy.routes",
        "privacy_group": "cxloop.privacy.cli",
    },
)

__all__ = [
    "PRIVACY_HANDLERS",
    "DeletionJobs",
    "PrivacyError",
    "PrivacyRequest",
    "RetentionConfig",
    "RetentionSweep",
    "SuppressionFilter",
    "create_deletion",
    "get_request",
    "list_requests",
    "privacy_group",
]
