"""Finding migration files: naming, ordering, and where they live."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxloop.db import MigrationError, discover_migrations, migrations_dir
from cxloop.db.cli import redact_url


def test_repository_migrations_dir() -> None:
    directory = migrations_dir()
    assert (directory / "0001_core.sql").is_file()


@pytest.mark.parametrize("name", ["1_core.sql", "0001-core.sql", "0001_Core.sql", "core.sql"])
def test_badly_named_files_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_lowercase_name\.sql"):
        discover_migrations(tmp_path)


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version 1"):
        discover_migrations(tmp_path)


def test_ordered_by_version_and_other_files_ignored(tmp_path: Path) -> None:
    for name in ["0010_ten.sql", "0002_two.sql", "0001_one.sql"]:
        (tmp_path / name).write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("notes")
    assert [(m.version, m.name) for m in discover_migrations(tmp_path)] == [
        (1, "0001_one"),
        (2, "0002_two"),
        (10, "0010_ten"),
    ]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        discover_migrations(tmp_path / "nope")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://cx:s3cret@db:5432/cx", "postgresql://cx:***@db:5432/cx"),
        ("postgresql://cx@db/cx", "postgresql://cx@db/cx"),
        ("postgresql:///cx?host=/tmp", "postgresql:///cx?host=/tmp"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
