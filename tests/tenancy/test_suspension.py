"""A suspended organization answers 423 ``organization_suspended`` on every surface, issues no
tokens and runs no background work; reactivated, everything is as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher, Event, OutboxDelivery, record_event, subscribe
from mercato.settings import Settings
from mercato.tenancy.service import verify_by_operator
from tests.catalog.probe_fixtures import make_product
from tests.channels.helpers import ShopifyServer
from tests.conftest import PASSWORD, Org
from tests.notifications.smtp import Inbox, smtp_server
from tests.platform_helpers import operator_headers, reactivate, suspend
from tests.storefront_helpers import SHOPPER_PASSWORD, sign_up
from tests.web.conftest import Browser

SUSPENDED = "organization_suspended"
PROBE_EVENT = "test.suspension_probe"
delivered: list[str] = []


@subscribe(PROBE_EVENT, name="tests.suspension_probe")
def _record_delivery(_session: Any, event: Event) -> None:
    delivered.append(event.resource_id)


@pytest.fixture
def shopify() -> Iterator[ShopifyServer]:
    with ShopifyServer() as server:
        yield server


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def ops(client: TestClient, db: Database, settings: Settings) -> dict[str, str]:
    return operator_headers(client, db, settings)


def _locked_problem(answer: Any, what: str) -> None:
    assert answer.status_code == 423, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json"), what
    assert answer.json()["code"] == SUSPENDED, what


def _locked_page(answer: Any, what: str) -> None:
    assert answer.status_code == 423, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html"), what
    assert "This organization is suspended" in answer.text, what


def test_a_suspended_organization_answers_423_everywhere_and_reactivated_as_before(
    app: FastAPI, client: TestClient, db: Database, settings: Settings, org: Org,
    other_org: Org, ops: dict[str, str]
) -> None:
    product = make_product(client, org)
    client.patch(f"/api/v1/products/{product['id']}", headers=org.headers,
                 json={"status": "active"})
    key = client.post("/api/v1/api-keys", headers=org.headers,
                      json={"name": "k", "scopes": ["catalog:read"]}).json()["key"]
    key_headers = {"Authorization": f"Bearer {key}"}
    shopper = sign_up(client, org.slug)
    signed_in = client.post("/api/v1/auth/token",
                            json={"email": org.owner_email, "password": PASSWORD})
    refresh = signed_in.json()["refresh_token"]
    domain = f"{org.slug}.shop.test"
    with db.transaction(tenant=org.id) as session:
        verify_by_operator(session, org.id, domain, platform_hosts=settings.platform_hosts)
    app.state.domains.forget()
    with Browser(app, raise_server_exceptions=False, base_url="http://testserver") as admin:
        admin.sign_in(org.owner_email)
        before = client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json()

        suspended = suspend(client, ops, org.id, reason="Payment overdue")
        assert suspended["status"] == "suspended"
        assert suspended["suspension_reason"] == "Payment overdue"
        assert suspended["suspended_at"]

        # APIs: a staff token, an API key, the storefront, a shopper's account, webhooks
        _locked_problem(client.get("/api/v1/products", headers=org.headers), "staff token")
        _locked_problem(client.get("/api/v1/products", headers=key_headers), "API key")
        _locked_problem(client.get(f"/store/v1/{org.slug}"), "store descriptor")
        _locked_problem(client.get(f"/store/v1/{org.slug}/products"), "store listing")
        _locked_problem(client.get(f"/store/v1/{org.slug}/me", headers=shopper["headers"]),
                        "shopper account")
        _locked_problem(client.post(f"/webhooks/stripe/{org.slug}", content=b"{}"),
                        "stripe webhook")
        _locked_problem(client.post(f"/webhooks/shopify/{org.slug}", content=b"{}"),
                        "shopify webhook")
        _locked_problem(client.get("/store/v1/products", headers={"Host": domain}),
                        "custom domain API")
        # no tokens: staff sign-in, refresh, shopper sign-in
        _locked_problem(client.post("/api/v1/auth/token", json={
            "email": org.owner_email, "password": PASSWORD}), "staff token")
        _locked_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}),
                        "refresh")
        _locked_problem(client.post(f"/store/v1/{org.slug}/auth/token", json={
            "email": shopper["email"], "password": SHOPPER_PASSWORD}), "customer token")
        # pages: the admin, the POS, the storefront, the custom domain's storefront
        _locked_page(admin.get("/admin"), "admin")
        _locked_page(admin.get("/pos"), "POS")
        _locked_page(client.get(f"/s/{org.slug}"), "storefront")
        _locked_page(client.get("/", headers={"Host": domain}), "custom domain page")
        with Browser(app, raise_server_exceptions=False) as fresh:
            form = fresh.get("/admin/login")
            from tests.web.conftest import csrf_of
            _locked_page(fresh.post("/admin/login", data={
                "email": org.owner_email, "password": PASSWORD, "next": "/admin",
                "csrf_token": csrf_of(form.text)}), "admin sign-in")

        # another organization is untouched
        assert client.get("/api/v1/products", headers=other_org.headers).status_code == 200
        assert client.get(f"/store/v1/{other_org.slug}").status_code == 200

        back = reactivate(client, ops, org.id)
        assert back["status"] == "active"
        assert back["suspended_at"] is None
        assert back["suspension_reason"] is None

        after = client.get(f"/api/v1/products/{product['id']}", headers=org.headers)
        assert after.status_code == 200
        assert after.json() == before  # data untouched
        assert client.get("/api/v1/products", headers=key_headers).status_code == 200
        assert client.get(f"/store/v1/{org.slug}").status_code == 200
        assert client.get(f"/store/v1/{org.slug}/me",
                          headers=shopper["headers"]).status_code == 200
        assert client.post("/api/v1/auth/refresh",
                           json={"refresh_token": refresh}).status_code == 200
        assert client.post(f"/store/v1/{org.slug}/auth/token", json={
            "email": shopper["email"], "password": SHOPPER_PASSWORD}).status_code == 200
        assert admin.get("/admin").status_code == 200
        assert admin.get("/pos").status_code == 200
        assert client.get(f"/s/{org.slug}").status_code == 200
        assert client.get("/", headers={"Host": domain}).status_code == 200


def test_an_event_recorded_while_suspended_is_delivered_only_after_reactivation(
    client: TestClient, db: Database, org: Org, other_org: Org, ops: dict[str, str]
) -> None:
    suspend(client, ops, org.id)
    for owner in (org, other_org):
        with db.transaction(tenant=owner.id) as session:
            record_event(session, PROBE_EVENT, resource_type="probe",
                         resource_id=f"probe-{owner.id}", data={},
                         organization_id=owner.id)
    Dispatcher(db).drain()
    assert f"probe-{other_org.id}" in delivered  # another organization's work goes on
    assert f"probe-{org.id}" not in delivered
    with db.session(write=False, tenant="*") as session:
        waiting = session.scalar(select(OutboxDelivery.status).where(
            OutboxDelivery.organization_id == org.id,
            OutboxDelivery.handler == "tests.suspension_probe"))
    assert waiting == "pending"  # kept, not failed

    reactivate(client, ops, org.id)
    Dispatcher(db).drain()
    assert delivered.count(f"probe-{org.id}") == 1


def test_a_suspended_organizations_channel_jobs_and_emails_wait_until_reactivation(
    client: TestClient, db: Database, settings: Settings, org: Org, ops: dict[str, str],
    shopify: ShopifyServer, inbox: Inbox
) -> None:
    from mercato.channels.jobs import claim_job
    from mercato.notifications.service import queue, send_pending
    from tests.channels.helpers import connect, start_job
    from tests.notifications.test_notifications import smtp

    channel = connect(client, org, shopify)["channel"]
    queued = start_job(client, org, channel["id"], "product_import")
    recipient = f"ada-{new_id().lower()}@example.com"
    with db.transaction(tenant=org.id) as session:
        queue(session, kind="verify_email", to=recipient, reference=f"wait-{new_id()}",
              context={"store_name": "Shop", "customer_name": None, "expires_at": "soon",
                       "verify_url": "https://shop.example/v", "token": "1"})
    suspend(client, ops, org.id)

    assert claim_job(db, "test-runner", organization_id=org.id) is None
    send_pending(db, smtp(settings, inbox.port))
    assert inbox.to(recipient) == []

    reactivate(client, ops, org.id)
    assert claim_job(db, "test-runner", organization_id=org.id) == queued["id"]
    send_pending(db, smtp(settings, inbox.port))
    assert len(inbox.to(recipient)) == 1
