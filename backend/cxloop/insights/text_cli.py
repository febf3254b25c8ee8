"""``cxloop insights analyse-text | reanalyse | topics | terms | verbatims``: comment analysis
from a terminal (docs/insights-text.md).

``analyse-text`` needs no server: it reads comments (JSON lines or plain lines) and prints one
JSON analysis per line, so an outside labelled set can be scored with the shipped analyser.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cxloop.api import PageRequest
from cxloop.db import Connection, database_options, report_migrations, run_with_database
from cxloop.insights.analysis import analyse_pending, pending_comments
from cxloop.insights.cli import console, insights_group, project_id
from cxloop.insights.config import InsightsConfig, InsightsConfigError, validate_insights_config
from cxloop.insights.text_controller import terms_answer, topics_answer, verbatims_answer
from cxloop.insights.text_schemas import Terms, Topics, VerbatimPage
from cxloop.insights.text_store import TextFilters
from cxloop.surveys import KINDS, is_kind, segment_of
from cxloop.text import Analyzer

__all__ = ["analyse_text_command", "reanalyse_command"]

_encode = msgspec.json.Encoder().encode


def _read_config(path: Path | None) -> InsightsConfig:
    if path is None:
        return InsightsConfig()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--config") from exc
    try:
        return validate_insights_config(raw)
    except InsightsConfigError as exc:
        raise click.BadParameter("; ".join(exc.problems), param_hint="--config") from exc


def _lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        stripped = line.rstrip("\r\n")
        if stripped.strip():
            yield number, stripped


def _comment(
    number: int, line: str, kind: str | None, score_field: str
) -> tuple[str, str | None, dict[str, Any]]:
    """(text, segment, the input object) of one line: JSON ``{"text": …}`` or plain text."""
    if line.lstrip().startswith("{"):
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise click.ClickException(f"line {number}: not valid JSON ({exc})") from exc
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise click.ClickException(f'line {number}: a JSON line needs "text": a string')
        item_kind = item.get("kind", kind)
        score = item.get(score_field)
        segment = None
        if score is not None and not isinstance(score, bool) and isinstance(score, int | float):
            if not is_kind(item_kind):
                raise click.ClickException(
                    f"line {number}: a score needs a kind ({', '.join(KINDS)}): "
                    "give --score-kind or a kind field"
                )
            segment = segment_of(item_kind, float(score))
        return item["text"], segment, item
    return line, None, {"text": line}


@insights_group.command("analyse-text")
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), default="-",
              show_default="standard input",
              help="Comments, one per line: JSON ({\"text\": …, optional kind, score}) or "
                   "plain text.")  # fmt: skip
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="An insights configuration (JSON, as PUT /v1/insights/config).")  # fmt: skip
@click.option("--score-kind", type=click.Choice(KINDS), default=None,
              help="The rating kind of the lines' scores (a line's own kind wins).")  # fmt: skip
@click.option("--score-field", default="score", show_default=True,
              help="The JSON field holding the score (its segment sets the agreement).")  # fmt: skip
def analyse_text_command(
    file: IO[str], config_path: Path | None, score_kind: str | None, score_field: str
) -> None:
    """Analyse comments without a server: one JSON analysis per input line."""
    analyzer = Analyzer(_read_config(config_path).text_config())
    out = sys.stdout.buffer
    for number, line in _lines(file):
        text, segment, item = _comment(number, line, score_kind, score_field)
        analysis = analyzer.analyse(text, segment)
        record = {**item, "segment": segment, "analysis": msgspec.to_builtins(analysis)}
        out.write(_encode(record) + b"\n")
    out.flush()


@insights_group.command("reanalyse")
@click.option("--project", required=True, help="Project id or name.")
@click.option("--batch", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Comments per transaction.")  # fmt: skip
@database_options
def reanalyse_command(
    project: str, batch: int, data_dir: Path | None, database_url: str | None
) -> None:
    """Analyse the project's pending comments now (what the pipeline does in the background)."""

    async def run(conn: Connection) -> tuple[int, float]:
        found = await project_id(conn, project)
        total = await pending_comments(conn, found)
        started = asyncio.get_running_loop().time()
        done = 0
        with Progress(
            TextColumn("analysing comments"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), transient=False,
        ) as progress:  # fmt: skip
            task = progress.add_task("analyse", total=total)
            while True:
                step = await analyse_pending(conn, batch=batch, budget_s=0.0, project_id=found)
                done += step
                left = await pending_comments(conn, found)
                progress.update(task, completed=max(0, total - left))
                if left == 0:
                    break
                if step == 0:
                    # Another analyser (the server's pipeline) holds the rest: wait for it.
                    await asyncio.sleep(0.2)
        return done, asyncio.get_running_loop().time() - started

    done, seconds = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    rate = f", {done / seconds:,.0f}/s" if seconds > 0 and done else ""
    click.echo(f"{done} comment(s) analysed in {seconds:.1f} s{rate}; none is pending now")


