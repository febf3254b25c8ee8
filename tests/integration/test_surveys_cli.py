"""``cxloop surveys`` against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
from click.testing import CliRunner

from cxloop.projects.cli import projects_group
from cxloop.surveys.cli import surveys_group

CSAT = {
    "name": "Export CSAT",
    "kind": "csat",
    "question": {"en": "How satisfied are you with exports?", "zh-TW": "您對匯出功能滿意嗎？"},
    "trigger": {"event": "Export Finished"},
    "frequency": {"mode": "once"},
}


def test_create_list_pause_delete_through_the_cli(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--database-url", database_url]
    created = runner.invoke(projects_group, ["create", "cli-surveys", "--json", *db])
    assert created.exit_code == 0, created.output
    definition = tmp_path / "csat.json"
    definition.write_text(json.dumps(CSAT, ensure_ascii=False))

    result = runner.invoke(
        surveys_group,
        ["create", "--project", "cli-surveys", "--file", str(definition), "--activate", *db],
    )
    assert result.exit_code == 0, result.output
    survey = json.loads(result.stdout)
    assert survey["status"] == "active" and survey["question"]["zh-TW"] == "您對匯出功能滿意嗎？"

    listed = runner.invoke(surveys_group, ["list", "--project", "cli-surveys", *db])
    assert f"{survey['id']}  active  csat   Export CSAT" in listed.output

    paused = runner.invoke(surveys_group, ["pause", survey["id"], "--project", "cli-surveys", *db])
    assert f"{survey['id']} is now paused" in paused.output
    gone = runner.invoke(surveys_group, ["delete", survey["id"], "--project", "cli-surveys", *db])
    assert gone.exit_code == 0
    again = runner.invoke(surveys_group, ["delete", survey["id"], "--project", "cli-surveys", *db])
    assert again.exit_code != 0 and "no survey" in again.output
    # Changes made from a terminal are in the audit log too, signed by the CLI; the refused
    # second delete left none.
    entries = asyncio.run(_audit_entries(database_url, json.loads(created.stdout)["id"]))
    assert [(e["action"], e["object_id"]) for e in entries] == [
        ("survey.created", survey["id"]),
        ("survey.paused", survey["id"]),
        ("survey.deleted", survey["id"]),
    ]
    assert {e["actor_kind"] for e in entries} == {"cli"}
    assert all(e["actor_label"].startswith("cli (") for e in entries)


async def _audit_entries(database_url: str, project_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT action, object_id, actor_kind, actor_label FROM audit_log "
            "WHERE project_id = $1 ORDER BY id",
            project_id,
        )
    finally:
        await conn.close()


def test_invalid_definitions_and_unknown_projects_are_refused_clearly(
    database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    db = ["--database-url", database_url]
    runner.invoke(projects_group, ["create", "cli-bad", *db])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**CSAT, "sample_percent": 250}))
    result = runner.invoke(
        surveys_group, ["create", "--project", "cli-bad", "--file", str(bad), *db]
    )
    assert result.exit_code == 2 and "sample_percent must be from 0 to 100" in result.output
    result = runner.invoke(surveys_group, ["list", "--project", "nobody", *db])
    assert result.exit_code == 2 and "no project 'nobody'" in result.output
