"""The admin's customers pages: list and search, a record with its order history and
lifetime value, editing and merging, each checked against what the API then shows."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.conftest import Browser, add_staff

CUSTOMERS = "/api/v1/customers"


def make_customer(client: TestClient, org: Org, **fields: Any) -> dict[str, Any]:
    body = {"email": f"c-{new_id().lower()}@example.com", "first_name": "Cora",
            "last_name": "Lee", **fields}
    response = client.post(CUSTOMERS, headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def api_customer(client: TestClient, org: Org, customer_id: str) -> dict[str, Any]:
    response = client.get(f"{CUSTOMERS}/{customer_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def member(app: FastAPI, client: TestClient, org: Org, role: str) -> Browser:
    person = Browser(app, raise_server_exceptions=False, base_url="http://testserver")
    person.sign_in(add_staff(client, org, role))
    return person


def field_error(html: str, name: str) -> str:
    found = re.search(r'id="e-' + re.escape(name) + r'">([^<]*)<', html)
    assert found, f"no error beside {name}"
    return found.group(1)


def test_the_list_searches_and_pages_with_the_apis_cursor(browser: Browser,
                                                          client: TestClient,
                                                          org: Org) -> None:
    tag = new_id().lower()
    made = [make_customer(client, org, first_name=f"Zed{i}", tags=[tag]) for i in range(52)]
    other = make_customer(client, org, first_name="Olga")
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/customers", params={"tag": tag})
    assert page.status_code == 200
    assert 'for="f-q">Search' in page.text
    assert "Olga" not in page.text
    link = re.search(r'href="([^"]+)" rel="next"', page.text)
    assert link, "no next page link"
    second = browser.get(link.group(1).replace("&amp;", "&"))
    shown = set(re.findall(r'href="/admin/customers/([0-9A-Z]{26})"', page.text)) | set(
        re.findall(r'href="/admin/customers/([0-9A-Z]{26})"', second.text))
    assert shown == {c["id"] for c in made}
    found = browser.get("/admin/customers", params={"q": other["email"]})
    assert "Olga" in found.text
    assert "Zed1" not in found.text
    fragment = browser.get("/admin/customers", params={"q": "olga"},
                           headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert "Olga" in fragment.text
    too_long = browser.get("/admin/customers", params={"q": "x" * 201})
    assert too_long.status_code == 422
    assert field_error(too_long.text, "q")


def test_the_record_shows_order_history_and_lifetime_value(browser: Browser,
                                                           client: TestClient,
                                                           org: Org) -> None:
    customer = make_customer(client, org)
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 2)], customer={"email": customer["email"]},
                        payments=[{"method": "cash"}])
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/customers/{customer['id']}")
    assert page.status_code == 200
    assert f"#{order['number']}" in page.text
    assert "$20.00" in page.text  # lifetime value: paid minus refunded
    assert api_customer(client, org, customer["id"])["lifetime_value"] == {"USD": "20.00"}
    assert browser.get("/admin/customers/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_edit_saves_through_the_apis_schema(browser: Browser, client: TestClient,
                                            org: Org) -> None:
    customer = make_customer(client, org)
    browser.sign_in(org.owner_email)
    form = browser.get(f"/admin/customers/{customer['id']}/edit")
    assert form.status_code == 200
    assert 'for="f-first_name">First name' in form.text
    version = re.search(r'name="version" value="(\d+)"', form.text)
    assert version
    done = browser.submit(f"/admin/customers/{customer['id']}/edit", {
        "first_name": "Cora", "last_name": "Lee-Smith", "email": customer["email"],
        "emails": "cora.work@example.com\n", "phones": "+33 1 23 45 67 89",
        "tags": "vip, wholesale", "note": "Prefers pickup", "version": version.group(1)})
    assert done.status_code == 303, done.text
    shown = api_customer(client, org, customer["id"])
    assert shown["last_name"] == "Lee-Smith"
    assert shown["tags"] == ["vip", "wholesale"]
    assert sorted(shown["emails"]) == sorted([customer["email"], "cora.work@example.com"])
    assert shown["phones"] == ["+33 1 23 45 67 89"]
    stale = browser.submit(f"/admin/customers/{customer['id']}/edit", {
        "first_name": "Late", "version": version.group(1)})
    assert stale.status_code == 422
    assert "Someone changed this customer" in stale.text
    assert api_customer(client, org, customer["id"])["first_name"] == "Cora"


def test_a_bad_or_taken_email_is_a_422_beside_the_field_and_changes_nothing(
        browser: Browser, client: TestClient, org: Org) -> None:
    customer = make_customer(client, org)
    taken = make_customer(client, org)
    browser.sign_in(org.owner_email)
    before = api_customer(client, org, customer["id"])
    bad = browser.submit(f"/admin/customers/{customer['id']}/edit",
                         {"first_name": "New", "email": "not-an-email"})
    assert bad.status_code == 422
    assert field_error(bad.text, "email")
    assert 'value="New"' in bad.text
    clash = browser.submit(f"/admin/customers/{customer['id']}/edit",
                           {"first_name": "New", "email": taken["email"]})
    assert clash.status_code == 422
    assert "belongs to customer" in field_error(clash.text, "email")
    wrong_other = browser.submit(f"/admin/customers/{customer['id']}/edit",
                                 {"email": customer["email"], "emails": "ok@example.com\nnope"})
    assert wrong_other.status_code == 422
    assert field_error(wrong_other.text, "emails")
    assert api_customer(client, org, customer["id"]) == before


def test_merge_moves_the_duplicates_orders(browser: Browser, client: TestClient,
                                           org: Org) -> None:
    keep = make_customer(client, org, first_name="Keep")
    duplicate = make_customer(client, org, first_name="Dupe")
    skus, _ = stocked(client, org, [5])
    order = place_order(client, org, [(skus[0], 1)], customer={"email": duplicate["email"]})
    browser.sign_in(org.owner_email)
    found = browser.get(f"/admin/customers/{keep['id']}/merge",
                        params={"q": duplicate["email"]})
    assert found.status_code == 200
    assert f'value="{duplicate["id"]}"' in found.text
    assert f'value="{keep["id"]}"' not in found.text  # never itself
    none = browser.submit(f"/admin/customers/{keep['id']}/merge", {"q": duplicate["email"]})
    assert none.status_code == 422
    assert field_error(none.text, "duplicates")
    done = browser.submit(f"/admin/customers/{keep['id']}/merge",
                          {"duplicates": duplicate["id"], "q": duplicate["email"]})
    assert done.status_code == 303, done.text
    shown = api_customer(client, org, keep["id"])
    assert duplicate["email"] in shown["emails"]
    assert shown["orders_count"] == 1
    assert client.get(f"{CUSTOMERS}/{duplicate['id']}",
                      headers=org.headers).status_code == 404
    moved = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
    assert moved["customer_id"] == keep["id"]
    itself = browser.submit(f"/admin/customers/{keep['id']}/merge",
                            {"duplicates": keep["id"]})
    assert itself.status_code == 422
    assert "itself" in field_error(itself.text, "duplicates")


def test_permissions_are_the_apis(app: FastAPI, client: TestClient, org: Org) -> None:
    customer = make_customer(client, org)
    other = make_customer(client, org)
    inventory = member(app, client, org, "inventory")  # no customers:read
    assert inventory.get("/admin/customers").status_code == 403
    assert inventory.get(f"/admin/customers/{customer['id']}").status_code == 403
    clerk = member(app, client, org, "fulfillment")  # customers:read only
    assert clerk.get("/admin/customers").status_code == 200
    page = clerk.get(f"/admin/customers/{customer['id']}")
    assert page.status_code == 200
    assert "Edit customer" not in page.text
    assert clerk.get(f"/admin/customers/{customer['id']}/edit").status_code == 403
    assert clerk.submit(f"/admin/customers/{customer['id']}/edit",
                        {"first_name": "Nope"}).status_code == 403
    assert clerk.submit(f"/admin/customers/{customer['id']}/merge",
                        {"duplicates": other["id"]}).status_code == 403
    assert api_customer(client, org, customer["id"])["first_name"] == "Cora"
    assert api_customer(client, org, other["id"])["id"] == other["id"]
    cashier = member(app, client, org, "cashier")  # customers:write
    assert cashier.submit(f"/admin/customers/{customer['id']}/edit",
                          {"first_name": "Yes", "email": customer["email"]}).status_code == 303
    assert api_customer(client, org, customer["id"])["first_name"] == "Yes"


def test_another_organizations_customer_is_a_404(browser: Browser, client: TestClient,
                                                 org: Org, other_org: Org) -> None:
    theirs = make_customer(client, other_org)
    mine = make_customer(client, org)
    browser.sign_in(org.owner_email)
    assert browser.get(f"/admin/customers/{theirs['id']}").status_code == 404
    assert browser.submit(f"/admin/customers/{theirs['id']}/edit",
                          {"first_name": "X"}).status_code == 404
    refused = browser.submit(f"/admin/customers/{mine['id']}/merge",
                             {"duplicates": theirs["id"]})
    assert refused.status_code == 422
    assert api_customer(client, other_org, theirs["id"])["first_name"] == "Cora"
