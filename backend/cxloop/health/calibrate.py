"""Fitting the score's weights to the vendor's own churn outcomes, with a back-test AUC.

Accounts whose group trait ``status`` is ``churned`` are positives, scored as of ``horizon``
days before the status was set (its trait timestamp); every other account with usage is a
negative, scored as of ``horizon`` days before today. A logistic regression on the components'
shortfalls (100 − the value the score counts, ``penalised``) gives non-negative weights; the
back-test is the ROC AUC of the weighted score under k-fold cross-validation, next to the AUC
of the current weights.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from cxloop.db import Connection
from cxloop.health.score import DEFAULT_WEIGHTS, HealthConfig, penalised
from cxloop.health.service import load_config, project_inputs, score_inputs
from cxloop.lake import LakeLocation

__all__ = ["Calibration", "calibrate_project", "fit_weights", "roc_auc"]

NAMES = list(DEFAULT_WEIGHTS)


@dataclass
class Calibration:
    positives: int
    negatives: int
    weights: dict[str, float]
    auc_current: float | None  # None: too few churned (or other) accounts to calibrate
    auc_calibrated: float | None  # k-fold cross-validated
    current_weights: dict[str, float] = field(default_factory=dict)  # in use when it ran
    horizon_days: int = 14

    @property
    def possible(self) -> bool:
        return self.auc_current is not None

    def refusal(self) -> str:
        """Why a run found nothing to fit, and what to do (the CLI and the API say the same)."""
        return (
            f"cannot calibrate: {self.positives} churned and {self.negatives} other accounts "
            "with usage; mark churned accounts with the group trait status: churned"
        )


def roc_auc(risks: list[float], labels: list[bool]) -> float | None:
    """Probability that a random churner has a higher risk than a random non-churner."""
    pairs = sorted(zip(risks, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ties share the average rank
        rank_sum += average_rank * sum(1 for _, label in pairs[i:j] if label)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def fit_weights(
    rows: list[list[float]], labels: list[bool], l2: float = 0.01, steps: int = 3000
) -> dict[str, float]:
    """Non-negative weights summing to 1 from a logistic regression on shortfalls in [0, 1].

    Projected gradient descent, vectorised (numpy): 5,000 accounts fit in about 0.3 s, where a
    loop over rows took minutes."""
    n, k = len(rows), len(NAMES)
    if n == 0:
        return dict(DEFAULT_WEIGHTS)
    x = np.asarray(rows, dtype=np.float64).reshape(n, k)
    y = np.asarray(labels, dtype=np.float64)
    coef = np.zeros(k)
    bias, rate = 0.0, 0.5
    for _ in range(steps):
        z = np.clip(bias + x @ coef, -30.0, 30.0)
        error = 1.0 / (1.0 + np.exp(-z)) - y
        bias -= rate * float(error.sum()) / n
        coef = np.maximum(0.0, coef - rate * ((error @ x) / n + l2 * coef))
    total = float(coef.sum())
    if total <= 0:
        return dict(DEFAULT_WEIGHTS)
    return {name: round(float(c) / total, 4) for name, c in zip(NAMES, coef, strict=True)}


def _weighted_risk(row: list[float], weights: dict[str, float]) -> float:
    return sum(weights.get(name, 0.0) * v for name, v in zip(NAMES, row, strict=True))


async def _rows_as_of(
    conn: Connection,
    lake: Path | LakeLocation,
    project_id: str,
    as_of: date,
    config: HealthConfig,
) -> dict[str, list[float]]:
    inputs, default_features = await project_inputs(conn, lake, project_id, as_of)
    out = {}
    for health in score_inputs(inputs, config, config.key_features or default_features):
        by_name = {c.name: c.normalised for c in health.components}
        # Shortfalls as the score counts them (a component in the red counts five-fold).
        out[health.account_id] = [
            (100 - penalised(by_name.get(name, 50.0))) / 100 for name in NAMES
        ]
    return out


async def calibrate_project(
    conn: Connection,
    lake: Path | LakeLocation,
    project_id: str,
    *,
    horizon_days: int = 14,
    folds: int = 5,
    today: date | None = None,
) -> Calibration:
    today = today or datetime.now(UTC).date()
    config = await load_config(conn, project_id)
    churned = await conn.fetch(
        """SELECT account_id, (trait_timestamps ->> 'status')::bigint AS at_us FROM accounts
           WHERE project_id = $1 AND status = 'churned'""",
        project_id,
    )
    rows: list[list[float]] = []
    labels: list[bool] = []
    cache: dict[date, dict[str, list[float]]] = {}

    async def row(account_id: str, as_of: date) -> list[float] | None:
        if as_of not in cache:
            cache[as_of] = await _rows_as_of(conn, lake, project_id, as_of, config)
        return cache[as_of].get(account_id)

    churned_ids = set()
    for record in churned:
        churned_ids.add(record["account_id"])
        marked = (
            datetime.fromtimestamp(record["at_us"] / 1e6, UTC).date()
            if record["at_us"] else today
        )  # fmt: skip
        features = await row(record["account_id"], marked - timedelta(days=horizon_days))
        if features is not None:
            rows.append(features)
            labels.append(True)
    baseline = today - timedelta(days=horizon_days)
    for account_id, features in (
        await _rows_as_of(conn, lake, project_id, baseline, config)
    ).items():
        if account_id not in churned_ids:
            rows.append(features)
            labels.append(False)

    current = {**DEFAULT_WEIGHTS, **config.weights}
    # Pure CPU (seconds on thousands of accounts): off the event loop.
    weights, auc_current, auc_calibrated = await asyncio.to_thread(
        _fit_and_backtest, rows, labels, current, folds
    )
    return Calibration(
        sum(labels),
        len(labels) - sum(labels),
        weights,
        auc_current,
        auc_calibrated,
        current_weights=current,
        horizon_days=horizon_days,
    )


def _fit_and_backtest(
    rows: list[list[float]], labels: list[bool], current: dict[str, float], folds: int
) -> tuple[dict[str, float], float | None, float | None]:
    """The fitted weights, the AUC of ``current`` and the k-fold AUC of fitted weights."""
    auc_current = roc_auc([_weighted_risk(r, current) for r in rows], labels)
    if auc_current is None:
        return dict(current), None, None
    weights = fit_weights(rows, labels)
    # k-fold back-test: every account is scored by weights fitted without it.
    order = list(range(len(rows)))
    random.Random(7).shuffle(order)
    risks = [0.0] * len(rows)
    for fold in range(folds):
        held = set(order[fold::folds])
        train = [i for i in order if i not in held]
        fold_weights = fit_weights([rows[i] for i in train], [labels[i] for i in train], steps=800)
        for i in held:
            risks[i] = _weighted_risk(rows[i], fold_weights)
    return weights, auc_current, roc_auc(risks, labels)
