"""Transfers: stock leaves the source at once, is in transit, lands as it is received."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.inventory import stock
from tests.conftest import LiveServer, Org
from tests.inventory.helpers import level, make_location, make_variants, receive

TRANSFERS = "/api/v1/inventory/transfers"


def ship(client: TestClient, org: Org, source: str, target: str,
         lines: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(TRANSFERS, headers=org.headers, json={
        "from_location": source, "to_location": target, "lines": lines})
    assert response.status_code == 201, response.text
    return dict(response.json())


def ledger(client: TestClient, org: Org, reference: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/inventory/ledger", headers=org.headers,
                          params={"reference": reference})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def assert_consistent(db: Database, org: Org) -> None:
    """Levels must equal the ledger replayed: nothing moved stock behind the ledger's back."""
    with db.session(tenant=org.id) as session:
        assert stock.verify(session) == []


def setup(client: TestClient, org: Org, units: int = 10,
          skus: int = 1) -> tuple[list[str], str, str]:
    made = make_variants(client, org, skus)
    source, target = make_location(client, org)["code"], make_location(client, org)["code"]
    for sku in made:
        receive(client, org, sku, source, units)
    return made, source, target


def test_shipping_takes_stock_from_the_source_at_once_and_it_is_in_transit(
        client: TestClient, org: Org, db: Database) -> None:
    (sku,), source, target = setup(client, org)
    transfer = ship(client, org, source, target, [{"sku": sku, "quantity": 4}])
    assert transfer["status"] == "in_transit"
    assert transfer["lines"] == [{"sku": sku, "variant_id": transfer["lines"][0]["variant_id"],
                                  "quantity": 4, "received": 0, "in_transit": 4}]
    assert level(client, org, sku, source)["on_hand"] == 6
    assert level(client, org, sku, target)["on_hand"] == 0
    rows = ledger(client, org, transfer["id"])
    assert [(r["delta_on_hand"], r["reason"]) for r in rows] == [(-4, "transfer")]
    assert_consistent(db, org)


def test_partial_then_full_receipt_lands_units_and_updates_in_transit(
        client: TestClient, org: Org, db: Database) -> None:
    (a, b), source, target = setup(client, org, skus=2)
    transfer = ship(client, org, source, target,
                    [{"sku": a, "quantity": 5}, {"sku": b, "quantity": 2}])
    url = f"{TRANSFERS}/{transfer['id']}"
    part = client.post(f"{url}/receive", headers=org.headers,
                       json={"lines": [{"sku": a, "quantity": 3}]})
    assert part.status_code == 200, part.text
    assert part.json()["status"] == "partially_received"
    assert [(x["received"], x["in_transit"]) for x in part.json()["lines"]] == [(3, 2), (0, 2)]
    assert level(client, org, a, target)["on_hand"] == 3
    assert level(client, org, a, source)["on_hand"] == 5
    rest = client.post(f"{url}/receive", headers=org.headers)  # no body: all outstanding
    assert rest.status_code == 200, rest.text
    assert rest.json()["status"] == "received"
    assert [(x["received"], x["in_transit"]) for x in rest.json()["lines"]] == [(5, 0), (2, 0)]
    assert level(client, org, a, target)["on_hand"] == 5
    assert level(client, org, b, target)["on_hand"] == 2
    rows = ledger(client, org, transfer["id"])
    assert sorted(r["delta_on_hand"] for r in rows) == [-5, -2, 2, 2, 3]
    assert {r["reason"] for r in rows} == {"transfer"}
    again = client.post(f"{url}/receive", headers=org.headers)
    assert again.status_code == 409, again.text
    assert_consistent(db, org)


def test_receiving_more_than_is_in_transit_is_refused_naming_the_line(
        client: TestClient, org: Org, db: Database) -> None:
    (sku,), source, target = setup(client, org)
    transfer = ship(client, org, source, target, [{"sku": sku, "quantity": 2}])
    url = f"{TRANSFERS}/{transfer['id']}/receive"
    over = client.post(url, headers=org.headers, json={"lines": [{"sku": sku, "quantity": 3}]})
    assert over.status_code == 422, over.text
    assert over.json()["errors"][0]["field"] == "lines.0.quantity"
    stranger, = make_variants(client, org)
    unknown = client.post(url, headers=org.headers,
                          json={"lines": [{"sku": stranger, "quantity": 1}]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "lines.0.sku"
    assert level(client, org, sku, target)["on_hand"] == 0
    got = client.get(f"{TRANSFERS}/{transfer['id']}", headers=org.headers).json()
    assert got["lines"][0]["received"] == 0
    assert got["status"] == "in_transit"
    assert_consistent(db, org)


def test_insufficient_stock_refuses_the_whole_transfer_and_changes_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    (a, b), source, target = setup(client, org, units=3, skus=2)
    response = client.post(TRANSFERS, headers=org.headers, json={
        "from_location": source, "to_location": target,
        "lines": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 4}]})
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "insufficient_stock"
    assert [e["field"] for e in response.json()["errors"]] == ["lines.1.quantity"]
    assert level(client, org, a, source)["on_hand"] == 3
    assert level(client, org, b, source)["on_hand"] == 3
    listed = client.get(TRANSFERS, headers=org.headers).json()["data"]
    assert listed == []
    assert_consistent(db, org)


