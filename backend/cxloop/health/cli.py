"""``cxloop score``: refresh health now, or calibrate the weights to past churn."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from cxloop.access import cli_principal
from cxloop.db import (
    Connection,
    database_options,
    default_help,
    report_migrations,
    run_with_database,
)
from cxloop.health.calibrate import Calibration, calibrate_project
from cxloop.health.calibration_store import record_run
from cxloop.health.service import (
    RefreshReport,
    backfill_project,
    refresh_project,
)
from cxloop.health.spark_rollup import rollup_engine
from cxloop.lake import LakeLocation
from cxloop.projects import list_projects
from cxloop.settings import Settings

__all__ = ["score_command"]


@click.command("score")
@click.option("--project", "project", default=None,
              help=default_help("Project id or name.", "every project"))  # fmt: skip
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help=default_help("Score as of this UTC day.", "today"))  # fmt: skip
@click.option("--backfill", "backfill_days", type=click.IntRange(1, 3650), default=None,
              help="Score each of this many days up to --as-of, oldest first, as a refresh on "
                   "that day would have: a score history from the lake (no webhook news).")  # fmt: skip
@click.option("--calibrate", is_flag=True,
              help="Fit the weights to accounts marked churned and report the back-test AUC.")  # fmt: skip
@click.option("--apply", "apply_weights", is_flag=True,
              help="With --calibrate: save the fitted weights as the project's weights.")  # fmt: skip
@click.option("--horizon-days", type=int, default=14, show_default=True,
              help="With --calibrate: score churners this many days before they churned.")  # fmt: skip
@database_options
def score_command(
    project: str | None,
    as_of: object,
    backfill_days: int | None,
    calibrate: bool,
    apply_weights: bool,
    horizon_days: int,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Roll the lake up and score every account (what the server does hourly)."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    day: date | None = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    if backfill_days is not None and calibrate:
        raise click.UsageError(
            "--backfill and --calibrate do not go together: run one, then the other"
        )

    lake = LakeLocation.from_settings(settings)
    rollup = rollup_engine(settings)

    async def run(conn: Connection) -> list[RefreshReport | tuple[str, Calibration, int | None]]:
        projects = [p for p in await list_projects(conn) if project in (None, p.id, p.name)]
        if not projects:
            raise click.UsageError(f"no project {project!r} (cxloop projects list)")
        out: list[RefreshReport | tuple[str, Calibration, int | None]] = []
        for p in projects:
            if calibrate:
                await refresh_project(conn, lake, p.id, day, rollup=rollup)
                result = await calibrate_project(conn, lake, p.id, horizon_days=horizon_days)
                stored = None
                if result.possible:  # stored (and applied) with its audit entries
                    saved = await record_run(conn, cli_principal(p.id), result, apply=apply_weights)
                    stored = saved.id
                out.append((p.name, result, stored))
            elif backfill_days is not None:
                out.extend(
                    await backfill_project(conn, lake, p.id, backfill_days, day, rollup=rollup)
                )
            else:
                out.append(await refresh_project(conn, lake, p.id, day, rollup=rollup))
        return out

    for item in run_with_database(data_dir, database_url, run, on_migrated=report_migrations):
        if isinstance(item, RefreshReport):
            click.echo(
                f"{item.project_id}: {item.accounts} accounts scored as of {item.as_of} in "
                f"{item.seconds:.2f} s ({item.rollup.partitions} lake partitions rolled up, "
                f"{item.rollup.unchanged} unchanged)"
            )
            continue
        name, result, stored = item
        if not result.possible:
            click.echo(f"{name}: {result.refusal()}")
            continue
        weights = ", ".join(f"{k} {v:.2f}" for k, v in result.weights.items())
        click.echo(
            f"{name}: {result.positives} churned vs {result.negatives} other accounts\n"
            f"  back-test ROC AUC, current weights:    {result.auc_current:.3f}\n"
            f"  back-test ROC AUC, calibrated (5-fold): {result.auc_calibrated:.3f}\n"
            f"  calibrated weights: {weights}"
            + ("\n  saved as the project's weights" if apply_weights else "")
            + f"\n  stored as calibration {stored} (GET /v1/health/calibration"
            + ("" if apply_weights else f"; POST /v1/health/calibrations/{stored}/apply")
            + ")"
        )
