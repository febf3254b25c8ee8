"""Calibration runs in PostgreSQL (``health_calibrations``) and applying a run's weights.

Every run that found something to fit is stored, from the CLI and the API alike; applying its
weights saves them as the project's weights, marks the run applied and writes the audit entry
``health_config.updated`` (``by: calibration``) in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from cxloop.access import Principal, record_audit
from cxloop.db import Connection
from cxloop.health.calibrate import Calibration
from cxloop.health.score import DEFAULT_WEIGHTS
from cxloop.health.service import load_config
from cxloop.health.store import save_config

__all__ = [
    "CalibrationRun",
    "apply_run",
    "last_applied_run",
    "latest_run",
    "record_run",
    "weights_in_use",
]


class CalibrationRun(msgspec.Struct, kw_only=True):
    """One stored calibration. ``in_use``: the project's weights are this run's weights now
    (false once someone changed them by hand or applied another run)."""

    id: int
    created_at: datetime
    actor_label: str
    horizon_days: int
    churned: int
    others: int
    weights: dict[str, float]
    current_weights: dict[str, float]
    auc_current: float
    auc_calibrated: float | None
    applied: bool
    applied_at: datetime | None
    in_use: bool = False


# `*`: every column; jsonb comes back decoded on the server's pool, as text on the CLI's.
_INSERT = """INSERT INTO health_calibrations
    (project_id, actor_label, horizon_days, churned, others, weights, current_weights,
     auc_current, auc_calibrated, applied, applied_at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10,
            CASE WHEN $10 THEN now() END)
    RETURNING *"""
_LATEST = """SELECT * FROM health_calibrations WHERE project_id = $1
    ORDER BY created_at DESC, id DESC LIMIT 1"""
_LAST_APPLIED = """SELECT * FROM health_calibrations
    WHERE project_id = $1 AND applied ORDER BY applied_at DESC, id DESC LIMIT 1"""
_MARK_APPLIED = """UPDATE health_calibrations SET applied = true, applied_at = now()
    WHERE project_id = $1 AND id = $2 RETURNING *"""


def _run(row: Any, weights_now: dict[str, float] | None = None) -> CalibrationRun:
    fields = dict(row)
    del fields["project_id"]
    for name in ("weights", "current_weights"):
        value = fields[name]
        fields[name] = msgspec.convert(
            msgspec.json.decode(value) if isinstance(value, str | bytes) else value,
            dict[str, float],
        )
    run = CalibrationRun(**fields)
    if weights_now is not None:
        run.in_use = _same(run.weights, weights_now)
    return run


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    names = set(a) | set(b)
    return all(abs(a.get(n, 0.0) - b.get(n, 0.0)) < 1e-9 for n in names)


async def weights_in_use(conn: Connection, project_id: str) -> dict[str, float]:
    """The project's weights now, defaults filled in."""
    return {**DEFAULT_WEIGHTS, **(await load_config(conn, project_id)).weights}


async def record_run(
    conn: Connection,
    principal: Principal,
    result: Calibration,
    *,
    apply: bool,
    address: str | None = None,
    request_id: str | None = None,
) -> CalibrationRun:
    """Store a run that found something to fit (``result.possible``), audited as
    ``health_calibration.created``; with ``apply`` its weights become the project's in the
    same transaction."""
    if result.auc_current is None:
        raise ValueError(result.refusal())
    audit = {"address": address, "request_id": request_id}
    async with conn.transaction():
        row = await conn.fetchrow(
            _INSERT,
            principal.project_id,
            principal.label,
            result.horizon_days,
            result.positives,
            result.negatives,
            msgspec.json.encode(result.weights).decode(),
            msgspec.json.encode(result.current_weights).decode(),
            result.auc_current,
            result.auc_calibrated,
            apply,
        )
        run = _run(row)
        await record_audit(
            conn,
            principal,
            "health_calibration.created",
            "health_calibration",
            str(run.id),
            {
                "churned": run.churned,
                "others": run.others,
                "horizon_days": run.horizon_days,
                "auc_current": round(run.auc_current, 4),
                "auc_calibrated": (
                    round(run.auc_calibrated, 4) if run.auc_calibrated is not None else None
                ),
                "applied": apply,
            },
            **audit,
        )
        if apply:
            await _save_weights(conn, principal, run, **audit)
    run.in_use = apply or _same(run.weights, run.current_weights)
    return run


async def apply_run(
    conn: Connection,
    principal: Principal,
    run_id: int,
    *,
    address: str | None = None,
    request_id: str | None = None,
) -> CalibrationRun | None:
    """Save a stored run's weights as the project's weights (None: no such run)."""
    async with conn.transaction():
        row = await conn.fetchrow(_MARK_APPLIED, principal.project_id, run_id)
        if row is None:
            return None
        run = _run(row)
        await _save_weights(conn, principal, run, address=address, request_id=request_id)
    run.in_use = True
    return run


async def _save_weights(
    conn: Connection,
    principal: Principal,
    run: CalibrationRun,
    *,
    address: str | None,
    request_id: str | None,
) -> None:
    config = await load_config(conn, principal.project_id)
    config.weights = dict(run.weights)
    await save_config(conn, principal.project_id, config)
    await record_audit(
        conn,
        principal,
        "health_config.updated",
        "health_config",
        principal.project_id,
        {"changed": ["weights"], "by": "calibration", "calibration_id": run.id},
        address=address,
        request_id=request_id,
    )


async def latest_run(
    conn: Connection, project_id: str, weights_now: dict[str, float]
) -> CalibrationRun | None:
    row = await conn.fetchrow(_LATEST, project_id)
    return _run(row, weights_now) if row is not None else None


async def last_applied_run(
    conn: Connection, project_id: str, weights_now: dict[str, float]
) -> CalibrationRun | None:
    row = await conn.fetchrow(_LAST_APPLIED, project_id)
    return _run(row, weights_now) if row is not None else None
