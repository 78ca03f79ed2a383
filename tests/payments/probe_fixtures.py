from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.payments.helpers import issue_card
from tests.probe import probe_body, probe_fixture


@probe_fixture("gift_card_id")
def gift_card(client: TestClient, org: Org) -> str:
    return str(issue_card(client, org, "10.00")["id"])


probe_body("PATCH", "/api/v1/gift-cards/{gift_card_id}", {"note": "probe"})
probe_body("POST", "/api/v1/gift-cards/{gift_card_id}/adjustments",
           {"amount": "1.00", "kind": "reload", "reason": "probe"})
probe_body("POST", "/api/v1/customers/{customer_id}/store-credit",
           {"action": "grant", "amount": "1.00", "currency": "USD", "reason": "probe"})
