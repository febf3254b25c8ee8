"""Data-subject privacy: deletion jobs (PostgreSQL, lake rewrite, rollups, WAL), suppression of
deleted subjects, access/export, retention; ``/v1/privacy``, ``cxloop privacy``."""

from litestar.types import ControllerRouterHandler

from cxloop.privacy.cli import privacy_group
from cxloop.privacy.controller import (
    PrivacyDeletionsController,
    PrivacyExportsController,
    PrivacyRetentionController,
)
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

# /v1/privacy/...: behind a credential, each with its declared permission.
PRIVACY_HANDLERS: list[ControllerRouterHandler] = [
    PrivacyDeletionsController,
    PrivacyExportsController,
    PrivacyRetentionController,
]
