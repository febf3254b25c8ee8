"""Account health: usage rollups from the lake, the explainable score, snapshots, the CS API."""

from cxloop.health.controller import AccountsController, HealthController

__all__ = ["AccountsController", "HealthController"]
