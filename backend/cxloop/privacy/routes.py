"""The ``/v1/privacy`` routes as one list for the app to mount."""

from litestar.types import ControllerRouterHandler

from cxloop.privacy.controller import (
    PrivacyDeletionsController,
    PrivacyExportsController,
    PrivacyRetentionController,
)

__all__ = ["PRIVACY_HANDLERS"]

# /v1/privacy/...: behind a credential, each with its declared permission.
PRIVACY_HANDLERS: list[ControllerRouterHandler] = [
    PrivacyDeletionsController,
    PrivacyExportsController,
    PrivacyRetentionController,
]
