"""``/v1/health/calibration``: fit the score's weights to past churn, read and apply the runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from cxloop.api import ApiError, Audit, Db, ProjectId
from cxloop.health.calibrate import calibrate_project
from cxloop.health.calibration_store import (
    CalibrationRun,
    apply_run,
    last_applied_run,
    latest_run,
    record_run,
    weights_in_use,
)
from cxloop.lake import LakeLocation

if TYPE_CHECKING:
    from cxloop.settings import Settings

__all__ = ["CalibrationController"]


class CalibrationState(msgspec.Struct, kw_only=True):
    """The latest run and the last one whose weights were applied (the same run, or null when
    there is none); ``weights``: the project's weights now."""

    latest: CalibrationRun | None
    last_applied: CalibrationRun | None
    weights: dict[str, float]


class CalibrateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``horizon_days``: score churned accounts this many days before they were marked
    churned (as ``cxloop score --calibrate --horizon-days``); ``apply``: save the fitted
    weights as the project's weights."""

    horizon_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 14
    apply: bool = False


class CannotCalibrate(msgspec.Struct):
    """409 ``cannot_calibrate``: too few churned (or other) accounts with usage to fit."""

    code: str
    message: str


_CONFLICT = {
    409: ResponseSpec(
        CannotCalibrate,
        description="cannot_calibrate: no churned account, or no other account, with usage.",
        generate_examples=False,
    )
}


class CalibrationController(Controller):
    path = "/v1/health"
    tags = ["health"]

    @get(
        "/calibration",
        permission="health:read",
        summary="The latest calibration of the weights and the last one applied.",
    )
    async def get_calibration(self, project_id: ProjectId, db: Db) -> CalibrationState:
        weights = await weights_in_use(db, project_id)
        return CalibrationState(
            latest=await latest_run(db, project_id, weights),
            last_applied=await last_applied_run(db, project_id, weights),
            weights=weights,
        )

    @post(
        "/calibrate",
        permission="config:write",
        status_code=201,
        summary="Fit the weights to the accounts marked churned; optionally apply them.",
        description="Churned accounts (group trait `status: churned`) are scored `horizon_days` "
        "before they were marked, every other account with usage `horizon_days` before today, "
        "from the usage rollups of the last refresh. The run is stored (GET "
        "/v1/health/calibration) with the back-test ROC AUC of the weights in use and the "
        "5-fold AUC of the fitted ones. 409 `cannot_calibrate` when there is nothing to fit.",
        responses=_CONFLICT,
    )
    async def calibrate(
        self,
        project_id: ProjectId,
        db: Db,
        audit: Audit,
        settings: NamedDependency[Settings],
        data: JSONBody[CalibrateRequest | None] = None,
    ) -> CalibrationRun:
        request = data or CalibrateRequest()
        result = await calibrate_project(
            db,
            LakeLocation.from_settings(settings),
            project_id,
            horizon_days=request.horizon_days,
        )
        if not result.possible:
            raise ApiError(409, "cannot_calibrate", result.refusal())
        return await record_run(
            db,
            audit.principal,
            result,
            apply=request.apply,
            address=audit.address,
            request_id=audit.request_id,
        )

    @post(
        "/calibrations/{calibration_id:int}/apply",
        permission="config:write",
        status_code=200,
        summary="Save a stored calibration's fitted weights as the project's weights.",
    )
    async def apply_calibration(
        self,
        project_id: ProjectId,
        db: Db,
        audit: Audit,
        calibration_id: FromPath[int],
    ) -> CalibrationRun:
        run = await apply_run(
            db,
            audit.principal,
            calibration_id,
            address=audit.address,
            request_id=audit.request_id,
        )
        if run is None:
            raise ApiError(
                404,
                "calibration_not_found",
                f"no calibration {calibration_id} in this project (GET /v1/health/calibration)",
            )
        return run