def test_bad_input_is_422_naming_the_field(client: TestClient, org: Org) -> None:
    (sku,), source, target = setup(client, org)
    same = client.post(TRANSFERS, headers=org.headers, json={
        "from_location": source, "to_location": source, "lines": [{"sku": sku, "quantity": 1}]})
    assert same.status_code == 422
    assert same.json()["errors"][0]["field"] == "to_location"
    nowhere = client.post(TRANSFERS, headers=org.headers, json={
        "from_location": source, "to_location": "NOWHERE",
        "lines": [{"sku": sku, "quantity": 1}]})
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0]["field"] == "to_location"
    zero = client.post(TRANSFERS, headers=org.headers, json={
        "from_location": source, "to_location": target, "lines": [{"sku": sku, "quantity": 0}]})
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["field"] == "lines.0.quantity"
    assert level(client, org, sku, source)["on_hand"] == 10


def test_cancel_returns_stock_to_the_source_only_before_any_receipt(
        client: TestClient, org: Org, db: Database) -> None:
    (sku,), source, target = setup(client, org)
    transfer = ship(client, org, source, target, [{"sku": sku, "quantity": 4}])
    cancelled = client.post(f"{TRANSFERS}/{transfer['id']}/cancel", headers=org.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["lines"][0]["in_transit"] == 0
    assert level(client, org, sku, source)["on_hand"] == 10
    rows = ledger(client, org, transfer["id"])
    assert sorted((r["delta_on_hand"], r["note"]) for r in rows) == [
        (-4, None), (4, "cancelled")]
    assert client.post(f"{TRANSFERS}/{transfer['id']}/receive",
                       headers=org.headers).status_code == 409

    other = ship(client, org, source, target, [{"sku": sku, "quantity": 4}])
    client.post(f"{TRANSFERS}/{other['id']}/receive", headers=org.headers,
                json={"lines": [{"sku": sku, "quantity": 1}]})
    refused = client.post(f"{TRANSFERS}/{other['id']}/cancel", headers=org.headers)
    assert refused.status_code == 409, refused.text
    assert level(client, org, sku, source)["on_hand"] == 6
    assert level(client, org, sku, target)["on_hand"] == 1
    assert_consistent(db, org)


def test_list_filters_by_status_and_pages(client: TestClient, org: Org) -> None:
    (sku,), source, target = setup(client, org)
    first = ship(client, org, source, target, [{"sku": sku, "quantity": 1}])
    second = ship(client, org, source, target, [{"sku": sku, "quantity": 1}])
    client.post(f"{TRANSFERS}/{first['id']}/receive", headers=org.headers)
    transit = client.get(TRANSFERS, headers=org.headers, params={"status": "in_transit"})
    assert [t["id"] for t in transit.json()["data"]] == [second["id"]]
    page = client.get(TRANSFERS, headers=org.headers, params={"limit": 1}).json()
    assert len(page["data"]) == 1
    assert page["next_cursor"]
    rest = client.get(TRANSFERS, headers=org.headers,
                      params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert {page["data"][0]["id"], rest["data"][0]["id"]} == {first["id"], second["id"]}


def test_another_organizations_transfer_is_not_found(
        client: TestClient, org: Org, other_org: Org) -> None:
    (sku,), source, target = setup(client, org)
    transfer = ship(client, org, source, target, [{"sku": sku, "quantity": 1}])
    theirs = client.post(f"{TRANSFERS}/{transfer['id']}/receive", headers=other_org.headers)
    assert theirs.status_code == 404
    assert level(client, org, sku, target)["on_hand"] == 0


def test_concurrent_receipts_never_receive_more_than_was_sent(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    """Two clerks scan the same box at once: only one receipt may land the units."""
    (sku,), source, target = setup(client, org, units=6)
    transfer = ship(client, org, source, target, [{"sku": sku, "quantity": 6}])
    url = f"{live_server.url}{TRANSFERS}/{transfer['id']}/receive"
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def clerk() -> None:
        barrier.wait()
        with httpx.Client(timeout=30) as http:
            codes.append(http.post(url, headers=org.headers,
                                   json={"lines": [{"sku": sku, "quantity": 6}]}).status_code)

    threads = [threading.Thread(target=clerk) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count(200) == 1, codes  # the others see nothing left in transit
    assert set(codes) - {200} <= {409, 422}, codes
    got = client.get(f"{TRANSFERS}/{transfer['id']}", headers=org.headers).json()
    assert got["lines"][0]["received"] == 6
    assert got["status"] == "received"
    assert level(client, org, sku, target)["on_hand"] == 6
    assert_consistent(db, org)
