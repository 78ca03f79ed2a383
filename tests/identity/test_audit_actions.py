"""The audit log names each action, records every change with its real actor, and identifies
every resource: order actions, channel and safety-stock changes, buffers, imports."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from mercato.catalog.tasks import run_imports
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.identity.permissions import ROLE_PERMISSIONS, Role
from tests.conftest import PASSWORD, Org
from tests.inventory.helpers import make_location, make_variants, receive
from tests.orders.helpers import place_order, stocked


def entries_of(client: TestClient, org: Org, response: httpx.Response) -> list[dict[str, Any]]:
    """The audit entries a request wrote, oldest first."""
    assert response.status_code < 300, response.text
    page = client.get("/api/v1/audit-log", headers=org.headers, params={"limit": 250})
    assert page.status_code == 200, page.text
    request_id = response.headers["X-Request-ID"]
    return [e for e in reversed(page.json()["data"]) if e["request_id"] == request_id]


def signed_in(client: TestClient, org: Org, role: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers of a new member with ``role``, and who they are as an audit actor."""
    email = f"{role}-{new_id().lower()}@{org.slug}.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    return ({"Authorization": f"Bearer {token.json()['access_token']}"},
            {"type": "staff", "id": created.json()["id"], "label": email})


def api_key(client: TestClient, org: Org, name: str,
            scopes: set[str]) -> tuple[dict[str, str], dict[str, Any]]:
    made = client.post("/api/v1/api-keys", headers=org.headers,
                       json={"name": name, "scopes": sorted(scopes)})
    assert made.status_code == 201, made.text
    return ({"Authorization": f"Bearer {made.json()['key']}"},
            {"type": "api_key", "id": made.json()["id"], "label": name})


def test_order_actions_name_themselves_with_their_actor_and_child_rows(
    client: TestClient, org: Org
) -> None:
    skus, _ = stocked(client, org, [10])
    order = place_order(client, org, [(skus[0], 4)])
    line = order["lines"][0]["id"]
    packer, packer_actor = signed_in(client, org, "fulfillment")
    robot, robot_actor = api_key(client, org, "till",
                                 set(ROLE_PERMISSIONS[Role.CASHIER]))
    owner_actor = {"type": "staff", "id": org.owner_id, "label": org.owner_email}
    url = f"/api/v1/orders/{order['id']}"

    steps: list[tuple[httpx.Response, str, dict[str, Any], str | None]] = []
    paid = client.post(f"{url}/payments", headers=robot, json={"method": "cash"})
    steps.append((paid, "order.payment_added", robot_actor, None))
    shipped = client.post(f"{url}/fulfillments", headers=packer,
                          json={"lines": [{"line_id": line, "quantity": 2}], "carrier": "UPS"})
    steps.append((shipped, "order.fulfilled", packer_actor, "fulfillment.created"))
    returned = client.post(f"{url}/returns", headers=packer,
                           json={"lines": [{"line_id": line, "quantity": 1}]})
    steps.append((returned, "order.returned", packer_actor, "return.created"))
    refunded = client.post(f"{url}/refunds", headers=robot,
                           json={"amount": "5.00", "reason": "returned one"})
    steps.append((refunded, "order.refunded", robot_actor, "refund.created"))
    cancelled = client.post(f"{url}/cancel", headers=org.headers,
                            json={"lines": [{"line_id": line, "quantity": 1}]})
    steps.append((cancelled, "order.cancelled", owner_actor, None))

    for response, action, actor, child in steps:
        written = entries_of(client, org, response)
        assert written, action
        assert all(e["action"] != "order.updated" for e in written), written
        [own] = [e for e in written if e["resource_type"] == "order"]
        assert (own["action"], own["resource_id"], own["actor"]) == (action, order["id"], actor)
        assert own["before"] is not None
        assert own["after"] is not None
        assert own["before"] != own["after"]
        assert all(e["resource_id"] and e["actor"] == actor for e in written), written
        if child is not None:
            children = [e for e in written if e["action"] == child]
            assert len(children) == 1, (child, written)
            assert children[0]["after"]["order_id"] == order["id"]
    assert entries_of(client, org, cancelled)[0]["after"]["status"] == "open"

    # a return received later, and closing: named too
    requested = client.post(f"{url}/returns", headers=packer, json={
        "lines": [{"line_id": line, "quantity": 1}], "received": False})
    [own] = [e for e in entries_of(client, org, requested) if e["resource_type"] == "order"]
    assert own["action"] == "order.returned"
    return_id = requested.json()["returns"][-1]["id"]
    received = client.post(f"{url}/returns/{return_id}/receive", headers=packer, json={})
    written = entries_of(client, org, received)
    assert {e["action"] for e in written} == {"order.return_received", "return.updated"}
    [back] = [e for e in written if e["resource_type"] == "return"]
    assert (back["resource_id"], back["before"]["status"], back["after"]["status"]) == (
        return_id, "requested", "received")


def test_a_plain_order_edit_is_still_order_updated(client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])
    edited = client.patch(f"/api/v1/orders/{order['id']}", headers=org.headers,
                          json={"note": "gift wrap"})
    [entry] = entries_of(client, org, edited)
    assert entry["action"] == "order.updated"
    assert entry["after"]["note"] == "gift wrap"


