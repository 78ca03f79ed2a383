"""Chat notifier: order events posted to a chat webhook (``after`` hooks, from the outbox)."""

from __future__ import annotations

from typing import Any

import httpx

from mercato.core.egress import check_url
from mercato.plugins import Event, Manifest, PluginContext

EVENTS = {
    "order.created": "placed",
    "order.paid": "paid",
    "order.fulfilled": "fulfilled",
    "order.cancelled": "cancelled",
}

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["webhook_url"],
    "properties": {
        "webhook_url": {
            "type": "string", "minLength": 8, "maxLength": 2000,
            "pattern": "^https?://",
            "description": "The chat's incoming webhook (Slack, Mattermost, ...).",
        },
        "events": {
            "type": "array", "uniqueItems": True,
            "items": {"enum": sorted(EVENTS)},
            "description": "Which order events to post; all four when absent.",
        },
    },
}

TIMEOUT = httpx.Timeout(10.0)


class ChatRefused(RuntimeError):
    """The chat service did not accept the post: the outbox retries it."""


def message(event: Event) -> str:
    """One line a person reads in the channel."""
    order = event.data.get("order", {})
    number = order.get("number") or event.resource_id
    total, currency = order.get("total"), order.get("currency")
    line = f"Order #{number} {EVENTS.get(event.type, event.type)}"
    if total is not None and currency:
        line += f": {total} {currency}"
    if event.type == "order.cancelled" and event.data.get("reason"):
        line += f" (reason: {event.data['reason']})"
    return line


def post(ctx: PluginContext, event: Event) -> None:
    """Post the event if this organization asked for it; raise (retried) if it fails."""
    wanted = ctx.config.get("events") or sorted(EVENTS)
    if event.type not in wanted:
        return
    url = check_url(str(ctx.config["webhook_url"]), ctx.allow_hosts, field="webhook_url")
    response = httpx.post(url, json={"text": message(event)}, timeout=TIMEOUT,
                          follow_redirects=False,
                          headers={"Idempotency-Key": event.id})
    if response.status_code >= 300:
        raise ChatRefused(f"the chat webhook answered {response.status_code}")


manifest = Manifest(
    name="chat-notifier",
    version="0.1.0",
    description="Posts order events to a Slack- or Mattermost-compatible chat webhook.",
    after=dict.fromkeys(EVENTS, post),
    settings_schema=SETTINGS_SCHEMA,
    permissions=("orders:read",),
)
