"""Account health: usage rollups from the lake, the explainable score, snapshots, the CS API."""

from cxloop.health.calibration_controller import CalibrationController
from cxloop.health.cli import score_command
from cxloop.health.controller import AccountsController, HealthController, PortfolioController
from cxloop.health.rollup import FEATURE_SQL, ROLLUP_STORES, lake_partitions, rollup_project
from cxloop.health.score import HealthConfig
from cxloop.health.service import (
    backfill_project,
    load_config,
    refresh_project,
    wait_for_acked,
    wait_for_analysed,
)

__all__ = [
    "FEATURE_SQL",
    "ROLLUP_STORES",
    "AccountsController",
    "CalibrationController",
    "HealthConfig",
    "HealthController",
    "PortfolioController",
    "backfill_project",
    "lake_partitions",
    "load_config",
    "refresh_project",
    "rollup_project",
    "score_command",
    "wait_for_acked",
    "wait_for_analysed",
]
