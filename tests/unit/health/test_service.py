"""Refresh helpers that need no database: one account failing to score skips only itself."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cxloop.health.score import AccountInputs, HealthConfig
from cxloop.health.service import score_each


def _account(account_id: str, features: set[Any]) -> AccountInputs:
    return AccountInputs(
        account_id=account_id,
        seats=5,
        history_days=60,
        users_30=3,
        users_7=2,
        active_days_28=20,
        events_recent=100,
        events_baseline=300,
        days_since_active=0,
        features_30=features,
        breadth_recent=2,
        breadth_baseline=2,
        user_days_28=40,
        events_28=200,
    )


def test_an_account_that_fails_to_score_is_skipped_logged_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A feature name that is not text (a null from a broken rollup) cannot be sorted with the
    # others: that account fails, the two beside it are still scored.
    inputs = [
        _account("acc_a", {"reports"}),
        _account("acc_bad", {"reports", None}),
        _account("acc_c", {"reports", "exports"}),
    ]
    with caplog.at_level(logging.ERROR, logger="cxloop.health"):
        scored, failed = score_each(inputs, HealthConfig(), ["reports", "exports", None])  # type: ignore[list-item]
    assert [h.account_id for h in scored] == ["acc_a", "acc_c"]
    assert failed == ["acc_bad"]
    assert "acc_bad" in caplog.text
