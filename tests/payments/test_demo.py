"""The demo's Stripe: the emulator started on its own port and the store connected to it, so a
card checkout works with no Stripe account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.payments.demo import start_stripe_emulator
from mercato.settings import Settings
from tests.checkout.helpers import ADDRESS, checkout, new_cart, shop
from tests.conftest import LiveServer, Org, free_port


def test_the_demo_connects_its_store_to_a_stripe_emulator_that_takes_a_test_card(
        client: TestClient, org: Org, settings: Settings, live_server: LiveServer) -> None:
    url = start_stripe_emulator(settings, org.id, org.slug, live_server.url, "127.0.0.1",
                                free_port())
    connected = client.get("/api/v1/payments/stripe", headers=org.headers)
    assert connected.status_code == 200, connected.text
    assert connected.json()["api_base"] == url
    skus, _, method = shop(client, org, [1])
    cart = new_cart(client, org, [(skus[0], 1)], method_id=method, address=ADDRESS)
    paid = checkout(client, org, cart["id"], {"method": "stripe",
                                              "payment_method": "pm_card_visa"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["financial_status"] == "paid"
