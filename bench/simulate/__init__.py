"""A simulator of SaaS accounts with known churn that drives the real ingest API, then scores.

``python -m bench.simulate --help``; the model is in ``model``, sending in ``drive``, the
ROC AUC and its baselines in ``evaluate``.
"""

from .evaluate import Evaluation, evaluate, roc_auc
from .model import ARCHETYPES, DEFAULT_MIX, Population, SimConfig, generate

__all__ = [
    "ARCHETYPES",
    "DEFAULT_MIX",
    "Evaluation",
    "Population",
    "SimConfig",
    "evaluate",
    "generate",
    "roc_auc",
]
