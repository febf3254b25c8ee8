"""What every cxloop process sets up: its log lines, its end when its parent ends, and the
return of freed memory to the system.

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

__all__ = ["configure_logging", "parent_death_signal", "release_memory", "stop_with_parent"]

_PR_SET_PDEATHSIG = 1


def _load_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc only; musl has none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


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


def release_memory() -> None:
    """Hand memory that is free inside this process back to the system.

    After a large batch the memory is free but still resident: Arrow's allocator (mimalloc or
    jemalloc) keeps freed pages for reuse, and glibc's malloc keeps free chunks in each
    thread's arena and returns only the top of the main heap by itself. This asks Arrow's
    pool to let go of unused pages (only when pyarrow is already imported) and glibc to
    trim every arena (``malloc_trim``; it returns whole free pages with ``madvise``, so the
    heap stays usable). It costs a walk over the free lists: a few ms on a heap of a few
    hundred MB, so call it after a burst of work, not per request. ctypes releases the GIL
    for the call; a caller on an event loop runs it in a thread.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)
