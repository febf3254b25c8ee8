"""Webhook rules without a network: the retry schedule, subscriptions, destination checks."""

from __future__ import annotations

import ipaddress

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.webhooks import EVENT_TYPES, retry_delay
from cxloop.webhooks.model import (
    WebhookInput,
    new_event_id,
    new_secret,
    validate_webhook,
)
from cxloop.webhooks.ssrf import DestinationPolicy, blocked_reason

# -- retry schedule ------------------------------------------------------------------------


def test_the_schedule_without_jitter_grows_threefold_from_the_base() -> None:
    middle = [retry_delay(n, 10.0, rng=lambda: 0.5) for n in range(1, 10)]
    assert middle == pytest.approx([10, 30, 90, 270, 810, 2430, 7290, 21870, 65610])
    # Nine retries after the first attempt: about 27 hours in all.
    assert sum(middle) / 3600 == pytest.approx(27.3, abs=0.1)


@given(attempt=st.integers(1, 12), base=st.floats(0.01, 100), draw=st.floats(0, 1))
def test_jitter_stays_within_twenty_percent(attempt: int, base: float, draw: float) -> None:
    nominal = base * 3 ** (attempt - 1)
    assert (
        0.8 * nominal - 1e-9 <= retry_delay(attempt, base, rng=lambda: draw) <= 1.2 * nominal + 1e-9
    )


def test_jitter_spreads_retries_apart() -> None:
    delays = {round(retry_delay(3, 10.0), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(72 <= d <= 108 for d in delays)


# -- subscriptions ------------------------------------------------------------------------


def hook(
    url: str = "https://hooks.example.com/cx", events: list[str] | None = None
) -> WebhookInput:
    return WebhookInput(url=url, events=events or ["alert.opened"])


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/x", "https:// or http://"),
        ("example.com/x", "https:// or http://"),
        ("https:///path", "needs a host"),
        ("https://exa mple.com/", "spaces"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:99999/", "invalid port"),
    ],
)
def test_bad_urls_say_what_to_fix(url: str, fragment: str) -> None:
    problems = validate_webhook(hook(url))
    assert len(problems) == 1 and fragment in problems[0]


def test_unknown_event_types_are_named_with_the_known_ones() -> None:
    (problem,) = validate_webhook(hook(events=["alert.opened", "alert.closed"]))
    assert "'alert.closed'" in problem and "health.band_changed" in problem


def test_every_known_event_type_and_http_urls_are_accepted() -> None:
    assert validate_webhook(hook("http://hooks.example.com:8080/in", list(EVENT_TYPES))) == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x", "http://localhost:9000/", "http://[::1]/", "http://10.1.2.3/",
     "http://169.254.169.254/latest/meta-data", "http://api.localhost/"],
)  # fmt: skip
def test_private_hosts_are_refused_unless_allowed(url: str) -> None:
    (problem,) = validate_webhook(hook(url), policy=DestinationPolicy())
    assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in problem
    assert validate_webhook(hook(url), policy=DestinationPolicy(allow_private=True)) == []


def test_the_schema_refuses_unknown_fields_and_empty_event_lists() -> None:
    with pytest.raises(msgspec.ValidationError, match="secret"):
        msgspec.convert({"url": "https://a.io", "events": ["ping"], "secret": "x"}, WebhookInput)
    with pytest.raises(msgspec.ValidationError, match="length >= 1"):
        msgspec.convert({"url": "https://a.io", "events": []}, WebhookInput)


def test_ids_and_secrets_are_random_and_prefixed() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100 and all(s.startswith("whsec_") and len(s) > 40 for s in secrets)
    assert new_event_id().startswith("evt_") and new_event_id() != new_event_id()


# -- destinations (SSRF) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(address)) is None) is public
