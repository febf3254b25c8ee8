"""``/v1/webhooks`` (secret key): subscriptions, a test ping, the delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.params import Parameter

from cxloop.api.auth import database_pool, project_id_of
from cxloop.api.errors import ApiError
from cxloop.api.pagination import Cursor
from cxloop.webhooks import store
from cxloop.webhooks.model import WebhookInput, validate_webhook
from cxloop.webhooks.ssrf import DestinationPolicy

__all__ = ["WebhooksController"]


def _not_found(webhook_id: str) -> ApiError:
    return ApiError(404, "webhook_not_found", f"no webhook {webhook_id!r} in this project")


def _destination_policy(request: Request[Any, Any, Any]) -> DestinationPolicy:
    # Delivery enforces the policy whatever happens here; refusing at creation just says so
    # sooner. No settings (a bare test app): the defaults, which block.
    return DestinationPolicy.from_settings(request.app.state.get("settings"))


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]
    dependencies = {"project_id": Provide(project_id_of)}

    @post("/", operation_id="createWebhook", summary="Subscribe a URL to events.")
    async def create(
        self, request: Request[Any, Any, Any], project_id: str, data: WebhookInput
    ) -> dict[str, Any]:
        problems = validate_webhook(data, policy=_destination_policy(request))
        if problems:
            raise ApiError(400, "invalid_webhook", "; ".join(problems), problems=problems)
        async with database_pool(request).acquire() as conn:
            webhook = await store.create_webhook(conn, project_id, data.url, data.events)
        # The only answer that shows the whole secret: receivers verify signatures with it.
        return webhook.to_json(with_secret=True)

    @get("/", operation_id="listWebhooks", summary="The project's webhooks.")
    async def list(self, request: Request[Any, Any, Any], project_id: str) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            webhooks = await store.list_webhooks(conn, project_id)
        return {"webhooks": [webhook.to_json() for webhook in webhooks]}

    @get("/{webhook_id:str}", operation_id="getWebhook", summary="One webhook.")
    async def read(
        self, request: Request[Any, Any, Any], project_id: str, webhook_id: str
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            webhook = await store.get_webhook(conn, project_id, webhook_id)
        if webhook is None:
            raise _not_found(webhook_id)
        return webhook.to_json()

    @delete(
        "/{webhook_id:str}",
        operation_id="deleteWebhook",
        summary="Delete a webhook; its pending deliveries are dropped with its log.",
    )
    async def remove(
        self, request: Request[Any, Any, Any], project_id: str, webhook_id: str
    ) -> None:
        async with database_pool(request).acquire() as conn:
            if not await store.delete_webhook(conn, project_id, webhook_id):
                raise _not_found(webhook_id)

    @post(
        "/{webhook_id:str}/test",
        status_code=202,
        operation_id="testWebhook",
        summary="Queue a signed `ping` event to this webhook (whatever it subscribes to).",
    )
    async def test(
        self, request: Request[Any, Any, Any], project_id: str, webhook_id: str
    ) -> dict[str, Any]:
        payload = {
            "webhook_id": webhook_id,
            "message": "A test event from cxloop: your endpoint is reachable and can verify it.",
        }
        async with database_pool(request).acquire() as conn:
            delivery = await store.enqueue_to_webhook(conn, project_id, webhook_id, "ping", payload)
        if delivery is None:
            raise _not_found(webhook_id)
        return delivery.to_json()

    @get(
        "/{webhook_id:str}/deliveries",
        operation_id="listWebhookDeliveries",
        summary="The delivery log, newest first: each event with every attempt.",
    )
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        webhook_id: str,
        status: Literal["pending", "succeeded", "failed"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        before_id: int | None = None
        if cursor:
            (before_id,) = Cursor.decode(cursor, 1)
            if not isinstance(before_id, int):
                raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned")
        async with database_pool(request).acquire() as conn:
            if await store.get_webhook(conn, project_id, webhook_id) is None:
                raise _not_found(webhook_id)
            rows = await store.list_deliveries(
                conn, project_id, webhook_id, status=status, before_id=before_id, limit=limit + 1
            )
        page = rows[:limit]
        next_cursor = Cursor.encode([page[-1].id]) if len(rows) > limit else None
        return {"deliveries": [row.to_json() for row in page], "next_cursor": next_cursor}
