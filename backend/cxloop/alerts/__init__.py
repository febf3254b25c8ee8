"""Alerts: low ratings opened for customer-success follow-up, and the API to work them."""

from cxloop.alerts.controller import AlertsController
from cxloop.alerts.model import STATUSES, alert_json, is_detractor
from cxloop.alerts.store import open_alerts

__all__ = ["STATUSES", "AlertsController", "alert_json", "is_detractor", "open_alerts"]
