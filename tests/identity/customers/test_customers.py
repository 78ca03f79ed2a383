"""Customer records (``identity.customers.api``): emails unique per organization, addresses,
tags, merge, and the figures orders give them (lifetime value)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org, walk_pages
from tests.orders.helpers import place_order, place_raw, stocked, unique

CUSTOMERS = "/api/v1/customers"


def new_customer(client: TestClient, org: Org, **body: object) -> dict:
    response = client.post(CUSTOMERS, headers=org.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_customer_has_emails_phones_addresses_and_tags(client: TestClient,
                                                          org: Org) -> None:
    email = f"{unique().lower()}@example.com"
    made = new_customer(client, org, email=email.upper(), emails=["alt@example.com"],
                        first_name="Ada", last_name="Lovelace", phones=["+1 555 0100"],
                        tags=["vip", "buylist"], addresses=[
                            {"address": {"line1": "1 Main St", "country": "US"},
                             "default_shipping": True}])
    assert made["email"] == email
    assert sorted(made["emails"]) == sorted([email, "alt@example.com"])
    assert made["tags"] == ["buylist", "vip"]
    assert made["addresses"][0]["default_shipping"] is True
    assert (made["orders_count"], made["lifetime_value"]) == (0, {})
    url = f"{CUSTOMERS}/{made['id']}"
    etag = client.get(url, headers=org.headers).headers["ETag"]
    changed = client.patch(url, headers={**org.headers, "If-Match": etag},
                           json={"phones": ["+1 555 0199"], "note": "prefers pickup"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["phones"], changed.json()["note"]) == (["+1 555 0199"],
                                                                  "prefers pickup")
    assert client.patch(url, headers={**org.headers, "If-Match": etag},
                        json={"note": "x"}).status_code == 412


def test_an_email_belongs_to_one_customer_per_organization(client: TestClient, org: Org,
                                                           other_org: Org) -> None:
    email = f"{unique().lower()}@example.com"
    new_customer(client, org, email=email)
    clash = client.post(CUSTOMERS, headers=org.headers, json={"emails": [email.upper()]})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "email"
    new_customer(client, other_org, email=email)  # another store's customer
    bad = client.post(CUSTOMERS, headers=org.headers, json={"email": "nope"})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "email")
    two = client.post(CUSTOMERS, headers=org.headers, json={"addresses": [
        {"address": {}, "default_billing": True}, {"address": {}, "default_billing": True}]})
    assert two.status_code == 422


def test_merging_moves_emails_orders_tags_and_addresses_and_deletes_the_duplicates(
        client: TestClient, org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    a_mail, b_mail = (f"{unique().lower()}@example.com" for _ in range(2))
    keep = new_customer(client, org, email=a_mail, tags=["vip"], phones=["1"])
    dup = new_customer(client, org, email=b_mail, tags=["buylist"], phones=["2"],
                       addresses=[{"address": {"line1": "2 Side St"}}])
    place_order(client, org, [(skus[0], 1)], customer={"email": a_mail},
                payments=[{"method": "card"}])
    place_order(client, org, [(skus[0], 2)], customer={"email": b_mail},
                payments=[{"method": "card"}])
    merged = client.post(f"{CUSTOMERS}/{keep['id']}/merge", headers=org.headers,
                         json={"duplicates": [dup["id"]]})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert sorted(body["emails"]) == sorted([a_mail, b_mail])
    assert (body["tags"], body["phones"]) == (["buylist", "vip"], ["1", "2"])
    assert [a["address"]["line1"] for a in body["addresses"]] == ["2 Side St"]
    assert (body["orders_count"], body["lifetime_value"]) == (2, {"USD": "30.00"})
    assert client.get(f"{CUSTOMERS}/{dup['id']}", headers=org.headers).status_code == 404
    # a later order with the duplicate's email lands on the kept customer
    later = place_order(client, org, [(skus[0], 1)], customer={"email": b_mail})
    assert later["customer_id"] == keep["id"]
    bad = client.post(f"{CUSTOMERS}/{keep['id']}/merge", headers=org.headers,
                      json={"duplicates": [keep["id"]]})
    assert bad.status_code == 422
    missing = client.post(f"{CUSTOMERS}/{keep['id']}/merge", headers=org.headers,
                          json={"duplicates": ["NOPE"]})
    assert missing.status_code == 422


def test_customers_are_searchable_by_name_email_and_tag(client: TestClient,
                                                        org: Org) -> None:
    tag = f"t{unique().lower()}"
    grace = new_customer(client, org, first_name="Grace", last_name="Hopper", tags=[tag],
                         email=f"{unique().lower()}@navy.example")
    new_customer(client, org, first_name="Alan", last_name="Turing")

    def ids(**params: str) -> list[str]:
        return [c["id"] for c in walk_pages(client, CUSTOMERS, org.headers, limit=2, **params)]

    assert ids(tag=tag) == [grace["id"]]
    assert ids(q="grace hop") == [grace["id"]]
    assert ids(q="navy.example") == [grace["id"]]
    assert len(ids()) == 2


def test_lifetime_value_is_kept_per_currency_never_summed_across(client: TestClient,
                                                                  org: Org) -> None:
    skus, _ = stocked(client, org, [5])
    email = f"{unique().lower()}@example.com"
    customer = new_customer(client, org, email=email)
    place_order(client, org, [(skus[0], 1)], customer={"email": email},
                payments=[{"method": "card"}])
    place_raw(client, org, currency="EUR", customer={"email": email},
              lines=[{"sku": skus[0], "quantity": 2, "unit_price": "7.50"}],
              payments=[{"method": "card"}])
    got = client.get(f"{CUSTOMERS}/{customer['id']}", headers=org.headers).json()
    assert (got["orders_count"], got["lifetime_value"]) == (2, {"EUR": "15.00", "USD": "10.00"})


def test_customer_search_and_tag_filter_match_wildcards_literally(client: TestClient,
                                                                  org: Org) -> None:
    """``q=%`` and ``q=_`` find those characters; a tag filter of ``%`` or ``a_c`` is the
    tag itself, never a pattern matching other tags."""
    tag = f"t{unique().lower()}"
    odd = new_customer(client, org, first_name="50%", last_name="Off_ice",
                       tags=[f"{tag}%", f"{tag}_x", 'quote"d'])
    new_customer(client, org, first_name="Plain", last_name="Name", tags=[f"{tag}ab", "a\\b"])

    def ids(**params: str) -> list[str]:
        return [c["id"] for c in walk_pages(client, CUSTOMERS, org.headers, limit=5, **params)]

    assert ids(q="%") == [odd["id"]]
    assert ids(q="_") == [odd["id"]]
    assert ids(tag=f"{tag}%") == [odd["id"]]
    assert ids(tag=f"{tag}_x") == [odd["id"]]
    assert ids(tag=f"{tag}_b") == []
    assert ids(tag='quote"d') == [odd["id"]]
    assert ids(tag="%") == []
