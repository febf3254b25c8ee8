"""Refresh helpers that need no database: one account failing to score skips only itself."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from typing import Any

import asyncpg
import pytest

from cxloop.health.score import AccountInputs, HealthConfig
from cxloop.health.service import RefreshReport, _write_snapshots, score_each


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


class _RefusingConnection:
    """Refuses any executemany that holds a refused account; counts the statements sent."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.statements = 0

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()  # type: ignore[return-value]

    async def executemany(self, sql: str, records: list[tuple[Any, ...]]) -> None:
        self.statements += 1
        if any(r[1] in self.refused for r in records):
            raise asyncpg.exceptions.StringDataRightTruncationError("refused")


async def test_refused_snapshots_are_isolated_in_a_few_statements_not_one_per_account() -> None:
    records = [("prj", f"acc_{i:03}") for i in range(256)]
    conn = _RefusingConnection({"acc_007", "acc_200"})
    report = RefreshReport(project_id="prj", as_of=date(2026, 1, 1))
    written = await _write_snapshots(conn, records, report)  # type: ignore[arg-type]
    assert written == {r[1] for r in records} - {"acc_007", "acc_200"}
    assert report.failed_accounts == ["acc_007", "acc_200"]
    assert conn.statements <= 1 + 2 * 2 * 8  # log2(256) halvings per refused account
