"""What the in-memory maps ingest reads (write keys, deleted subjects) share: a refresher that
outlives database outages, and the atomic file each map is mirrored to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

__all__ = ["refresh_forever", "write_atomically"]


async def refresh_forever(
    refresh: Callable[[], Awaitable[object]],
    interval_s: float,
    *,
    log: logging.Logger,
    what: str,
    known: Callable[[], int],
    max_backoff_s: float = 30.0,
) -> None:
    """Call ``refresh`` every ``interval_s`` until cancelled; failures back off exponentially
    (up to ``max_backoff_s``), the first is logged as a warning, a recovery as info."""
    failures = 0
    while True:
        try:
            await refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop must outlive any outage, whatever it raises
            failures += 1
            delay = min(interval_s * 2**failures, max(max_backoff_s, interval_s))
            if failures == 1:
                log.warning(
                    "cannot refresh %s (%s); serving the %d known, retrying", what, exc, known()
                )
            else:
                log.debug("%s refresh failed again (%s)", what, exc)
        else:
            if failures:
                log.info("%s refresh works again after %d failures", what, failures)
            failures = 0
            delay = interval_s
        await asyncio.sleep(delay)


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    Several workers may share the file: each renames its own complete copy, so a reader sees
    one whole version or another, never a torn one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
