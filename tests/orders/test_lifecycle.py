"""After ingestion: fulfillments, cancellation, payments, refunds, returns, and the state
machines that refuse illegal moves with a 409 that changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.conftest import Org
from tests.inventory.helpers import make_location, receive
from tests.orders.helpers import on_hand, place_order, stocked
from tests.orders.test_orders import events

ORDERS = "/api/v1/orders"


def act(client: TestClient, org: Org, order: dict[str, Any], action: str,
        body: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
    response = client.post(f"{ORDERS}/{order['id']}/{action}", headers=org.headers, json=body)
    assert response.status_code == expect, response.text
    return dict(response.json())


def get(client: TestClient, org: Org, order: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(f"{ORDERS}/{order['id']}", headers=org.headers).json())


def refused(client: TestClient, org: Org, order: dict[str, Any], action: str,
            body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A 409 problem, and the order exactly as it was."""
    before = get(client, org, order)
    problem = act(client, org, order, action, body, expect=409)
    assert problem["code"] == "conflict"
    assert get(client, org, order) == before
    return problem


def test_partial_fulfillments_carry_carrier_and_tracking_and_never_pass_the_ordered(
        client: TestClient, org: Org, db: Database) -> None:
    skus, _ = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[0], 3), (skus[1], 1)])
    first, second = (ln["id"] for ln in order["lines"])
    one = act(client, org, order, "fulfillments", {
        "lines": [{"line_id": first, "quantity": 2}], "carrier": "UPS",
        "tracking_number": "1Z999"}, expect=201)
    assert one["fulfillment_status"] == "partial"
    assert (one["fulfillments"][0]["carrier"], one["fulfillments"][0]["tracking_number"]) == \
        ("UPS", "1Z999")
    assert one["fulfillments"][0]["lines"] == [{"line_id": first, "quantity": 2}]
    problem = refused(client, org, order, "fulfillments",
                      {"lines": [{"line_id": first, "quantity": 2}]})
    assert problem["errors"] == [{"field": "lines.0.quantity",
                                  "message": "2 asked, 1 left to fulfil"}]
    rest = act(client, org, order, "fulfillments", {}, expect=201)
    assert rest["fulfillment_status"] == "fulfilled"
    assert [(ln["fulfilled"]) for ln in rest["lines"]] == [3, 1]
    refused(client, org, order, "fulfillments", {})
    kinds = [t for t, _ in events(db, org, order["id"])]
    assert kinds.count("order.fulfilled") == 1
    assert act(client, org, order, "fulfillments",
               {"lines": [{"line_id": "NOPE", "quantity": 1}]}, expect=422)["errors"][0][
        "field"] == "lines.0.line_id"
    assert second


def test_a_fulfillment_ships_from_where_the_units_were_taken(client: TestClient,
                                                             org: Org) -> None:
    skus, first = stocked(client, org, [1])
    second = make_location(client, org)
    receive(client, org, skus[0], second["code"], 5)
    order = place_order(client, org, [(skus[0], 3)])
    taken = {a["location_id"]: a["quantity"] for a in order["lines"][0]["allocations"]}
    assert sum(taken.values()) == 3
    wrong = next(loc for loc in (first, second) if taken.get(loc["id"], 0) < 3)
    problem = refused(client, org, order, "fulfillments",
                      {"location": wrong["code"],
                       "lines": [{"line_id": order["lines"][0]["id"], "quantity": 3}]})
    assert "at that location" in problem["errors"][0]["message"]
    done = act(client, org, order, "fulfillments", {}, expect=201)
    assert {f["location_id"] for f in done["fulfillments"]} == set(taken)
    assert act(client, org, order, "fulfillments", {"location": "NOWHERE"},
               expect=422)["errors"][0]["field"] == "location"


def test_cancelling_restocks_unshipped_units_where_they_were_taken(
        client: TestClient, org: Org, db: Database) -> None:
    skus, place = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 3)], payments=[{"method": "card"}])
    line = order["lines"][0]["id"]
    act(client, org, order, "fulfillments", {"lines": [{"line_id": line, "quantity": 1}]},
        expect=201)
    assert on_hand(client, org, skus[0], place) == 2
    done = act(client, org, order, "cancel", {"reason": "customer"})
    assert (done["status"], done["cancel_reason"]) == ("cancelled", "customer")
    assert (done["lines"][0]["cancelled"], done["lines"][0]["fulfilled"]) == (2, 1)
    assert on_hand(client, org, skus[0], place) == 4
    assert "order.cancelled" in [t for t, _ in events(db, org, order["id"])]
    # a cancelled order takes nothing more: every action is a 409
    refused(client, org, order, "cancel")
    refused(client, org, order, "fulfillments", {})
    refused(client, org, order, "reopen")
    refused(client, org, order, "close")
    refused(client, org, order, "payments", {"method": "cash"})
    refused(client, org, order, "allocate")


