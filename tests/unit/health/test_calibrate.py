"""ROC AUC and the weight fit behind `cxloop score --calibrate`."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from cxloop.health.calibrate import NAMES, fit_weights, roc_auc


def test_auc_known_values_and_ties() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [False, True, False, True]) == 0.5
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert roc_auc([0.3, 0.4], [True, True]) is None


@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.booleans()), min_size=2, unique_by=lambda t: t[0])
)
def test_auc_of_negated_risks_is_the_complement(pairs: list[tuple[float, bool]]) -> None:
    risks = [r for r, _ in pairs]
    labels = [y for _, y in pairs]
    auc = roc_auc(risks, labels)
    if auc is None:
        return
    flipped = roc_auc([-r for r in risks], labels)
    assert flipped is not None and abs(auc + flipped - 1) < 1e-9


def test_the_fit_puts_weight_on_what_predicts_churn() -> None:
    rng = random.Random(3)
    rows, labels = [], []
    for _ in range(300):
        churns = rng.random() < 0.3
        row = [rng.random() for _ in NAMES]
        trend = NAMES.index("trend")
        row[trend] = min(1.0, max(0.0, (0.75 if churns else 0.3) + rng.gauss(0, 0.15)))
        rows.append(row)
        labels.append(churns)
    weights = fit_weights(rows, labels)
    assert abs(sum(weights.values()) - 1) < 1e-3
    assert all(w >= 0 for w in weights.values())
    assert max(weights, key=lambda name: weights[name]) == "trend"
    assert weights["trend"] > 0.5
