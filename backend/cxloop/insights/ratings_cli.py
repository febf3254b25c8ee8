"""``cxloop insights ratings | change``: rating metrics and significant changes as tables
(the same answers as ``/v1/insights/ratings`` and ``/v1/insights/ratings/change``)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

import click
import msgspec
from rich.table import Table

from cxloop.api import ApiError
from cxloop.db import Connection, database_options, report_migrations, run_with_database
from cxloop.insights.cli import console, insights_group, number, project_id
from cxloop.insights.ratings_controller import (
    Compare,
    change_answer,
    change_query,
    ratings_answer,
    ratings_query,
)
from cxloop.insights.ratings_schemas import RatingChanges, Ratings
from cxloop.insights.ratings_store import Filters, Period
from cxloop.surveys import KINDS, Kind

__all__ = ["change_command", "ratings_command"]

_DAY = click.DateTime(["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _common(command: Any) -> Any:
    options = [
        click.option("--project", required=True, help="Project id or name."),
        click.option("--kind", type=click.Choice(KINDS), required=True),
        click.option("--from", "since", type=_DAY, default=None, help="First day (UTC).",
                     show_default="the 90 days ending --to"),
        click.option("--to", "until", type=_DAY, default=None,
                     help="Last day (UTC), inclusive.", show_default="today"),
        click.option("--group-by", default=None,
                     help="Up to two of survey, feature, plan, band, locale, page, account, "
                          "trait:<key>, comma-separated."),
        click.option("--survey", default=None),
        click.option("--feature", default=None),
        click.option("--plan", default=None),
        click.option("--band", default=None),
        click.option("--locale", default=None),
        click.option("--page", default=None),
        click.option("--account", default=None),
        click.option("--trait", multiple=True, help="<key>:<value>, repeatable."),
        click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer."),
        database_options,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _filters(options: dict[str, Any]) -> Filters:
    traits = []
    for item in options.pop("trait"):
        key, colon, value = item.partition(":")
        if not colon or not key:
            raise click.BadParameter(f"{item!r} is not <key>:<value>", param_hint="--trait")
        traits.append((key, value))
    names = ("survey", "feature", "plan", "band", "locale", "page", "account")
    return Filters(**{name: options.pop(name) for name in names}, traits=tuple(traits))


def _groups(groups: dict[str, str | None]) -> list[str]:
    return [value if value is not None else "(none)" for value in groups.values()]


@insights_group.command("ratings")
@click.option("--period", type=click.Choice(get_args(Period)), default="week", show_default=True)
@click.option("--min-n", type=click.IntRange(0), default=0, show_default=True,
              help="Leave out rows with fewer ratings.")  # fmt: skip
@_common
def ratings_command(period: str, min_n: int, **options: Any) -> None:
    """The rating metric per period and group, with 95% intervals and response rates."""
    project, as_json = options.pop("project"), options.pop("as_json")
    data_dir: Path | None = options.pop("data_dir")
    database_url: str | None = options.pop("database_url")
    kind: Kind = options.pop("kind")
    filters = _filters(options)
    try:
        query = ratings_query(
            kind, _day(options.pop("since")), _day(options.pop("until")), period,  # type: ignore[arg-type]
            options.pop("group_by"), filters, min_n,
        )  # fmt: skip
    except ApiError as exc:
        raise click.UsageError(exc.message) from exc

    async def run(conn: Connection) -> Ratings:
        return await ratings_answer(conn, await project_id(conn, project), query)

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(msgspec.json.encode(answer))
        return
    table = Table("period", *answer.group_by, "n", "prom/pass/detr", "metric", "95% interval",
                  "shown", "rate", title=f"{answer.kind}: {answer.metric}, "
                  f"{answer.since} … {answer.until}")  # fmt: skip
    for row in answer.rows:
        table.add_row(
            row.period or "",
            *_groups(row.groups),
            str(row.n),
            f"{row.promoters}/{row.passives}/{row.detractors}",
            number(row.metric, 2 if kind == "ces" else 1),
            f"{number(row.low)} … {number(row.high)}",
            "–" if row.shown is None else str(row.shown),
            "–" if row.response_rate is None else f"{100 * row.response_rate:.0f} %",
        )
    console().print(table)


@insights_group.command("change")
@click.option("--compare", type=click.Choice(get_args(Compare)), default="previous",
              show_default=True,
              help="previous: each group against itself before; rest: each group's change "
                   "against the rest's change (a shared dip cancels out).")  # fmt: skip
@click.option("--compare-from", type=_DAY, default=None,
              help="First day of the earlier period.",
              show_default="as long as --from..--to, just before it")  # fmt: skip
@click.option("--compare-to", type=_DAY, default=None, help="Last day of the earlier period.",
              show_default="the day before --from")  # fmt: skip
@_common
def change_command(
    compare: str, compare_from: datetime | None, compare_to: datetime | None, **options: Any
) -> None:
    """Which changes of the rating metric are significant (Benjamini–Hochberg, n ≥ 10)."""
    project, as_json = options.pop("project"), options.pop("as_json")
    data_dir: Path | None = options.pop("data_dir")
    database_url: str | None = options.pop("database_url")
    kind: Kind = options.pop("kind")
    filters = _filters(options)
    try:
        query = change_query(
            kind, _day(options.pop("since")), _day(options.pop("until")), _day(compare_from),
            _day(compare_to), compare, options.pop("group_by"), filters,  # type: ignore[arg-type]
        )  # fmt: skip
    except ApiError as exc:
        raise click.UsageError(exc.message) from exc

    async def run(conn: Connection) -> RatingChanges:
        return await change_answer(conn, await project_id(conn, project), query)

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(msgspec.json.encode(answer))
        return
    digits = 2 if kind == "ces" else 1
    table = Table(*answer.group_by, "now (n)", "before (n)",
                  *(["rest Δ"] if answer.compare == "rest" else []), "Δ", "95% interval", "q",
                  "significant", "note",
                  title=f"{answer.kind}: {answer.since} … {answer.until} against "
                  f"{answer.compare_from} … {answer.compare_to} ({answer.compare})")  # fmt: skip
    for row in answer.rows:
        table.add_row(
            *_groups(row.groups),
            f"{number(row.current_metric, digits)} ({row.current_n})",
            f"{number(row.previous_metric, digits)} ({row.previous_n})",
            *([number(row.rest_change, digits)] if answer.compare == "rest" else []),
            number(row.difference, digits),
            f"{number(row.low, digits)} … {number(row.high, digits)}",
            number(row.q, 3),
            "yes" if row.significant else "no",
            row.note or "",
        )
    console().print(table)
