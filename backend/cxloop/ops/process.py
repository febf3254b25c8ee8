"""What every cxloop process sets up: its log lines, and its end when its parent ends.

Shared by the ``serve`` supervisor, its workers, the pipeline and ``cxloop demo``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["configure_logging", "parent_death_signal", "stop_with_parent"]

_PR_SET_PDEATHSIG = 1


def configure_logging(level: str, process_name: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s [{process_name}] %(name)s: %(message)s",
    )


def parent_death_signal(signum: int) -> Callable[[], bool] | None:
    """A function that has the kernel send ``signum`` to the calling process when its parent
    dies, even by kill -9 (Linux ``PR_SET_PDEATHSIG``; kept across exec); None where that is
    not available. Made ahead so that a ``preexec_fn`` only makes the system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> bool:
        return int(prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0

    return set_signal


def stop_with_parent(parent_pid: int) -> None:
    """SIGTERM this process (a graceful stop) when the supervisor ``parent_pid`` dies.

    Without it a supervisor killed with -9 leaves its workers serving on the port and the
    pipeline running, and a restart cannot bind. Where the kernel cannot do it, a thread
    watches the parent instead.
    """
    set_signal = parent_death_signal(signal.SIGTERM)
    if set_signal is None or not set_signal():

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="cxloop-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # it died before the signal was set up
        raise SystemExit(0)
