"""The PostgreSQL projection of the event stream: users, accounts, memberships, responses.

Survey responses open alerts in the same transaction (``cxloop.alerts``).
"""

from cxloop.projection.prepare import InvalidRow, SurveyResponded, prepare_batch
from cxloop.projection.projector import (
    ProjectionStats,
    project_events,
)

__all__ = [
    "InvalidRow",
    "ProjectionStats",
    "SurveyResponded",
    "prepare_batch",
    "project_events",
]
