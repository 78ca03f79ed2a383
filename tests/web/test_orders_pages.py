"""The admin's orders pages: the inbox and its filters, an order's detail, fulfilling,
cancelling, refunding, returning, and the oversold queue, each checked against what the API
then shows."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import make_location, receive
from tests.orders.helpers import on_hand, place_order, stocked, unique
from tests.web.conftest import Browser, add_staff

ORDERS = "/api/v1/orders"


def api_order(client: TestClient, org: Org, order_id: str) -> dict[str, Any]:
    response = client.get(f"{ORDERS}/{order_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def paid_order(client: TestClient, org: Org, units: int = 2,
               **extra: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An order of ``units`` units of a stocked SKU at 10.00, paid in cash."""
    skus, place = stocked(client, org, [units + 3])
    order = place_order(client, org, [(skus[0], units)], payments=[{"method": "cash"}], **extra)
    return order, place, skus[0]


def member(app: FastAPI, client: TestClient, org: Org, role: str) -> Browser:
    person = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    person.sign_in(add_staff(client, org, role))
    return person


def field_error(html: str, name: str) -> str:
    """The message shown beside a field (``e-<name>``)."""
    found = re.search(r'id="e-' + re.escape(name.replace(".", "-")) + r'">([^<]*)<', html)
    assert found, f"no error beside {name}"
    return found.group(1)


# -- the inbox ----------------------------------------------------------------------------------

