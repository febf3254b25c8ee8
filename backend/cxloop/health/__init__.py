"""Account health: usage rollups from the lake, the explainable score, snapshots, the CS API."""

from typing import TYPE_CHECKING

from cxloop.health.rollup import FEATURE_SQL, ROLLUP_STORES, lake_partitions, rollup_project
from cxloop.health.score import HealthConfig
from cxloop.health.service import (
    RollupEngine,
    backfill_project,
    load_config,
    refresh_project,
    wait_for_acked,
    wait_for_analysed,
)
from cxloop.health.spark_rollup import rollup_engine
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
    from cxloop.health.calibration_controller import CalibrationController
    from cxloop.health.cli import score_command
    from cxloop.health.controller import AccountsController, HealthController, PortfolioController

# The controllers (Litestar) load where an app is built, ``cxloop score`` (click, rich) where
# it runs; the pipeline refreshes rollups and scores without either.
__getattr__ = lazy_exports(
    __name__,
    {
        "CalibrationController": "cxloop.health.calibration_controller",
        "score_command": "cxloop.health.cli",
        "AccountsController": "cxloop.health.controller",
        "HealthController": "cxloop.health.controller",
        "PortfolioController": "cxloop.health.controller",
    },
)

__all__ = [
    "FEATURE_SQL",
    "ROLLUP_STORES",
    "AccountsController",
    "CalibrationController",
    "HealthConfig",
    "HealthController",
    "PortfolioController",
    "RollupEngine",
    "backfill_project",
    "lake_partitions",
    "load_config",
    "refresh_project",
    "rollup_engine",
    "rollup_project",
    "score_command",
    "wait_for_acked",
    "wait_for_analysed",
]
