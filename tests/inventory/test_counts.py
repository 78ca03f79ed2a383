"""Cycle counts: sheet of expected on hand, counted quantities, variances applied once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive
from tests.inventory.test_transfers import assert_consistent, ledger

COUNTS = "/api/v1/inventory/counts"


def sheet(client: TestClient, org: Org, location: str, **body: Any) -> dict[str, Any]:
    response = client.post(COUNTS, headers=org.headers, json={"location": location, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def record(client: TestClient, org: Org, count_id: str,
           lines: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.put(f"{COUNTS}/{count_id}/lines", headers=org.headers,
                          json={"lines": lines})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_sheet_snapshots_on_hand_of_every_sku_at_the_location(
        client: TestClient, org: Org) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)["code"]
    receive(client, org, a, place, 7)
    receive(client, org, b, place, 3)
    count = sheet(client, org, place)
    assert count["status"] == "open"
    assert sorted((x["sku"], x["expected"], x["counted"], x["variance"])
                  for x in count["lines"]) == [(a, 7, None, None), (b, 3, None, None)]
    named = sheet(client, org, place, skus=[b])
    assert [(x["sku"], x["expected"]) for x in named["lines"]] == [(b, 3)]


def test_apply_moves_by_variance_so_a_sale_during_the_count_is_kept(
        client: TestClient, org: Org, db: Database) -> None:
    """Sheet says 10, shelf has 8 (2 lost): a sale of 3 meanwhile must still be counted out,
    so the level ends at 10 - 3 - 2 = 5, not at the counted 8."""
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)["code"]
    receive(client, org, a, place, 10)
    receive(client, org, b, place, 4)
    count = sheet(client, org, place)
    sale = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": a, "location": place, "delta": -3, "reason": "sale"}]})
    assert sale.status_code == 201, sale.text
    counted = record(client, org, count["id"], [{"sku": a, "counted": 8},
                                                {"sku": b, "counted": 6}])
    assert {x["sku"]: x["variance"] for x in counted["lines"]} == {a: -2, b: 2}
    applied = client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers,
                          json={"reason": "damage", "note": "shelf check"})
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied"
    assert applied.json()["applied_at"]
    assert level(client, org, a, place)["on_hand"] == 5
    assert level(client, org, b, place)["on_hand"] == 6
    rows = ledger(client, org, count["id"])
    assert sorted((r["delta_on_hand"], r["reason"], r["note"]) for r in rows) == [
        (-2, "damage", "shelf check"), (2, "damage", "shelf check")]
    assert_consistent(db, org)


def test_applying_twice_is_refused(client: TestClient, org: Org, db: Database) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)["code"]
    receive(client, org, sku, place, 5)
    count = sheet(client, org, place)
    record(client, org, count["id"], [{"sku": sku, "counted": 4}])
    assert client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers).status_code == 200
    again = client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers)
    assert again.status_code == 409, again.text
    late = client.put(f"{COUNTS}/{count['id']}/lines", headers=org.headers,
                      json={"lines": [{"sku": sku, "counted": 1}]})
    assert late.status_code == 409
    assert level(client, org, sku, place)["on_hand"] == 4
    assert len(ledger(client, org, count["id"])) == 1
    assert_consistent(db, org)


def test_a_sku_not_on_the_sheet_is_added_with_its_on_hand_as_expected(
        client: TestClient, org: Org, db: Database) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)["code"]
    receive(client, org, a, place, 2)
    count = sheet(client, org, place, skus=[a])
    counted = record(client, org, count["id"], [{"sku": b, "counted": 3}])
    assert {x["sku"]: (x["expected"], x["variance"]) for x in counted["lines"]} == {
        a: (2, None), b: (0, 3)}
    applied = client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers)
    assert applied.status_code == 200, applied.text
    assert level(client, org, b, place)["on_hand"] == 3
    assert level(client, org, a, place)["on_hand"] == 2  # not counted: untouched
    assert ledger(client, org, count["id"])[0]["reason"] == "count"
    assert_consistent(db, org)


def test_apply_below_reserved_is_refused_and_changes_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    a, b = make_variants(client, org, 2)
    place = make_location(client, org)["code"]
    receive(client, org, a, place, 5)
    receive(client, org, b, place, 5)
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"order-{new_id()}", "lines": [{"sku": a, "quantity": 4,
                                                    "location": place}]})
    assert held.status_code == 201, held.text
    count = sheet(client, org, place)
    record(client, org, count["id"], [{"sku": a, "counted": 2}, {"sku": b, "counted": 9}])
    refused = client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "insufficient_stock"
    assert [e["sku"] for e in refused.json()["errors"]] == [a]
    assert level(client, org, a, place)["on_hand"] == 5
    assert level(client, org, b, place)["on_hand"] == 5
    got = client.get(f"{COUNTS}/{count['id']}", headers=org.headers).json()
    assert got["status"] == "open"
    assert ledger(client, org, count["id"]) == []
    assert_consistent(db, org)


def test_cancelled_count_cannot_be_applied(client: TestClient, org: Org) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)["code"]
    receive(client, org, sku, place, 5)
    count = sheet(client, org, place)
    record(client, org, count["id"], [{"sku": sku, "counted": 1}])
    cancelled = client.post(f"{COUNTS}/{count['id']}/cancel", headers=org.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers).status_code == 409
    assert level(client, org, sku, place)["on_hand"] == 5
    listed = client.get(COUNTS, headers=org.headers, params={"status": "cancelled"}).json()
    assert [c["id"] for c in listed["data"]] == [count["id"]]


def test_bad_input_is_422_naming_the_field_and_other_orgs_counts_are_404(
        client: TestClient, org: Org, other_org: Org) -> None:
    sku, = make_variants(client, org)
    place = make_location(client, org)["code"]
    nowhere = client.post(COUNTS, headers=org.headers, json={"location": "NOWHERE"})
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0]["field"] == "location"
    unknown = client.post(COUNTS, headers=org.headers,
                          json={"location": place, "skus": [sku, "NO-SUCH-SKU"]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "skus.1"
    count = sheet(client, org, place, skus=[sku])
    negative = client.put(f"{COUNTS}/{count['id']}/lines", headers=org.headers,
                          json={"lines": [{"sku": sku, "counted": -1}]})
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "lines.0.counted"
    reason = client.post(f"{COUNTS}/{count['id']}/apply", headers=org.headers,
                         json={"reason": "sale"})
    assert reason.status_code == 422
    assert reason.json()["errors"][0]["field"] == "reason"
    assert client.get(f"{COUNTS}/{count['id']}", headers=other_org.headers).status_code == 404
    assert client.post(f"{COUNTS}/{count['id']}/apply",
                       headers=other_org.headers).status_code == 404
