"""Runtime settings, read once from the environment (``CXLOOP_*``, ``DATABASE_URL``)."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Literal, get_args, get_type_hints
from urllib.parse import urlsplit

import msgspec

__all__ = [
    "Settings",
    "SettingsError",
    "default_text",
    "env_name",
    "parse_networks",
    "public_origin",
    "settings_table",
]

_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?"
)


_NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def doc(description: str) -> msgspec.Meta:
    """A setting's one-line description: the README's settings table is made from these."""
    return msgspec.Meta(description=description)


class SettingsError(ValueError):
    """A setting in the environment could not be understood."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a cxloop process needs to know; defaults are the embedded single-machine setup.

    Each field is the environment variable ``CXLOOP_<FIELD>``; its ``doc`` is the README's
    settings table (``cxloop settings --markdown``).
    """

    data_dir: Annotated[Path, doc("WAL, lake, state and the embedded database")] = Path(".cxloop")
    database_url: Annotated[
        str | None,
        doc("PostgreSQL to use; unset: an embedded PostgreSQL in `<data dir>/postgres`"),
    ] = None
    host: Annotated[str, doc("address to listen on")] = "127.0.0.1"
    port: Annotated[int, doc("port to listen on (`0` picks a free one)")] = 8000
    workers: Annotated[int, doc("ingest worker processes")] = 1

    # Wire limits (Segment's published limits).
    max_event_bytes: Annotated[
        int, doc("largest event (a larger one in a batch is a failed event)")
    ] = 32 * 1024
    max_request_bytes: Annotated[
        int, doc("largest request body, also after decompression (then `413`)")
    ] = 500 * 1024
    max_batch_events: Annotated[int, doc("most events in one batch")] = 2500

    # Write-ahead log.
    wal_segment_max_bytes: Annotated[
        int, doc("WAL segment size before it is sealed for the pipeline")
    ] = 64 * 1024 * 1024
    wal_segment_max_age_s: Annotated[
        float, doc("seconds before a WAL segment is sealed: how fresh the lake is")
    ] = 2.0
    wal_fsync: Annotated[
        bool, doc("`fdatasync` the WAL before acking (`false` only for throwaway data)")
    ] = True
    # Back-pressure: never an ever-growing queue (ARCHITECTURE.md decision 3).
    max_pending_events: Annotated[int, doc("events waiting for an fsync before `503`")] = 100_000
    max_inflight_requests: Annotated[
        int, doc("ingest requests handled at once per worker before `503`")
    ] = 512
    min_free_bytes: Annotated[
        int, doc("below this free disk space, stop acking (`503`, `/readyz` `503`)")
    ] = 256 * 1024 * 1024
    # Back-pressure on the pipeline's backlog (issue 18): acking faster than the lake and
    # PostgreSQL can absorb is not throughput.
    wal_backlog_max_bytes: Annotated[
        int,
        doc(
            "acked WAL bytes not yet in the lake before ingest answers `503` with `Retry-After` "
            "(`0`: no bound)"
        ),
    ] = 2 * 1024 * 1024 * 1024
    wal_backlog_max_s: Annotated[
        float,
        doc(
            "how long an event acked now may wait for the lake (the oldest one's age plus the "
            "backlog at the pipeline's capacity) before ingest answers `503` with "
            "`Retry-After` (`0`: no bound)"
        ),
    ] = 20.0
    project_rate_limit: Annotated[
        float, doc("events/s per project per worker before `429` (`0`: no limit)")
    ] = 0.0
    trust_forwarded_for: Annotated[
        bool,
        doc(
            "take the client address from `X-Forwarded-For` (only behind your own proxy; the "
            "last entry, the one your proxy appended, is used)"
        ),
    ] = False

    # Lake and dedupe.
    dedupe_window_days: Annotated[int, doc("exact dedupe window")] = 8
    lake_row_group_rows: Annotated[int, doc("rows per Parquet row group in the lake")] = 128 * 1024
    dedupe_max_bytes: Annotated[
        int,
        doc(
            "disk budget of the dedupe index; when reached, the oldest days leave the index "
            "early and the effective window shrinks (`0`: no budget)"
        ),
    ] = 0
    lake_merge_min_files: Annotated[
        int,
        doc(
            "small Parquet files of one size tier in a partition-day before they are merged "
            "into one (`0`: never merge; at least `2` otherwise)"
        ),
    ] = 8
    lake_target_file_bytes: Annotated[
        int, doc("size a merged lake file aims for; files this large are left alone")
    ] = 128 * 1024 * 1024
    # Scale-out (issue 19, docs/scaling.md).
    lake_url: Annotated[
        str | None,
        doc(
            "where the lake lives: unset: `<data dir>/lake`; a directory; or "
            "`s3://bucket/prefix` on any S3-compatible store (credentials and region from the "
            "usual `AWS_*` variables)"
        ),
    ] = None
    s3_endpoint_url: Annotated[
        str | None,
        doc(
            "the S3 API's address for a store that is not AWS (MinIO, Ceph, OSS: "
            "`http://127.0.0.1:9000`); unset: AWS"
        ),
    ] = None
    cluster: Annotated[
        bool,
        doc(
            "several `cxloop serve` nodes share one PostgreSQL (`DATABASE_URL`) and one lake: "
            "dedupe claims, leases and node heartbeats live in PostgreSQL"
        ),
    ] = False
    node_id: Annotated[
        str | None,
        doc(
            "this node's name in a cluster (letters, digits, `_`, `-`; ≤ 40); unset: made once "
            "and kept in `<data dir>/state/node_id`"
        ),
    ] = None
    rollup_engine: Annotated[
        Literal["duckdb", "spark"],
        doc("what computes the health rollups: `duckdb` in the pipeline, or `spark` (pyspark)"),
    ] = "duckdb"
    spark_master: Annotated[
        str, doc("Spark master for `CXLOOP_ROLLUP_ENGINE=spark` (`local[2]`, `spark://host:7077`)")
    ] = "local[2]"
    # Cluster coordination (issue 19, coordination helper): leases and heartbeats.
    cluster_lease_s: Annotated[
        float,
        doc(
            "in a cluster, how long a node's lease on singleton work (health refresh, retention) "
            "or on a lake partition lasts unless renewed: when a node dies, another takes its "
            "work over within this; a node silent this long is shown as not live"
        ),
    ] = 30.0
    pipeline_poll_s: Annotated[
        float, doc("seconds between the pipeline's looks for sealed segments")
    ] = 0.2
    # SCHED_IDLE: the pipeline runs only on CPU time nothing else wants (decision 26).
    pipeline_priority: Annotated[
        Literal["idle", "nice"],
        doc(
            "how the lake/projection process yields the CPU to ingest: `idle` (`SCHED_IDLE`) "
            "or `nice` (nice 10)"
        ),
    ] = "idle"
    key_refresh_s: Annotated[
        float, doc("seconds between refreshes of the in-memory write keys")
    ] = 5.0
    key_rotation_grace_s: Annotated[
        float,
        doc(
            "seconds a rotated secret or write key keeps working by default, beside the new one "
            "(`0`: it stops at once)"
        ),
    ] = 86400.0

    sdk_dir: Annotated[
        Path | None,
        doc("the built browser SDK to serve at `/sdk/`; unset: the wheel's copy or `sdk-js/dist`"),
    ] = None

    # Webhook delivery (docs/webhooks.md).
    webhook_max_attempts: Annotated[
        int, doc("webhook attempts per event before it is marked failed")
    ] = 10
    webhook_retry_base_s: Annotated[
        float, doc("first webhook retry delay (each later one ×3, jittered)")
    ] = 10.0
    webhook_timeout_s: Annotated[float, doc("seconds per webhook attempt")] = 10.0
    webhook_poll_s: Annotated[
        float, doc("seconds between the pipeline's looks for due webhook deliveries")
    ] = 1.0
    # Destinations (SSRF protection): only public addresses, unless private ones are allowed
    # altogether or for some networks, for receivers on the vendor's own network.
    webhook_allow_private: Annotated[
        bool,
        doc(
            "also send webhooks to loopback, private, link-local and other non-public addresses "
            "(refused by default: SSRF)"
        ),
    ] = False
    webhook_allowed_networks: Annotated[
        str, doc("networks webhooks may reach although not public, e.g. `10.20.0.0/16,fd00::/8`")
    ] = ""

    # The pipeline process refreshes health scores on this schedule.
    health_refresh_s: Annotated[
        float,
        doc("seconds between roll-ups and rescoring of every account (`0`: only on request)"),
    ] = 3600.0
    retention_interval_s: Annotated[
        float,
        doc("seconds between the pipeline's sweeps of lake partitions past a project's retention"),
    ] = 3600.0

    log_level: Annotated[str, doc("`DEBUG`, `INFO`, `WARNING` or `ERROR`")] = "INFO"

    # Slow clients, per worker (decision 28); headers: of a new connection or of the next
    # request on a kept-alive one.
    header_timeout_s: Annotated[
        float, doc("seconds a connection has to send complete request headers")
    ] = 10.0
    body_timeout_s: Annotated[
        float, doc("seconds an ingest request has to send its whole body (then `408`)")
    ] = 10.0
    max_requests_per_client: Annotated[
        int,
        doc(
            "ingest requests one address may have still sending their body, per worker "
            "(then `429`; `0`: no cap)"
        ),
    ] = 64
    max_opening_connections_per_client: Annotated[
        int,
        doc(
            "connections one address may hold open without having sent headers, per worker "
            "(`0`: no cap)"
        ),
    ] = 256

    public_url: Annotated[
        str | None,
        doc(
            "the origin browsers reach the server at (`https://cx.example.com`), used by `/demo/` "
            "and the browser-library settings; unset: same-origin, never the `Host` header"
        ),
    ] = None

    # Console sign-in (docs/access.md, "Signing in").
    session_lifetime_s: Annotated[
        float, doc("seconds a console session lasts from sign-in, however active")
    ] = 12 * 3600.0
    session_idle_s: Annotated[
        float, doc("seconds without a request after which a console session ends")
    ] = 2 * 3600.0
    login_max_failures: Annotated[
        int, doc("consecutive wrong passwords before a person's account is locked")
    ] = 5
    login_lockout_s: Annotated[
        float, doc("seconds an account stays locked after too many wrong passwords")
    ] = 900.0
    login_address_limit: Annotated[
        int, doc("failed sign-ins from one client address in 15 minutes before `429`")
    ] = 20

    def __post_init__(self) -> None:
        # Settings that are written into pages or decide where webhooks may go are checked
        # here, so a bad value stops `cxloop` at start with a message instead of every request.
        public_origin(self.public_url)
        parse_networks(self.webhook_allowed_networks)
        if self.lake_merge_min_files == 1 or self.lake_merge_min_files < 0:
            raise ValueError(
                f"CXLOOP_LAKE_MERGE_MIN_FILES={self.lake_merge_min_files}: merging needs at "
                "least 2 files at a time; set 2 or more, or 0 to never merge"
            )

        if (
            self.lake_url is not None
            and self.lake_url.startswith("s3:")
            and not (self.lake_url.startswith("s3://") and len(self.lake_url) > len("s3://"))
        ):
            raise ValueError(
                f"CXLOOP_LAKE_URL={self.lake_url}: an object-store lake is `s3://bucket/prefix`"
            )
        if self.cluster and not self.database_url:
            raise ValueError(
                "CXLOOP_CLUSTER=true needs DATABASE_URL: the nodes of a cluster share one "
                "PostgreSQL (an embedded one belongs to a single node)"
            )
        if self.cluster_lease_s < 1:
            raise ValueError(
                f"CXLOOP_CLUSTER_LEASE_S={self.cluster_lease_s}: a lease must last at least 1 s"
            )
        if self.node_id is not None and not _NODE_ID.fullmatch(self.node_id):
            raise ValueError(
                f"CXLOOP_NODE_ID={self.node_id}: use letters, digits, `_` and `-`, at most 40"
            )

    @property
    def public_origin(self) -> str:
        """``public_url`` as ``scheme://host[:port]`` (checked at start); "" when unset."""
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
            # "Expected `int`, got `str` - at `$.port`" names the field, not what to fix.
            problem, _, at = str(exc).partition(" - at `$.")
            name = at.rstrip("`")
            if name in values:
                problem = f" {env_name(name)}={values[name]!s}: {problem}"
            else:
                problem = f": {problem}"
            raise SettingsError(
                f"invalid setting{problem} (`cxloop settings` lists every setting)"
            ) from exc


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise NotImplementedError


