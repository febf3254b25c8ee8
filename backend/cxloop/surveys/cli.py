"""``cxloop surveys``: manage surveys from the command line (same rules as the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import msgspec

from cxloop.access import cli_principal, record_audit
from cxloop.db import Connection, database_options
from cxloop.projects import project_option, run_for_project
from cxloop.surveys import store
from cxloop.surveys.model import SurveyInput, validate_survey
from cxloop.surveys.store import audit_details

__all__ = ["surveys_group"]


async def _audit(
    conn: Connection,
    project_id: str,
    action: str,
    survey_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """The audit entry of a change made here, as the API's handlers write (actor ``cli``)."""
    await record_audit(conn, cli_principal(project_id), action, "survey", survey_id, details)


def _echo(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group("surveys")
def surveys_group() -> None:
    """Create, list, activate, pause and delete surveys (see docs/surveys.md)."""


@surveys_group.command("create")
@project_option
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="A survey definition as JSON (docs/surveys.md).")  # fmt: skip
@click.option("--activate", is_flag=True, help="Start showing it right away.")
@database_options
def create_command(
    project: str, path: Path, activate: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """Create a survey from a JSON definition and print it."""
    try:
        survey = msgspec.json.decode(path.read_bytes(), type=SurveyInput)
    except msgspec.DecodeError as exc:
        raise click.UsageError(f"{path}: {exc}") from exc
    problems = validate_survey(survey)
    if problems:
        raise click.UsageError(f"{path}: " + "; ".join(problems))

    async def create(conn: Connection, project_id: str) -> dict[str, Any]:
        async with conn.transaction():
            created = await store.create_survey(conn, project_id, survey)
            if activate:
                active = await store.set_status(conn, project_id, created.id, "active")
                assert active is not None
                created = active
            details = audit_details(created)
            await _audit(conn, project_id, "survey.created", created.id, details)
        return created.to_json()

    _echo(run_for_project(data_dir, database_url, project, create))


@surveys_group.command("list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the full definitions as JSON.")
@database_options
def list_command(
    project: str, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """List the project's surveys."""

    async def fetch(conn: Connection, project_id: str) -> list[dict[str, Any]]:
        return [s.to_json() for s in await store.list_surveys(conn, project_id)]

    surveys = run_for_project(data_dir, database_url, project, fetch)
    if as_json:
        _echo(surveys)
        return
    for survey in surveys:
        click.echo(f"{survey['id']}  {survey['status']:<7} {survey['kind']:<6} {survey['name']}")
    if not surveys:
        click.echo("no surveys yet: cxloop surveys create --project … --file survey.json")


def _status_command(name: str, status: str, help_text: str) -> None:
    @surveys_group.command(name, help=help_text)
    @click.argument("survey_id")
    @project_option
    @database_options
    def command(
        survey_id: str, project: str, data_dir: Path | None, database_url: str | None
    ) -> None:
        async def change(conn: Connection, project_id: str) -> dict[str, Any]:
            async with conn.transaction():
                survey = await store.set_status(conn, project_id, survey_id, status)
                if survey is None:
                    raise click.UsageError(f"no survey {survey_id!r} in project {project!r}")
                action = "survey.activated" if status == "active" else "survey.paused"
                await _audit(conn, project_id, action, survey_id, {"status": status})
            return survey.to_json()

        survey = run_for_project(data_dir, database_url, project, change)
        click.echo(f"{survey['id']} is now {survey['status']}")


_status_command("activate", "active", "Start showing SURVEY_ID.")
_status_command("pause", "paused", "Stop showing SURVEY_ID (it can be activated again).")


@surveys_group.command("delete")
@click.argument("survey_id")
@project_option
@database_options
def delete_command(
    survey_id: str, project: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Delete SURVEY_ID (its responses are kept)."""

    async def remove(conn: Connection, project_id: str) -> bool:
        async with conn.transaction():
            deleted = await store.delete_survey(conn, project_id, survey_id)
            if deleted:
                await _audit(conn, project_id, "survey.deleted", survey_id)
            return deleted

    if not run_for_project(data_dir, database_url, project, remove):
        raise click.UsageError(f"no survey {survey_id!r} in project {project!r}")
    click.echo(f"deleted {survey_id}")
