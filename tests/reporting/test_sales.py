"""GET /api/v1/reports/sales: days in the organization's zone, channels, products, CSV, bad
input, permissions and tenancy; the dashboard's face function."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi.testclient import TestClient

from mercato import reporting
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import Org, staff_token
from tests.inventory.helpers import receive
from tests.orders.helpers import place_order, stocked

SALES = "/api/v1/reports/sales"


def set_zone(client: TestClient, org: Org, zone: str) -> None:
    response = client.patch("/api/v1/organization", headers=org.headers,
                            json={"time_zone": zone})
    assert response.status_code == 200, response.text


def report(client: TestClient, org: Org, **params: Any) -> dict[str, Any]:
    response = client.get(SALES, headers=org.headers, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def rows(body: dict[str, Any]) -> dict[str, tuple[int, int, str]]:
    return {r["key"]: (r["orders"], r["units"], r["amount"]) for r in body["rows"]}


def test_days_follow_the_organization_time_zone_and_every_day_is_answered(
        client: TestClient, org: Org) -> None:
    set_zone(client, org, "America/New_York")  # UTC-5 in November
    skus, _ = stocked(client, org, [10])
    # 23:30 on the 19th in New York is 04:30 on the 20th in UTC
    place_order(client, org, [(skus[0], 2)], placed_at="2026-11-20T04:30:00Z")
    place_order(client, org, [(skus[0], 1)], placed_at="2026-11-21T15:00:00Z", price="7.25")
    body = report(client, org, **{"from": "2026-11-18", "to": "2026-11-22"})
    assert (body["from"], body["to"], body["group_by"]) == ("2026-11-18", "2026-11-22", "day")
    assert (body["currency"], body["time_zone"]) == ("USD", "America/New_York")
    assert [r["key"] for r in body["rows"]] == [
        "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"]
    assert rows(body) == {"2026-11-18": (0, 0, "0.00"), "2026-11-19": (1, 2, "20.00"),
                          "2026-11-20": (0, 0, "0.00"), "2026-11-21": (1, 1, "7.25"),
                          "2026-11-22": (0, 0, "0.00")}
    assert body["rows"][1]["label"] == "Nov 19, 2026"
    assert body["totals"] == {"key": "total", "label": "Total", "orders": 2, "units": 3,
                              "amount": "27.25"}
    # the range ends at local midnight: the 19th alone holds the late order, the 20th not
    assert rows(report(client, org, **{"from": "2026-11-20", "to": "2026-11-20"})) == {
        "2026-11-20": (0, 0, "0.00")}


def test_by_channel_and_by_product(client: TestClient, org: Org) -> None:
    first, _ = stocked(client, org, [10])
    second, _ = stocked(client, org, [10], price="3.00")
    at = "2026-10-05T12:00:00Z"
    place_order(client, org, [(first[0], 1), (second[0], 2)], channel="ebay", placed_at=at)
    place_order(client, org, [(first[0], 3)], channel="shopify", placed_at=at)
    place_order(client, org, [(second[0], 1)], channel="ebay", placed_at=at, price="3.00")
    window = {"from": "2026-10-05", "to": "2026-10-05"}

    by_channel = report(client, org, group_by="channel", **window)
    assert [(r["key"], r["label"], r["orders"], r["units"], r["amount"])
            for r in by_channel["rows"]] == [("ebay", "ebay", 2, 4, "33.00"),
                                             ("shopify", "shopify", 1, 3, "30.00")]
    assert by_channel["totals"]["amount"] == "63.00"

    by_product = report(client, org, group_by="product", **window)
    assert [(r["orders"], r["units"], r["amount"]) for r in by_product["rows"]] == [
        (2, 4, "40.00"), (2, 3, "23.00")]
    assert all(r["label"].startswith("Item ") for r in by_product["rows"])
    assert by_product["totals"] == {**by_channel["totals"]}


def test_cancelled_orders_cancelled_units_and_refunds_come_off(
        client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [20])
    at = "2026-09-01T12:00:00Z"
    paid = [{"method": "card"}]
    kept = place_order(client, org, [(skus[0], 3)], placed_at=at, payments=paid)
    cancelled = place_order(client, org, [(skus[0], 5)], placed_at=at)
    partly = place_order(client, org, [(skus[0], 4)], placed_at=at, payments=paid)
    by_amount = place_order(client, org, [(skus[0], 2)], placed_at=at, payments=paid)
    h = org.headers
    assert client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=h,
                       json={}).status_code == 200
    line = partly["lines"][0]["id"]
    # one unit cancelled and then refunded by lines: it comes off once
    assert client.post(f"/api/v1/orders/{partly['id']}/cancel", headers=h, json={
        "lines": [{"line_id": line, "quantity": 1}]}).status_code == 200
    assert client.post(f"/api/v1/orders/{partly['id']}/refunds", headers=h, json={
        "lines": [{"line_id": line, "quantity": 1}]}).status_code == 201
    # a refund by amount, nothing cancelled: its share comes off
    assert client.post(f"/api/v1/orders/{by_amount['id']}/refunds", headers=h,
                       json={"amount": "5.00"}).status_code == 201
    body = report(client, org, group_by="channel", **{"from": "2026-09-01", "to": "2026-09-01"})
    # kept 3 x 10; partly 3 x 10; by_amount 20 - 5
    assert body["totals"] == {"key": "total", "label": "Total", "orders": 3, "units": 8,
                              "amount": "75.00"}
    assert kept["id"]


def test_csv_by_accept_header_or_format(client: TestClient, org: Org) -> None:
    _, place = stocked(client, org, [0])
    sku = f"CSV-{new_id()}"
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "=cmd", "product_type": "accessory", "variants": [{"sku": sku,
                                                                     "price": "10.00"}]})
    assert made.status_code == 201, made.text
    receive(client, org, sku, place["code"], 5)
    place_order(client, org, [(sku, 2)], placed_at="2026-08-10T10:00:00Z")
    product = made.json()["id"]
    window = {"from": "2026-08-10", "to": "2026-08-11", "group_by": "product"}
    by_header = client.get(SALES, params=window, headers={**org.headers, "Accept": "text/csv"})
    by_param = client.get(SALES, params={**window, "format": "csv"}, headers=org.headers)
    for response in (by_header, by_param):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
    assert by_header.text == by_param.text
    table = list(csv.reader(io.StringIO(by_header.text)))
    assert table == [["key", "label", "orders", "units", "amount", "currency"],
                     [product, "'=cmd", "1", "2", "20.00", "USD"],
                     ["total", "Total", "1", "2", "20.00", "USD"]]
    days = client.get(SALES, params={**window, "group_by": "day", "format": "csv"},
                      headers=org.headers)
    assert [r[0] for r in csv.reader(io.StringIO(days.text))] == [
        "key", "2026-08-10", "2026-08-11", "total"]
    json_anyway = client.get(SALES, params={**window, "format": "json"},
                             headers={**org.headers, "Accept": "text/csv"})
    assert json_anyway.json()["rows"][0]["label"] == "=cmd"


def test_bad_ranges_and_groupings_are_422_problems(client: TestClient, org: Org) -> None:
    for params, field in [({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
                          ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
                          ({"group_by": "week"}, "group_by"),
                          ({"from": "2026-02-30"}, "from"),
                          ({"format": "xml"}, "format"),
                          ({"from": "0001-01-01", "to": "0001-01-02"}, "to"),
                          ({"to": "1900-01-05"}, "from"),
                          ({"from": "9999-12-31", "to": "9999-12-31"}, "to")]:
        response = client.get(SALES, params=params, headers=org.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    # 366 days, both ends counted, is the most
    assert client.get(SALES, params={"from": "2024-01-01", "to": "2024-12-31"},
                      headers=org.headers).status_code == 200
    set_zone(client, org, "Pacific/Kiritimati")  # UTC+14: the last day still has an end
    assert client.get(SALES, params={"from": "9999-12-30", "to": "9999-12-30"},
                      headers=org.headers).status_code == 200


def test_the_default_range_is_the_30_days_ending_today(client: TestClient, org: Org) -> None:
    body = report(client, org)
    start, end = dt.date.fromisoformat(body["from"]), dt.date.fromisoformat(body["to"])
    assert (end - start).days == 29
    assert len(body["rows"]) == 30
    assert abs((end - dt.datetime.now(dt.UTC).date()).days) <= 1


def test_reports_need_reports_read(client: TestClient, org: Org) -> None:
    fulfilment = {"Authorization": f"Bearer {staff_token(client, org, 'fulfillment')}"}
    denied = client.get(SALES, headers=fulfilment)
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    inventory = {"Authorization": f"Bearer {staff_token(client, org, 'inventory')}"}
    assert client.get(SALES, headers=inventory).status_code == 200


def test_another_organizations_orders_never_appear(
        client: TestClient, org: Org, other_org: Org) -> None:
    theirs, _ = stocked(client, other_org, [5])
    place_order(client, other_org, [(theirs[0], 3)], channel="theirs",
                placed_at="2026-07-04T12:00:00Z")
    window = {"from": "2026-07-04", "to": "2026-07-04"}
    for group_by in ("day", "channel", "product"):
        mine = report(client, org, group_by=group_by, **window)
        assert mine["totals"]["orders"] == 0
        assert all(r["orders"] == 0 for r in mine["rows"])
    assert report(client, other_org, **window)["totals"]["units"] == 3


def test_the_dashboard_reads_today_and_30_days(client: TestClient, org: Org,
                                               db: Database) -> None:
    set_zone(client, org, "Asia/Tokyo")  # UTC+9
    skus, _ = stocked(client, org, [10])
    place_order(client, org, [(skus[0], 1)], channel="pos", placed_at="2026-06-30T16:00:00Z")
    place_order(client, org, [(skus[0], 2)], channel="web", placed_at="2026-06-10T03:00:00Z")
    place_order(client, org, [(skus[0], 4)], channel="web", placed_at="2026-05-01T03:00:00Z")
    with db.session(write=False, tenant=org.id) as session:
        board = reporting.dashboard(session, org.id, today=dt.date(2026, 7, 1))
    assert (board.currency, board.time_zone, board.today) == ("USD", "Asia/Tokyo",
                                                               dt.date(2026, 7, 1))
    # 16:00 UTC on the 30th is 01:00 on July 1st in Tokyo
    assert (board.sales_today.orders, board.sales_today.amount) == (1, 10)
    assert [(r.key, r.orders, r.units) for r in board.by_channel] == [("web", 1, 2),
                                                                      ("pos", 1, 1)]
    assert len(board.by_day) == 30
    assert board.by_day[-1].key == "2026-07-01"
    assert board.by_day[0].key == "2026-06-02"
    assert (board.totals.orders, board.totals.amount) == (2, 30)
