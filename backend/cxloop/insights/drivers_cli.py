"""``cxloop insights drivers``: which features' use goes with better ratings, as a table (the
same answer as ``GET /v1/insights/drivers/usage``; docs/insights-drivers.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.table import Table

from cxloop.api import ApiError
from cxloop.db import Connection, database_options, report_migrations, run_with_database
from cxloop.insights.cli import console, insights_group, number, project_id
from cxloop.insights.drivers_controller import (
    DEFAULT_PERIOD_DAYS,
    drivers_answer,
    parse_features,
    rating_period,
)
from cxloop.insights.drivers_schemas import UsageDrivers
from cxloop.lake import LakeLocation
from cxloop.settings import Settings
from cxloop.surveys import KINDS, Kind

__all__ = ["drivers_command"]

_DAY = click.DateTime(["%Y-%m-%d"])


def render(answer: UsageDrivers, console: Console) -> None:
    """The answer as a table, its correlated pairs and notes below it."""
    digits = 2 if answer.kind == "ces" else 1
    table = Table(
        "rank", "feature", "users", "metric [95%]", "non-users", "metric [95%]",
        "difference [95%]", "significant", "share of R²",
        title=f"{answer.kind} ({answer.metric}) of {answer.raters} raters, {answer.since} … "
        f"{answer.until}, use in the {answer.window_days} days before rating; overall "
        f"{number(answer.overall, digits)}, R² {number(answer.r_squared, 3)}",
    )  # fmt: skip
    for row in answer.features:
        table.add_row(
            "–" if row.rank is None else str(row.rank),
            row.feature,
            str(row.users),
            f"{number(row.users_metric, digits)} [{number(row.users_low, digits)} … "
            f"{number(row.users_high, digits)}]",
            str(row.non_users),
            f"{number(row.non_users_metric, digits)} [{number(row.non_users_low, digits)} … "
            f"{number(row.non_users_high, digits)}]",
            f"{number(row.difference, digits)} [{number(row.difference_low, digits)} … "
            f"{number(row.difference_high, digits)}]",
            "yes" if row.significant else "no",
            "–" if row.share_of_r2 is None else f"{100 * row.share_of_r2:.0f} %",
        )
    console.print(table)
    for pair in answer.correlated:
        console.print(f"correlated: {pair.a} and {pair.b} (r = {pair.correlation:.2f})")
    for note in answer.notes:
        console.print(f"note: {note}")


@insights_group.command("drivers")
@click.option("--project", required=True, help="Project id or name.")
@click.option("--kind", type=click.Choice(KINDS), default="nps", show_default=True)
@click.option("--from", "since", type=_DAY, default=None,
              help="First rating day (UTC).",
              show_default=f"the {DEFAULT_PERIOD_DAYS} days ending --to")  # fmt: skip
@click.option("--to", "until", type=_DAY, default=None,
              help="Last rating day (UTC), inclusive.", show_default="today")  # fmt: skip
@click.option("--window-days", type=click.IntRange(1, 365), default=30, show_default=True,
              help="Days before each rating in which a use counts.")  # fmt: skip
@click.option("--features", default=None,
              help="Comma-separated features.",
              show_default="the key features: the health config's, else the 10 most accounts use")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
@database_options
def drivers_command(
    project: str,
    kind: Kind,
    since: datetime | None,
    until: datetime | None,
    window_days: int,
    features: str | None,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Usage drivers of a rating: users of each key feature against non-users, ranked."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    try:
        first, last = rating_period(
            since.date() if since is not None else None, until.date() if until is not None else None
        )
    except ApiError as exc:
        raise click.UsageError(exc.message) from exc
    try:
        names = parse_features(features) if features is not None else None
    except ApiError as exc:
        raise click.BadParameter(exc.message, param_hint="--features") from exc

    async def run(conn: Connection) -> UsageDrivers:
        found = await project_id(conn, project)
        return await drivers_answer(
            conn, LakeLocation.from_settings(settings), found, kind, first, last, window_days, names
        )

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(msgspec.json.encode(answer))
        return
    render(answer, console())
