"""The Amazon connector against the SP-API emulator: linking Mercato SKUs to the seller's
listings, stock changes as ``merge`` patches of ``fulfillment_availability`` (or one
``JSON_LISTINGS_FEED`` from ``feed_threshold`` SKUs, a refused message failing alone),
prices as ``purchasable_offer``, throttling retried, and Login with Amazon tokens (renewed
before they expire and after a 403, reused after a restart; a revoked refresh token shows
in the health)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mercato.channels.amazon import client as amazon_client
from mercato.core.db import Database
from tests.channels.amazon.helpers import (
    AmazonServer,
    connect,
    connection,
    linked,
    mappings,
    product,
)
from tests.channels.helpers import job, settle, start_job
from tests.conftest import Org
from tests.inventory.helpers import receive


@pytest.fixture(scope="module")
def amazon() -> Iterator[AmazonServer]:
    with AmazonServer() as server:
        yield server


def test_import_links_each_sku_to_its_listing_and_names_the_ones_amazon_lacks(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    listed, missing = product(client, org, amazon), product(client, org, amazon, listed=False)
    made = linked(client, org, db, amazon, [(listed, 4), (missing, 2)])
    assert made["job"]["status"] == "completed_with_errors"
    [error] = made["job"]["errors"]
    assert missing in error["item"]
    assert "no listing" in error["message"]
    [shown] = mappings(client, org, made["channel"]["id"])
    assert (shown["sku"], shown["remote_id"]) == (listed, listed)
    assert shown["remote_extra"] == amazon.state.listings[listed]["asin"]
    assert shown["in_sync"]
    assert shown["remote_quantity"] == 4
    assert amazon.state.quantity(listed) == 4
    assert made["connection"]["account"] == "A2TESTSELLER01"  # a seller id is uppercase


def test_a_stock_change_arrives_as_a_merge_patch_of_the_available_quantity(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon)
    made = linked(client, org, db, amazon, [(sku, 5)])
    receive(client, org, sku, made["location"], -2)
    settle(db, org)
    assert amazon.state.quantity(sku) == 3
    last = [p for p in amazon.state.patch_log if p["sku"] == sku][-1]
    assert last["productType"] == "PRODUCT"
    assert last["patches"] == [{"op": "merge", "path": "/attributes/fulfillment_availability",
                                "value": [{"fulfillment_channel_code": "DEFAULT",
                                           "quantity": 3}]}]
    [shown] = mappings(client, org, made["channel"]["id"])
    assert (shown["remote_quantity"], shown["push_error"]) == (3, None)


def test_many_changes_at_once_go_as_one_listings_feed_and_a_refused_sku_fails_alone(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    skus = [product(client, org, amazon) for _ in range(3)]
    made = linked(client, org, db, amazon, [(sku, 1) for sku in skus], feed_threshold=2)
    feeds_before = len(amazon.state.feeds)
    del amazon.state.listings[skus[2]]  # withdrawn in Seller Central behind Mercato's back
    for sku in skus:
        receive(client, org, sku, made["location"], 5)
    settle(db, org)
    assert [amazon.state.quantity(s) for s in skus[:2]] == [6, 6]
    new = list(amazon.state.feeds.values())[feeds_before:]
    assert [(f["feedType"], f["processingStatus"]) for f in new] == [
        ("JSON_LISTINGS_FEED", "DONE")]
    shown = {m["sku"]: m for m in mappings(client, org, made["channel"]["id"])}
    assert shown[skus[0]]["push_error"] is None
    assert shown[skus[0]]["remote_quantity"] == 6
    assert "4000001" in shown[skus[2]]["push_error"]


def test_a_price_change_reaches_the_offer(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon, price="12.50")
    made = linked(client, org, db, amazon, [(sku, 2)])
    [mapped] = mappings(client, org, made["channel"]["id"])
    changed = client.patch(f"/api/v1/variants/{mapped['local_id']}", headers=org.headers,
                           json={"price": "14.00"})
    assert changed.status_code == 200, changed.text
    report = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    assert amazon.state.listings[sku]["price"] == "14.00"
    last = [p for p in amazon.state.patch_log if p["sku"] == sku][-1]
    assert last["patches"][0]["path"] == "/attributes/purchasable_offer"


def test_throttling_is_waited_out_and_retried(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon)
    made = linked(client, org, db, amazon, [(sku, 5)])
    before = amazon.state.rate_limited
    amazon.state.throttle(2)
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert amazon.state.rate_limited == before + 2
    assert amazon.state.quantity(sku) == 4
    [shown] = mappings(client, org, made["channel"]["id"])
    assert (shown["push_error"], shown["in_sync"]) == (None, True)


def test_the_token_is_renewed_after_a_403_and_reused_after_a_restart(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon)
    minted = amazon.state.token_requests
    made = linked(client, org, db, amazon, [(sku, 3)])
    assert amazon.state.token_requests == minted + 1
    amazon_client._tokens.clear()  # a restarted worker: only the sealed token is left
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert amazon.state.quantity(sku) == 2
    assert amazon.state.token_requests == minted + 1
    refused = amazon.state.refused
    amazon.state.expire_tokens()  # Amazon answers 403: renewed once, then sent
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert amazon.state.quantity(sku) == 1
    assert amazon.state.token_requests == minted + 2
    assert amazon.state.refused == refused + 1
    shown = connection(client, org, made["channel"]["id"])
    assert "access_token" not in shown["credentials"]
    assert shown["health"]["status"] == "ok"


def test_a_token_about_to_expire_is_renewed_before_it_is_used(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer) -> None:
    sku = product(client, org, amazon)
    amazon.state.token_lifetime = 30  # under the minute kept in hand
    try:
        made = linked(client, org, db, amazon, [(sku, 3)])
        before, refused = amazon.state.token_requests, amazon.state.refused
        receive(client, org, sku, made["location"], -1)
        settle(db, org)
    finally:
        amazon.state.token_lifetime = 3600
    assert amazon.state.quantity(sku) == 2
    assert amazon.state.token_requests == before + 1
    assert amazon.state.refused == refused


def test_a_revoked_refresh_token_shows_as_an_auth_failure(
        client: TestClient, org: Org, db: Database) -> None:
    with AmazonServer() as server:
        made = connect(client, org, server)
        server.state.revoke_refresh_token()
        report = start_job(client, org, made["channel"]["id"], "order_pull")
        settle(db, org)
        failed = job(client, org, report["id"])
    assert (failed["status"], failed["error_kind"]) == ("failed", "auth")
    assert "invalid_grant" in failed["error"]
    health = connection(client, org, made["channel"]["id"])["health"]
    assert (health["status"], health["last_error_kind"]) == ("failing", "auth")


def test_tokens_come_from_login_with_amazon_for_every_amazon_host_and_else_from_api_base(
) -> None:
    from mercato.channels.amazon.client import LWA_HOST, lwa_base
    from mercato.channels.registry import ConnectionConfig

    def config(api_base: str | None) -> ConnectionConfig:
        return ConnectionConfig("c", "o", "ch", "amazon", "channel", "A2SELLER", "2021-08-01",
                                api_base, {}, {})

    assert lwa_base(config(None)) == LWA_HOST
    assert lwa_base(config("https://sellingpartnerapi-eu.amazon.com")) == LWA_HOST
    assert lwa_base(config("https://sandbox.sellingpartnerapi-na.amazon.com/")) == LWA_HOST
    assert lwa_base(config("http://127.0.0.1:8005/")) == "http://127.0.0.1:8005"
    assert lwa_base(config("https://evil-amazon.com.example")) \
        == "https://evil-amazon.com.example"


def test_a_feed_still_processing_leaves_the_numbers_due_until_amazon_is_done(
        client: TestClient, org: Org, db: Database, amazon: AmazonServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mercato.channels.amazon import sync
    from tests.channels.helpers import wait_for

    skus = [product(client, org, amazon) for _ in range(2)]
    made = linked(client, org, db, amazon, [(sku, 1) for sku in skus], feed_threshold=2)
    feeds = len(amazon.state.feeds)
    monkeypatch.setattr(sync, "FEED_WAIT", 0.05)
    amazon.state.feed_delay = 1.0
    try:
        for sku in skus:
            receive(client, org, sku, made["location"], 2)
        settle(db, org)
        [slow] = list(amazon.state.feeds.values())[feeds:]
        shown = mappings(client, org, made["channel"]["id"])
        assert not any(m["in_sync"] for m in shown)  # still due
        assert "still processing" in connection(client, org, made["channel"]["id"])[
            "health"]["last_error"]
        settle(db, org)  # the next round waits for that feed: no second one
        assert len(amazon.state.feeds) == feeds + 1
        wait_for(lambda: amazon.state.quantities() and slow["processingStatus"] == "DONE")
    finally:
        amazon.state.feed_delay = 0.2
    monkeypatch.setattr(sync, "FEED_WAIT", 20.0)
    settle(db, org)
    assert [amazon.state.quantity(s) for s in skus] == [3, 3]
    assert len(amazon.state.feeds) == feeds + 2  # the latest numbers, sent again once
    assert all(m["in_sync"] for m in mappings(client, org, made["channel"]["id"]))