# -- tables ------------------------------------------------------------------------------


def _filter_options(command: Any) -> Any:
    options = [
        click.option("--project", required=True, help="Project id or name."),
        click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), default=None,
                     help="First day (UTC)."),
        click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), default=None,
                     help="Last day (UTC), inclusive."),
        click.option("--kind", type=click.Choice(KINDS), default=None),
        click.option("--survey", default=None),
        click.option("--feature", default=None),
        click.option("--plan", default=None),
        click.option("--band", default=None),
        click.option("--locale", default=None),
        click.option("--account", default=None),
        click.option("--language", default=None),
        click.option("--sentiment", default=None),
        click.option("--topic", default=None),
        click.option("--segment", type=click.Choice(["detractor", "passive", "promoter"]),
                     default=None),
        click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer."),
        database_options,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _filters(options: dict[str, Any]) -> TextFilters:
    def day(value: datetime | None) -> date | None:
        return None if value is None else value.date()

    return TextFilters(
        since=day(options.pop("since")),
        until=day(options.pop("until")),
        **{name: options.pop(name) for name in (
            "kind", "survey", "feature", "plan", "band", "locale", "account", "language",
            "sentiment", "topic", "segment",
        )},
    )  # fmt: skip


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


@insights_group.command("topics")
@click.option("--lang", type=click.Choice(["en", "zh-CN", "zh-TW"]), default="en",
              show_default=True, help="Language of the topic names.")  # fmt: skip
@_filter_options
def topics_command(lang: str, **options: Any) -> None:
    """Topics of the comments: share, sentiment, metric, NPS impact, priority quadrant."""
    project, as_json = options.pop("project"), options.pop("as_json")
    data_dir, database_url = options.pop("data_dir"), options.pop("database_url")
    filters = _filters(options)

    async def run(conn: Connection) -> Topics:
        return await topics_answer(conn, await project_id(conn, project), filters, lang)

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(_encode(answer))
        return
    table = Table("topic", "comments", "share", "pos/neg", answer.kind, "interval", "impact",
                  "quadrant", title=f"{answer.comments} analysed comments, "
                  f"{answer.pending_comments} pending")  # fmt: skip
    for row in answer.topics:
        table.add_row(
            row.name,
            str(row.comments),
            f"{100 * row.share:.0f} %",
            f"{row.sentiment.positive}/{row.sentiment.negative}",
            _number(row.metric),
            f"{_number(row.metric_low)} … {_number(row.metric_high)}",
            _number(row.nps_impact),
            row.quadrant or "–",
        )
    console().print(table)


@insights_group.command("terms")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@_filter_options
def terms_command(limit: int, **options: Any) -> None:
    """Terms distinctive of detractors' comments against promoters', and the reverse."""
    project, as_json = options.pop("project"), options.pop("as_json")
    data_dir, database_url = options.pop("data_dir"), options.pop("database_url")
    filters = _filters(options)

    async def run(conn: Connection) -> Terms:
        return await terms_answer(conn, await project_id(conn, project), filters, limit)

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(_encode(answer))
        return
    table = Table("side", "term", "z", "detractors", "promoters",
                  title=f"{answer.detractor_comments} detractor and "
                  f"{answer.promoter_comments} promoter comments")  # fmt: skip
    for row in answer.rows:
        table.add_row(
            row.direction, row.term, f"{row.z:.2f}", str(row.count_detractors),
            str(row.count_promoters),
        )  # fmt: skip
    console().print(table)


@insights_group.command("verbatims")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@_filter_options
def verbatims_command(limit: int, **options: Any) -> None:
    """The newest comments with their analysis."""
    project, as_json = options.pop("project"), options.pop("as_json")
    data_dir, database_url = options.pop("data_dir"), options.pop("database_url")
    filters = _filters(options)

    async def run(conn: Connection) -> VerbatimPage:
        found = await project_id(conn, project)
        return await verbatims_answer(conn, found, filters, PageRequest(limit))

    answer = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(_encode(answer))
        return
    table = Table("responded", "score", "sentiment", "churn", "topics", "comment")
    for v in answer.verbatims:
        table.add_row(
            v.responded_at[:16].replace("T", " "),
            f"{v.kind or ''} {_number(v.score, 0)}",
            v.sentiment or ("pending" if not v.analysed else "–"),
            "yes" if v.churn_intent else "",
            ", ".join(v.topics),
            v.comment,
        )
    console().print(table)
