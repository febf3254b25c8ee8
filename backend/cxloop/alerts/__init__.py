"""Alerts: low ratings opened for customer-success follow-up, and the API to work them."""

from typing import TYPE_CHECKING

from cxloop.alerts.model import REASONS, STATUSES, alert_json, is_detractor
from cxloop.alerts.store import open_alerts, open_comment_alerts
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
    from cxloop.alerts.controller import AlertsController

# The controller (Litestar) loads where an app is built; the projection opens alerts without it.
__getattr__ = lazy_exports(__name__, {"AlertsController": "cxloop.alerts.controller"})

__all__ = [
    "REASONS",
    "STATUSES",
    "AlertsController",
    "alert_json",
    "is_detractor",
    "open_alerts",
    "open_comment_alerts",
]
