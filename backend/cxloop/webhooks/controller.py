"""``/v1/webhooks`` (secret key): subscriptions, a test ping, the delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cxloop.api import ApiError, Audit, Cursor, Db, ProjectId, Transaction, found
from cxloop.webhooks import store
from cxloop.webhooks.model import WebhookInput, validate_webhook
from cxloop.webhooks.schemas import (
    CreatedWebhook,
    DeliveryPage,
    WebhookAnswer,
    WebhookDelivery,
    WebhookList,
    created_webhook_of,
    delivery_of,
    webhook_of,
)
from cxloop.webhooks.ssrf import DestinationPolicy
from cxloop.webhooks.store import Webhook

__all__ = ["WebhooksController"]


def _not_found(webhook_id: str) -> ApiError:
    return ApiError(404, "webhook_not_found", f"no webhook {webhook_id!r} in this project")


def _audit_details(webhook: Webhook) -> dict[str, Any]:
    # The host only: a URL's path or query may carry a receiver's own secret.
    return {"host": urlsplit(webhook.url).hostname, "events": webhook.events}


def provide_destination_policy(state: State) -> DestinationPolicy:
    # Delivery enforces the policy whatever happens here; refusing at creation just says so
    # sooner. No settings (a bare test app): the defaults, which block.
    return DestinationPolicy.from_settings(state.get("settings"))


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    dependencies = {"destination_policy": Provide(provide_destination_policy, sync_to_thread=False)}

    @post("/", permission="webhooks:write", summary="Subscribe a URL to events.")
    async def create_webhook(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        destination_policy: NamedDependency[DestinationPolicy],
        data: JSONBody[WebhookInput],
    ) -> CreatedWebhook:
        problems = validate_webhook(data, policy=destination_policy)
        if problems:
            raise ApiError(400, "invalid_webhook", "; ".join(problems), problems=problems)
        webhook = await store.create_webhook(transaction, project_id, data.url, data.events)
        await audit.record(
            transaction, "webhook.created", "webhook", webhook.id, _audit_details(webhook)
        )
        # The only answer that shows the whole secret: receivers verify signatures with it.
        return created_webhook_of(webhook)

    @get("/", permission="webhooks:read", summary="The project's webhooks.")
    async def list_webhooks(self, project_id: ProjectId, db: Db) -> WebhookList:
        webhooks = await store.list_webhooks(db, project_id)
        return WebhookList(webhooks=[webhook_of(webhook) for webhook in webhooks])

    @get("/{webhook_id:str}", permission="webhooks:read", summary="One webhook.")
    async def get_webhook(
        self, project_id: ProjectId, db: Db, webhook_id: FromPath[str]
    ) -> WebhookAnswer:
        webhook = found(await store.get_webhook(db, project_id, webhook_id), _not_found(webhook_id))
        return webhook_of(webhook)

    @delete(
        "/{webhook_id:str}",
        permission="webhooks:write",
        summary="Delete a webhook; its pending deliveries are dropped with its log.",
    )
    async def delete_webhook(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        webhook_id: FromPath[str],
    ) -> None:
        webhook = found(
            await store.get_webhook(transaction, project_id, webhook_id), _not_found(webhook_id)
        )
        if not await store.delete_webhook(transaction, project_id, webhook_id):
            raise _not_found(webhook_id)
        await audit.record(
            transaction, "webhook.deleted", "webhook", webhook_id, _audit_details(webhook)
        )

    @post(
        "/{webhook_id:str}/test",
        permission="webhooks:write",
        status_code=202,
        summary="Queue a signed `ping` event to this webhook (whatever it subscribes to).",
    )
    async def test_webhook(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        webhook_id: FromPath[str],
    ) -> WebhookDelivery:
        webhook = found(
            await store.get_webhook(transaction, project_id, webhook_id), _not_found(webhook_id)
        )
        payload = {
            "webhook_id": webhook_id,
            "message": "A test event from cxloop: your endpoint is reachable and can verify it.",
        }
        delivery = found(
            await store.enqueue_to_webhook(transaction, project_id, webhook_id, "ping", payload),
            _not_found(webhook_id),
        )
        await audit.record(
            transaction,
            "webhook.tested",
            "webhook",
            webhook_id,
            {**_audit_details(webhook), "delivery_id": delivery.id},
        )
        return delivery_of(delivery)

    @get(
        "/{webhook_id:str}/deliveries",
        permission="webhooks:read",
        summary="The delivery log, newest first: each event with every attempt.",
    )
    async def list_webhook_deliveries(
        self,
        project_id: ProjectId,
        db: Db,
        webhook_id: FromPath[str],
        status: FromQuery[Literal["pending", "succeeded", "failed"] | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> DeliveryPage:
        before_id: int | None = None
        if cursor:
            (before_id,) = Cursor.decode(cursor, 1, (int,))
        if await store.get_webhook(db, project_id, webhook_id) is None:
            raise _not_found(webhook_id)
        rows = await store.list_deliveries(
            db, project_id, webhook_id, status=status, before_id=before_id, limit=limit + 1
        )
        page = rows[:limit]
        next_cursor = Cursor.encode([page[-1].id]) if len(rows) > limit else None
        return DeliveryPage(deliveries=[delivery_of(row) for row in page], next_cursor=next_cursor)
