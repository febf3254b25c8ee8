"""The pipeline gives way to the ingest workers: its policy holds for every thread it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Run in a child: a process cannot take back a lower priority once given.
_PROBE = """
import json, os, threading
from cxloop.pipeline.process import yield_cpu
applied = yield_cpu({priority!r})
seen = {{}}
def probe():
    seen["policy"] = os.sched_getscheduler(0)
    seen["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
thread = threading.Thread(target=probe)  # started after, like the compaction thread
thread.start()
thread.join()
print(json.dumps({{"applied": applied, **seen}}))
"""


def _probe(priority: str) -> dict[str, int | str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(priority=priority)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, int | str] = json.loads(out)
    return result


def test_idle_is_inherited_by_later_threads() -> None:
    result = _probe("idle")
    assert result["applied"] == "idle"
    assert result["policy"] == os.SCHED_IDLE


def test_nice_is_inherited_by_later_threads() -> None:
    result = _probe("nice")
    assert result["applied"] == "nice"
    assert result["policy"] == os.SCHED_OTHER
    assert result["nice"] == 10