def test_a_channel_location_change_is_recorded_with_before_and_after(
    client: TestClient, org: Org
) -> None:
    first, second = make_location(client, org), make_location(client, org)
    manager, actor = signed_in(client, org, "manager")
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "Web", "kind": "web", "locations": [first["code"]]}).json()
    etag = client.get(f"/api/v1/channels/{channel['id']}", headers=org.headers
                      ).headers["ETag"]
    moved = client.patch(f"/api/v1/channels/{channel['id']}", headers={
        **manager, "If-Match": etag}, json={"locations": [second["code"], first["code"]]})
    [entry] = entries_of(client, org, moved)
    assert (entry["action"], entry["resource_type"], entry["resource_id"], entry["actor"]) == (
        "sales_channel.updated", "sales_channel", channel["id"], actor)
    assert entry["before"]["locations"] == [first["id"]]
    assert entry["after"]["locations"] == [second["id"], first["id"]]
    # the channel changed, so its ETag did: the old one no longer passes
    assert moved.headers["ETag"] != etag
    stale = client.patch(f"/api/v1/channels/{channel['id']}", headers={
        **org.headers, "If-Match": etag}, json={"locations": [first["code"]]})
    assert stale.status_code == 412
    renamed = client.patch(f"/api/v1/channels/{channel['id']}", headers=org.headers,
                           json={"name": "Web store"})
    [entry] = entries_of(client, org, renamed)
    assert (entry["before"]["name"], entry["after"]["name"]) == ("Web", "Web store")
    assert "locations" not in entry["after"]


def test_a_safety_stock_change_is_recorded_with_before_and_after(
    client: TestClient, org: Org
) -> None:
    [sku] = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    worker, actor = signed_in(client, org, "inventory")
    changed = client.put("/api/v1/inventory/levels", headers=worker, json={
        "sku": sku, "location": place["code"], "safety_stock": 2, "reorder_point": 1})
    [entry] = entries_of(client, org, changed)
    variant = changed.json()["variant_id"]
    assert (entry["action"], entry["resource_type"], entry["resource_id"], entry["actor"]) == (
        "stock_level.updated", "stock_level", f"{variant}:{place['id']}", actor)
    assert entry["before"] == {"sku": sku, "variant_id": variant, "location_id": place["id"],
                               "safety_stock": 0, "reorder_point": None}
    assert entry["after"] == {**entry["before"], "safety_stock": 2, "reorder_point": 1}
    again = client.put("/api/v1/inventory/levels", headers=worker, json={
        "sku": sku, "location": place["code"], "safety_stock": 2})
    assert entries_of(client, org, again) == []  # nothing changed, nothing recorded


def test_channel_buffers_are_identified_by_channel_and_variant(
    client: TestClient, org: Org
) -> None:
    [sku] = make_variants(client, org)
    channel = client.post("/api/v1/channels", headers=org.headers,
                          json={"name": "Market", "kind": "ebay"}).json()
    url = f"/api/v1/channels/{channel['id']}/buffers"
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]["id"]
    expected = f"{channel['id']}:{variant}"
    for buffer, action in ((2, "created"), (5, "updated"), (None, "deleted")):
        response = client.put(url, headers=org.headers,
                              json={"buffers": [{"sku": sku, "buffer": buffer}]})
        [entry] = entries_of(client, org, response)
        assert (entry["action"], entry["resource_id"]) == (f"channel_buffer.{action}",
                                                           expected)
    found = client.get("/api/v1/audit-log", headers=org.headers,
                       params={"resource_id": expected}).json()["data"]
    assert [e["action"] for e in found] == ["channel_buffer.deleted", "channel_buffer.updated",
                                            "channel_buffer.created"]


CSV = ("handle,title,product_type,status,sku,price\n"
       "{handle},Sleeves {tag},accessory,active,{tag}-1,2.00\n")


def test_an_api_import_is_recorded_as_whoever_uploaded_it(
    client: TestClient, org: Org, db: Database
) -> None:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    member, member_actor = signed_in(client, org, "inventory")
    robot, robot_actor = api_key(client, org, "feed", {"catalog:read", "catalog:write"})
    for headers, actor in ((member, member_actor), (robot, robot_actor)):
        tag = f"IMP{new_id()[-8:]}"
        upload = client.post("/api/v1/imports", headers=headers, files={
            "file": ("items.csv", CSV.format(tag=tag, handle=tag.lower()).encode(),
                     "text/csv")})
        assert upload.status_code == 202, upload.text
        job = upload.json()["id"]
        for _ in range(50):  # what the worker does, with no one signed in
            run_imports(db)
            status = client.get(f"/api/v1/imports/{job}", headers=org.headers).json()["status"]
            if status not in ("queued", "running"):
                break
        assert status == "succeeded"
        [entry] = client.get("/api/v1/audit-log", headers=org.headers, params={
            "resource_id": job, "action": "catalog.import"}).json()["data"]
        assert entry["actor"] == actor
        assert entry["after"]["created"] == 1
