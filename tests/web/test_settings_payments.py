"""Settings: payment gateways, gift cards, store credit."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.web.conftest import Browser
from tests.web.test_settings import signed_in


def test_methods_and_stripe_keys_never_shown_again(browser: Browser, client: TestClient,
                                                   org: Org) -> None:
    browser.sign_in(org.owner_email)
    assert browser.get("/admin/settings/payments").status_code == 200
    saved = browser.submit("/admin/settings/payments/methods",
                           {"enabled": ["manual", "gift_card"]})
    assert saved.status_code == 303, saved.text
    methods = client.get("/api/v1/payments/methods", headers=org.headers).json()
    assert methods["enabled"] == ["manual", "gift_card"]
    secret = "sk_test_" + "a1b2c3d4e5f6g7h8"
    stripe = browser.submit("/admin/settings/payments/stripe", {
        "secret_key": secret, "publishable_key": "pk_test_12345678"})
    assert stripe.status_code == 303, stripe.text
    api = client.get("/api/v1/payments/stripe", headers=org.headers).json()
    assert api["configured"] is True
    assert api["secret_key"]["last4"] == "g7h8"
    page = browser.get("/admin/settings/payments")
    assert secret not in page.text
    assert "ending in g7h8" in page.text
    kept = browser.submit("/admin/settings/payments/stripe",
                          {"publishable_key": "pk_test_87654321"})
    assert kept.status_code == 303
    api = client.get("/api/v1/payments/stripe", headers=org.headers).json()
    assert (api["configured"], api["publishable_key"]) == (True, "pk_test_87654321")


def test_a_bad_stripe_key_is_422_and_changes_nothing(app: FastAPI, browser: Browser,
                                                     client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/payments/stripe", {"secret_key": "not-a-key"})
    assert refused.status_code == 422
    assert 'id="e-secret_key"' in refused.text
    assert "not-a-key" not in refused.text  # a secret is never echoed
    assert client.get("/api/v1/payments/stripe", headers=org.headers).json()[
        "configured"] is False
    cashier = signed_in(app, client, org, "cashier")
    assert cashier.get("/admin/settings/payments").status_code == 200  # payments:read
    assert cashier.submit("/admin/settings/payments/methods",
                          {"enabled": ["manual"]}).status_code == 403
    clerk = signed_in(app, client, org, "fulfillment")
    assert clerk.get("/admin/settings/payments").status_code == 403


def test_issue_a_gift_card_code_shown_once_then_adjust_and_disable(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    issued = browser.submit("/admin/settings/gift-cards", {
        "initial_balance": "25.00", "currency": "USD", "expires_at": "2030-01-01T10:00"})
    assert issued.status_code == 200, issued.text
    code = re.search(r'id="gift-card-code" type="text" readonly value="([^"]+)"', issued.text)
    assert code
    card = client.get("/api/v1/gift-cards", headers=org.headers).json()["data"][0]
    assert card["expires_at"].startswith("2030-01-01T10:00")  # the store's zone is UTC
    page = browser.get(f"/admin/settings/gift-cards/{card['id']}")
    assert code.group(1) not in page.text
    assert code.group(1) not in browser.get("/admin/settings/gift-cards").text
    spent = browser.submit(f"/admin/settings/gift-cards/{card['id']}/adjust",
                           {"kind": "redeem", "amount": "-5.00", "reason": "counter sale"})
    assert spent.status_code == 303, spent.text
    assert client.get(f"/api/v1/gift-cards/{card['id']}", headers=org.headers).json()[
        "balance"] == "20.00"
    too_much = browser.submit(f"/admin/settings/gift-cards/{card['id']}/adjust",
                              {"kind": "redeem", "amount": "-50.00", "reason": "x"})
    assert too_much.status_code == 409
    wrong_sign = browser.submit(f"/admin/settings/gift-cards/{card['id']}/adjust",
                                {"kind": "reload", "amount": "-1", "reason": "x"})
    assert wrong_sign.status_code == 422
    assert 'id="e-amount"' in wrong_sign.text
    off = browser.submit(f"/admin/settings/gift-cards/{card['id']}", {"disabled": "true"})
    assert off.status_code == 303
    after = client.get(f"/api/v1/gift-cards/{card['id']}", headers=org.headers).json()
    assert (after["status"], after["balance"]) == ("disabled", "20.00")
    listed = browser.get("/admin/settings/gift-cards", params={"status": "disabled"},
                         headers={"HX-Request": "true"})
    assert listed.status_code == 200
    assert "<html" not in listed.text
    assert card["last4"] in listed.text


def test_a_bad_gift_card_is_422_and_issues_nothing(browser: Browser, client: TestClient,
                                                   org: Org) -> None:
    browser.sign_in(org.owner_email)
    refused = browser.submit("/admin/settings/gift-cards",
                             {"initial_balance": "-3", "currency": "USD", "note": "kept"})
    assert refused.status_code == 422
    assert 'id="e-initial_balance"' in refused.text
    assert ">kept</textarea>" in refused.text
    assert client.get("/api/v1/gift-cards", headers=org.headers).json()["data"] == []


def test_grant_and_deduct_store_credit(browser: Browser, client: TestClient,
                                       org: Org) -> None:
    email = f"buyer-{new_id().lower()}@example.com"
    made = client.post("/api/v1/customers", headers=org.headers, json={"email": email})
    assert made.status_code == 201, made.text
    customer_id = made.json()["id"]
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/settings/store-credit", params={"email": email})
    assert page.status_code == 200
    assert "Grant or deduct credit" in page.text
    granted = browser.submit("/admin/settings/store-credit", {
        "email": email, "action": "grant", "amount": "10", "currency": "USD",
        "reason": "apology"})
    assert granted.status_code == 303, granted.text
    credit = client.get(f"/api/v1/customers/{customer_id}/store-credit",
                        headers=org.headers).json()
    assert credit["balances"] == [{"currency": "USD", "balance": "10.00"}]
    refused = browser.submit("/admin/settings/store-credit", {
        "email": email, "action": "deduct", "amount": "", "currency": "USD",
        "reason": "oops"})
    assert refused.status_code == 422
    assert 'id="e-amount"' in refused.text
    unknown = browser.submit("/admin/settings/store-credit", {
        "email": "nobody@example.com", "action": "grant", "amount": "1", "currency": "USD",
        "reason": "x"})
    assert unknown.status_code == 422
    assert client.get(f"/api/v1/customers/{customer_id}/store-credit",
                      headers=org.headers).json()["balances"][0]["balance"] == "10.00"
