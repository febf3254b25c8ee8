"""Signed webhooks: subscriptions, an outbox filled inside the caller's transaction, delivery.

Other domains report events with ``enqueue(conn, project_id, event_type, payload)`` (or
``enqueue_many``) in the transaction that makes the change; the pipeline process runs the
``WebhookDispatcher``. Receivers check requests with ``verify_signature`` (docs/webhooks.md).
"""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
from cxloop.webhooks.delivery import WebhookDispatcher, retry_delay
from cxloop.webhooks.model import EVENT_TYPES
from cxloop.webhooks.signing import InvalidSignature, signature_header, verify_signature
from cxloop.webhooks.store import WebhookEvent, enqueue, enqueue_many

if TYPE_CHECKING:
    from cxloop.webhooks.controller import WebhooksController

# The controller (Litestar) loads where an app is built; the pipeline delivers without it.
__getattr__ = lazy_exports(__name__, {"WebhooksController": "cxloop.webhooks.controller"})

__all__ = [
    "EVENT_TYPES",
    "InvalidSignature",
    "WebhookDispatcher",
    "WebhookEvent",
    "WebhooksController",
    "enqueue",
    "enqueue_many",
    "retry_delay",
    "signature_header",
    "verify_signature",
]