def test_the_inbox_lists_orders_across_channels_with_badges_and_filters(
        browser: Browser, client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5, 0])
    web = place_order(client, org, [(skus[0], 1)], customer={"email": "ann@example.com",
                                                             "first_name": "Ann"})
    channel = place_order(client, org, [(skus[1], 2)], channel="tcgplayer",
                          external_id=unique())
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/orders")
    assert page.status_code == 200
    assert f"#{web['number']}" in page.text
    assert f"#{channel['number']}" in page.text
    assert "Fulfilment: unfulfilled" in page.text
    assert "Oversold" in page.text
    assert 'for="f-q">Search' in page.text
    assert 'for="f-channel">Channel' in page.text
    only = browser.get("/admin/orders", params={"channel": "tcgplayer"})
    assert f"#{channel['number']}" in only.text
    assert f"#{web['number']}" not in only.text
    flagged = browser.get("/admin/orders", params={"oversold": "true"})
    assert f"#{channel['number']}" in flagged.text
    assert f"#{web['number']}" not in flagged.text
    by_flag = browser.get("/admin/orders", params={"flag": "oversold", "status": "open"})
    assert f"#{channel['number']}" in by_flag.text  # the API's name, as the dashboard links
    assert f"#{web['number']}" not in by_flag.text
    late = browser.get("/admin/orders", params={"flag": "late"})
    assert late.status_code == 422
    assert field_error(late.text, "oversold")
    found = browser.get("/admin/orders", params={"q": "ann@example"})
    assert f"#{web['number']}" in found.text
    assert f"#{channel['number']}" not in found.text
    fragment = browser.get("/admin/orders", params={"status": "open"},
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="order-rows"' in fragment.text


def test_a_sales_channels_orders_show_its_name_and_filter_by_its_id(
        browser: Browser, client: TestClient, org: Org) -> None:
    place = make_location(client, org)
    skus, _ = stocked(client, org, [5], location=place)
    name = f"Shop {unique()}"
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": name, "kind": "shopify", "locations": [place["id"]]}).json()
    order = place_order(client, org, [(skus[0], 2)], channel=channel["id"],
                        external_id=unique())
    manual = place_order(client, org, [(skus[0], 1)])
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/orders", params={"channel": channel["id"]})
    assert f"{name} <small>(shopify)</small>" in page.text
    assert f"#{order['number']}" in page.text
    assert f"#{manual['number']}" not in page.text
    detail = browser.get(f"/admin/orders/{order['id']}")
    assert name in detail.text
    done = browser.submit(f"/admin/orders/{order['id']}/fulfil",
                          {f"fulfil.{order['lines'][0]['id']}": "2"})
    assert done.status_code == 303
    assert f"<td>{place['name']}</td>" in browser.get(f"/admin/orders/{order['id']}").text


def test_the_inbox_pages_with_the_apis_cursor(browser: Browser, client: TestClient,
                                              org: Org) -> None:
    skus, _ = stocked(client, org, [60])
    numbers = [place_order(client, org, [(skus[0], 1)])["number"] for _ in range(52)]
    browser.sign_in(org.owner_email)
    first = browser.get("/admin/orders", params={"status": "open"})
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link, "no next page link"
    second = browser.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    shown = set(re.findall(r">#(\d+)</a>", first.text)) | set(
        re.findall(r">#(\d+)</a>", second.text))
    assert {str(n) for n in numbers} <= shown
    assert 'rel="next"' not in second.text


def test_bad_filters_are_a_422_with_the_error_beside_the_field(browser: Browser,
                                                                org: Org) -> None:
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/orders", params={"status": "lost", "date_from": "2026-02-30"})
    assert page.status_code == 422
    assert field_error(page.text, "status")
    assert field_error(page.text, "date_from")
    backwards = browser.get("/admin/orders", params={"date_from": "2026-03-02",
                                                     "date_to": "2026-03-01"})
    assert backwards.status_code == 422
    assert "before the start date" in backwards.text
    by_htmx = browser.get("/admin/orders", params={"status": "lost"},
                          headers={"HX-Request": "true"})
    assert by_htmx.status_code == 204  # htmx swaps no 422: it loads the whole page instead
    assert by_htmx.headers["HX-Redirect"] == "/admin/orders?status=lost"


def test_every_role_reads_orders_and_a_signed_out_browser_is_sent_to_sign_in(
        app: FastAPI, browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org)
    asked = browser.get(f"/admin/orders/{order['id']}", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/admin/login")
    for role in ("manager", "inventory", "fulfillment", "cashier"):  # all hold orders:read
        person = member(app, client, org, role)
        assert person.get("/admin/orders").status_code == 200
        assert person.get(f"/admin/orders/{order['id']}").status_code == 200
    clerk = member(app, client, org, "fulfillment")
    assert clerk.get(f"/admin/orders/{order['id']}/cancel").status_code == 403


# -- one order ----------------------------------------------------------------------------------

def test_the_detail_shows_lines_payments_and_a_timeline(browser: Browser, client: TestClient,
                                                        org: Org) -> None:
    order, _, sku = paid_order(client, org, 2)
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/orders/{order['id']}")
    assert page.status_code == 200
    assert sku in page.text
    assert "cash" in page.text
    assert "Order created" in page.text  # the timeline, from the audit log
    assert re.search(r"<button type=\"submit\">Fulfil</button>", page.text)
    assert browser.get("/admin/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_fulfil_through_the_page_and_the_api_shows_it_fulfilled(
        browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 2)
    line = order["lines"][0]["id"]
    browser.sign_in(org.owner_email)
    form = browser.get(f"/admin/orders/{order['id']}/fulfil")
    assert form.status_code == 200
    assert 'for="f-carrier">Carrier' in form.text
    assert 'for="f-tracking_number">Tracking number' in form.text
    assert f'name="fulfil.{line}" type="number" value="2"' in form.text  # all by default
    fragment = browser.get(f"/admin/orders/{order['id']}/fulfil",
                           headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert "Tracking number" in fragment.text
    done = browser.submit(f"/admin/orders/{order['id']}/fulfil", {
        f"fulfil.{line}": "2", "carrier": "UPS", "tracking_number": "1Z999"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/admin/orders/{order['id']}"
    shown = api_order(client, org, order["id"])
    assert shown["fulfillment_status"] == "fulfilled"
    assert (shown["fulfillments"][0]["carrier"],
            shown["fulfillments"][0]["tracking_number"]) == ("UPS", "1Z999")
    page = browser.get(done.headers["location"])
    assert "fulfilled." in page.text
    assert "1Z999" in page.text
    assert ">Fulfil</button>" not in page.text  # nothing left to ship
    assert "<strong>Fulfilled</strong>" in page.text  # the timeline names the action


def test_fulfilling_too_many_is_a_422_beside_the_line_and_ships_nothing(
        browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 2)
    line = order["lines"][0]["id"]
    browser.sign_in(org.owner_email)
    before = api_order(client, org, order["id"])
    too_many = browser.submit(f"/admin/orders/{order['id']}/fulfil", {
        f"fulfil.{line}": "3", "carrier": "UPS", "tracking_number": ""})
    assert too_many.status_code == 422
    assert "left to fulfil" in field_error(too_many.text, f"fulfil.{line}")
    assert 'value="UPS"' in too_many.text  # what was entered is kept
    not_a_number = browser.submit(f"/admin/orders/{order['id']}/fulfil",
                                  {f"fulfil.{line}": "two"})
    assert not_a_number.status_code == 422
    assert field_error(not_a_number.text, f"fulfil.{line}") == "enter a whole number of units"
    long_carrier = browser.submit(f"/admin/orders/{order['id']}/fulfil",
                                  {f"fulfil.{line}": "1", "carrier": "x" * 101})
    assert long_carrier.status_code == 422
    assert field_error(long_carrier.text, "carrier")
    assert api_order(client, org, order["id"]) == before


def test_a_fulfilment_clerk_can_fulfil_and_return_but_not_refund_or_cancel(
        app: FastAPI, client: TestClient, org: Org) -> None:
    order, place, sku = paid_order(client, org, 2)
    line = order["lines"][0]["id"]
    clerk = member(app, client, org, "fulfillment")
    page = clerk.get(f"/admin/orders/{order['id']}")
    assert ">Refund</button>" not in page.text
    assert "Cancel order" not in page.text
    assert clerk.submit(f"/admin/orders/{order['id']}/fulfil",
                        {f"fulfil.{line}": "2"}).status_code == 303
    refused = clerk.submit(f"/admin/orders/{order['id']}/refund",
                           {"refund.amount": "5.00", "refund.reason": "x"})
    assert refused.status_code == 403
    assert clerk.submit(f"/admin/orders/{order['id']}/cancel", {}).status_code == 403
    assert api_order(client, org, order["id"])["refunded_total"] == "0.00"
    stock = on_hand(client, org, sku, place)
    returned = clerk.submit(f"/admin/orders/{order['id']}/return",
                            {f"return.{line}": "1", "return.restock": "true"})
    assert returned.status_code == 303, returned.text
    shown = api_order(client, org, order["id"])
    assert shown["lines"][0]["returned"] == 1
    assert on_hand(client, org, sku, place) == stock + 1


def test_a_cashier_cannot_fulfil(app: FastAPI, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 1)
    cashier = member(app, client, org, "cashier")
    assert cashier.get(f"/admin/orders/{order['id']}/fulfil").status_code == 403
    refused = cashier.submit(f"/admin/orders/{order['id']}/fulfil",
                             {f"fulfil.{order['lines'][0]['id']}": "1"})
    assert refused.status_code == 403
    assert api_order(client, org, order["id"])["fulfillment_status"] == "unfulfilled"


def test_refund_through_the_page(browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 2)
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/orders/{order['id']}")
    assert 'for="f-refund-amount">Amount' in page.text
    assert 'for="f-refund-reason">Reason' in page.text
    done = browser.submit(f"/admin/orders/{order['id']}/refund",
                          {"refund.amount": "5.00", "refund.reason": "damaged sleeve"})
    assert done.status_code == 303, done.text
    shown = api_order(client, org, order["id"])
    assert shown["refunded_total"] == "5.00"
    assert shown["financial_status"] == "partially_refunded"
    assert shown["refunds"][0]["reason"] == "damaged sleeve"
    assert "Refunded" in browser.get(done.headers["location"]).text


def test_a_refund_above_what_was_paid_is_a_422_beside_the_amount(
        browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 2)
    browser.sign_in(org.owner_email)
    before = api_order(client, org, order["id"])
    too_much = browser.submit(f"/admin/orders/{order['id']}/refund",
                              {"refund.amount": "500.00", "refund.reason": "x"})
    assert too_much.status_code == 422
    assert "at most" in field_error(too_much.text, "refund.amount")
    assert 'value="500.00"' in too_much.text
    bad = browser.submit(f"/admin/orders/{order['id']}/refund", {"refund.amount": "ten"})
    assert bad.status_code == 422
    assert field_error(bad.text, "refund.amount")
    assert api_order(client, org, order["id"]) == before


def test_cancel_asks_first_then_cancels_and_restocks(browser: Browser, client: TestClient,
                                                     org: Org) -> None:
    order, place, sku = paid_order(client, org, 2)
    stock = on_hand(client, org, sku, place)
    browser.sign_in(org.owner_email)
    confirm = browser.get(f"/admin/orders/{order['id']}/cancel")
    assert confirm.status_code == 200
    assert ">Cancel order</button>" in confirm.text
    assert api_order(client, org, order["id"])["status"] == "open"
    done = browser.submit(f"/admin/orders/{order['id']}/cancel",
                          {"reason": "customer asked", "restock": "true"})
    assert done.status_code == 303, done.text
    shown = api_order(client, org, order["id"])
    assert shown["status"] == "cancelled"
    assert shown["cancel_reason"] == "customer asked"
    assert on_hand(client, org, sku, place) == stock + 2
    again = browser.submit(f"/admin/orders/{order['id']}/cancel", {"reason": "twice"})
    assert again.status_code == 422
    assert api_order(client, org, order["id"]) == shown


def test_a_return_of_more_than_shipped_is_a_422_beside_the_line(
        browser: Browser, client: TestClient, org: Org) -> None:
    order, _, _ = paid_order(client, org, 2)
    line = order["lines"][0]["id"]
    browser.sign_in(org.owner_email)
    assert browser.submit(f"/admin/orders/{order['id']}/fulfil",
                          {f"fulfil.{line}": "1"}).status_code == 303
    before = api_order(client, org, order["id"])
    page = browser.get(f"/admin/orders/{order['id']}")
    assert "Put returned units back in stock" in page.text
    too_many = browser.submit(f"/admin/orders/{order['id']}/return",
                              {f"return.{line}": "2", "return.restock": "true"})
    assert too_many.status_code == 422
    assert "shipped and not returned" in field_error(too_many.text, f"return.{line}")
    none = browser.submit(f"/admin/orders/{order['id']}/return", {f"return.{line}": "0"})
    assert none.status_code == 422
    assert api_order(client, org, order["id"]) == before


# -- the oversold queue -------------------------------------------------------------------------

def test_the_oversold_queue_allocates_and_cancels_short_units(
        browser: Browser, client: TestClient, org: Org) -> None:
    skus, place = stocked(client, org, [1, 0])
    order = place_order(client, org, [(skus[0], 3)], channel="tcgplayer",
                        external_id=unique())
    other = place_order(client, org, [(skus[1], 1)], channel="tcgplayer",
                        external_id=unique())
    browser.sign_in(org.owner_email)
    queue = browser.get("/admin/orders/oversold")
    assert queue.status_code == 200
    assert f"#{order['number']}" in queue.text
    assert f"2 \u00d7 {skus[0]}" in queue.text
    nothing = browser.submit(f"/admin/orders/{order['id']}/allocate",
                             {"next": "/admin/orders/oversold"})
    assert nothing.status_code == 303
    assert nothing.headers["location"] == "/admin/orders/oversold"
    assert api_order(client, org, order["id"])["oversold"] is True
    receive(client, org, skus[0], place["code"], 5)
    allocated = browser.submit(f"/admin/orders/{order['id']}/allocate",
                               {"next": "/admin/orders/oversold"})
    assert allocated.status_code == 303
    shown = api_order(client, org, order["id"])
    assert shown["oversold"] is False
    assert shown["lines"][0]["allocated"] == 3
    cancelled = browser.submit(f"/admin/orders/{other['id']}/cancel-short", {})
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/admin/orders/{other['id']}"
    shown = api_order(client, org, other["id"])
    assert shown["oversold"] is False
    assert shown["lines"][0]["cancelled"] == 1
    assert "No order is oversold" in browser.get("/admin/orders/oversold").text


def test_the_oversold_actions_need_orders_write(app: FastAPI, client: TestClient,
                                                org: Org) -> None:
    skus, _ = stocked(client, org, [0])
    order = place_order(client, org, [(skus[0], 1)], channel="tcgplayer",
                        external_id=unique())
    clerk = member(app, client, org, "fulfillment")
    queue = clerk.get("/admin/orders/oversold")
    assert queue.status_code == 200
    assert ">Allocate stock</button>" not in queue.text
    assert clerk.submit(f"/admin/orders/{order['id']}/allocate", {}).status_code == 403
    assert clerk.submit(f"/admin/orders/{order['id']}/cancel-short", {}).status_code == 403
    assert api_order(client, org, order["id"])["oversold"] is True


def test_another_organizations_order_is_a_404(browser: Browser, client: TestClient,
                                              org: Org, other_org: Org) -> None:
    order, _, _ = paid_order(client, other_org, 1)
    browser.sign_in(org.owner_email)
    assert browser.get(f"/admin/orders/{order['id']}").status_code == 404
    assert browser.submit(f"/admin/orders/{order['id']}/refund",
                          {"refund.amount": "1.00"}).status_code == 404
    assert api_order(client, other_org, order["id"])["refunded_total"] == "0.00"


def test_capture_or_void_an_authorized_payment(browser: Browser, client: TestClient,
                                               org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 1)],
                        payments=[{"method": "card", "status": "authorized"}])
    payment = order["payments"][0]["id"]
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/orders/{order['id']}")
    assert ">Capture payment</button>" in page.text
    assert ">Refund</button>" not in page.text  # nothing paid yet
    assert browser.submit(f"/admin/orders/{order['id']}/payments/{payment}/refund",
                          {}).status_code == 404
    captured = browser.submit(f"/admin/orders/{order['id']}/payments/{payment}/capture", {})
    assert captured.status_code == 303
    shown = api_order(client, org, order["id"])
    assert shown["payments"][0]["status"] == "paid"
    assert shown["financial_status"] == "paid"
    again = browser.submit(f"/admin/orders/{order['id']}/payments/{payment}/void", {})
    assert again.status_code == 409  # only an authorized payment can be voided
    assert api_order(client, org, order["id"]) == shown


def test_a_requested_return_is_received_on_the_page(browser: Browser, client: TestClient,
                                                    org: Org) -> None:
    order, place, sku = paid_order(client, org, 1)
    line = order["lines"][0]["id"]
    shipped = client.post(f"{ORDERS}/{order['id']}/fulfillments", headers=org.headers,
                          json={})
    assert shipped.status_code == 201, shipped.text
    requested = client.post(f"{ORDERS}/{order['id']}/returns", headers=org.headers, json={
        "lines": [{"line_id": line, "quantity": 1}], "received": False})
    assert requested.status_code == 201, requested.text
    stock = on_hand(client, org, sku, place)
    browser.sign_in(org.owner_email)
    assert ">Mark return received</button>" in browser.get(f"/admin/orders/{order['id']}").text
    return_id = requested.json()["returns"][0]["id"]
    done = browser.submit(f"/admin/orders/{order['id']}/returns/{return_id}/receive", {})
    assert done.status_code == 303
    shown = api_order(client, org, order["id"])
    assert shown["returns"][0]["status"] == "received"
    assert on_hand(client, org, sku, place) == stock + 1
