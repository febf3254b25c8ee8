"""The command line's common behaviour: settings problems, help texts, `cxloop settings`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import msgspec
import pytest
from click.testing import CliRunner

from cxloop.cli import cli
from cxloop.settings import Settings, env_name, settings_table
from tests.helpers.processes import embedded_env, run_cli

# One command of each family: the server, the demo, migrations, projects, surveys, health.
COMMANDS = [
    ["serve"],
    ["demo", "--exit"],
    ["migrate"],
    ["projects", "list"],
    ["surveys", "list", "--project", "acme"],
    ["score"],
    ["settings"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_a_setting_that_is_not_valid_ends_every_command_in_one_clean_error(
    tmp_path: Path, args: list[str]
) -> None:
    data_dir = tmp_path / "data"
    done = run_cli(embedded_env(data_dir, port="abc"), *args, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "Error: invalid setting CXLOOP_PORT=abc: Expected `int`, got `str` "
        "(`cxloop settings` lists every setting)"
    )
    assert not data_dir.exists()  # refused before anything started


def test_a_check_made_after_decoding_names_its_variable_too(tmp_path: Path) -> None:
    env = embedded_env(tmp_path, webhook_allowed_networks="10.0.0.0/33")
    done = run_cli(env, "score", timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "Error: invalid setting: CXLOOP_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/33'" in done.stderr


def test_help_needs_no_valid_settings(tmp_path: Path) -> None:
    done = run_cli(embedded_env(tmp_path, port="abc"), "score", "--help")
    assert done.returncode == 0, done.stderr
    assert "[default: CXLOOP_DATA_DIR, else .cxloop]" in " ".join(done.stdout.split())


def _commands(
    group: click.Group, parent: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        assert command is not None
        ctx = click.Context(command, info_name=name, parent=parent)
        yield command, ctx
        if isinstance(command, click.Group):
            yield from _commands(command, ctx)


def test_every_option_states_its_default_in_one_style() -> None:
    root = click.Context(cli, info_name="cxloop")
    settings = {field.name for field in msgspec.structs.fields(Settings)}
    checked = 0
    for command, ctx in _commands(cli, root):
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            record = param.get_help_record(ctx)
            assert record is not None
            text = record[1]
            where = f"{ctx.command_path} {param.opts[0]}: {text!r}"
            # Only click's "[default: …]" says what the default is, at the end, once.
            assert text.lower().count("default") == text.count("[default: ") <= 1, where
            if "[default: " in text:
                assert re.search(r"\[default: [^\]]+\]$", text), where
            if param.name in settings:
                assert f"[default: {env_name(param.name)}, else " in text, where
                checked += 1
    assert checked >= 10  # serve's, demo's and every database command's setting options


def test_cxloop_settings_lists_every_setting_with_its_value_here() -> None:
    result = CliRunner().invoke(
        cli, ["settings"], env={"CXLOOP_WORKERS": "3", "DATABASE_URL": "postgresql://u:pw@h/db"}
    )
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:]}
    assert set(rows) == {env_name(f.name) for f in msgspec.structs.fields(Settings)}
    assert rows["CXLOOP_WORKERS"] == ["1", "3"]
    assert rows["CXLOOP_PORT"] == ["8000", "-"]
    assert rows["DATABASE_URL"] == ["unset", "postgresql://u:***@h/db"]  # never the password


def test_cxloop_settings_markdown_is_the_generated_table() -> None:
    result = CliRunner().invoke(cli, ["settings", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == settings_table()
    assert len(result.output.splitlines()) == 2 + len(msgspec.structs.fields(Settings))
