"""Alerts: low ratings opened for customer-success follow-up, and the API to work them."""

from cxloop.alerts.controller import AlertsController
from cxloop.alerts.model import REASONS, STATUSES, alert_json, is_detractor
from cxloop.alerts.store import open_alerts, open_comment_alerts

__all__ = [
    "REASONS",
    "STATUSES",
    "AlertsController",
    "alert_json",
    "is_detractor",
    "open_alerts",
    "open_comment_alerts",
]
