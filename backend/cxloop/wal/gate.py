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
    # What the pipeline drains per second while it has work waiting (None: not measured yet).
    capacity_bytes_per_s: float | None = None
    # How long an event acked now would wait for the lake: lag + pending / capacity.
    projected_lag_s: float | None = None


class BacklogGate:
    """Back-pressure on the WAL backlog, with hysteresis.

    Engages when an event acked now would wait for the lake longer than ``max_s``, or the
    pending bytes pass ``max_bytes`` (each bound off when 0); releases only once both are back
    under ``RESUME_FRACTION`` of their bound, so ingest does not flap at the edge. The wait is
    projected from the pipeline's drain capacity (bytes/s drained while it had work waiting)::

        projected_lag = lag + pending_bytes / capacity

    ``lag`` (the age of the oldest un-laked event) is a floor the projection never goes under:
    it is what today's backlog already costs, whatever the capacity. Until a capacity is known
    the rule is the observed ``lag`` alone.

    The capacity is measured only over *busy* intervals between two scans: a segment sealed at
    the first was still pending at the second (plus the interval in which such a stretch ends,
    where the last of it drained). Stretches shorter than ``MIN_BUSY_RUN_S`` do not count (a
    pipeline round spent on other work holds a sealed segment briefly at any load), and the
    capacity needs ``MIN_BUSY_S`` of busy time within the last ``CAPACITY_WINDOW_S`` and some
    bytes drained in it. A quiet minute leaves no capacity, so a burst after it is judged by the
    observed lag until the pipeline has been busy for a while: an idle pipeline's slow trickle
    is never taken for its capacity.

    ``Retry-After`` is the time the pipeline needs to bring the backlog back to where ingest
    resumes::

        age (capacity known):   projected_lag - RESUME_FRACTION * max_s
        age (no capacity):      (pending * (lag - RESUME_FRACTION * max_s) / lag) / drain rate
        bytes:                  (pending - RESUME_FRACTION * max_bytes) / (capacity or drain rate)
        retry_after = clamp(ceil(the largest of those that apply), 1, 60)

    With a capacity, each second the pipeline drains takes a second off ``pending / capacity``
    (no new events come in while ingest refuses). The drain rate is the bytes of pending
    segments that left the pending set (compacted or gone) over the last ``DRAIN_WINDOW_S``
    seconds of scans, busy or not, per second. Before a rate is known (the first scan) the
    answer is ``UNKNOWN_RATE_RETRY_S``; a pipeline that drained nothing in the window gets 60 s.
    """

    RESUME_FRACTION = 0.8
    DRAIN_WINDOW_S = 60.0
    CAPACITY_WINDOW_S = 60.0
    MIN_BUSY_RUN_S = 3.0
    MIN_BUSY_S = 5.0
    MIN_RETRY_S = 1
    MAX_RETRY_S = 60
    UNKNOWN_RATE_RETRY_S = 5

    def __init__(self, max_bytes: int, max_s: float) -> None:
        if max_bytes < 0 or max_s < 0:
            raise ValueError("backlog bounds must be >= 0 (0: no bound)")
        self.max_bytes = max_bytes
        self.max_s = max_s
        self.drain_bytes_per_s: float | None = None
        self.capacity_bytes_per_s: float | None = None
        self.behind: PipelineBehind | None = None
        self.view: BacklogView | None = None
        self._last: Backlog | None = None
        self._last_at = 0.0
        self._first_at: float | None = None
        self._drains: collections.deque[tuple[float, int]] = collections.deque()
        # Busy intervals (end, seconds, bytes drained) of stretches that lasted long enough...
        self._busy: collections.deque[tuple[float, float, int]] = collections.deque()
        # ... and those of the stretch going on now, until it has; how long it has lasted.
        self._run: list[tuple[float, float, int]] = []
        self._run_s = 0.0

    @property
    def bounded(self) -> bool:
        return self.max_bytes > 0 or self.max_s > 0

    def observe(self, scan: Backlog, now: float) -> PipelineBehind | None:
        """Take a new scan (``now``: monotonic seconds); returns the refusal, if any."""
        last = self._last
        if last is None or self._first_at is None:
            self._first_at = now
        else:
            drained = sum(size for sid, size in last.pending.items() if sid not in scan.pending)
            if drained:
                self._drains.append((now, drained))
            while self._drains and self._drains[0][0] < now - self.DRAIN_WINDOW_S:
                self._drains.popleft()
            span = min(self.DRAIN_WINDOW_S, now - self._first_at)
            if span > 0:
                self.drain_bytes_per_s = sum(size for _, size in self._drains) / span
            self._measure_capacity(last, scan, now, drained)
        self._last = scan
        self._last_at = now
        lag = scan.lag_s()
        projected = self.projected_lag_s(scan.pending_bytes, lag)
        over = self._over(scan.pending_bytes, lag, projected, 1.0)
        if over is None and self.behind is not None:
            # Engaged: stay so until both measures are under the resume line.
            still = self._over(scan.pending_bytes, lag, projected, self.RESUME_FRACTION)
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
            capacity_bytes_per_s=self.capacity_bytes_per_s,
            projected_lag_s=projected,
        )
        return self.behind

    def _measure_capacity(self, last: Backlog, scan: Backlog, now: float, drained: int) -> None:
        """Add the interval since ``last`` to the busy stretches if the pipeline had work
        waiting all through it, and work out the capacity from them."""
        seconds = now - self._last_at
        stayed = any(sid in scan.pending for sid in last.sealed)
        # The interval a stretch ends in counts too: its last segments drained within it.
        busy = seconds > 0 and (stayed or (self._run_s > 0 and bool(last.sealed)))
        if busy:
            self._run.append((now, seconds, drained))
            self._run_s += seconds
            if self._run_s >= self.MIN_BUSY_RUN_S:
                self._busy.extend(self._run)
                self._run.clear()
        if not stayed:  # the stretch is over (a short one is forgotten)
            self._run.clear()
            self._run_s = 0.0
        while self._busy and self._busy[0][0] < now - self.CAPACITY_WINDOW_S:
            self._busy.popleft()
        busy_s = sum(interval for _, interval, _ in self._busy)
        busy_bytes = sum(size for _, _, size in self._busy)
        self.capacity_bytes_per_s = (
            busy_bytes / busy_s if busy_s >= self.MIN_BUSY_S and busy_bytes > 0 else None
        )

    def projected_lag_s(self, pending_bytes: int, lag: float) -> float | None:
        """How long an event acked now would wait for the lake (None: no capacity known)."""
        capacity = self.capacity_bytes_per_s
        if capacity is None:
            return None
        return lag + pending_bytes / capacity

    def _over(
        self, pending: int, lag: float, projected: float | None, fraction: float
    ) -> str | None:
        if self.max_bytes > 0 and pending > fraction * self.max_bytes:
            return (
                f"{pending} acked bytes are waiting for the lake "
                f"(bound {self.max_bytes}: wal_backlog_max_bytes)"
            )
        if self.max_s <= 0:
            return None
        if projected is not None and projected > fraction * self.max_s:
            capacity = self.capacity_bytes_per_s or 0.0
            return (
                f"an event acked now would wait {projected:.1f} s for the lake: the oldest "
                f"has waited {lag:.1f} s, and {pending} acked bytes are ahead of it at the "
                f"{capacity / 1e6:.2f} MB/s the pipeline drains when busy "
                f"(bound {self.max_s:g} s: wal_backlog_max_s)"
            )
        if lag > fraction * self.max_s:
            return (
                f"the oldest acked event has waited {lag:.1f} s for the lake "
                f"(bound {self.max_s:g} s: wal_backlog_max_s)"
            )
        return None

    def retry_after_s(self, scan: Backlog, lag: float) -> int:
        capacity = self.capacity_bytes_per_s
        rate = capacity if capacity is not None else self.drain_bytes_per_s
        seconds = 0.0
        excess = 0.0
        if self.max_bytes > 0:
            excess = scan.pending_bytes - self.RESUME_FRACTION * self.max_bytes
        resume_s = self.RESUME_FRACTION * self.max_s
        if self.max_s > 0 and capacity is not None:
            seconds = lag + scan.pending_bytes / capacity - resume_s
        elif self.max_s > 0 and lag > 0:
            excess = max(excess, scan.pending_bytes * (lag - resume_s) / lag)
        if excess <= 0 and seconds <= 0:
            return self.MIN_RETRY_S
        if excess > 0:
            if rate is None:
                return self.UNKNOWN_RATE_RETRY_S
            if rate <= 0:
                return self.MAX_RETRY_S
            seconds = max(seconds, excess / rate)
        return max(self.MIN_RETRY_S, min(self.MAX_RETRY_S, math.ceil(seconds)))
