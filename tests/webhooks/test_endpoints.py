"""Webhook endpoints over the API: secrets shown once and sealed, event filters, egress
checks, rotation, and tenancy."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from mercato.core.db import Database
from mercato.webhooks import matches
from tests.conftest import Org, stored_text
from tests.webhooks.conftest import create_endpoint

PATH = "/api/v1/webhook-endpoints"
PUBLIC = "https://93.184.215.14/hook"


def test_create_returns_the_secret_once_and_stores_it_sealed(
        hook_client: TestClient, org: Org, db: Database) -> None:
    created = create_endpoint(hook_client, org, PUBLIC, events=["order.*"],
                              description="ERP")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 30
    assert created["secret_last4"] == secret[-4:]
    assert created["breaker"] == {"state": "closed", "consecutive_failures": 0,
                                  "open_until": None}
    shown = hook_client.get(f"{PATH}/{created['id']}", headers=org.headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert secret not in shown.text
    listed = hook_client.get(PATH, headers=org.headers).json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert secret not in json.dumps(listed)
    assert secret not in stored_text(db)


def test_a_given_secret_is_used_and_a_weak_one_refused(hook_client: TestClient,
                                                        org: Org) -> None:
    created = create_endpoint(hook_client, org, PUBLIC, secret="my-own-secret-0123456789")
    assert created["secret"] == "my-own-secret-0123456789"
    weak = hook_client.post(PATH, headers=org.headers,
                            json={"url": PUBLIC, "events": ["*"], "secret": "short"})
    assert weak.status_code == 422
    spaced = hook_client.post(PATH, headers=org.headers, json={
        "url": PUBLIC, "events": ["*"], "secret": "has spaces in it, sixteen+"})
    assert spaced.status_code == 422
    assert spaced.json()["errors"][0]["field"] == "secret"


def test_event_filters_take_types_and_patterns_and_refuse_anything_else(
        hook_client: TestClient, org: Org) -> None:
    ok = create_endpoint(hook_client, org, PUBLIC,
                         events=["order.*", "product.updated", "order.*", "*"])
    assert ok["events"] == ["order.*", "product.updated", "*"]
    for bad in (["Order.Paid"], ["order.*.x"], ["order."], [""], ["a b"], []):
        answer = hook_client.post(PATH, headers=org.headers, json={"url": PUBLIC,
                                                                    "events": bad})
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"].startswith("events"), answer.text
    assert len(hook_client.get(PATH, headers=org.headers).json()["data"]) == 1


EVENT_TYPE = st.from_regex(r"\A[a-z]{1,6}(\.[a-z_]{1,6}){0,2}\Z")


@given(EVENT_TYPE, EVENT_TYPE)
def test_a_family_pattern_matches_exactly_the_types_under_it(prefix: str, event: str) -> None:
    assert matches(["*"], event)
    assert matches([event], event)
    assert matches([f"{prefix}.*"], event) == event.startswith(prefix + ".")
    assert matches([prefix], event) == (prefix == event)


def test_internal_targets_are_refused_unless_the_operator_allows_the_host(
        client: TestClient, hook_client: TestClient, org: Org) -> None:
    """``client``'s app allows no host; ``hook_client``'s allows 127.0.0.1 (and only it)."""
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.0.0.8/",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://x.test/"):
        refused = client.post(PATH, headers=org.headers, json={"url": url, "events": ["*"]})
        assert refused.status_code == 422, url
        assert refused.json()["errors"][0]["field"] == "url"
    assert hook_client.post(PATH, headers=org.headers, json={
        "url": "http://169.254.169.254/latest", "events": ["*"]}).status_code == 422
    allowed = create_endpoint(hook_client, org, "http://127.0.0.1:9/hook")
    moved = hook_client.patch(f"{PATH}/{allowed['id']}", headers=org.headers,
                              json={"url": "http://10.1.2.3/hook"})
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "url"
    assert hook_client.get(f"{PATH}/{allowed['id']}",
                           headers=org.headers).json()["url"] == "http://127.0.0.1:9/hook"


def test_update_pause_and_delete(hook_client: TestClient, org: Org) -> None:
    created = create_endpoint(hook_client, org, PUBLIC)
    url = f"{PATH}/{created['id']}"
    changed = hook_client.patch(url, headers=org.headers, json={
        "events": ["product.*"], "description": "catalog sync", "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["product.*"]
    assert changed.json()["enabled"] is False
    assert hook_client.patch(url, headers=org.headers,
                             json={"url": None}).status_code == 422
    assert hook_client.delete(url, headers=org.headers).status_code == 204
    assert hook_client.get(url, headers=org.headers).status_code == 404


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_the_grace(
        hook_client: TestClient, org: Org) -> None:
    created = create_endpoint(hook_client, org, PUBLIC)
    rotated = hook_client.post(f"{PATH}/{created['id']}/rotate-secret", headers=org.headers,
                               json={"grace_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"] != created["secret"]
    assert body["secret"].startswith("whsec_")
    assert body["previous_secret_last4"] == created["secret_last4"]
    assert body["previous_secret_expires_at"] is not None
    now = hook_client.post(f"{PATH}/{created['id']}/rotate-secret", headers=org.headers,
                           json={"grace_seconds": 0}).json()
    assert now["previous_secret_last4"] is None
    assert now["previous_secret_expires_at"] is None
    too_long = hook_client.post(f"{PATH}/{created['id']}/rotate-secret", headers=org.headers,
                                json={"grace_seconds": 10**9})
    assert too_long.status_code == 422


def test_another_organizations_endpoints_are_404_and_unlisted(
        hook_client: TestClient, org: Org, other_org: Org) -> None:
    created = create_endpoint(hook_client, org, PUBLIC)
    url = f"{PATH}/{created['id']}"
    for method, path in (("GET", url), ("PATCH", url), ("DELETE", url),
                         ("POST", f"{url}/rotate-secret"), ("GET", f"{url}/deliveries"),
                         ("POST", f"{url}/deliveries/retry")):
        answer = hook_client.request(method, path, headers=other_org.headers,
                                     json={} if method in ("POST", "PATCH") else None)
        assert answer.status_code == 404, (method, path, answer.text)
    assert hook_client.get(PATH, headers=other_org.headers).json()["data"] == []
    assert hook_client.get(url, headers=org.headers).status_code == 200
