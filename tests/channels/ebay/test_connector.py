"""The eBay connector against the emulator: exporting cards as inventory items and published
offers (condition descriptors from the card's attributes), stock changes by bulk update (a
part eBay refuses fails alone), the daily revision limit, and eBay's OAuth (a token renewed
before it expires and reused after a restart; a revoked refresh token shows in the health)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mercato.channels.ebay import client as ebay_client
from mercato.channels.ebay.sync import LIMIT_MESSAGE, rearm_revision_limited
from mercato.channels.models import ListingRevision, Mapping
from mercato.core.db import Database, utcnow
from tests.channels.ebay.helpers import (
    EbayServer,
    card,
    connect,
    connection,
    mappings,
    stock,
)
from tests.channels.helpers import job, settle, start_job
from tests.conftest import Org
from tests.inventory.helpers import receive


@pytest.fixture
def ebay() -> Iterator[EbayServer]:
    with EbayServer() as server:
        yield server


def exported(client: TestClient, org: Org, db: Database, server: EbayServer,
             skus_units: list[tuple[str, int]], **settings: Any) -> dict[str, Any]:
    made = connect(client, org, server, **settings)
    for sku, units in skus_units:
        stock(client, org, made, sku, units)
    report = start_job(client, org, made["channel"]["id"], "product_export",
                       skus=[sku for sku, _ in skus_units])
    settle(db, org)
    done = job(client, org, report["id"])
    assert done["status"] == "succeeded", done
    return made


def test_export_lists_an_ungraded_card_and_a_slab_with_their_condition_descriptors(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    single, slab = card(client, org, condition="NM"), card(client, org, graded=True,
                                                           price="999.00")
    made = exported(client, org, db, ebay, [(single, 4), (slab, 1)])
    item = ebay.state.items[single]
    assert item["condition"] == "USED_VERY_GOOD"
    assert item["conditionDescriptors"] == [{"name": "40001", "values": ["400010"]}]
    assert item["availability"]["shipToLocationAvailability"]["quantity"] == 4
    assert item["product"]["aspects"]["Game"] == ["Magic: The Gathering"]
    assert item["locale"] == "en-US"
    graded = ebay.state.items[slab]
    assert graded["condition"] == "LIKE_NEW"
    assert graded["conditionDescriptors"][:2] == [{"name": "27501", "values": ["275010"]},
                                                  {"name": "27502", "values": ["275020"]}]
    assert graded["conditionDescriptors"][2]["name"] == "27503"
    offers = {o["sku"]: o for o in ebay.state.offers.values()}
    assert offers[slab]["pricingSummary"]["price"] == {"value": "999.00", "currency": "USD"}
    assert offers[slab]["listingPolicies"]["fulfillmentPolicyId"] == "6196932000"
    assert offers[slab]["merchantLocationKey"] == "shop"
    assert all(o["status"] == "PUBLISHED" for o in offers.values())
    shown = {m["sku"]: m for m in mappings(client, org, made["channel"]["id"])}
    assert shown[single]["remote_id"] == offers[single]["offerId"]
    assert shown[single]["remote_extra"] == offers[single]["listingId"]
    assert shown[single]["in_sync"]
    assert shown[single]["remote_quantity"] == 4
    # nothing more to push: the export sent the numbers
    assert ebay.state.bulk_log == []
    # run again: the items are replaced, the offers reused
    again = start_job(client, org, made["channel"]["id"], "product_export", skus=[single])
    settle(db, org)
    assert job(client, org, again["id"])["status"] == "succeeded"
    assert len(ebay.state.offers) == 2


def test_a_stock_change_reaches_ebay_and_one_refused_part_fails_alone(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    first, second = card(client, org), card(client, org, condition="LP")
    made = exported(client, org, db, ebay, [(first, 5), (second, 5)])
    gone = next(o["offerId"] for o in ebay.state.offers.values() if o["sku"] == second)
    del ebay.state.offers[gone]  # withdrawn on eBay behind Mercato's back
    receive(client, org, first, made["location"], -2)
    receive(client, org, second, made["location"], -1)
    settle(db, org)
    assert ebay.state.quantity(first) == 3
    [sent] = ebay.state.bulk_log
    assert len(sent["requests"]) == 2
    shown = {m["sku"]: m for m in mappings(client, org, made["channel"]["id"])}
    assert (shown[first]["push_error"], shown[first]["remote_quantity"]) == (None, 3)
    assert "not available" in shown[second]["push_error"]
    assert "25713" in shown[second]["push_error"]


def test_pushes_stop_at_the_daily_revision_limit_and_resume_the_next_day(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    sku = card(client, org)
    made = exported(client, org, db, ebay, [(sku, 10)], daily_revision_limit=3)
    for _ in range(5):
        receive(client, org, sku, made["location"], -1)
        settle(db, org)
    assert len(ebay.state.bulk_log) == 3  # never the fourth
    assert ebay.state.quantity(sku) == 7
    [shown] = mappings(client, org, made["channel"]["id"])
    assert shown["push_error"] == LIMIT_MESSAGE
    health = connection(client, org, made["channel"]["id"])["health"]
    assert shown["remote_extra"] in health["last_error"]
    assert health["last_error_kind"] == "rate_limit"
    # a UTC day passes: the counts are yesterday's, and eBay's day has turned too
    yesterday = utcnow() - dt.timedelta(days=1)
    with db.transaction(tenant=org.id) as session:
        session.execute(update(ListingRevision).values(day=yesterday.date()))
        session.execute(update(Mapping).where(Mapping.resource == "variant").values(
            updated_at=yesterday))
    ebay.state.advance(86_400)
    ebay.state.token_lifetime = 10 * 86_400
    assert rearm_revision_limited(db) >= 1
    settle(db, org)
    assert ebay.state.quantity(sku) == 5  # the latest number, once
    assert len(ebay.state.bulk_log) == 4
    [shown] = mappings(client, org, made["channel"]["id"])
    assert (shown["push_error"], shown["in_sync"]) == (None, True)


def test_ebays_own_revision_refusal_is_reported_on_the_mapping(
        client: TestClient, org: Org, db: Database) -> None:
    with EbayServer(revision_limit=1) as server:
        sku = card(client, org)
        made = exported(client, org, db, server, [(sku, 6)])
        for _ in range(2):
            receive(client, org, sku, made["location"], -1)
            settle(db, org)
        assert server.state.quantity(sku) == 5
        [shown] = mappings(client, org, made["channel"]["id"])
        assert shown["push_error"] == LIMIT_MESSAGE


def test_the_token_is_renewed_when_ebay_expires_it_and_reused_after_a_restart(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    sku = card(client, org)
    made = exported(client, org, db, ebay, [(sku, 3)])
    minted = [r for r in ebay.state.token_requests if r["grant_type"] == "refresh_token"]
    assert len(minted) == 1
    assert "sell.inventory" in minted[0]["scope"]
    ebay_client._user_tokens.clear()  # a restarted worker: only the sealed token is left
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert ebay.state.quantity(sku) == 2
    assert len([r for r in ebay.state.token_requests
                if r["grant_type"] == "refresh_token"]) == 1
    ebay.state.expire_tokens()  # eBay says 401: refreshed once, then sent
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert ebay.state.quantity(sku) == 1
    assert len([r for r in ebay.state.token_requests
                if r["grant_type"] == "refresh_token"]) == 2
    shown = connection(client, org, made["channel"]["id"])
    assert "access_token" not in shown["credentials"]
    assert shown["health"]["status"] == "ok"


def test_a_revoked_refresh_token_shows_as_an_auth_failure(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    made = connect(client, org, ebay)
    ebay.state.revoke_refresh_token()
    report = start_job(client, org, made["channel"]["id"], "order_pull")
    settle(db, org)
    failed = job(client, org, report["id"])
    assert (failed["status"], failed["error_kind"]) == ("failed", "auth")
    assert "invalid_grant" in failed["error"]
    health = connection(client, org, made["channel"]["id"])["health"]
    assert (health["status"], health["last_error_kind"]) == ("failing", "auth")


def test_a_price_change_reaches_the_offer_and_counts_as_a_revision(
        client: TestClient, org: Org, db: Database, ebay: EbayServer) -> None:
    sku = card(client, org, price="12.50")
    made = exported(client, org, db, ebay, [(sku, 2)], daily_revision_limit=1)
    [mapped] = mappings(client, org, made["channel"]["id"])
    changed = client.patch(f"/api/v1/variants/{mapped['local_id']}", headers=org.headers,
                           json={"price": "14.00"})
    assert changed.status_code == 200, changed.text
    report = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    offer = ebay.state.offers[mapped["remote_id"]]
    assert offer["pricingSummary"]["price"] == {"value": "14.00", "currency": "USD"}
    again = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    skipped = job(client, org, again["id"])
    assert skipped["status"] == "completed_with_errors"
    assert LIMIT_MESSAGE in skipped["errors"][0]["message"]


def test_a_token_about_to_expire_is_renewed_before_it_is_used(
        client: TestClient, org: Org, db: Database) -> None:
    with EbayServer(token_lifetime=240) as server:  # under the five minutes kept in hand
        sku = card(client, org)
        made = exported(client, org, db, server, [(sku, 3)])
        before = len(server.state.token_requests)
        receive(client, org, sku, made["location"], -1)
        settle(db, org)
        assert server.state.quantity(sku) == 2
        assert len(server.state.token_requests) == before + 1
        assert server.state.refused == 0