def test_cancelling_without_restock_leaves_stock_as_it_is(client: TestClient,
                                                          org: Org) -> None:
    skus, place = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)])
    done = act(client, org, order, "cancel", {"restock": False})
    assert done["lines"][0]["cancelled"] == 2
    assert on_hand(client, org, skus[0], place) == 3


def test_cancelling_some_lines_keeps_the_order_open_and_limits_to_what_is_unshipped(
        client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 3)])
    line = order["lines"][0]["id"]
    act(client, org, order, "fulfillments", {"lines": [{"line_id": line, "quantity": 2}]},
        expect=201)
    problem = refused(client, org, order, "cancel",
                      {"lines": [{"line_id": line, "quantity": 2}]})
    assert problem["errors"][0]["message"] == "2 asked, 1 not yet shipped"
    done = act(client, org, order, "cancel", {"lines": [{"line_id": line, "quantity": 1}]})
    assert (done["status"], done["fulfillment_status"]) == ("open", "fulfilled")
    assert on_hand(client, org, skus[0], place) == 3


def test_close_and_reopen_follow_the_status_table(client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])
    refused(client, org, order, "reopen")
    assert act(client, org, order, "close")["status"] == "closed"
    problem = refused(client, org, order, "cancel")
    assert (problem["machine"], problem["from"], problem["to"]) == \
        ("status", "closed", "cancelled")
    assert act(client, org, order, "reopen")["status"] == "open"


def test_payments_authorize_capture_and_void_along_the_financial_table(
        client: TestClient, org: Org, db: Database) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)])  # 20.00
    assert order["financial_status"] == "pending"
    authorized = act(client, org, order, "payments",
                     {"method": "card", "status": "authorized"}, expect=201)
    assert authorized["financial_status"] == "authorized"
    payment = authorized["payments"][0]["id"]
    refused(client, org, order, "payments", {"method": "cash", "amount": "1.00"})
    refused(client, org, order, "refunds", {"amount": "1.00"})  # nothing paid yet
    paid = act(client, org, order, f"payments/{payment}/capture")
    assert (paid["financial_status"], paid["paid_total"]) == ("paid", "20.00")
    refused(client, org, order, f"payments/{payment}/void")
    refused(client, org, order, f"payments/{payment}/capture")
    assert [t for t, _ in events(db, org, order["id"])].count("order.paid") == 1
    assert act(client, org, order, "payments/NOPE/capture", expect=404)["code"] == "not_found"

    other = place_order(client, org, [(skus[0], 1)],
                        payments=[{"method": "card", "status": "authorized"}])
    voided = act(client, org, other, f"payments/{other['payments'][0]['id']}/void")
    assert voided["financial_status"] == "voided"
    problem = refused(client, org, other, "payments", {"method": "cash"})
    assert (problem["machine"], problem["from"], problem["to"]) == \
        ("financial_status", "voided", "paid")


def test_refunds_by_amount_and_by_lines_never_pass_what_was_paid(
        client: TestClient, org: Org, db: Database) -> None:
    skus, _ = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[0], 3), (skus[1], 1)], price="3.33",
                        payments=[{"method": "card", "amount": "10.00"},
                                  {"method": "gift_card", "amount": "3.32"}])
    assert order["financial_status"] == "paid"
    first = order["lines"][0]["id"]
    by_lines = act(client, org, order, "refunds",
                   {"lines": [{"line_id": first, "quantity": 2}], "reason": "damaged"},
                   expect=201)
    # 2 of 3 units of a 9.99 line: 6.66; taken from the newest payment first
    refund = by_lines["refunds"][0]
    assert (refund["amount"], refund["reason"]) == ("6.66", "damaged")
    assert refund["payments"] == [
        {"payment_id": order["payments"][1]["id"], "amount": "3.32"},
        {"payment_id": order["payments"][0]["id"], "amount": "3.34"}]
    assert by_lines["financial_status"] == "partially_refunded"
    problem = refused(client, org, order, "refunds", {"amount": "6.67"})
    assert problem["refundable"] == "6.66"
    done = act(client, org, order, "refunds", {"amount": "6.66"}, expect=201)
    assert (done["financial_status"], done["refunded_total"]) == ("refunded", "13.32")
    assert [p["refunded"] for p in done["payments"]] == ["10.00", "3.32"]
    refused(client, org, order, "refunds", {"amount": "0.01"})
    assert [t for t, _ in events(db, org, order["id"])].count("order.refunded") == 2
    bad = act(client, org, order, "refunds", {"amount": "-1"}, expect=422)
    assert bad["errors"][0]["field"] == "amount"


