"""The simulated population of B2B SaaS accounts (``model``) and the comments its users write
(``comments``): what ``cxloop demo`` fills the demo project with, and what the churn bench
(``python -m bench.simulate``) scores. Seeded: the same seed and ``now`` give the same events.
"""

from cxloop.demo.simulation.model import (
    ARCHETYPES,
    DEFAULT_MIX,
    KEY_FEATURES,
    AccountSim,
    Population,
    SimConfig,
    generate,
    is_usage,
)

__all__ = [
    "ARCHETYPES",
    "DEFAULT_MIX",
    "KEY_FEATURES",
    "AccountSim",
    "Population",
    "SimConfig",
    "generate",
    "is_usage",
]
