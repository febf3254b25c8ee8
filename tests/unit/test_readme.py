"""The README says what the code does: every setting, every command, the fast test target."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click

from cxloop.cli import cli
from cxloop.settings import settings_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BEGIN = "<!-- settings table: generated from cxloop.settings by `make readme` -->\n"
END = "<!-- end of settings table -->"


def test_the_settings_table_is_the_one_generated_from_settings() -> None:
    assert README.count(BEGIN) == 1 and README.count(END) == 1
    table = README.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == settings_table(), "run `make readme` to regenerate the README's table"


def test_every_command_is_in_the_command_line_table() -> None:
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `cxloop ([a-z-]+)", section, flags=re.MULTILINE))
    ctx = click.Context(cli)
    assert documented == set(cli.list_commands(ctx))


def test_make_test_fast_runs_the_unit_tests_and_is_documented() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "-n", "test-fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pytest -q tests/unit" in listed
    assert "make test-fast" in README
    help_text = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert re.search(r"^  test-fast +Unit tests", help_text, flags=re.MULTILINE), help_text