def test_a_refund_against_a_chosen_payment_is_limited_to_that_payment(
        client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)],
                        payments=[{"method": "card", "amount": "15.00"},
                                  {"method": "cash", "amount": "5.00"}])
    cash = order["payments"][1]["id"]
    problem = refused(client, org, order, "refunds", {"amount": "6.00", "payment_id": cash})
    assert problem["errors"][0]["field"] == "payment_id"
    done = act(client, org, order, "refunds", {"amount": "5.00", "payment_id": cash},
               expect=201)
    assert [p["refunded"] for p in done["payments"]] == ["0.00", "5.00"]


def test_returns_are_requested_then_received_and_restock_per_line(
        client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[0], 2), (skus[1], 1)])
    first, second = (ln["id"] for ln in order["lines"])
    refused(client, org, order, "returns", {"lines": [{"line_id": first, "quantity": 1}]})
    act(client, org, order, "fulfillments", {}, expect=201)
    requested = act(client, org, order, "returns", {
        "received": False, "restock": True, "lines": [
            {"line_id": first, "quantity": 2, "reason": "wrong card"},
            {"line_id": second, "quantity": 1, "restock": False, "reason": "damaged"}]},
        expect=201)
    rma = requested["returns"][0]
    assert rma["status"] == "requested"
    assert on_hand(client, org, skus[0], place) == 3
    # requested units count against what can still be returned
    refused(client, org, order, "returns", {"lines": [{"line_id": first, "quantity": 1}]})
    received = act(client, org, order, f"returns/{rma['id']}/receive")
    assert received["returns"][0]["status"] == "received"
    assert [ln["returned"] for ln in received["lines"]] == [2, 1]
    assert received["fulfillment_status"] == "returned"
    assert on_hand(client, org, skus[0], place) == 5
    assert on_hand(client, org, skus[1], place) == 4  # damaged: not restocked
    again = act(client, org, order, f"returns/{rma['id']}/receive")  # harmless
    assert on_hand(client, org, skus[0], place) == 5
    assert again["returns"][0]["status"] == "received"
    assert act(client, org, order, "returns/NOPE/receive", expect=404)["code"] == "not_found"


def test_an_exchange_is_a_return_plus_a_new_order(client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[0], 1)],
                        customer={"email": "swap@example.com"})
    act(client, org, order, "fulfillments", {}, expect=201)
    done = act(client, org, order, "returns", {
        "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}],
        "exchange": [{"sku": skus[1], "quantity": 1, "unit_price": "10.00"}]}, expect=201)
    new_id = done["returns"][0]["exchange_order_id"]
    new = client.get(f"{ORDERS}/{new_id}", headers=org.headers).json()
    assert (new["tags"], new["email"], new["lines"][0]["sku"]) == \
        (["exchange"], "swap@example.com", skus[1])
    assert on_hand(client, org, skus[0], place) == 5
    assert on_hand(client, org, skus[1], place) == 4


def test_an_exchange_line_whose_tax_rate_is_not_a_number_is_422_and_changes_nothing(
        client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[0], 1)])
    act(client, org, order, "fulfillments", {}, expect=201)
    before = get(client, org, order)
    problem = act(client, org, order, "returns", {
        "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}],
        "exchange": [{"sku": skus[1], "quantity": 1, "unit_price": "10.00",
                      "tax_lines": [{"title": "State", "rate": {}}]}]}, expect=422)
    assert [e["field"] for e in problem["errors"]] == ["exchange.0.tax_lines.0.rate"]
    assert get(client, org, order) == before
    assert on_hand(client, org, skus[1], place) == 5


def test_editing_an_order_honours_if_match(client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])
    url = f"{ORDERS}/{order['id']}"
    etag = client.get(url, headers=org.headers).headers["ETag"]
    changed = client.patch(url, headers={**org.headers, "If-Match": etag},
                           json={"note": "gift wrap", "tags": ["vip", "vip", "gift"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["note"], changed.json()["tags"]) == ("gift wrap", ["gift", "vip"])
    stale = client.patch(url, headers={**org.headers, "If-Match": etag}, json={"note": "x"})
    assert stale.status_code == 412
    assert client.get(url, headers=org.headers).json()["note"] == "gift wrap"


def test_financial_edges_voiding_one_authorization_and_refunding_a_part_paid_order(
        client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)], payments=[
        {"method": "card", "status": "authorized", "amount": "12.00"},
        {"method": "card", "status": "authorized", "amount": "8.00"}])
    assert order["financial_status"] == "authorized"
    voided = act(client, org, order, f"payments/{order['payments'][1]['id']}/void")
    assert voided["financial_status"] == "pending"
    captured = act(client, org, order, f"payments/{order['payments'][0]['id']}/capture")
    assert (captured["financial_status"], captured["paid_total"]) == ("pending", "12.00")
    refunded = act(client, org, order, "refunds", {"amount": "2.00"}, expect=201)
    assert refunded["financial_status"] == "partially_refunded"


