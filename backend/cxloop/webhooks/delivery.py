"""Sending queued webhook deliveries: claim, sign, POST, log the attempt, retry with backoff.

Runs as an asyncio task in the pipeline process. Claims are leases: a claim moves a delivery's
``next_attempt_at`` past the attempt's timeout in a short transaction (``FOR UPDATE SKIP
LOCKED``, so several processes can send side by side), and the outcome is recorded in a second
one. No transaction stays open across the HTTP request; a process that dies mid-request leaves
a delivery that is simply due again when its lease runs out. Delivery is therefore at least
once: receivers dedupe on the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgspec

from cxloop import __version__
from cxloop.db import ResilientPool
from cxloop.ops import Registry
from cxloop.settings import Settings
from cxloop.webhooks.signing import SIGNATURE_HEADER, signature_header
from cxloop.webhooks.ssrf import (
    DestinationPolicy,
    DestinationRefused,
    GuardedTransport,
    InvalidDestination,
    redact_url,
)

__all__ = [
    "DestinationRefused",
    "WebhookDispatcher",
    "quiet_http_client_logs",
    "retry_delay",
]

log = logging.getLogger("cxloop.webhooks")

# Retries wait base × 3^(n-1) (10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40 min, 2 h, 6 h, 18 h
# with the default base), each ±20 % so receivers that failed together are not hit together.
RETRY_GROWTH = 3.0
RETRY_JITTER = 0.2
CLAIM_BATCH = 32
# A claimed delivery is not claimed again for this long beyond the attempt timeout.
LEASE_MARGIN_S = 30.0

_encode = msgspec.json.Encoder().encode

CLAIM_DUE = """
UPDATE webhook_deliveries AS d
SET next_attempt_at = now() + make_interval(secs => $2)
FROM webhooks AS w
WHERE d.id IN (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
      )
  AND w.project_id = d.project_id AND w.id = d.webhook_id
RETURNING d.id, d.project_id, d.webhook_id, d.event_id, d.event_type,
          d.payload::text AS payload, d.attempts, d.created_at, w.url, w.secret
"""
# Counts the attempt only if nobody recorded it yet (a lease that ran out can let a second
# sender try the same attempt), and only while the delivery exists (its webhook may have been
# deleted meanwhile).
RECORD_ATTEMPT = """
WITH recorded AS (
    UPDATE webhook_deliveries
    SET attempts = $2,
        status = $3,
        next_attempt_at = CASE WHEN $3 = 'pending'
                               THEN now() + make_interval(secs => $4) ELSE next_attempt_at END,
        finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
    WHERE id = $1 AND attempts = $2 - 1 AND status = 'pending'
    RETURNING id
)
INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, error, duration_ms)
SELECT id, $2, $5, $6, $7, $8 FROM recorded
"""


def quiet_http_client_logs() -> None:
    """httpx logs every request's full URL at INFO, and webhook URLs often carry tokens."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def retry_delay(attempt: int, base_s: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next."""
    jitter = 1 + RETRY_JITTER * (2 * rng() - 1)
    return base_s * RETRY_GROWTH ** (attempt - 1) * jitter


class _Claimed(msgspec.Struct, kw_only=True):
    id: int
    project_id: str
    webhook_id: str
    event_id: str
    event_type: str
    payload: str
    attempts: int
    created_at: datetime
    url: str
    secret: str


class _Outcome(msgspec.Struct, kw_only=True):
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    # Set when retrying cannot help (``blocked_address``, ``invalid_url``): fail it now.
    final_code: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body_of(delivery: _Claimed) -> bytes:
    """The JSON body; the same bytes on every attempt (only the signature's time changes)."""
    return _encode(
        {
            "id": delivery.event_id,
            "type": delivery.event_type,
            "created_at": delivery.created_at,
            "project_id": delivery.project_id,
            "data": msgspec.Raw(delivery.payload.encode()),
        }
    )


