"""Runtime settings, read once from the environment (``CXLOOP_*``, ``DATABASE_URL``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting in the environment could not be understood."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a cxloop process needs to know; defaults are the embedded single-machine setup."""

    data_dir: Path = Path(".cxloop")
    # None means: start the embedded PostgreSQL under ``data_dir / "postgres"``.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Wire limits (Segment's published limits).
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    max_batch_events: int = 2500

    # Write-ahead log.
    wal_segment_max_bytes: int = 64 * 1024 * 1024
    wal_segment_max_age_s: float = 2.0
    wal_fsync: bool = True
    # Back-pressure: events waiting for a group commit, and requests being handled at once.
    max_pending_events: int = 100_000
    max_inflight_requests: int = 512
    # Stop acking (503) when the data directory's file system has less free space than this.
    min_free_bytes: int = 256 * 1024 * 1024
    # Per-project events/s per worker; 0 disables the limit (429 when exceeded).
    project_rate_limit: float = 0.0
    # Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_forwarded_for: bool = False

    # Lake and dedupe.
    dedupe_window_days: int = 8
    lake_row_group_rows: int = 128 * 1024
    pipeline_poll_s: float = 0.2
    # How the pipeline process yields the CPU to the ingest workers: "idle" (SCHED_IDLE: it
    # runs only on CPU time nothing else wants) or "nice" (nice 10).
    pipeline_priority: Literal["idle", "nice"] = "idle"
    key_refresh_s: float = 5.0

    # The built browser SDK to serve at /sdk/…; default: the wheel's copy or sdk-js/dist.
    sdk_dir: Path | None = None

    # Webhook delivery (docs/webhooks.md): attempts per event before it is marked failed, the
    # first retry delay (each later one ×3, with jitter), the per-attempt timeout, and how often
    # the pipeline looks for due deliveries.
    webhook_max_attempts: int = 10
    webhook_retry_base_s: float = 10.0
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0
    # Destinations (SSRF protection, docs/webhooks.md): only public addresses, unless private
    # ones are allowed altogether or these comma-separated networks are
    # ("10.0.0.0/8,fd00::/8"), for receivers on the vendor's own network.
    webhook_allow_private: bool = False
    webhook_allowed_networks: str = ""

    # Health scores are refreshed this often by the pipeline process (0: only on request).
    health_refresh_s: float = 3600.0

    log_level: str = "INFO"

    # Slow clients (per worker): seconds to send complete request headers (a new connection,
    # or the next request on a kept-alive one), seconds to send a whole request body, how
    # many ingest requests one client address may have receiving at once, and how many new
    # connections it may have that have not sent their headers yet (0: no cap).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_requests_per_client: int = 64
    max_opening_connections_per_client: int = 256

    # The public origin browsers reach this server at (https://cx.example.com), written into
    # the demo app; unset, the demo uses same-origin URLs. Never taken from the Host header.
    public_url: str | None = None

    def __post_init__(self) -> None:
        # Settings that are written into pages or decide where webhooks may go are checked
        # here, so a bad value stops `cxloop` at start with a message instead of every request.
        from cxloop.sdk.demo import public_origin
        from cxloop.webhooks.ssrf import parse_networks

        public_origin(self.public_url)
        parse_networks(self.webhook_allowed_networks)

    @property
    def public_origin(self) -> str:
        """``public_url`` as ``scheme://host[:port]`` (checked at start); "" when unset."""
        from cxloop.sdk.demo import public_origin

        return public_origin(self.public_url)

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``CXLOOP_<FIELD>`` variables (and ``DATABASE_URL``), then overrides."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            raw = source.get(f"CXLOOP_{field.name.upper()}")
            if raw is not None and raw != "":
                values[field.name] = raw
        if source.get("DATABASE_URL"):
            values["database_url"] = source["DATABASE_URL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(values, cls, strict=False, dec_hook=_decode_path)
        except msgspec.ValidationError as exc:
            raise SettingsError(
                f"invalid setting: {exc} (check the CXLOOP_* environment variables)"
            ) from exc


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise NotImplementedError