def test_a_line_is_refunded_by_lines_at_most_once(client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)], payments=[{"method": "card"}])
    line = order["lines"][0]["id"]
    act(client, org, order, "refunds", {"lines": [{"line_id": line, "quantity": 2}]},
        expect=201)
    again = act(client, org, order, "refunds", {"lines": [{"line_id": line, "quantity": 1}]},
                expect=422)
    assert again["errors"][0]["field"] == "lines.0.quantity"
    assert get(client, org, order)["refunded_total"] == "20.00"


def test_returning_the_shipped_part_then_cancelling_the_rest_ends_returned(
        client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)])
    line = order["lines"][0]["id"]
    act(client, org, order, "fulfillments", {"lines": [{"line_id": line, "quantity": 1}]},
        expect=201)
    act(client, org, order, "returns", {"lines": [{"line_id": line, "quantity": 1}]},
        expect=201)
    done = act(client, org, order, "cancel")
    assert (done["status"], done["fulfillment_status"]) == ("cancelled", "returned")


def test_several_rates_inside_one_price_split_the_tax_it_holds(client: TestClient,
                                                               org: Org) -> None:
    skus, _ = stocked(client, org, [1])
    order = client.post(ORDERS, headers=org.headers, json={
        "channel": "manual", "currency": "EUR", "taxes_included": True, "lines": [{
            "sku": skus[0], "quantity": 1, "unit_price": "110.00",
            "tax_lines": [{"title": "A", "rate": "0.05"}, {"title": "B", "rate": "0.05"}]}]})
    assert order.status_code == 201, order.text
    assert [t["amount"] for t in order.json()["lines"][0]["tax_lines"]] == ["5.00", "5.00"]
    assert order.json()["total"] == "110.00"
    empty = client.post(ORDERS, headers=org.headers, json={
        "channel": "manual", "currency": "EUR", "lines": [{
            "sku": skus[0], "quantity": 1, "tax_lines": [{"title": "A"}]}]})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "lines.0.tax_lines.0"


def _archive(client: TestClient, org: Org, sku: str) -> None:
    variant = client.get("/api/v1/variants", headers=org.headers,
                         params={"sku": sku}).json()["data"][0]
    archived = client.post(f"/api/v1/variants/{variant['id']}/archive", headers=org.headers)
    assert archived.status_code == 200, archived.text


def test_an_archived_variant_is_refused_to_new_orders_but_its_orders_carry_on(
        client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [5, 5])
    order = place_order(client, org, [(skus[1], 2)], payments=[{"method": "cash"}])
    _archive(client, org, skus[1])
    made = client.post(ORDERS, headers=org.headers, json={
        "channel": "manual", "currency": "USD",
        "lines": [{"sku": skus[0], "quantity": 1}, {"sku": skus[1], "quantity": 1}]})
    assert made.status_code == 422, made.text
    assert made.json()["errors"] == [{"field": "lines.1.sku", "message": (
        f"no product for sale with SKU {skus[1]!r} (the variant is archived)")}]
    assert on_hand(client, org, skus[0], place) == 5
    # sold on a channel already: recorded as it happened
    recorded = place_order(client, org, [(skus[1], 1)], external_id=f"EXT-{order['id']}")
    assert recorded["lines"][0]["sku"] == skus[1]
    line = order["lines"][0]["id"]
    assert act(client, org, order, "fulfillments", {}, expect=201)[
        "fulfillment_status"] == "fulfilled"
    returned = act(client, org, order, "returns", {
        "received": True, "restock": True, "lines": [{"line_id": line, "quantity": 1}]},
        expect=201)
    assert returned["lines"][0]["returned"] == 1
    refunded = act(client, org, order, "refunds",
                   {"lines": [{"line_id": line, "quantity": 1}]}, expect=201)
    assert refunded["refunds"][0]["amount"] == "10.00"
    assert on_hand(client, org, skus[1], place) == 5 - 2 - 1 + 1
