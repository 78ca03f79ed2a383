"""Shopper accounts: sign-up, customer tokens kept apart from staff ones, rate-limited sign-in,
password reset and email verification by mailed token, the address book (the order history
is orders', tests/orders/test_shopper_orders.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import Database
from mercato.notifications.models import Notification
from mercato.notifications.service import bodies
from tests.conftest import Org, create_org
from tests.storefront_helpers import SHOPPER_PASSWORD, sign_in, sign_up, store_url
from tests.tenancy.verifiers import verified_domain


def mailed_token(db: Database, org: Org, kind: str, to: str) -> str:
    """The token in the newest email of ``kind`` to ``to`` (as the shopper would read it)."""
    with db.transaction(tenant=org.id) as session:
        email = session.scalars(select(Notification).where(
            Notification.kind == kind, Notification.recipient == to)
            .order_by(Notification.created_at.desc())).first()
        assert email is not None, f"no {kind} email to {to}"
        body = bodies(session, email)[0]  # stored sealed: opened as the worker sends it
    found = re.search(r"cst_\S+", body)
    assert found, body
    return found.group(0).rstrip(".")


def test_a_shopper_signs_up_signs_in_and_sees_their_profile(client: TestClient,
                                                             org: Org) -> None:
    shopper = sign_up(client, org.slug, first_name="Ada")
    assert shopper["verified"] is False
    assert shopper["first_name"] == "Ada"
    me = client.get(store_url(org.slug, "/me"), headers=shopper["headers"])
    assert me.status_code == 200, me.text
    assert me.json()["email"] == shopper["email"]
    assert client.get(store_url(org.slug, "/me")).status_code == 401
    # the sign-up is a customer record staff can see
    staff_view = client.get(f"/api/v1/customers/{shopper['customer_id']}", headers=org.headers)
    assert staff_view.json()["email"] == shopper["email"]


def test_customer_and_staff_tokens_never_cross(client: TestClient, org: Org) -> None:
    shopper = sign_up(client, org.slug)
    assert client.get("/api/v1/me", headers=shopper["headers"]).status_code == 401
    assert client.get(store_url(org.slug, "/me"), headers=org.headers).status_code == 401


def test_a_token_of_one_store_is_refused_by_another(client: TestClient, org: Org,
                                                    other_org: Org) -> None:
    shopper = sign_up(client, org.slug)
    other = client.get(store_url(other_org.slug, "/me"), headers=shopper["headers"])
    assert other.status_code == 401


def test_the_same_email_signs_up_once_per_store(client: TestClient, org: Org,
                                                other_org: Org) -> None:
    shopper = sign_up(client, org.slug)
    again = client.post(store_url(org.slug, "/customers"),
                        json={"email": shopper["email"].upper(), "password": SHOPPER_PASSWORD})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    elsewhere = sign_up(client, other_org.slug, email=shopper["email"])
    assert elsewhere["customer_id"] != shopper["customer_id"]


def test_sign_up_rejects_a_weak_password_and_changes_nothing(client: TestClient,
                                                             org: Org) -> None:
    response = client.post(store_url(org.slug, "/customers"),
                           json={"email": "weak@example.com", "password": "short"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "password"
    found = client.get("/api/v1/customers", headers=org.headers, params={"q": "weak@"})
    assert found.json()["data"] == []


def test_failed_sign_ins_are_rate_limited(client: TestClient, db: Database) -> None:
    from tests.conftest import make_settings

    org = create_org(db, make_settings(str(db.engine.url)))
    shopper = sign_up(client, org.slug)
    statuses = [client.post(store_url(org.slug, "/auth/token"),
                            json={"email": shopper["email"], "password": "wrong password!"}
                            ).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    locked = client.post(store_url(org.slug, "/auth/token"),
                         json={"email": shopper["email"], "password": SHOPPER_PASSWORD})
    assert locked.status_code == 429
    assert "Retry-After" in locked.headers


def test_password_reset_by_mailed_token_ends_old_sign_ins(client: TestClient, org: Org,
                                                          db: Database) -> None:
    shopper = sign_up(client, org.slug)
    asked = client.post(store_url(org.slug, "/auth/password-reset"),
                        json={"email": shopper["email"]})
    assert asked.status_code == 202
    token = mailed_token(db, org, "password_reset", shopper["email"])
    done = client.post(store_url(org.slug, "/auth/password-reset/confirm"),
                       json={"token": token, "password": "a brand new password"})
    assert done.status_code == 200, done.text
    fresh = {"Authorization": f"Bearer {done.json()['access_token']}"}
    assert client.get(store_url(org.slug, "/me"), headers=shopper["headers"]).status_code == 401
    me = client.get(store_url(org.slug, "/me"), headers=fresh)
    assert me.status_code == 200
    assert me.json()["verified"] is True
    sign_in(client, org.slug, shopper["email"], "a brand new password")
    reused = client.post(store_url(org.slug, "/auth/password-reset/confirm"),
                         json={"token": token, "password": "yet another password"})
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "token"


def test_password_reset_for_an_unknown_email_says_the_same_and_mails_nothing(
        client: TestClient, org: Org, db: Database) -> None:
    asked = client.post(store_url(org.slug, "/auth/password-reset"),
                        json={"email": "nobody@example.com"})
    assert asked.status_code == 202
    with db.transaction(tenant=org.id) as session:
        assert session.scalars(select(Notification).where(
            Notification.recipient == "nobody@example.com")).all() == []


def test_the_address_book_keeps_one_default_of_each_kind(client: TestClient, org: Org,
                                                        other_org: Org) -> None:
    shopper = sign_up(client, org.slug)
    url = store_url(org.slug, "/me/addresses")
    first = client.post(url, headers=shopper["headers"],
                        json={"address": {"line1": "1 Main St", "country": "US"}})
    assert first.status_code == 201, first.text
    assert (first.json()["default_shipping"], first.json()["default_billing"]) == (True, True)
    second = client.post(url, headers=shopper["headers"], json={
        "address": {"line1": "2 Side St", "country": "US"}, "default_shipping": True}).json()
    book = client.get(url, headers=shopper["headers"]).json()
    shipping_defaults = [a["id"] for a in book if a["default_shipping"]]
    assert shipping_defaults == [second["id"]]
    changed = client.patch(f"{url}/{first.json()['id']}", headers=shopper["headers"],
                           json={"address": {"line1": "1 Main Street", "country": "US"}})
    assert changed.json()["address"]["line1"] == "1 Main Street"
    stranger = sign_up(client, org.slug)
    assert client.delete(f"{url}/{second['id']}",
                         headers=stranger["headers"]).status_code == 404
    assert client.delete(f"{url}/{second['id']}",
                         headers=shopper["headers"]).status_code == 204
    assert len(client.get(url, headers=shopper["headers"]).json()) == 1


def test_a_verified_custom_domain_reaches_the_same_store(client: TestClient, org: Org) -> None:
    domain = f"{org.slug}.cards.test"
    verified_domain(client, org, domain)
    shopper = sign_up(client, org.slug)
    me = client.get("/store/v1/me", headers={**shopper["headers"], "Host": domain})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == shopper["customer_id"]


def test_an_unknown_store_is_404(client: TestClient) -> None:
    response = client.post(store_url("no-such-store", "/customers"),
                           json={"email": "a@example.com", "password": SHOPPER_PASSWORD})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
