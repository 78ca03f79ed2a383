"""Plugins the tests install through real entry points (``tests/plugins/conftest.py`` writes
a distribution's metadata naming them): what they saw is kept here for the tests to read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from mercato.core.auth import get_principal
from mercato.core.principal import Principal
from mercato.core.uow import MercatoRoute
from mercato.orders import Order
from mercato.plugins import Event, Manifest, PluginContext, Refusal

SEEN: list[dict[str, Any]] = []
"""Every hook call: plugin, hook, organization, and what it read."""
FAILURES: dict[str, int] = {}
"""Per event id: how many times the after hook has failed it so far."""


def _visible_orders(ctx: PluginContext) -> list[str]:
    """Every order's organization the plugin's session lets it read (it tries them all)."""
    return list(ctx.session.scalars(select(Order.organization_id)))


def tag_order(ctx: PluginContext, data: dict[str, Any]) -> dict[str, Any]:
    order = dict(data["order"])
    SEEN.append({"plugin": ctx.plugin, "hook": "before_order_create",
                 "organization_id": ctx.organization_id, "orders_of": _visible_orders(ctx)})
    if order.get("note") == "refuse":
        raise Refusal(str(ctx.config.get("refusal", "refused")), field="note")
    order["note"] = (order.get("note") or "") + f"{ctx.plugin};"
    order["tags"] = [*order.get("tags", []), str(ctx.config.get("tag", "tagged"))]
    return {**data, "order": order}


def prefix_title(ctx: PluginContext, data: dict[str, Any]) -> dict[str, Any] | None:
    product = dict(data["product"])
    if "title" not in product:
        return None
    if "forbidden" in product["title"]:
        raise Refusal("titles may not say forbidden", field="title")
    return {**data, "product": {**product,
                                "title": f"{ctx.config.get('prefix', '')}{product['title']}"}}


def after_order(ctx: PluginContext, event: Event) -> None:
    failed = FAILURES.get(event.id, 0)
    if failed < int(ctx.config.get("fail_times", 0)):
        FAILURES[event.id] = failed + 1
        raise RuntimeError(f"failing on purpose ({failed + 1})")
    SEEN.append({"plugin": ctx.plugin, "hook": event.type, "event_id": event.id,
                 "organization_id": ctx.organization_id, "order_id": event.resource_id,
                 "event_org": event.organization_id, "orders_of": _visible_orders(ctx)})


def routes() -> APIRouter:
    router = APIRouter(route_class=MercatoRoute)

    @router.get("/whoami")
    def whoami(principal: Principal = Depends(get_principal)) -> dict[str, str]:
        return {"organization_id": principal.organization_id}

    return router


TAGGER_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"tag": {"type": "string", "maxLength": 40},
                   "prefix": {"type": "string", "maxLength": 20},
                   "refusal": {"type": "string"},
                   "fail_times": {"type": "integer", "minimum": 0, "maximum": 5}},
}

tagger = Manifest(
    name="test-tagger", version="1.0.0", description="Tags orders, prefixes product titles.",
    before={"before_order_create": tag_order, "before_product_save": prefix_title},
    after={"order.created": after_order}, settings_schema=TAGGER_SCHEMA, routes=routes)


def second() -> Manifest:
    """A factory: an entry point may name a function returning the manifest."""
    return Manifest(name="test-second", version="1.0.0",
                    before={"before_order_create": tag_order},
                    permissions=("organization:write",))


not_a_manifest = {"name": "broken"}
bad_hook = Manifest(name="test-bad-hook", version="1.0.0",
                    before={"before_everything": tag_order})
