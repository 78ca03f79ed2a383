"""Locations, levels, adjustments, set (compare-and-set), the ledger, one-of-a-kind items."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.inventory import stock
from tests.conftest import Org, staff_token
from tests.inventory.helpers import level, make_location, make_variants, receive

ADJUST = "/api/v1/inventory/adjustments"
LEVELS = "/api/v1/inventory/levels"
LEDGER = "/api/v1/inventory/ledger"


def assert_consistent(db: Database, org: Org) -> None:
    """Every level is the sum of its ledger rows and the holds of active reservations."""
    session = db.session(tenant=org.id)
    try:
        assert stock.verify(session) == []
    finally:
        session.close()


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors") or []]


def ledger(client: TestClient, org: Org, sku: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(LEDGER, headers=org.headers, params={"sku": sku, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


# -- locations ---------------------------------------------------------------------------------

def test_location_code_is_derived_from_the_name_when_omitted(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/locations", headers=org.headers,
                           json={"name": "Main Street Store", "kind": "store"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["code"]
    assert "main" in body["code"].lower()
    assert " " not in body["code"]
    assert body["kind"] == "store"
    assert response.headers.get("ETag")


def test_duplicate_location_code_is_409(client: TestClient, org: Org) -> None:
    code = f"DUP{new_id()[-6:]}"
    make_location(client, org, code=code)
    again = client.post("/api/v1/locations", headers=org.headers,
                        json={"name": "Other", "code": code})
    assert again.status_code == 409, again.text
    assert "code" in fields(again)


def test_location_kind_outside_the_allowed_set_is_422_naming_kind(
        client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/locations", headers=org.headers,
                           json={"name": "Moon base", "kind": "spaceship"})
    assert response.status_code == 422, response.text
    assert fields(response) == ["kind"]


def test_locations_are_listed_and_fetched_by_id(client: TestClient, org: Org,
                                                 other_org: Org) -> None:
    first, second = make_location(client, org), make_location(client, org, kind="warehouse")
    make_location(client, other_org)
    listed = client.get("/api/v1/locations", headers=org.headers, params={"limit": 250})
    assert listed.status_code == 200
    assert [loc["id"] for loc in listed.json()["data"]] == [first["id"], second["id"]]
    got = client.get(f"/api/v1/locations/{second['id']}", headers=org.headers)
    assert got.status_code == 200
    assert got.json()["kind"] == "warehouse"
    assert got.json()["code"] == second["code"]
    assert client.get(f"/api/v1/locations/{second['id']}",
                      headers=other_org.headers).status_code == 404


def test_location_patch_honours_if_match(client: TestClient, org: Org) -> None:
    place = make_location(client, org)
    path = f"/api/v1/locations/{place['id']}"
    etag = client.get(path, headers=org.headers).headers["ETag"]
    renamed = client.patch(path, headers={**org.headers, "If-Match": etag},
                           json={"name": "Renamed", "pickup": True})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["pickup"] is True
    assert renamed.headers["ETag"] != etag
    stale = client.patch(path, headers={**org.headers, "If-Match": etag}, json={"name": "Late"})
    assert stale.status_code == 412
    assert client.get(path, headers=org.headers).json()["name"] == "Renamed"
    bad = client.patch(path, headers=org.headers, json={"kind": "spaceship"})
    assert bad.status_code == 422
    assert fields(bad) == ["kind"]


# -- adjustments -------------------------------------------------------------------------------

def test_adjustment_batch_with_one_short_line_changes_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)
    receive(client, org, a, place["code"], 5)
    receive(client, org, b, place["code"], 1)
    before_a, before_b = ledger(client, org, a), ledger(client, org, b)
    response = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": a, "location": place["code"], "delta": -2, "reason": "damage"},
        {"sku": b, "location": place["code"], "delta": -3, "reason": "damage"},
        {"sku": a, "location": place["id"], "delta": 4, "reason": "restock"}]})
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "insufficient_stock"
    assert fields(response) == ["lines.1.delta"]
    assert response.json()["errors"][0]["available"] == 1
    assert level(client, org, a, place["code"])["on_hand"] == 5
    assert level(client, org, b, place["code"])["on_hand"] == 1
    assert ledger(client, org, a) == before_a
    assert ledger(client, org, b) == before_b
    assert_consistent(db, org)


def test_adjustment_applies_every_line_together(client: TestClient, org: Org,
                                                db: Database) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)
    receive(client, org, a, place["code"], 5)
    response = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": a, "location": place["code"], "delta": -2, "reason": "damage"},
        {"sku": b, "location": place["code"], "delta": 7, "reason": "restock"}]})
    assert response.status_code == 201, response.text
    by_sku = {lv["sku"]: lv for lv in response.json()["data"]}
    assert by_sku[a]["on_hand"] == 3
    assert by_sku[b]["on_hand"] == 7
    assert_consistent(db, org)


def test_adjustment_naming_unknown_sku_or_location_is_422_on_that_line(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    response = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": sku, "location": place["code"], "delta": 2},
        {"sku": "NO-SUCH-SKU", "location": place["code"], "delta": 1},
        {"sku": sku, "location": "NOWHERE", "delta": 1}]})
    assert response.status_code == 422, response.text
    assert sorted(fields(response)) == ["lines.1.sku", "lines.2.location"]
    assert level(client, org, sku, place["code"])["on_hand"] == 0
    assert ledger(client, org, sku) == []
    assert_consistent(db, org)


def test_adjustment_of_zero_units_is_422(client: TestClient, org: Org) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    response = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": sku, "location": place["code"], "delta": 0}]})
    assert response.status_code == 422
    assert fields(response) == ["lines.0.delta"]


def test_ledger_records_reason_reference_actor_and_note_newest_first(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 10)
    response = client.post(ADJUST, headers=org.headers, json={
        "reference": "damage-report-7",
        "lines": [{"sku": sku, "location": place["code"], "delta": -3, "reason": "damage",
                   "note": "water leak"}]})
    assert response.status_code == 201, response.text
    rows = ledger(client, org, sku)
    assert [(r["delta_on_hand"], r["reason"]) for r in rows] == [(-3, "damage"), (10, "restock")]
    newest = rows[0]
    assert newest["reference"] == "damage-report-7"
    assert newest["note"] == "water leak"
    assert newest["location_id"] == place["id"]
    assert newest["delta_reserved"] == 0
    assert newest["actor"].startswith("staff:")  # who did it, not "system"
    assert rows[0]["id"] > rows[1]["id"]
    by_location = client.get(LEDGER, headers=org.headers, params={"location": place["code"]})
    assert [r["id"] for r in by_location.json()["data"]] == [r["id"] for r in rows]
    assert_consistent(db, org)


def test_levels_are_listed_by_sku_and_by_location(client: TestClient, org: Org) -> None:
    a, b = make_variants(client, org, 2)
    shop, depot = make_location(client, org), make_location(client, org, kind="warehouse")
    receive(client, org, a, shop["code"], 2)
    receive(client, org, a, depot["code"], 3)
    receive(client, org, b, shop["code"], 4)
    by_sku = client.get(LEVELS, headers=org.headers, params={"sku": a})
    assert by_sku.status_code == 200
    assert sorted((lv["location_id"], lv["on_hand"]) for lv in by_sku.json()["data"]) == \
        sorted([(shop["id"], 2), (depot["id"], 3)])
    first = by_sku.json()["data"][0]
    assert {"on_hand", "reserved", "available", "safety_stock"} <= set(first)
    by_location = client.get(LEVELS, headers=org.headers, params={"location": shop["code"]})
    assert sorted((lv["sku"], lv["available"]) for lv in by_location.json()["data"]) == \
        sorted([(a, 2), (b, 4)])


def test_levels_without_sku_or_location_is_422(client: TestClient, org: Org) -> None:
    response = client.get(LEVELS, headers=org.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_fulfillment_staff_cannot_adjust_stock(client: TestClient, org: Org) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    token = staff_token(client, org, "fulfillment")
    response = client.post(ADJUST, headers={"Authorization": f"Bearer {token}"}, json={
        "lines": [{"sku": sku, "location": place["code"], "delta": 5}]})
    assert response.status_code == 403, response.text
    assert level(client, org, sku, place["code"])["on_hand"] == 0
    assert client.get(LEVELS, headers={"Authorization": f"Bearer {token}"},
                      params={"sku": sku}).status_code == 200


# -- set ---------------------------------------------------------------------------------------

def put_level(client: TestClient, org: Org, **body: Any) -> Any:
    return client.put(LEVELS, headers=org.headers, json=body)


def test_setting_on_hand_writes_the_difference_to_the_ledger(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 4)
    response = put_level(client, org, sku=sku, location=place["code"], on_hand=9,
                         reason="count", note="shelf count")
    assert response.status_code == 200, response.text
    assert response.json()["on_hand"] == 9
    assert response.json()["available"] == 9
    newest = ledger(client, org, sku)[0]
    assert (newest["delta_on_hand"], newest["reason"], newest["note"]) == (5, "count",
                                                                           "shelf count")
    down = put_level(client, org, sku=sku, location=place["code"], on_hand=1)
    assert down.status_code == 200
    assert down.json()["on_hand"] == 1
    assert ledger(client, org, sku)[0]["delta_on_hand"] == -8
    assert_consistent(db, org)


def test_setting_on_hand_of_a_new_level_creates_it(client: TestClient, org: Org,
                                                   db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    response = put_level(client, org, sku=sku, location=place["id"], on_hand=3)
    assert response.status_code == 200, response.text
    assert level(client, org, sku, place["code"])["on_hand"] == 3
    assert_consistent(db, org)


def test_compare_and_set_with_stale_expected_on_hand_is_409_and_changes_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 6)
    rows = ledger(client, org, sku)
    stale = put_level(client, org, sku=sku, location=place["code"], on_hand=2,
                      expected_on_hand=5)
    assert stale.status_code == 409, stale.text
    assert stale.json()["code"] == "conflict"
    assert level(client, org, sku, place["code"])["on_hand"] == 6
    assert ledger(client, org, sku) == rows
    fresh = put_level(client, org, sku=sku, location=place["code"], on_hand=2,
                      expected_on_hand=6)
    assert fresh.status_code == 200
    assert fresh.json()["on_hand"] == 2
    assert_consistent(db, org)


def test_setting_on_hand_below_reserved_is_409(client: TestClient, org: Org,
                                               db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 5)
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"r-{new_id()}", "lines": [{"sku": sku, "quantity": 4,
                                                 "location": place["code"]}]})
    assert held.status_code == 201, held.text
    response = put_level(client, org, sku=sku, location=place["code"], on_hand=3)
    assert response.status_code == 409, response.text
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reserved"]) == (5, 4)
    assert put_level(client, org, sku=sku, location=place["code"],
                     on_hand=4).status_code == 200
    assert_consistent(db, org)


def test_safety_stock_and_reorder_settings_are_kept_on_the_level(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 8)
    rows = ledger(client, org, sku)
    response = put_level(client, org, sku=sku, location=place["code"], safety_stock=2,
                         reorder_point=3, reorder_quantity=12)
    assert response.status_code == 200, response.text
    got = level(client, org, sku, place["code"])
    assert (got["on_hand"], got["safety_stock"], got["reorder_point"],
            got["reorder_quantity"]) == (8, 2, 3, 12)
    assert ledger(client, org, sku) == rows  # settings are not movements
    partial = put_level(client, org, sku=sku, location=place["code"], reorder_point=1)
    assert partial.json()["safety_stock"] == 2
    assert partial.json()["reorder_point"] == 1
    bad = put_level(client, org, sku=sku, location=place["code"], safety_stock=-1)
    assert bad.status_code == 422
    assert fields(bad) == ["safety_stock"]
    assert_consistent(db, org)


def test_a_null_safety_stock_is_422_and_a_null_reorder_point_clears_it(
        client: TestClient, org: Org) -> None:
    """A level always has a safety stock: null reached the NOT NULL column and came back as
    a 409 "conflicts with existing data" (found by the fuzz pass)."""
    sku, = make_variants(client, org)
    place = make_location(client, org)
    assert put_level(client, org, sku=sku, location=place["code"], safety_stock=2,
                     reorder_point=3).status_code == 200
    bad = put_level(client, org, sku=sku, location=place["code"], safety_stock=None, on_hand=5)
    assert bad.status_code == 422, bad.text
    assert fields(bad) == ["safety_stock"]
    got = level(client, org, sku, place["code"])
    assert (got["on_hand"], got["safety_stock"], got["reorder_point"]) == (0, 2, 3)
    cleared = put_level(client, org, sku=sku, location=place["code"], reorder_point=None)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["safety_stock"], cleared.json()["reorder_point"]) == (2, None)


# -- one of a kind -----------------------------------------------------------------------------

def test_one_of_a_kind_item_never_exceeds_one_unit_over_all_locations(
        client: TestClient, org: Org, db: Database) -> None:
    card, = make_variants(client, org, product_type="tcg-graded")
    shop, depot = make_location(client, org), make_location(client, org)
    two = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": card, "location": shop["code"], "delta": 2, "reason": "restock"}]})
    assert two.status_code == 409, two.text
    receive(client, org, card, shop["code"], 1)
    elsewhere = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": card, "location": depot["code"], "delta": 1, "reason": "restock"}]})
    assert elsewhere.status_code == 409, elsewhere.text
    by_set = put_level(client, org, sku=card, location=depot["code"], on_hand=1)
    assert by_set.status_code == 409, by_set.text
    assert level(client, org, card, shop["code"])["on_hand"] == 1
    assert level(client, org, card, depot["code"])["on_hand"] == 0
    moved = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": card, "location": shop["code"], "delta": -1, "reason": "adjustment"},
        {"sku": card, "location": depot["code"], "delta": 1, "reason": "adjustment"}]})
    assert moved.status_code == 201, moved.text  # the one unit moved: still one in all
    assert level(client, org, card, depot["code"])["on_hand"] == 1
    assert_consistent(db, org)


def test_adjustment_can_take_units_an_expired_reservation_still_holds(
        client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 3)
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"r-{new_id()}", "expires_in_seconds": 1,
        "lines": [{"sku": sku, "quantity": 3}]})
    assert held.status_code == 201, held.text
    time.sleep(1.3)
    assert level(client, org, sku, place["code"])["available"] == 3
    response = client.post(ADJUST, headers=org.headers, json={"lines": [
        {"sku": sku, "location": place["code"], "delta": -3, "reason": "damage"}]})
    assert response.status_code == 201, response.text
    now = level(client, org, sku, place["code"])
    assert (now["on_hand"], now["reserved"]) == (0, 0)
    assert client.get(f"/api/v1/inventory/reservations/{held.json()['id']}",
                      headers=org.headers).json()["status"] == "expired"
    assert_consistent(db, org)
