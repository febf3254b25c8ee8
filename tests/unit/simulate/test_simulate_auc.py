"""ROC AUC by Mann–Whitney U (ties count one half), its baselines and the evaluation tables."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.simulate.evaluate import (
    auc_standard_error,
    average_ranks,
    evaluate,
    format_report,
    oracle_ceiling,
    recent_vs_previous,
    roc_auc,
)
from bench.simulate.model import SimConfig, generate


def pairwise_auc(risks: list[float], labels: list[bool]) -> float:
    """The definition, over every (positive, negative) pair."""
    positives = [r for r, y in zip(risks, labels, strict=True) if y]
    negatives = [r for r, y in zip(risks, labels, strict=True) if not y]
    wins = sum(
        1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives)
    )
    return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize(
    ("risks", "labels", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [False, False, True, True], 0.75),
        ([1, 2, 3, 4], [False, False, True, True], 1.0),
        ([4, 3, 2, 1], [False, False, True, True], 0.0),
        ([5, 5, 5, 5], [False, True, False, True], 0.5),
        ([1, 1, 2, 2], [False, True, False, True], 0.5),
        ([1, 2, 2, 3], [False, True, False, True], 0.875),
        ([0.2, 0.9], [True, False], 0.0),
    ],
)
def test_known_values(risks: list[float], labels: list[bool], expected: float) -> None:
    assert roc_auc(risks, labels) == pytest.approx(expected)


def test_average_ranks_share_ties() -> None:
    assert average_ranks([10, 20, 20, 5, 20]) == [2.0, 4.0, 4.0, 1.0, 4.0]
    assert average_ranks([]) == []


@pytest.mark.parametrize(
    ("risks", "labels"),
    [([1.0, 2.0], [True, True]), ([1.0], [False]), ([], []), ([1.0, 2.0], [True])],
)
def test_refuses_what_has_no_auc(risks: list[float], labels: list[bool]) -> None:
    with pytest.raises(ValueError):
        roc_auc(risks, labels)


samples = st.lists(
    st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.booleans()), min_size=2, max_size=60
).filter(lambda rows: 0 < sum(y for _, y in rows) < len(rows))


@given(samples)
def test_equals_the_pairwise_definition(rows: list[tuple[float, bool]]) -> None:
    risks, labels = [r for r, _ in rows], [y for _, y in rows]
    assert roc_auc(risks, labels) == pytest.approx(pairwise_auc(risks, labels))


@given(samples.filter(lambda rows: len({r for r, _ in rows}) == len(rows)))
def test_reversing_the_ranking_complements_it(rows: list[tuple[float, bool]]) -> None:
    risks, labels = [r for r, _ in rows], [y for _, y in rows]
    assert roc_auc(risks, labels) + roc_auc([-r for r in risks], labels) == pytest.approx(1.0)


@given(samples, st.floats(0.001, 100), st.floats(-100, 100))
def test_only_the_order_matters(rows: list[tuple[float, bool]], scale: float, shift: float) -> None:
    risks, labels = [r for r, _ in rows], [y for _, y in rows]
    moved = [r * scale + shift for r in risks]
    if len(set(moved)) == len(set(risks)):  # no ties created by rounding
        assert roc_auc(moved, labels) == pytest.approx(roc_auc(risks, labels))


def test_standard_error_shrinks_with_more_accounts() -> None:
    assert auc_standard_error(1.0, 10, 10) == 0.0
    small, large = auc_standard_error(0.8, 10, 40), auc_standard_error(0.8, 100, 400)
    assert 0 < large < small < 0.2


def test_recent_vs_previous_is_a_smoothed_ratio() -> None:
    flat = {k: 10 for k in range(28)}
    assert recent_vs_previous(flat) == 1.0
    fading = {k: (2 if k < 14 else 10) for k in range(28)}
    assert recent_vs_previous(fading) == pytest.approx(29 / 141)
    assert recent_vs_previous({}) == 1.0


def test_evaluation_of_an_oracle_and_of_a_missing_account() -> None:
    config = SimConfig(accounts=30, days=30, seed=5, now=datetime(2026, 3, 4, 12, tzinfo=UTC))
    population = generate(config)
    for _ in population.events():
        pass  # fills each account's usage record for the baseline
    oracle = {
        a.account_id: {"score": 10.0 if a.churns else 90.0, "band": "red", "confidence": "low"}
        for a in population.accounts
    }
    missing = population.accounts[0].account_id
    del oracle[missing]
    result = evaluate(population, oracle)
    assert result.auc == 1.0
    assert result.unscored == [missing]
    assert result.accounts == 29
    assert all(v == 1.0 for row in result.pairs.values() for v in row.values())
    assert 0.0 <= result.baselines["random"] <= 1.0
    assert set(result.baselines) == {"usage_14d_vs_previous_14d", "random"}
    report = format_report("oracle", result)
    assert "1.000" in report and "1 NOT scored" in report and "meets the 0.85" in report


def test_the_ceiling_is_what_the_lookalikes_leave() -> None:
    config = SimConfig(accounts=200, days=30, seed=6, now=datetime(2026, 3, 4, 12, tzinfo=UTC))
    population = generate(config)
    churners = [a for a in population.accounts if a.churns]
    lookalikes = sum(a.archetype == "lookalike" for a in churners)
    assert lookalikes > 0
    # By hand: a lookalike ties with every healthy account (½), every other churner wins.
    expected = (len(churners) - lookalikes / 2) / len(churners)
    assert oracle_ceiling(population.accounts) == pytest.approx(expected)
    scores = {a.account_id: {"score": 50.0} for a in population.accounts}
    result = evaluate(population, scores)
    assert result.ceiling == pytest.approx(expected) and result.auc == 0.5
    assert f"ceiling (an oracle knowing every churner but the lookalikes): {expected:.3f}" in (
        format_report("flat", result)
    )
    assert oracle_ceiling(population.accounts, irreducible="none") == 1.0