def public_origin(public_url: str | None) -> str:
    """``CXLOOP_PUBLIC_URL`` as ``scheme://host[:port]``, "" (same origin) when unset.

    ValueError, saying what to set, for anything else: the value is written into scripts.
    """
    if not public_url:
        return ""
    parts = urlsplit(public_url.strip())
    origin = f"{parts.scheme}://{parts.netloc}"
    if (
        not _ORIGIN.fullmatch(origin)
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"CXLOOP_PUBLIC_URL={public_url!r} is not an origin; set it to the address "
            "browsers reach this server at, e.g. https://cx.example.com, or leave it unset"
        )
    return origin


@functools.lru_cache(maxsize=16)
def parse_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, fd00::/8, 192.168.1.20"`` as networks; ValueError saying what is wrong."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for part in spec.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"CXLOOP_WEBHOOK_ALLOWED_NETWORKS: {part!r} is not a network ({exc}); use a "
                "comma-separated list such as 10.0.0.0/8,fd00::/8,192.168.1.20"
            ) from exc
    return tuple(networks)


def env_name(field: str) -> str:
    """The environment variable of a ``Settings`` field."""
    return "DATABASE_URL" if field == "database_url" else f"CXLOOP_{field.upper()}"


def default_text(field: str) -> str:
    """A field's default as the README and ``--help`` show it: ``8000``, ``unset``, and
    ``67108864 (64 MiB)`` for sizes."""
    value = next(f.default for f in msgspec.structs.fields(Settings) if f.name == field)
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and field.endswith("_bytes"):
        for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
            if value % size == 0:
                return f"{value} ({value // size} {unit})"
    return str(value)


def settings_table() -> str:
    """The README's settings table (Markdown), one row per ``Settings`` field."""
    hints = get_type_hints(Settings, include_extras=True)
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in msgspec.structs.fields(Settings):
        (meta,) = (m for m in get_args(hints[field.name])[1:] if isinstance(m, msgspec.Meta))
        default = default_text(field.name)
        if default not in ("unset", "empty"):
            value, _, note = default.partition(" ")
            default = f"`{value}` {note}".rstrip()
        rows.append(f"| `{env_name(field.name)}` | {default} | {meta.description} |")
    return "\n".join(rows) + "\n"
