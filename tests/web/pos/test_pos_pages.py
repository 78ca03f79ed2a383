"""The point of sale's pages: a cashier rings up a sale from the register's location, and what
the API and the storefront then show; permissions, discounts, tenders, refusals that change
nothing, and two registers racing for the last copy."""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import PASSWORD, Org
from tests.inventory.helpers import level, make_location, receive
from tests.payments.helpers import grant_credit, issue_card, new_customer
from tests.web.conftest import Browser, add_staff, csrf_of
from tests.web.store.helpers import card, variant


def cashier(app: FastAPI, client: TestClient, org: Org, role: str = "cashier") -> Browser:
    person = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    person.sign_in(add_staff(client, org, role), next_path="/pos")
    return person


def stocked_card(client: TestClient, org: Org, units: int, price: str = "10.00",
                 ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A card with one SKU, ``units`` of it on hand at a new location: (sku, product, place)."""
    tag = new_id()[-8:].lower()
    sku = f"POS-{tag}"
    made = card(client, org, f"Lightning Bolt {tag}", tag=tag, variants=[variant(sku, price)])
    place = make_location(client, org)
    if units:
        receive(client, org, sku, place["code"], units)
    return sku, made, place


def on_hand(client: TestClient, org: Org, sku: str, place: dict[str, Any]) -> int:
    return int(level(client, org, sku, place["code"])["on_hand"])


def scan(person: Browser, code: str) -> Any:
    return person.submit("/pos/scan", {"code": code})


def orders_of(client: TestClient, org: Org, sku: str) -> list[dict[str, Any]]:
    found = client.get("/api/v1/orders", headers=org.headers, params={"sku": sku})
    assert found.status_code == 200, found.text
    return list(found.json()["data"])


def sell_for_cash(person: Browser, sku: str, received: str) -> Any:
    assert scan(person, sku).status_code == 303
    return person.submit("/pos/sale", {"method": "cash", "received": received})


def test_the_last_unit_sold_at_the_register_leaves_its_location_and_the_store_shows_it_sold_out(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, made, place = stocked_card(client, org, 1, price="7.50")
    person = cashier(app, client, org)
    register = person.get("/pos")
    assert register.status_code == 200
    assert 'for="f-code">Scan or search' in register.text
    assert f'value="{place["id"]}" selected' in register.text  # the only location: preselected
    added = scan(person, sku)
    assert added.status_code == 303
    assert "Lightning Bolt" in person.get("/pos").text
    pay = person.get("/pos/pay")
    assert ">Amount received<" in pay.text
    assert "Complete sale" in pay.text
    done = person.submit("/pos/sale", {"method": "cash", "received": "10.00"})
    assert done.status_code == 303, done.text
    receipt = person.get(done.headers["location"])
    assert receipt.status_code == 200
    assert "Change due" in receipt.text
    assert "$2.50" in receipt.text
    assert "@media print" in person.get(re.search(r'href="(/assets/pos\.[^"]+\.css)"',
                                                  receipt.text).group(1)).text  # type: ignore[union-attr]

    assert on_hand(client, org, sku, place) == 0
    [order] = orders_of(client, org, sku)
    assert f"#{order['number']}" in receipt.text
    assert order["source"] == "pos"
    assert order["financial_status"] == "paid"
    assert order["fulfillment_status"] == "fulfilled"
    assert order["total"] == "7.50"
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert [a["location_id"] for a in detail["lines"][0]["allocations"]] == [place["id"]]
    product = client.get(f"/s/{org.slug}/products/{made['slug']}")
    assert "Sold out" in product.text
    assert person.get("/pos").text.count("Lightning Bolt") == 0  # the ticket is cleared


def test_a_barcode_adds_one_and_a_name_search_lists_what_the_register_has(
        app: FastAPI, client: TestClient, org: Org) -> None:
    tag = new_id()[-8:].lower()
    sku, code = f"BC-{tag}", f"0{new_id()[-11:]}"
    card(client, org, f"Counterspell {tag}", tag=tag,
         variants=[{**variant(sku, "3.00"), "barcode": code}])
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 4)
    person = cashier(app, client, org)
    assert scan(person, code).status_code == 303
    assert scan(person, code).status_code == 303
    assert 'value="2"' in person.get("/pos").text
    searched = scan(person, f"counterspell {tag}")
    assert searched.status_code == 303
    assert "q=" in searched.headers["location"]
    results = person.get(searched.headers["location"]).text
    assert f"Add Counterspell {tag}" in results
    assert ">4<" in results


def test_signed_out_the_pos_sends_to_the_admins_sign_in_and_back(
        app: FastAPI, client: TestClient, org: Org) -> None:
    with Browser(app, raise_server_exceptions=False, base_url="http://testserver") as anon:
        answer = anon.get("/pos", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login?next=/pos"
        form = anon.get(answer.headers["location"])
        signed = anon.post("/admin/login", data={
            "email": org.owner_email, "password": PASSWORD,
            "next": "/pos", "csrf_token": csrf_of(form.text)}, follow_redirects=False)
        assert signed.status_code == 303
        assert signed.headers["location"] == "/pos"
        assert 'for="f-code">Scan or search' in anon.get("/pos").text


def test_a_role_without_pos_sell_gets_403_on_every_pos_route(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, _ = stocked_card(client, org, 2)
    person = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    person.sign_in(add_staff(client, org, "inventory"), next_path="/admin/inventory")
    assert person.get("/pos").status_code == 403
    assert person.get("/pos/pay").status_code == 403
    assert scan(person, sku).status_code == 403
    assert person.submit("/pos/sale", {"method": "cash", "received": "50"}).status_code == 403
    assert orders_of(client, org, sku) == []


def test_discounts_need_pos_discount_a_cashier_gets_403_and_no_control(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 3, price="20.00")
    person = cashier(app, client, org)
    scan(person, sku)
    page = person.get("/pos").text
    assert "Apply order discount" not in page
    assert "Discount for" not in page
    assert person.submit("/pos/discount", {"kind": "percent", "value": "50"}).status_code == 403
    assert person.submit("/pos/lines/discount", {"sku": sku, "kind": "amount",
                                                 "value": "5"}).status_code == 403
    assert "$20.00" in person.get("/pos/pay").text

    manager = cashier(app, client, org, role="manager")
    scan(manager, sku)
    scan(manager, sku)
    assert "Apply order discount" in manager.get("/pos").text
    assert manager.submit("/pos/lines/discount", {"sku": sku, "kind": "amount",
                                                  "value": "5.00"}).status_code == 303
    assert manager.submit("/pos/discount", {"kind": "percent", "value": "10"}).status_code == 303
    # 2 x 20.00 = 40.00, less 5.00 on the line = 35.00, less 10 % = 31.50
    assert "$31.50" in manager.get("/pos").text
    refused = manager.submit("/pos/discount", {"kind": "percent", "value": "120"})
    assert refused.status_code == 422
    assert "At most 100" in refused.text
    done = manager.submit("/pos/sale", {"method": "cash", "received": "31.50"})
    assert done.status_code == 303, done.text
    [order] = orders_of(client, org, sku)
    assert order["total"] == "31.50"
    assert on_hand(client, org, sku, place) == 1


def test_cash_short_of_the_total_is_422_and_nothing_changes(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 2, price="12.00")
    person = cashier(app, client, org)
    refused = sell_for_cash(person, sku, "11.99")
    assert refused.status_code == 422
    assert "less than the" in refused.text
    assert "$12.00" in refused.text
    assert 'id="f-received"' in refused.text
    assert 'value="11.99"' in refused.text
    assert on_hand(client, org, sku, place) == 2
    assert orders_of(client, org, sku) == []
    blank = person.submit("/pos/sale", {"method": "cash", "received": ""})
    assert blank.status_code == 422
    assert orders_of(client, org, sku) == []


def test_a_split_tender_takes_card_then_cash_and_change_comes_only_from_cash(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 1, price="30.00")
    person = cashier(app, client, org)
    scan(person, sku)
    too_much = person.submit("/pos/tenders", {"method": "card", "amount": "31.00",
                                              "reference": "T-1"})
    assert too_much.status_code == 422
    assert "only cash gives change" in too_much.text
    no_ref = person.submit("/pos/tenders", {"method": "card", "amount": "20.00"})
    assert no_ref.status_code == 422
    part = person.submit("/pos/tenders", {"method": "card", "amount": "20.00",
                                          "reference": "AUTH-778"})
    assert part.status_code == 303
    assert "$10.00" in person.get("/pos/pay").text  # what is left to pay
    done = person.submit("/pos/sale", {"method": "cash", "received": "20.00"})
    assert done.status_code == 303, done.text
    receipt = person.get(done.headers["location"]).text
    assert re.search(r"Change due</dt><dd><strong[^>]*>\$10\.00<", receipt)
    [order] = orders_of(client, org, sku)
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert sorted((p["method"], p["amount"], p["reference"]) for p in detail["payments"]) == [
        ("card", "20.00", "AUTH-778"), ("cash", "10.00", "received 20.00")]
    assert detail["financial_status"] == "paid"
    assert on_hand(client, org, sku, place) == 0


def test_not_enough_stock_at_the_register_refuses_the_sale_and_keeps_everything(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 1)
    elsewhere = make_location(client, org)
    receive(client, org, sku, elsewhere["code"], 5)  # stock elsewhere does not sell here
    person = cashier(app, client, org)
    assert person.submit("/pos/register", {"location": place["id"]}).status_code == 303
    scan(person, sku)
    person.submit("/pos/lines/update", {"sku": sku, "quantity": "2"})
    refused = person.submit("/pos/sale", {"method": "cash", "received": "100"})
    assert refused.status_code == 409
    assert "Not enough stock" in refused.text
    assert on_hand(client, org, sku, place) == 1
    assert on_hand(client, org, sku, elsewhere) == 5
    assert orders_of(client, org, sku) == []


def test_two_registers_selling_the_last_copy_at_once_make_exactly_one_sale(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 1)
    registers = [cashier(app, client, org) for _ in range(2)]
    for person in registers:
        assert scan(person, sku).status_code == 303
    answers: list[int] = []
    start = threading.Barrier(2)

    def sell(person: Browser) -> None:
        start.wait()
        answers.append(person.submit("/pos/sale", {"method": "cash",
                                                   "received": "10.00"}).status_code)

    threads = [threading.Thread(target=sell, args=(p,)) for p in registers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [303, 409]
    assert len(orders_of(client, org, sku)) == 1
    assert on_hand(client, org, sku, place) == 0


def test_a_customer_is_found_or_created_on_the_sale_and_the_receipt_can_be_emailed(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, _ = stocked_card(client, org, 2)
    email = f"ann-{new_id().lower()}@example.com"
    person = cashier(app, client, org)
    scan(person, sku)
    bad = person.submit("/pos/customer/new", {"name": "Ann Lee", "email": "not-an-email"})
    assert bad.status_code == 422
    made = person.submit("/pos/customer/new", {"name": "Ann Lee", "email": email})
    assert made.status_code == 303
    assert email in person.get("/pos").text
    done = person.submit("/pos/sale", {"method": "cash", "received": "10"})
    assert done.status_code == 303, done.text
    [order] = orders_of(client, org, sku)
    assert order["email"] == email
    assert order["customer_id"]
    found = person.get("/pos", params={"customer_q": "ann lee"})
    assert "Attach Ann Lee" in found.text
    sent = person.submit(f"/pos/receipts/{order['id']}/email", {"email": email})
    assert sent.status_code == 303
    notes = client.get("/api/v1/notifications", headers=org.headers).json()["data"]
    assert any(n["recipient"] == email and n["kind"] == "order_paid" for n in notes)
    wrong = person.submit(f"/pos/receipts/{order['id']}/email", {"email": "nope"})
    assert wrong.status_code == 422


def test_the_register_location_is_remembered_and_can_be_changed(
        app: FastAPI, client: TestClient, org: Org) -> None:
    first, second = make_location(client, org), make_location(client, org)
    person = cashier(app, client, org)
    page = person.get("/pos").text
    assert "Choose this register" in page  # several locations: the cashier chooses
    assert person.submit("/pos/register", {"location": second["id"]}).status_code == 303
    assert f'value="{second["id"]}" selected' in person.get("/pos").text
    assert person.submit("/pos/register", {"location": first["code"]}).status_code == 303
    assert f'value="{first["id"]}" selected' in person.get("/pos").text
    assert person.submit("/pos/register", {"location": "nowhere"}).status_code == 422


def test_the_register_preselects_the_shop_among_warehouses_or_the_pos_channels_location(
        app: FastAPI, client: TestClient, org: Org) -> None:
    shop = make_location(client, org)
    make_location(client, org, kind="warehouse")
    person = cashier(app, client, org)
    assert f'value="{shop["id"]}" selected' in person.get("/pos").text  # the only shop
    other = make_location(client, org)
    assert "Choose this register" in person.get("/pos").text  # two shops: the cashier chooses
    made = client.post("/api/v1/channels", headers=org.headers,
                       json={"name": "Counter", "kind": "pos", "locations": [other["id"]]})
    assert made.status_code == 201, made.text
    assert f'value="{other["id"]}" selected' in person.get("/pos").text  # the POS channel's


def test_a_return_against_a_receipt_restocks_the_register_and_refunds(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 2, price="6.00")
    person = cashier(app, client, org)
    scan(person, sku)
    scan(person, sku)
    assert person.submit("/pos/sale", {"method": "cash", "received": "12"}).status_code == 303
    assert on_hand(client, org, sku, place) == 0
    [order] = orders_of(client, org, sku)
    missing = person.get("/pos/returns", params={"number": "999999"})
    assert missing.status_code == 404
    found = person.get("/pos/returns", params={"number": str(order["number"])})
    assert found.status_code == 200
    line_id = client.get(f"/api/v1/orders/{order['id']}",
                         headers=org.headers).json()["lines"][0]["id"]
    too_many = person.submit(f"/pos/returns/{order['id']}", {
        f"qty.{line_id}": "3", "restock": "true", "refund": "cash"})
    assert too_many.status_code == 422
    assert on_hand(client, org, sku, place) == 0
    done = person.submit(f"/pos/returns/{order['id']}", {
        f"qty.{line_id}": "1", "restock": "true", "refund": "cash"})
    assert done.status_code == 303, done.text
    assert on_hand(client, org, sku, place) == 1
    after = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert after["lines"][0]["returned"] == 1
    assert after["refunded_total"] == "6.00"
    # the returned copy sells again at once (an exchange is a return, then a new sale)
    assert sell_for_cash(person, sku, "6").status_code == 303
    assert on_hand(client, org, sku, place) == 0


def test_store_credit_and_a_gift_card_split_a_sale_with_cash_and_a_bad_code_changes_nothing(
        app: FastAPI, client: TestClient, org: Org) -> None:
    sku, _, place = stocked_card(client, org, 1, price="20.00")
    customer = new_customer(client, org)
    grant_credit(client, org, customer, "5.00")
    gift = issue_card(client, org, "10.00")
    person = cashier(app, client, org)
    scan(person, sku)
    assert person.submit("/pos/customer", {"customer_id": customer}).status_code == 303
    assert person.submit("/pos/tenders", {"method": "store_credit",
                                          "amount": "5.00"}).status_code == 303
    bad = person.submit("/pos/tenders", {"method": "gift_card", "amount": "10.00",
                                         "code": "NOPE-NOPE"})
    assert bad.status_code == 303  # a code is checked when the sale is made, with the rest
    refused = person.submit("/pos/sale", {"method": "cash", "received": "5.00"})
    assert refused.status_code == 422
    assert "Gift card refused" in refused.text
    assert on_hand(client, org, sku, place) == 1
    credit = client.get(f"/api/v1/customers/{customer}/store-credit", headers=org.headers)
    assert "5.00" in credit.text  # the store credit charge was undone with the sale
    assert orders_of(client, org, sku) == []

    person.submit("/pos/tenders/remove", {"index": "1"})
    assert person.submit("/pos/tenders", {"method": "gift_card", "amount": "10.00",
                                          "code": gift["code"]}).status_code == 303
    done = person.submit("/pos/sale", {"method": "cash", "received": "10.00"})
    assert done.status_code == 303, done.text
    receipt = person.get(done.headers["location"]).text
    assert re.search(r"Change due</dt><dd><strong[^>]*>\$5\.00<", receipt)
    [order] = orders_of(client, org, sku)
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert sorted((p["method"], p["amount"]) for p in detail["payments"]) == [
        ("cash", "5.00"), ("gift_card", "10.00"), ("store_credit", "5.00")]
    card_now = client.get(f"/api/v1/gift-cards/{gift['id']}", headers=org.headers).json()
    assert card_now["balance"] == "0.00"
    assert on_hand(client, org, sku, place) == 0


def test_another_organizations_receipts_and_returns_are_404(
        app: FastAPI, client: TestClient, org: Org, other_org: Org) -> None:
    sku, _, _ = stocked_card(client, org, 1)
    person = cashier(app, client, org)
    assert sell_for_cash(person, sku, "10").status_code == 303
    [order] = orders_of(client, org, sku)
    theirs = cashier(app, client, other_org)
    assert theirs.get(f"/pos/receipts/{order['id']}").status_code == 404
    assert theirs.submit(f"/pos/receipts/{order['id']}/email",
                         {"email": "x@example.com"}).status_code == 404
    line_id = client.get(f"/api/v1/orders/{order['id']}",
                         headers=org.headers).json()["lines"][0]["id"]
    assert theirs.submit(f"/pos/returns/{order['id']}",
                         {f"qty.{line_id}": "1", "refund": "cash"}).status_code == 404
    assert person.get(f"/pos/receipts/{order['id']}").status_code == 200


def test_a_sale_at_the_counter_pays_the_tax_of_the_registers_address(
        app: FastAPI, client: TestClient, org: Org) -> None:
    """A shop in Austin charges Texas sales tax at the counter: the register page, the amount
    cash must cover, the order and the receipt all carry it."""
    tag = new_id()[-8:].lower()
    sku = f"TAX-{tag}"
    card(client, org, f"Taxed Bolt {tag}", tag=tag, variants=[variant(sku, "10.00")])
    shop = make_location(client, org, address={
        "line1": "200 Congress Ave", "city": "Austin", "region": "TX", "postal_code": "78701",
        "country": "US"})
    receive(client, org, sku, shop["code"], 1)
    rate = client.post("/api/v1/tax/rates", headers=org.headers, json={
        "country": "US", "region": "US-TX", "title": "Texas sales tax", "rate": "0.0825"})
    assert rate.status_code == 201, rate.text
    person = cashier(app, client, org)
    assert person.submit("/pos/register", {"location": shop["id"]}).status_code == 303
    assert scan(person, sku).status_code == 303
    register = person.get("/pos").text
    assert "<dt>Tax</dt><dd>$0.82</dd>" in register  # 8.25 % of 10.00, half-even
    assert "$10.82" in register
    short = person.submit("/pos/sale", {"method": "cash", "received": "10.00"})
    assert short.status_code == 422  # the tax is due too
    sold = person.submit("/pos/sale", {"method": "cash", "received": "20.00"})
    assert sold.status_code == 303, sold.text
    [order] = orders_of(client, org, sku)
    assert (order["total"], order["paid_total"]) == ("10.82", "10.82")
    receipt = person.get(sold.headers["location"]).text
    assert "Tax" in receipt
    assert "$9.18" in receipt  # change due from $20.00