class WebhookDispatcher:
    """Sends due deliveries until stopped; ``start()`` then ``await close()``."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        *,
        database: ResilientPool | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        assert settings.database_url or database is not None
        self.settings = settings
        self._own_database = database is None
        self.database = database or ResilientPool(settings.database_url or "", max_size=2)
        self._rng = rng
        # Settings that cannot be understood stop the process at start, not at the first send.
        self.policy = DestinationPolicy.from_settings(settings)
        quiet_http_client_logs()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        registry = registry or Registry()
        self.attempts = registry.counter(
            "cxloop_webhook_attempts_total",
            "Webhook delivery attempts, by outcome (success, http_error, network_error, "
            "blocked_address, invalid_url).",
            ["outcome"],
        )
        self.failed = registry.counter(
            "cxloop_webhook_deliveries_failed_total",
            "Webhook deliveries given up after the last attempt.",
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="cxloop-webhooks")

    async def close(self) -> None:
        """Finish the attempts in flight (bounded by their timeout), then stop."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.settings.webhook_timeout_s + 5)
            except TimeoutError:
                log.warning("webhook attempts still running at shutdown; they will be retried")
            except Exception:
                log.exception("the webhook dispatcher failed")
        if self._own_database:
            await self.database.close()

    async def run(self) -> None:
        if self._own_database:
            await self.database.start(wait_s=0)
        # Every connection goes through the destination policy (ssrf.py), and proxy variables
        # are ignored: the policy must see the address actually connected to. Redirects are not
        # followed: a 3xx is a failed attempt.
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        async with httpx.AsyncClient(
            transport=GuardedTransport(self.policy),
            follow_redirects=False,
            trust_env=False,
            timeout=timeout,
        ) as client:
            self._client = client
            while not self._stop.is_set():
                sent = 0
                if self.database.pool is not None:
                    try:
                        sent = await self.deliver_due()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        log.warning("webhook delivery round failed, will retry: %s", exc)
                    except Exception:
                        # Never let one bad round stop every webhook; claimed deliveries are
                        # due again when their lease runs out.
                        log.exception("webhook delivery round failed, will retry")
                if sent < CLAIM_BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.settings.webhook_poll_s)

    async def deliver_due(self) -> int:
        """Claim due deliveries, attempt each once (concurrently), record; returns how many."""
        pool = self.database.pool
        assert pool is not None and self._client is not None
        lease_s = self.settings.webhook_timeout_s + LEASE_MARGIN_S
        async with pool.acquire() as conn:
            rows = await conn.fetch(CLAIM_DUE, CLAIM_BATCH, lease_s)
        claimed = [_Claimed(**dict(row)) for row in rows]
        results = await asyncio.gather(
            *(self._deliver(pool, delivery) for delivery in claimed), return_exceptions=True
        )
        for delivery, result in zip(claimed, results, strict=True):
            if isinstance(result, Exception):
                # Not recorded: the delivery is due again when its lease runs out.
                log.warning("recording webhook delivery %d failed: %s", delivery.id, result)
            elif isinstance(result, BaseException):
                raise result
        return len(claimed)

    async def _deliver(self, pool: Any, delivery: _Claimed) -> None:
        outcome = await self._attempt(delivery)
        attempt = delivery.attempts + 1
        if outcome.succeeded:
            status, delay = "succeeded", 0.0
            self.attempts.inc(1, "success")
        else:
            kind = outcome.final_code or ("http_error" if outcome.status_code else "network_error")
            self.attempts.inc(1, kind)
            if outcome.final_code is not None:
                status, delay = "failed", 0.0
                self.failed.inc()
                # Scheme, host and port only: paths and queries often carry tokens.
                log.warning(
                    "webhook %s: delivery %d (%s) to %s failed without retrying: %s",
                    delivery.webhook_id, delivery.id, delivery.event_type,
                    redact_url(delivery.url), outcome.error,
                )  # fmt: skip
            elif attempt >= self.settings.webhook_max_attempts:
                status, delay = "failed", 0.0
                self.failed.inc()
                # The webhook id, not the URL: URLs often carry tokens.
                log.warning(
                    "webhook %s: delivery %d (%s) failed %d times; giving up",
                    delivery.webhook_id, delivery.id, delivery.event_type, attempt,
                )  # fmt: skip
            else:
                status = "pending"
                delay = retry_delay(attempt, self.settings.webhook_retry_base_s, self._rng)
        async with pool.acquire() as conn:
            await conn.execute(
                RECORD_ATTEMPT,
                delivery.id,
                attempt,
                status,
                delay,
                outcome.attempted_at,
                outcome.status_code,
                outcome.error,
                outcome.duration_ms,
            )

    async def _attempt(self, delivery: _Claimed) -> _Outcome:
        assert self._client is not None
        body = body_of(delivery)
        headers = {
            "content-type": "application/json",
            "user-agent": f"cxloop-webhooks/{__version__}",
            "cxloop-event-id": delivery.event_id,
            "cxloop-event-type": delivery.event_type,
        }
        attempted_at = datetime.now(UTC)
        started = time.perf_counter()

        def outcome(
            status_code: int | None = None,
            error: str | None = None,
            *,
            final_code: str | None = None,
        ) -> _Outcome:
            duration_ms = (time.perf_counter() - started) * 1000
            if error is not None:
                # The attempt log shows errors; it never needs the URL's path or query.
                error = error.replace(delivery.url, redact_url(delivery.url))[:500]
            return _Outcome(
                attempted_at=attempted_at,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
                final_code=final_code,
            )

        try:
            url = _sendable_url(delivery.url)
        except InvalidDestination as exc:
            code = InvalidDestination.code
            return outcome(error=f"{code}: {exc}", final_code=code)
        try:
            headers[SIGNATURE_HEADER.lower()] = signature_header(delivery.secret, body)
            request = self._client.build_request("POST", url, content=body, headers=headers)
            async with asyncio.timeout(self.settings.webhook_timeout_s):
                # The answer's status is all that matters; its body is not read.
                response = await self._client.send(request, stream=True)
                await response.aclose()
            return outcome(status_code=response.status_code)
        except DestinationRefused as exc:
            code = DestinationRefused.code
            return outcome(error=f"{code}: {exc}", final_code=code)
        except (TimeoutError, httpx.TimeoutException):
            return outcome(error=f"timed out after {self.settings.webhook_timeout_s:g} s")
        except httpx.HTTPError as exc:
            return outcome(error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # Anything else still counts as an attempt, so no delivery stays pending forever.
            if not isinstance(exc, OSError | ValueError | httpx.InvalidURL):
                log.exception("webhook %s: unexpected error sending", delivery.webhook_id)
            return outcome(error=f"{type(exc).__name__}: {exc}")


def _sendable_url(raw: str) -> httpx.URL:
    """The URL httpx will send to, or InvalidDestination saying why there is none."""
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InvalidDestination(f"{redact_url(raw)}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidDestination(
            f"{redact_url(raw)}: a webhook URL needs http:// or https:// and a host"
        )
    return url
