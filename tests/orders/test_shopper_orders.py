"""The signed-in shopper's order history (``orders.api_store``): guest orders placed with the
account's email appear once the email is verified, without stock detail."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.conftest import Org
from tests.identity.test_customer_accounts import mailed_token
from tests.orders.helpers import place_order, stocked
from tests.storefront_helpers import sign_up, store_url


def test_guest_orders_show_in_history_only_after_the_email_is_verified(
        client: TestClient, org: Org, db: Database) -> None:
    skus, _ = stocked(client, org, [3])
    email = "collector@example.com"
    guest = place_order(client, org, [(skus[0], 1)], customer={"email": email})
    shopper = sign_up(client, org.slug, email=email)
    history = client.get(store_url(org.slug, "/me/orders"), headers=shopper["headers"])
    assert history.status_code == 200
    assert history.json()["data"] == []
    hidden = client.get(store_url(org.slug, f"/me/orders/{guest['id']}"),
                        headers=shopper["headers"])
    assert hidden.status_code == 404
    token = mailed_token(db, org, "verify_email", email)
    verified = client.post(store_url(org.slug, "/auth/verify-email/confirm"),
                           json={"token": token})
    assert verified.status_code == 200, verified.text
    history = client.get(store_url(org.slug, "/me/orders"), headers=shopper["headers"]).json()
    assert [o["id"] for o in history["data"]] == [guest["id"]]
    one = client.get(store_url(org.slug, f"/me/orders/{guest['id']}"),
                     headers=shopper["headers"]).json()
    assert one["number"] == guest["number"]
    assert "allocations" not in one["lines"][0]
