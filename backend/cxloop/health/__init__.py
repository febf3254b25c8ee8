"""Account health: usage rollups from the lake, the explainable score, snapshots, the CS API."""

from cxloop.health.cli import score_command
from cxloop.health.controller import AccountsController, HealthController
from cxloop.health.rollup import lake_partitions
from cxloop.health.service import refresh_project

__all__ = [
    "AccountsController",
    "HealthController",
    "lake_partitions",
    "refresh_project",
    "score_command",
]
