"""Webhook subscriptions as the API accepts them (destination checks: ``ssrf.py``)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

import httpx
import msgspec

from cxloop.webhooks.ssrf import DestinationPolicy

__all__ = [
    "EVENT_TYPES",
    "WebhookInput",
    "new_event_id",
    "new_secret",
    "new_webhook_id",
    "validate_webhook",
]

# Every event type a webhook can subscribe to; `ping` is what POST /v1/webhooks/{id}/test sends.
EVENT_TYPES: tuple[str, ...] = (
    "alert.opened",
    "alert.updated",
    "health.band_changed",
    "health.dropped",
    "ping",
)
MAX_URL_CHARS = 2048
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _random_b32(length: int) -> str:
    return "".join(secrets.choice(_B32) for _ in range(length))


def new_webhook_id() -> str:
    return "whk_" + _random_b32(10)


def new_event_id() -> str:
    return "evt_" + _random_b32(24)


def new_secret() -> str:
    """``whsec_`` and 32 random bytes (base64url): the key receivers verify signatures with."""
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookInput(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_CHARS)]
    events: Annotated[list[str], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return None


def validate_webhook(
    webhook: WebhookInput, *, policy: DestinationPolicy | None = None
) -> list[str]:
    """Everything wrong with a subscription, as sentences; empty when it is valid.

    With a ``policy``, a host that is literally a refused address (any spelling: ``127.1``,
    ``0x7f000001``, ``[::ffff:127.0.0.1]``) or ``localhost`` is refused too; names are
    resolved and checked on every delivery.
    """
    problems = []
    parts = _split(webhook.url)
    if parts is None:
        problems.append("url cannot be parsed; check its host (IPv6 goes in [brackets])")
    elif parts.scheme not in ("http", "https"):
        problems.append("url must start with https:// or http://")
    elif not parts.hostname:
        problems.append("url needs a host name, e.g. https://hooks.example.com/cxloop")
    elif any(ch.isspace() for ch in webhook.url):
        problems.append("url must not contain spaces")
    elif parts.username is not None or parts.password is not None:
        problems.append("url must not contain credentials; authenticate with the signature")
    else:
        try:
            parts.port  # noqa: B018 - raises on an out-of-range port
            sendable = httpx.URL(webhook.url)
        except ValueError:
            problems.append("url has an invalid port")
        except httpx.InvalidURL as exc:
            problems.append(f"url cannot be sent to ({exc}); check its host")
        else:
            host = sendable.host
            refusal = None if policy is None else policy.refusal_for_host(host)
            if refusal is not None:
                problems.append(f"url host {refusal}")
    unknown = [event for event in webhook.events if event not in EVENT_TYPES]
    if unknown:
        problems.append(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; "
            f"use any of {', '.join(EVENT_TYPES)}"
        )
    return problems
