"""Connections: credentials sealed at rest and never shown, one per channel and one per
platform account (Shopify and BinderPOS being one platform, the account compared normalised,
held by the database too), mappings, and the sync job lifecycle through the API (queue, 409 on
a twin, cancel, retry)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mercato.channels import jobs, registry
from mercato.channels.models import Connection
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.channels.helpers import ACCESS_TOKEN, CLIENT_SECRET, VERSION, start_job
from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants

BODY = {"kind": "shopify", "account": "card-store.myshopify.com", "api_version": VERSION,
        "credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}}


def channel(client: TestClient, org: Org, kind: str = "shopify") -> dict[str, Any]:
    response = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"C {new_id()}", "kind": kind,
        "locations": [make_location(client, org)["id"]]})
    assert response.status_code == 201, response.text
    return dict(response.json())


def body(**changes: Any) -> dict[str, Any]:
    return {**BODY, "account": f"s-{new_id()[-8:].lower()}.myshopify.com", **changes}


def test_connecting_seals_credentials_and_shows_only_their_last_four(
        client: TestClient, org: Org, db: Database) -> None:
    made = channel(client, org)
    response = client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                          json=body())
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["credentials"]["access_token"] == {"set": True, "last4": ACCESS_TOKEN[-4:]}
    assert ACCESS_TOKEN not in response.text
    assert CLIENT_SECRET not in response.text
    assert out["health"]["status"] == "unknown"
    with db.session(tenant=org.id) as session:
        row = session.scalar(select(Connection).where(Connection.id == out["id"]))
        assert row is not None
        assert ACCESS_TOKEN not in row.credentials
        assert CLIENT_SECRET not in row.credentials
    again = client.get(f"/api/v1/channels/{made['id']}/connection", headers=org.headers)
    assert again.status_code == 200
    assert again.json()["account"] == out["account"]


def test_updating_without_credentials_keeps_the_stored_ones(client: TestClient,
                                                            org: Org) -> None:
    made = channel(client, org)
    first = body()
    assert client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                      json=first).status_code == 201
    changed = {k: v for k, v in first.items() if k != "credentials"}
    changed["settings"] = {"schedules": {"order_pull": 600}}
    response = client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                          json=changed)
    assert response.status_code == 200, response.text
    assert response.json()["credentials"]["client_secret"]["set"] is True
    assert response.json()["settings"]["schedules"] == {"order_pull": 600}


def test_connection_rules_are_422_or_409_and_change_nothing(client: TestClient,
                                                             org: Org) -> None:
    web = channel(client, org, kind="web")
    wrong = client.put(f"/api/v1/channels/{web['id']}/connection", headers=org.headers,
                       json=body())
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["errors"][0]["field"] == "kind"
    shop = channel(client, org)
    missing = client.put(f"/api/v1/channels/{shop['id']}/connection", headers=org.headers,
                         json={k: v for k, v in body().items() if k != "credentials"})
    assert missing.status_code == 422
    taken = body()
    assert client.put(f"/api/v1/channels/{shop['id']}/connection", headers=org.headers,
                      json=taken).status_code == 201
    other = channel(client, org)
    twice = client.put(f"/api/v1/channels/{other['id']}/connection", headers=org.headers,
                       json=taken)
    assert twice.status_code == 409
    assert client.get(f"/api/v1/channels/{other['id']}/connection",
                      headers=org.headers).status_code == 404
    binder = channel(client, org, kind="binderpos")
    as_channel = client.put(f"/api/v1/channels/{binder['id']}/connection",
                            headers=org.headers, json=body(kind="binderpos", mode="channel"))
    assert as_channel.status_code == 422
    assert as_channel.json()["errors"][0]["field"] == "mode"


def test_a_shop_has_one_connection_whatever_the_kind_and_however_its_domain_is_written(
        client: TestClient, org: Org) -> None:
    shop = f"s-{new_id()[-8:].lower()}.myshopify.com"
    first = channel(client, org)
    made = client.put(f"/api/v1/channels/{first['id']}/connection", headers=org.headers,
                      json=body(account=shop))
    assert made.status_code == 201, made.text
    binder = channel(client, org, kind="binderpos")
    for account in (shop, f"https://{shop.capitalize()}/", f"  {shop.upper()} "):
        taken = client.put(f"/api/v1/channels/{binder['id']}/connection", headers=org.headers,
                           json=body(kind="binderpos", mode="system_of_record",
                                     account=account,
                                     credentials={"access_token": "shpat_wrong_token_0",
                                                  "client_secret": "wrong_secret_0"}))
        assert taken.status_code == 409, taken.text
        assert taken.headers["content-type"].startswith("application/problem+json")
        assert taken.json()["errors"][0]["field"] == "account"
        assert taken.json()["channel_id"] == first["id"]
    assert client.get(f"/api/v1/channels/{binder['id']}/connection",
                      headers=org.headers).status_code == 404
    second = channel(client, org)
    assert client.put(f"/api/v1/channels/{second['id']}/connection", headers=org.headers,
                      json=body(account=shop.upper())).status_code == 409
    # a URL is taken as its lowercase host
    third = channel(client, org)
    written = f"s-{new_id()[-8:].lower()}.myshopify.com"
    as_url = client.put(f"/api/v1/channels/{third['id']}/connection", headers=org.headers,
                        json=body(account=f"https://{written.upper()}/admin"))
    assert as_url.status_code == 201, as_url.text
    assert as_url.json()["account"] == written
    # an existing connection cannot be moved onto the shop either
    other = f"s-{new_id()[-8:].lower()}.myshopify.com"
    assert client.put(f"/api/v1/channels/{second['id']}/connection", headers=org.headers,
                      json=body(account=other)).status_code == 201
    moved = client.put(f"/api/v1/channels/{second['id']}/connection", headers=org.headers,
                       json={k: v for k, v in body(account=f"http://{shop}").items()
                             if k != "credentials"})
    assert moved.status_code == 409, moved.text
    kept = client.get(f"/api/v1/channels/{second['id']}/connection", headers=org.headers)
    assert kept.json()["account"] == other
    # the shop is free again once its connection is gone
    assert client.delete(f"/api/v1/channels/{first['id']}/connection",
                         headers=org.headers).status_code == 204
    assert client.put(f"/api/v1/channels/{binder['id']}/connection", headers=org.headers,
                      json=body(kind="binderpos", mode="system_of_record",
                                account=shop)).status_code == 201


def test_another_organization_may_connect_the_same_shop(client: TestClient, org: Org,
                                                         other_org: Org) -> None:
    shop = f"s-{new_id()[-8:].lower()}.myshopify.com"
    mine, theirs = channel(client, org), channel(client, other_org)
    assert client.put(f"/api/v1/channels/{mine['id']}/connection", headers=org.headers,
                      json=body(account=shop)).status_code == 201
    assert client.put(f"/api/v1/channels/{theirs['id']}/connection", headers=other_org.headers,
                      json=body(account=shop)).status_code == 201


def test_the_database_refuses_a_second_connection_to_a_platform_account(
        client: TestClient, org: Org, db: Database) -> None:
    """Enforced by the schema, not only by the service: a write that skips the service (a
    script, a race) still cannot give one shop two connections."""
    shop = f"s-{new_id()[-8:].lower()}.myshopify.com"
    first, binder = channel(client, org), channel(client, org, kind="binderpos")
    assert client.put(f"/api/v1/channels/{first['id']}/connection", headers=org.headers,
                      json=body(account=shop)).status_code == 201
    twin = Connection(channel_id=binder["id"], kind="binderpos", platform="shopify",
                      mode="system_of_record", account=shop, api_version=VERSION,
                      credentials="sealed", credential_hints={}, settings={}, circuit={},
                      cursors={})
    with db.transaction(tenant=org.id) as session:
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_mappings_resolve_skus_and_locations_and_name_unknown_ones(client: TestClient,
                                                                   org: Org) -> None:
    made = channel(client, org)
    assert client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                      json=body()).status_code == 201
    sku = make_variants(client, org)[0]
    location = make_location(client, org)
    response = client.put(f"/api/v1/channels/{made['id']}/mappings", headers=org.headers,
                          json={"mappings": [
                              {"resource": "variant", "local": sku,
                               "remote_id": "gid://shopify/ProductVariant/1",
                               "remote_extra": "gid://shopify/InventoryItem/1"},
                              {"resource": "location", "local": location["code"],
                               "remote_id": "gid://shopify/Location/1"}]})
    assert response.status_code == 200, response.text
    variants = client.get(f"/api/v1/channels/{made['id']}/mappings", headers=org.headers)
    assert [(m["sku"], m["remote_extra"]) for m in variants.json()] == [
        (sku, "gid://shopify/InventoryItem/1")]
    bad = client.put(f"/api/v1/channels/{made['id']}/mappings", headers=org.headers,
                     json={"mappings": [{"resource": "variant", "local": "NOPE",
                                         "remote_id": "gid://shopify/ProductVariant/2"}]})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "mappings.0.local",
                                     "message": "no variant with SKU 'NOPE'"}]


def test_a_job_is_queued_once_cancelled_while_waiting_and_retried_as_a_new_job(
        client: TestClient, org: Org) -> None:
    made = channel(client, org)
    assert client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                      json=body()).status_code == 201
    path = f"/api/v1/channels/{made['id']}/sync-jobs"
    first = client.post(path, headers=org.headers, json={"kind": "order_pull"})
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "queued"
    twin = client.post(path, headers=org.headers, json={"kind": "order_pull"})
    assert twin.status_code == 409
    assert twin.json()["code"] == "job_in_progress"
    cancelled = client.post(f"/api/v1/sync-jobs/{first.json()['id']}/cancel",
                            headers=org.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/sync-jobs/{first.json()['id']}/cancel",
                       headers=org.headers).status_code == 409
    again = client.post(f"/api/v1/sync-jobs/{first.json()['id']}/retry", headers=org.headers)
    assert again.status_code == 202
    assert again.json()["retry_of"] == first.json()["id"]
    history = client.get(path, headers=org.headers, params={"kind": "order_pull"})
    assert [j["id"] for j in history.json()] == [again.json()["id"], first.json()["id"]]
    unknown = client.post(path, headers=org.headers, json={"kind": "teleport"})
    assert unknown.status_code == 422


def test_schedules_queue_a_job_when_due_and_never_a_second_one_while_it_waits(
        client: TestClient, org: Org, db: Database) -> None:
    made = channel(client, org)
    assert client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                      json=body(settings={"schedules": {"order_pull": 3600}})).status_code == 201
    jobs.schedule_due(db)
    jobs.schedule_due(db)
    history = client.get(f"/api/v1/channels/{made['id']}/sync-jobs", headers=org.headers)
    assert [(j["kind"], j["trigger"]) for j in history.json()] == [("order_pull", "schedule")]


TCG_KEYS = {"public_key": "PUBLIC-0123456789", "private_key": "PRIVATE-0123456789"}
EBAY_KEYS = {"client_id": "Mercato-App-PRD-0123", "client_secret": "PRD-secret-0123456789",
             "refresh_token": "v^1.1#i^1#refresh-0123456789"}


def test_tcgplayer_and_ebay_connect_with_their_own_credentials_shown_only_as_hints(
        client: TestClient, org: Org, db: Database) -> None:
    tcg = channel(client, org, "tcgplayer")
    made = client.put(f"/api/v1/channels/{tcg['id']}/connection", headers=org.headers, json={
        "kind": "tcgplayer", "account": "A1B2C3D4",
        "credentials": {**TCG_KEYS, "authorization_code": "X7Y8Z9"}})
    assert made.status_code == 201, made.text
    out = made.json()
    assert (out["account"], out["mode"], out["api_version"]) == ("a1b2c3d4", "channel",
                                                                 "v1.39.0")
    assert out["credentials"] == {
        "public_key": {"set": True, "last4": "6789"}, "private_key": {"set": True, "last4": "6789"},
        "access_token": {"set": False, "last4": None},
        "authorization_code": {"set": True, "last4": "Y8Z9"}}
    assert "PRIVATE-0123456789" not in made.text
    assert "X7Y8Z9" not in made.text
    ebay = channel(client, org, "ebay")
    made = client.put(f"/api/v1/channels/{ebay['id']}/connection", headers=org.headers, json={
        "kind": "ebay", "account": "Card_Shop-1", "credentials": EBAY_KEYS,
        "settings": {"verification_token": "t" * 40}})
    assert made.status_code == 201, made.text
    assert made.json()["account"] == "card_shop-1"
    assert set(made.json()["credentials"]) == set(EBAY_KEYS)
    assert EBAY_KEYS["refresh_token"] not in made.text
    with db.session(tenant=org.id) as session:
        stored = session.scalar(select(Connection.credentials).where(
            Connection.channel_id == ebay["id"]))
    assert stored is not None
    assert EBAY_KEYS["client_secret"] not in stored


@pytest.mark.parametrize(("kind", "changes", "field"), [
    ("tcgplayer", {"credentials": TCG_KEYS}, "credentials"),  # no store access given
    ("tcgplayer", {"credentials": {**TCG_KEYS, "access_token": "short"}},
     "credentials.access_token"),
    ("tcgplayer", {"account": "not a store key"}, "account"),
    ("ebay", {"credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}},
     "credentials.client_id"),
    ("ebay", {"mode": "system_of_record"}, "mode"),
    ("ebay", {"api_version": "2026-10", "kind": "shopify"}, "kind"),  # an ebay channel
])
def test_a_connection_in_another_platform_s_form_is_422_naming_the_field(
        client: TestClient, org: Org, kind: str, changes: dict[str, Any], field: str) -> None:
    made = channel(client, org, kind)
    good = {"tcgplayer": {"kind": "tcgplayer", "account": "a1b2c3d4",
                          "credentials": {**TCG_KEYS, "access_token": "tok-0123456789"}},
            "ebay": {"kind": "ebay", "account": "card_shop", "credentials": EBAY_KEYS}}[kind]
    payload = {**good, **changes}
    if payload["kind"] == "shopify":
        payload["account"] = "x.myshopify.com"
        payload["credentials"] = BODY["credentials"]
    response = client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                          json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert client.get(f"/api/v1/channels/{made['id']}/connection",
                      headers=org.headers).status_code == 404


AMAZON_KEYS = {"client_id": "amzn1.application-oa2-client.0123456789",
               "client_secret": "amzn-secret-0123456789",
               "refresh_token": "Atzr|refresh-0123456789"}
SHOPEE_KEYS = {"partner_id": "2001234", "partner_key": "shpk-partner-key-0123456789",
               "access_token": "shopee-access-0123456789",
               "refresh_token": "shopee-refresh-0123456789"}
TIKTOK_KEYS = {"app_key": "6abcde12345", "app_secret": "tts-app-secret-0123456789",
               "access_token": "ROW_access-0123456789", "refresh_token": "ROW_refresh-0123456789"}
MARKETPLACES = {
    "amazon": {"kind": "amazon", "account": "a2example1seller", "credentials": AMAZON_KEYS,
               "settings": {"marketplace_ids": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]}},
    "shopee": {"kind": "shopee", "account": "220012345", "credentials": SHOPEE_KEYS},
    "tiktok": {"kind": "tiktok", "account": "ROW_AbCdEf12gh", "credentials": TIKTOK_KEYS,
               "settings": {"shop_id": "7494001234567890"}},
}


@pytest.mark.parametrize(("kind", "account", "version"), [
    ("amazon", "A2EXAMPLE1SELLER", "2021-08-01"),  # a seller id is uppercase
    ("shopee", "220012345", "v2"),
    ("tiktok", "ROW_AbCdEf12gh", "202309"),  # a shop cipher keeps its case
])
def test_amazon_shopee_and_tiktok_connect_with_their_own_credentials_and_account_forms(
        client: TestClient, org: Org, db: Database, kind: str, account: str,
        version: str) -> None:
    made = channel(client, org, kind)
    response = client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                          json=MARKETPLACES[kind])
    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["account"], out["mode"], out["api_version"]) == (account, "channel", version)
    keys = MARKETPLACES[kind]["credentials"]
    assert set(out["credentials"]) == set(keys)
    assert all(out["credentials"][name] == {"set": True, "last4": value[-4:]}
               for name, value in keys.items())
    for secret in keys.values():
        if len(secret) > 8:
            assert secret not in response.text
    if kind == "amazon":
        assert out["settings"]["marketplace_ids"] == ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]
    # the same account again, written in another case where case does not count, is 409
    twin = channel(client, org, kind)
    again = client.put(f"/api/v1/channels/{twin['id']}/connection", headers=org.headers,
                       json={**MARKETPLACES[kind],
                             "account": account.lower() if kind == "amazon" else account})
    assert again.status_code == 409, again.text


@pytest.mark.parametrize(("kind", "changes", "field"), [
    ("amazon", {"credentials": {**AMAZON_KEYS, "refresh_token": None}},
     "credentials.refresh_token"),
    ("amazon", {"account": "seller-with-dash"}, "account"),
    ("amazon", {"settings": {"marketplace_ids": ["amazon.com"]}}, "settings.marketplace_ids.0"),
    ("shopee", {"account": "card-shop"}, "account"),  # a shop id is digits
    ("shopee", {"credentials": {**SHOPEE_KEYS, "partner_id": "abc"}},
     "credentials.partner_id"),
    ("shopee", {"mode": "system_of_record"}, "mode"),
    ("tiktok", {"account": "ROW AbCd"}, "account"),
    ("tiktok", {"credentials": {"app_key": "6abcde12345", "app_secret": "x" * 20}},
     "credentials.access_token"),
])
def test_a_marketplace_connection_in_the_wrong_form_is_422_naming_the_field(
        client: TestClient, org: Org, kind: str, changes: dict[str, Any], field: str) -> None:
    made = channel(client, org, kind)
    payload = {**MARKETPLACES[kind], **changes}
    response = client.put(f"/api/v1/channels/{made['id']}/connection", headers=org.headers,
                          json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert client.get(f"/api/v1/channels/{made['id']}/connection",
                      headers=org.headers).status_code == 404


def test_jobs_of_different_connections_run_together_and_one_connection_s_in_turn(
        client: TestClient, org: Org, monkeypatch: pytest.MonkeyPatch, db: Database) -> None:
    """A runner's slice runs one job per connection at once: a platform that makes its job
    wait (a rate limit) does not hold up another platform's job."""
    spans: list[tuple[str, str, float, float]] = []

    async def waits(ctx: jobs.JobContext) -> None:
        started = time.monotonic()
        await asyncio.sleep(0.5)
        spans.append((ctx.config.kind, ctx.kind, started, time.monotonic()))

    for kind in ("tcgplayer", "ebay"):
        for job_kind in ("price_push", "order_pull"):
            monkeypatch.setitem(registry._kinds[kind].jobs, job_kind, waits)
    made = {}
    for kind, body in (("tcgplayer", {"account": f"s{new_id()[-8:].lower()}",
                                      "credentials": {**TCG_KEYS, "access_token": "t" * 20}}),
                       ("ebay", {"account": f"s{new_id()[-8:].lower()}",
                                 "credentials": EBAY_KEYS})):
        made[kind] = channel(client, org, kind)
        response = client.put(f"/api/v1/channels/{made[kind]['id']}/connection",
                              headers=org.headers, json={"kind": kind, **body,
                                                         "api_base": "http://127.0.0.1:9"})
        assert response.status_code == 201, response.text
    for kind, job_kind in (("tcgplayer", "price_push"), ("tcgplayer", "order_pull"),
                           ("ebay", "price_push")):
        start_job(client, org, made[kind]["id"], job_kind)
    assert jobs.run_due(db, "runner", budget=10, organization_id=org.id) == 3
    by = {(kind, job_kind): (start, end) for kind, job_kind, start, end in spans}
    tcg, bay = by[("tcgplayer", "price_push")], by[("ebay", "price_push")]
    # the two platforms' jobs overlapped
    assert tcg[0] < bay[1]
    assert bay[0] < tcg[1]
    second = by[("tcgplayer", "order_pull")]
    assert second[0] >= tcg[1]  # one connection's jobs one after the other
