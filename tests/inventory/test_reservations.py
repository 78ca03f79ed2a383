"""Reservations: all lines or none, where units come from, commit/release, idempotency, expiry."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.inventory.reservations import release_all_expired
from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive
from tests.inventory.test_levels import assert_consistent, fields, ledger

RESERVE = "/api/v1/inventory/reservations"


def reserve(client: TestClient, org: Org, lines: list[dict[str, Any]], **body: Any) -> Any:
    return client.post(RESERVE, headers=org.headers,
                       json={"reference": body.pop("reference", f"ref-{new_id()}"),
                             "lines": lines, **body})


def held(response: Any) -> list[tuple[str, str, int]]:
    return sorted((ln["sku"], ln["location_id"], ln["quantity"])
                  for ln in response.json()["lines"])


def channel(client: TestClient, org: Org, locations: list[str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"Channel {new_id()}", "kind": "web", "locations": locations, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_multi_line_reservation_with_one_short_line_holds_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    a, b, c = make_variants(client, org, 3)
    place = make_location(client, org)
    receive(client, org, a, place["code"], 5)
    receive(client, org, b, place["code"], 1)
    receive(client, org, c, place["code"], 5)
    response = reserve(client, org, [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 2},
                                     {"sku": c, "quantity": 3}])
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "insufficient_stock"
    assert fields(response) == ["lines.1.quantity"]
    assert response.json()["errors"][0]["sku"] == b
    assert response.json()["errors"][0]["available"] == 1
    for sku in (a, b, c):
        assert level(client, org, sku, place["code"])["reserved"] == 0
    assert client.get(RESERVE, headers=org.headers).json()["data"] == []
    assert_consistent(db, org)


def test_reservation_takes_from_the_explicit_location_only(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    shop, depot = make_location(client, org), make_location(client, org)
    receive(client, org, sku, shop["code"], 5)
    receive(client, org, sku, depot["code"], 1)
    response = reserve(client, org, [{"sku": sku, "quantity": 1, "location": depot["code"]}])
    assert response.status_code == 201, response.text
    assert held(response) == [(sku, depot["id"], 1)]
    short = reserve(client, org, [{"sku": sku, "quantity": 1, "location": depot["id"]}])
    assert short.status_code == 409
    assert fields(short) == ["lines.0.quantity"]
    assert level(client, org, sku, shop["code"])["reserved"] == 0
    assert_consistent(db, org)


def test_channel_reservation_takes_from_its_locations_in_priority_order(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    first, second, outside = (make_location(client, org) for _ in range(3))
    for place in (first, second, outside):
        receive(client, org, sku, place["code"], 3)
    web = channel(client, org, [second["code"], first["id"]])
    response = reserve(client, org, [{"sku": sku, "quantity": 2}], channel=web["id"])
    assert response.status_code == 201, response.text
    assert held(response) == [(sku, second["id"], 2)]
    assert response.json()["channel_id"] == web["id"]
    again = reserve(client, org, [{"sku": sku, "quantity": 3}], channel=web["id"])
    assert held(again) == [(sku, first["id"], 3)]  # second has only 1 left: whole from first
    assert level(client, org, sku, outside["code"])["reserved"] == 0
    assert_consistent(db, org)


def test_reservation_is_split_over_locations_when_none_has_enough_alone(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    first, second, third = (make_location(client, org) for _ in range(3))
    receive(client, org, sku, first["code"], 2)
    receive(client, org, sku, second["code"], 2)
    receive(client, org, sku, third["code"], 5)
    web = channel(client, org, [first["code"], second["code"]])
    response = reserve(client, org, [{"sku": sku, "quantity": 3}], channel=web["id"])
    assert response.status_code == 201, response.text
    assert held(response) == sorted([(sku, first["id"], 2), (sku, second["id"], 1)])
    too_many = reserve(client, org, [{"sku": sku, "quantity": 2}], channel=web["id"])
    assert too_many.status_code == 409
    assert too_many.json()["errors"][0]["available"] == 1
    assert_consistent(db, org)


def test_channel_reservation_leaves_the_safety_stock(client: TestClient, org: Org,
                                                     db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    assert client.put("/api/v1/inventory/levels", headers=org.headers, json={
        "sku": sku, "location": place["code"], "safety_stock": 2}).status_code == 200
    web = channel(client, org, [place["code"]])
    over = reserve(client, org, [{"sku": sku, "quantity": 4}], channel=web["id"])
    assert over.status_code == 409, over.text
    assert over.json()["errors"][0]["available"] == 3
    ok = reserve(client, org, [{"sku": sku, "quantity": 3}], channel=web["id"])
    assert ok.status_code == 201, ok.text
    direct = reserve(client, org, [{"sku": sku, "quantity": 2, "location": place["code"]}])
    assert direct.status_code == 201, direct.text  # without a channel, safety stock is usable
    assert level(client, org, sku, place["code"])["available"] == 0
    assert_consistent(db, org)


def test_commit_turns_held_units_into_a_sale(client: TestClient, org: Org,
                                             db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    made = reserve(client, org, [{"sku": sku, "quantity": 2}], reference="order-1001"
                   + new_id())
    assert made.status_code == 201
    assert (level(client, org, sku, place["code"])["reserved"]) == 2
    committed = client.post(f"{RESERVE}/{made.json()['id']}/commit", headers=org.headers)
    assert committed.status_code == 200, committed.text
    assert committed.json()["status"] == "committed"
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reserved"], now["available"]) == (3, 0, 3)
    newest = ledger(client, org, sku)[0]
    assert (newest["reason"], newest["delta_on_hand"], newest["delta_reserved"]) == \
        ("sale", -2, -2)
    assert newest["reference"] == made.json()["reference"]
    twice = client.post(f"{RESERVE}/{made.json()['id']}/commit", headers=org.headers)
    assert twice.status_code == 200
    assert twice.json()["status"] == "committed"
    assert level(client, org, sku, place["code"])["on_hand"] == 3
    late = client.post(f"{RESERVE}/{made.json()['id']}/release", headers=org.headers)
    assert late.status_code == 409, late.text
    assert (late.json()["status"], late.json()["reservation_status"]) == (409, "committed")
    assert level(client, org, sku, place["code"])["on_hand"] == 3
    assert_consistent(db, org)


def test_release_gives_the_units_back_and_blocks_a_later_commit(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    made = reserve(client, org, [{"sku": sku, "quantity": 4}])
    released = client.post(f"{RESERVE}/{made.json()['id']}/release", headers=org.headers)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reserved"]) == (5, 0)
    newest = ledger(client, org, sku)[0]
    assert (newest["reason"], newest["delta_on_hand"], newest["delta_reserved"]) == \
        ("release", 0, -4)
    commit = client.post(f"{RESERVE}/{made.json()['id']}/commit", headers=org.headers)
    assert commit.status_code == 409, commit.text
    problem = commit.json()  # the problem's own status is the HTTP one; the state has its own
    assert (problem["status"], problem["code"], problem["reservation_status"]) == (
        409, "conflict", "released")
    assert level(client, org, sku, place["code"])["on_hand"] == 5
    again = client.post(f"{RESERVE}/{made.json()['id']}/release", headers=org.headers)
    assert again.status_code == 200
    assert level(client, org, sku, place["code"])["reserved"] == 0
    assert_consistent(db, org)


def test_same_reference_and_lines_returns_the_first_reservation_without_a_second_hold(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    reference = f"checkout-{new_id()}"
    first = reserve(client, org, [{"sku": sku, "quantity": 2}], reference=reference)
    assert first.status_code == 201
    second = reserve(client, org, [{"sku": sku, "quantity": 2}], reference=reference)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert level(client, org, sku, place["code"])["reserved"] == 2
    other = reserve(client, org, [{"sku": sku, "quantity": 3}], reference=reference)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_mismatch"
    assert level(client, org, sku, place["code"])["reserved"] == 2
    assert_consistent(db, org)


def test_reservation_of_unknown_sku_or_location_is_422(client: TestClient, org: Org) -> None:
    sku, = make_variants(client, org)
    response = reserve(client, org, [{"sku": "NOPE", "quantity": 1},
                                     {"sku": sku, "quantity": 1, "location": "NOWHERE"}])
    assert response.status_code == 422
    assert sorted(fields(response)) == ["lines.0.sku", "lines.1.location"]


def test_expired_reservation_stops_counting_and_is_released_with_status_expired(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 3)
    made = reserve(client, org, [{"sku": sku, "quantity": 3}], expires_in_seconds=1)
    assert made.status_code == 201, made.text
    assert level(client, org, sku, place["code"])["reserved"] == 3
    time.sleep(1.3)
    now = level(client, org, sku, place["code"])
    assert (now["reserved"], now["available"]) == (0, 3)  # before any worker ran
    got = client.get(f"{RESERVE}/{made.json()['id']}", headers=org.headers)
    assert got.json()["status"] == "expired"
    assert_consistent(db, org)
    assert release_all_expired(db) >= 1
    assert client.get(f"{RESERVE}/{made.json()['id']}",
                      headers=org.headers).json()["status"] == "expired"
    newest = ledger(client, org, sku)[0]
    assert (newest["reason"], newest["delta_reserved"]) == ("release", -3)
    assert level(client, org, sku, place["code"])["reserved"] == 0
    commit = client.post(f"{RESERVE}/{made.json()['id']}/commit", headers=org.headers)
    assert commit.status_code == 409
    assert (commit.json()["status"], commit.json()["reservation_status"]) == (409, "expired")
    assert_consistent(db, org)


def test_new_reservation_can_take_units_held_by_an_expired_one(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 2)
    old = reserve(client, org, [{"sku": sku, "quantity": 2}], expires_in_seconds=1)
    assert old.status_code == 201
    time.sleep(1.3)
    new = reserve(client, org, [{"sku": sku, "quantity": 2}])
    assert new.status_code == 201, new.text
    assert client.get(f"{RESERVE}/{old.json()['id']}",
                      headers=org.headers).json()["status"] == "expired"
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reserved"]) == (2, 2)
    assert [r["reason"] for r in ledger(client, org, sku)][:2] == ["reservation", "release"]
    committed = client.post(f"{RESERVE}/{old.json()['id']}/commit", headers=org.headers)
    assert committed.status_code == 409
    assert_consistent(db, org)
