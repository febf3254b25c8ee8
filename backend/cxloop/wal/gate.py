"""Back-pressure: the gate that refuses ingest while the WAL holds more than the pipeline can
absorb in time (ARCHITECTURE decision 56)."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from cxloop.wal.segment import Backlog

__all__ = ["BacklogGate", "BacklogView", "PipelineBehind"]


@dataclass(frozen=True, slots=True)
class PipelineBehind:
    """Ingest is refused: the WAL holds more than its bound of events the lake does not have."""

    reason: str  # which bound, with the figures
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class BacklogView:
    """What the latest backlog scan said, for readiness and ``/metrics``."""

    scanned_at: float  # time.monotonic() of the scan
    lag_s: float  # age of the oldest acked event not yet in the lake
    projection_lag_s: float  # ... not yet in PostgreSQL
    pending_bytes: int  # acked WAL bytes not yet in the lake
    unprojected_bytes: int  # ... not yet in PostgreSQL
    drain_bytes_per_s: float | None  # what the pipeline took off the backlog lately
    behind: PipelineBehind | None  # set while back-pressure refuses ingest


class BacklogGate:
    """Back-pressure on the WAL backlog, with hysteresis.

    Engages when the pending bytes pass ``max_bytes`` or the oldest un-laked event is older than
    ``max_s`` (each bound off when 0); releases only once both are back under
    ``RESUME_FRACTION`` of their bound, so ingest does not flap at the edge.

    ``Retry-After`` is the time the pipeline needs, at the drain rate observed lately, to bring
    the backlog back to where ingest resumes::

        excess_bytes = max(pending - RESUME_FRACTION * max_bytes,
                           pending * (lag - RESUME_FRACTION * max_s) / lag)
        retry_after  = clamp(ceil(excess_bytes / drain_bytes_per_s), 1, 60)

    The age term assumes the pending events arrived evenly over the lag. The drain rate is the
    bytes of pending segments that left the pending set (compacted or gone) over the last
    ``DRAIN_WINDOW_S`` seconds of scans, per second: the pipeline compacts a few segments at a
    time, so drains come in steps seconds apart, and a long window keeps the rate from
    dropping to 0 between them. Before a rate is known (the first scan) the answer is
    ``UNKNOWN_RATE_RETRY_S``; a pipeline that drained nothing in the window gets 60 s.
    """

    RESUME_FRACTION = 0.8
    DRAIN_WINDOW_S = 60.0
    MIN_RETRY_S = 1
    MAX_RETRY_S = 60
    UNKNOWN_RATE_RETRY_S = 5

    def __init__(self, max_bytes: int, max_s: float) -> None:
        if max_bytes < 0 or max_s < 0:
            raise ValueError("backlog bounds must be >= 0 (0: no bound)")
        self.max_bytes = max_bytes
        self.max_s = max_s
        self.drain_bytes_per_s: float | None = None
        self.behind: PipelineBehind | None = None
        self.view: BacklogView | None = None
        self._last: Backlog | None = None
        self._first_at: float | None = None
        self._drains: collections.deque[tuple[float, int]] = collections.deque()

    @property
    def bounded(self) -> bool:
        return self.max_bytes > 0 or self.max_s > 0

    def observe(self, scan: Backlog, now: float) -> PipelineBehind | None:
        """Take a new scan (``now``: monotonic seconds); returns the refusal, if any."""
        if self._last is None or self._first_at is None:
            self._first_at = now
        else:
            drained = sum(
                size for sid, size in self._last.pending.items() if sid not in scan.pending
            )
            if drained:
                self._drains.append((now, drained))
            while self._drains and self._drains[0][0] < now - self.DRAIN_WINDOW_S:
                self._drains.popleft()
            span = min(self.DRAIN_WINDOW_S, now - self._first_at)
            if span > 0:
                self.drain_bytes_per_s = sum(size for _, size in self._drains) / span
        self._last = scan
        lag = scan.lag_s()
        over = self._over(scan.pending_bytes, lag, 1.0)
        if over is None and self.behind is not None:
            # Engaged: stay so until both measures are under the resume line.
            still = self._over(scan.pending_bytes, lag, self.RESUME_FRACTION)
            over = None if still is None else f"{still} (resumes under 80 % of the bound)"
        self.behind = None if over is None else PipelineBehind(over, self.retry_after_s(scan, lag))
        self.view = BacklogView(
            scanned_at=now,
            lag_s=lag,
            projection_lag_s=scan.projection_lag_s(),
            pending_bytes=scan.pending_bytes,
            unprojected_bytes=scan.unprojected_bytes,
            drain_bytes_per_s=self.drain_bytes_per_s,
            behind=self.behind,
        )
        return self.behind

    def _over(self, pending: int, lag: float, fraction: float) -> str | None:
        if self.max_bytes > 0 and pending > fraction * self.max_bytes:
            return (
                f"{pending} acked bytes are waiting for the lake "
                f"(bound {self.max_bytes}: wal_backlog_max_bytes)"
            )
        if self.max_s > 0 and lag > fraction * self.max_s:
            return (
                f"the oldest acked event has waited {lag:.1f} s for the lake "
                f"(bound {self.max_s:g} s: wal_backlog_max_s)"
            )
        return None

    def retry_after_s(self, scan: Backlog, lag: float) -> int:
        excess = 0.0
        if self.max_bytes > 0:
            excess = scan.pending_bytes - self.RESUME_FRACTION * self.max_bytes
        if self.max_s > 0 and lag > 0:
            resume_s = self.RESUME_FRACTION * self.max_s
            excess = max(excess, scan.pending_bytes * (lag - resume_s) / lag)
        if excess <= 0:
            return self.MIN_RETRY_S
        rate = self.drain_bytes_per_s
        if rate is None:
            return self.UNKNOWN_RATE_RETRY_S
        if rate <= 0:
            return self.MAX_RETRY_S
        seconds = math.ceil(excess / rate)
        return max(self.MIN_RETRY_S, min(self.MAX_RETRY_S, seconds))
