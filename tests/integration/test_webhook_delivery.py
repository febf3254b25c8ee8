"""The delivery worker against a real PostgreSQL and a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from cxloop.ops.metrics import Registry
from cxloop.projects.service import create_project
from cxloop.settings import Settings
from cxloop.webhooks import WebhookDispatcher, enqueue
from cxloop.webhooks.store import Webhook, create_webhook, delete_webhook, list_deliveries
from tests.helpers.receiver import Receiver, running_receiver
from tests.helpers.server import Project, RunningServer

FAST = {
    "webhook_retry_base_s": 0.02,
    "webhook_poll_s": 0.02,
    "webhook_timeout_s": 2.0,
    "webhook_max_attempts": 4,
    # The receiver is on loopback, which webhooks reach only when allowed.
    "webhook_allow_private": True,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def project_id(conn: asyncpg.Connection) -> str:
    return (await create_project(conn, "acme")).id


@asynccontextmanager
async def dispatching(database_url: str, **settings: Any) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(
        Settings(database_url=database_url, **{**FAST, **settings}), Registry()
    )
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.close()


async def until(check: Callable[[], Awaitable[Any]], patience_s: float = 20) -> Any:
    deadline = time.monotonic() + patience_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {patience_s} s (last value {value!r})")
        await asyncio.sleep(0.02)


async def hook(
    conn: asyncpg.Connection,
    project_id: str,
    receiver: Receiver,
    name: str,
    *,
    script: list[int] | None = None,
    **options: Any,
) -> Webhook:
    webhook = await create_webhook(conn, project_id, receiver.url(name), ["alert.opened"])
    receiver.expect(name, webhook.secret, script=script, **options)
    return webhook


async def finished(conn: asyncpg.Connection, project_id: str, webhook: Webhook) -> Any:
    (delivery,) = await list_deliveries(conn, project_id, webhook.id)
    return delivery if delivery.status != "pending" else None


async def test_a_delivery_is_signed_sent_once_and_logged(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "ok")
    assert await enqueue(conn, project_id, "alert.opened", {"alert": {"id": 7, "score": 2}}) == 1
    async with dispatching(database_url) as dispatcher:
        delivery = await until(lambda: finished(conn, project_id, webhook))
    (request,) = receiver.requests("ok")
    assert request.signature_ok, request.signature_error
    assert request.headers["content-type"] == "application/json"
    assert request.headers["cxloop-event-type"] == "alert.opened"
    assert request.headers["cxloop-event-id"] == delivery.event_id
    body = request.json
    assert set(body) == {"id", "type", "created_at", "project_id", "data"}
    assert (body["id"], body["type"], body["project_id"]) == (
        delivery.event_id,
        "alert.opened",
        project_id,
    )
    assert body["data"] == {"alert": {"id": 7, "score": 2}}
    assert delivery.status == "succeeded" and delivery.finished_at is not None
    (attempt,) = delivery.attempts
    assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 200, None)
    assert attempt["duration_ms"] > 0
    assert dispatcher.attempts.values[("success",)] == 1


async def test_a_failing_receiver_gets_it_on_the_third_attempt_and_the_log_shows_all(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "flaky", script=[500, 500])
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url):
        delivery = await until(lambda: finished(conn, project_id, webhook))
    assert delivery.status == "succeeded"
    assert [a["status_code"] for a in delivery.attempts] == [500, 500, 200]
    requests = receiver.requests("flaky")
    assert [r.answered for r in requests] == [500, 500, 200]
    assert all(r.signature_ok for r in requests)
    # The same event and the same bytes every time; only the signature's time may move.
    assert {r.headers["cxloop-event-id"] for r in requests} == {delivery.event_id}
    assert len({r.body for r in requests}) == 1


async def test_it_gives_up_after_the_last_attempt(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "down", script=[503] * 10)
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url) as dispatcher:
        delivery = await until(lambda: finished(conn, project_id, webhook))
        await asyncio.sleep(0.2)  # nothing more is attempted
    assert delivery.status == "failed" and delivery.finished_at is not None
    assert [a["status_code"] for a in delivery.attempts] == [503] * 4
    assert len(receiver.requests("down")) == 4
    assert dispatcher.failed.values[()] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_timeouts_connection_errors_and_redirects_are_failed_attempts(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    slow = await hook(conn, project_id, receiver, "slow", delay_s=1.0)
    moved = await hook(
        conn, project_id, receiver, "moved", script=[302] * 10, location=receiver.url("elsewhere")
    )
    refused = await create_webhook(
        conn, project_id, f"http://127.0.0.1:{_closed_port()}/hook", ["alert.opened"]
    )
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url, webhook_timeout_s=0.3, webhook_max_attempts=2):
        results = {
            webhook.id: await until(lambda webhook=webhook: finished(conn, project_id, webhook))
            for webhook in (slow, moved, refused)
        }
    timed_out = results[slow.id].attempts
    assert [a["error"] for a in timed_out] == ["timed out after 0.3 s"] * 2
    assert all(a["status_code"] is None and a["duration_ms"] >= 250 for a in timed_out)
    assert [a["status_code"] for a in results[moved.id].attempts] == [302, 302]
    assert receiver.requests("elsewhere") == []  # redirects are not followed
    errors = [a["error"] for a in results[refused.id].attempts]
    assert len(errors) == 2 and all("ConnectError" in e for e in errors)
    assert all(r.status == "failed" for r in results.values())


async def test_a_loopback_receiver_is_refused_by_default_and_reached_when_allowed(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "internal")
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url, webhook_allow_private=False) as dispatcher:
        delivery = await until(lambda: finished(conn, project_id, webhook))
    # One attempt, failed at once with a typed error: waiting cannot make it allowed.
    assert delivery.status == "failed"
    (attempt,) = delivery.attempts
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("blocked_address: 127.0.0.1 is loopback")
    assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in attempt["error"]
    assert "/hooks/" not in attempt["error"]
    assert receiver.requests("internal") == []
    assert dispatcher.attempts.values[("blocked_address",)] == 1
    assert dispatcher.failed.values[()] == 1

    # The same receiver, allowed by network rather than wholesale.
    allowed = await hook(conn, project_id, receiver, "allowed")
    await conn.execute("DELETE FROM webhooks WHERE id = $1", webhook.id)
    await enqueue(conn, project_id, "alert.opened", {"n": 2})
    async with dispatching(
        database_url, webhook_allow_private=False, webhook_allowed_networks="127.0.0.0/8"
    ):
        delivery = await until(lambda: finished(conn, project_id, allowed))
    assert delivery.status == "succeeded"
    (request,) = receiver.requests("allowed")
    assert request.signature_ok and request.json["data"] == {"n": 2}


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://0177.0.0.1/p/tok", "invalid_url: http://0177.0.0.1: Invalid IPv4 address"),
        ("http://[::ffff:127.0.0.1]:9/p/tok", "blocked_address: ::ffff:127.0.0.1 is ::ffff:7f00"),
        ("http://2130706433:9/p/tok", "blocked_address: 2130706433 is 127.0.0.1, which is loop"),
        ("http://localhost:9/p/tok", "blocked_address: localhost resolves to"),
        ("ftp://hooks.example.com/p/tok", "invalid_url: ftp://hooks.example.com: a webhook URL"),
    ],
)
async def test_stored_urls_that_cannot_or_may_not_be_sent_to_fail_at_once(
    database_url: str, conn: asyncpg.Connection, project_id: str, url: str, error: str
) -> None:
    # Stored before the API checked them (or by hand): delivery must not leave them pending.
    webhook = await create_webhook(conn, project_id, url, ["alert.opened"])
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url, webhook_allow_private=False):
        delivery = await until(lambda: finished(conn, project_id, webhook))
    assert delivery.status == "failed"
    (attempt,) = delivery.attempts
    assert attempt["error"].startswith(error), attempt["error"]
    assert "/p/tok" not in attempt["error"]


async def test_webhook_urls_never_reach_the_log(
    database_url: str,
    conn: asyncpg.Connection,
    project_id: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A token in the path and the query, as receivers such as chat webhooks use them.
    secret_path = "tok_5f3c9a/deliver?token=sk_live_abcdef"
    webhook = await hook(conn, project_id, receiver, secret_path)
    refused = await create_webhook(
        conn, project_id, "http://169.254.169.254/latest/tok_metadata", ["alert.opened"]
    )
    caplog.set_level(logging.DEBUG)
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(
        database_url, webhook_allow_private=False, webhook_allowed_networks="127.0.0.0/8"
    ):
        delivered = await until(lambda: finished(conn, project_id, webhook))
        await until(lambda: finished(conn, project_id, refused))
    assert delivered.status == "succeeded"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "tok_5f3c9a" not in logged and "sk_live_abcdef" not in logged
    assert "tok_metadata" not in logged
    # Our own line about the refusal names the destination by scheme and host only.
    assert "to http://169.254.169.254 failed without retrying: blocked_address" in logged


async def test_two_dispatchers_share_the_queue_without_sending_anything_twice(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "busy", delay_s=0.05)

    async def done() -> bool:
        rows = await list_deliveries(conn, project_id, webhook.id, limit=100)
        return len(rows) == 80 and all(d.status == "succeeded" for d in rows)

    async with dispatching(database_url) as first, dispatching(database_url) as second:
        for dispatcher in (first, second):
            await asyncio.wait_for(dispatcher.database.connected.wait(), 20)
        async with conn.transaction():  # all due at once
            for n in range(80):
                await enqueue(conn, project_id, "alert.opened", {"n": n})
        await until(done)
    ids = [r.headers["cxloop-event-id"] for r in receiver.requests("busy")]
    assert len(ids) == len(set(ids)) == 80
    # Both took part: a round takes at least 50 ms and each claims at most 32.
    assert first.attempts.values[("success",)] > 0 and second.attempts.values[("success",)] > 0


async def test_deleting_a_webhook_drops_what_it_still_had_to_send(
    database_url: str, conn: asyncpg.Connection, project_id: str, receiver: Receiver
) -> None:
    webhook = await hook(conn, project_id, receiver, "gone", script=[500] * 10)
    await enqueue(conn, project_id, "alert.opened", {"n": 1})
    async with dispatching(database_url, webhook_retry_base_s=0.2):
        await until(lambda: asyncio.sleep(0, receiver.requests("gone")))
        assert await delete_webhook(conn, project_id, webhook.id)
        await asyncio.sleep(0.6)  # past the next retry (0.16 to 0.24 s after the first)
    assert len(receiver.requests("gone")) == 1
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    assert await conn.fetchval("SELECT count(*) FROM webhook_attempts") == 0


def test_a_served_api_refuses_a_loopback_webhook_by_default(
    server: RunningServer, project: Project, receiver: Receiver
) -> None:
    # The module's server runs on the defaults: no CXLOOP_WEBHOOK_ALLOW_PRIVATE.
    with server.client(headers=project.bearer) as client:
        for url in (receiver.url("x"), "http://127.1:9/x", "http://[::ffff:169.254.169.254]/"):
            answer = client.post("/v1/webhooks", json={"url": url, "events": ["ping"]})
            assert answer.status_code == 400, answer.text
            assert answer.json()["code"] == "invalid_webhook"
            assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in answer.json()["message"]
        assert client.get("/v1/webhooks").json()["webhooks"] == []
