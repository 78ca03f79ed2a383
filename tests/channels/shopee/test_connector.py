"""The Shopee connector against the emulator: Mercato SKUs linked to Shopee items and models,
stock pushed one item per call with all its changed models, the shop's tokens renewed and
sealed, a refused refresh token shown as needing authorization again (without hammering
Shopee), and Shopee's throttling retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mercato.channels.models import Connection
from mercato.channels.service import config_of
from mercato.channels.shopee import client as shopee_client
from mercato.core.db import Database
from tests.channels.helpers import job, settle, start_job
from tests.channels.shopee.helpers import (
    PARTNER_ID,
    PARTNER_KEY,
    ShopeeServer,
    card,
    connect,
    connection,
    mappings,
    stock,
)
from tests.conftest import Org
from tests.inventory.helpers import receive


@pytest.fixture(scope="module")
def shopee() -> Iterator[ShopeeServer]:
    with ShopeeServer() as server:
        yield server


def test_skus_are_linked_to_items_and_models_and_stock_goes_one_item_per_call(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    single, red, blue = card(client, org), card(client, org), card(client, org)
    unknown = f"NOT-IN-MERCATO-{single}"
    alone = shopee.list_skus(single)
    pair = shopee.list_skus(red, blue, unknown, parent=f"PARENT-{red}")
    made = connect(client, org, shopee)
    channel_id = made["channel"]["id"]
    for sku, units in ((single, 3), (red, 2), (blue, 5)):
        stock(client, org, made, sku, units)
    report = start_job(client, org, channel_id, "product_import", skus=[single, red, blue])
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    shown = {m["sku"]: m for m in mappings(client, org, channel_id)}
    models = {m["sku"]: m["model_id"] for m in pair["models"]}
    assert shown[single]["remote_id"] == f"{alone['item_id']}:0"
    assert shown[red]["remote_id"] == f"{pair['item_id']}:{models[red]}"
    assert shown[blue]["remote_extra"] == str(pair["item_id"])
    assert all(m["in_sync"] for m in shown.values())
    assert shopee.state.stock(single) == 3
    assert (shopee.state.stock(red), shopee.state.stock(blue)) == (2, 5)
    calls = [c for c in shopee.state.stock_calls if c["item_id"] == pair["item_id"]]
    assert len(calls) == 1  # both models of the item in one call
    assert sorted(s["model_id"] for s in calls[0]["stock_list"]) == sorted(
        [models[red], models[blue]])
    # a stock change in Mercato arrives as Shopee's stock
    receive(client, org, blue, made["location"], 4)
    settle(db, org)
    assert shopee.state.stock(blue) == 9
    assert shopee.state.stock_calls[-1]["stock_list"] == [
        {"model_id": models[blue], "seller_stock": [{"stock": 9}]}]


def test_an_expired_access_token_is_renewed_and_the_new_pair_is_sealed(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    sku = card(client, org)
    shopee.list_skus(sku)
    made = connect(client, org, shopee, location_id="LOC-1")
    start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
    settle(db, org)
    before = connection(client, org, made["channel"]["id"])["credentials"]
    refreshes = shopee.state.refreshes
    shopee.state.expire_tokens()
    stock(client, org, made, sku, 2)
    settle(db, org)
    assert shopee.state.stock(sku) == 2
    assert shopee.state.stock_calls[-1]["stock_list"][0]["seller_stock"] == [
        {"stock": 2, "location_id": "LOC-1"}]
    assert shopee.state.refreshes == refreshes + 1
    after = connection(client, org, made["channel"]["id"])["credentials"]
    assert after["refresh_token"]["last4"] != before["refresh_token"]["last4"]
    assert after["access_token"]["last4"] != before["access_token"]["last4"]
    assert made["refresh_token"] not in shopee.state.refresh_tokens  # spent


def test_a_worker_holding_a_spent_refresh_token_takes_the_one_another_worker_sealed(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    sku = card(client, org)
    shopee.list_skus(sku)
    made = connect(client, org, shopee)
    with db.transaction(tenant=org.id) as session:
        stale = config_of(session, session.get(Connection, made["connection"]["id"]))
    start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
    settle(db, org)
    shopee.state.expire_tokens()
    stock(client, org, made, sku, 1)
    settle(db, org)  # renewed here: the pair given at connection is spent
    assert stale.secrets["refresh_token"] not in shopee.state.refresh_tokens
    shopee_client.forget_tokens(stale.id)  # another process, its config read before
    stale.secrets["access_token_expires_at"] = "1"  # and its access token expired
    refreshes = shopee.state.refreshes

    async def token() -> str:
        async with shopee_client.ShopeeClient(stale, db=db) as other:
            return await other.access_token()

    taken = asyncio.run(token())
    assert shopee.state.access_tokens[taken] > time.time()  # the sealed one, still valid
    assert shopee.state.refreshes == refreshes  # the spent token was refused, nothing renewed
    assert connection(client, org, made["channel"]["id"])["health"]["status"] == "ok"


def test_a_refused_refresh_token_asks_for_authorization_again_once(
        client: TestClient, org: Org, db: Database) -> None:
    with ShopeeServer() as server:
        sku = card(client, org)
        server.list_skus(sku)
        made = connect(client, org, server)
        start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
        settle(db, org)
        server.state.expire_tokens()
        server.state.expire_refresh_tokens()
        stock(client, org, made, sku, 4)
        settle(db, org)
        health = connection(client, org, made["channel"]["id"])["health"]
        assert health["status"] == "failing"
        assert health["last_error_kind"] == "auth"
        assert health["last_error"].startswith("Shopee needs the shop to authorize again")
        token_calls = [c for c in server.state.calls if c[1].endswith("/access_token/get")]
        assert len(token_calls) == 1
        stock(client, org, made, sku, 1)
        settle(db, org)
        assert [c for c in server.state.calls
                if c[1].endswith("/access_token/get")] == token_calls  # not sent again
        report = start_job(client, org, made["channel"]["id"], "order_pull")
        settle(db, org)
        done = job(client, org, report["id"])
        assert done["status"] == "failed"
        assert done["error_kind"] == "auth"
        # the shop authorizes the app again: connected with the new pair, stock flows
        access, refresh = server.state.authorize()
        again = client.put(f"/api/v1/channels/{made['channel']['id']}/connection",
                           headers=org.headers, json={
                               "kind": "shopee", "account": made["connection"]["account"],
                               "api_base": server.url, "credentials": {
                                   "partner_id": PARTNER_ID, "partner_key": PARTNER_KEY,
                                   "access_token": access, "refresh_token": refresh}})
        assert again.status_code == 200, again.text
        settle(db, org)
        assert server.state.stock(sku) == 5


def test_shopees_throttling_is_retried(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    sku = card(client, org)
    shopee.list_skus(sku)
    made = connect(client, org, shopee)
    start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
    settle(db, org)
    refused = len(shopee.state.refused)
    shopee.state.throttle(2)
    stock(client, org, made, sku, 7)
    settle(db, org)
    assert shopee.state.stock(sku) == 7
    assert shopee.state.refused[refused:] == ["error_too_many_request"] * 2
    assert all(m["in_sync"] for m in mappings(client, org, made["channel"]["id"]))


def test_prices_go_one_item_per_call(
        client: TestClient, org: Org, db: Database, shopee: ShopeeServer) -> None:
    red, blue = card(client, org, price="4.25"), card(client, org, price="7.00")
    pair = shopee.list_skus(red, blue, parent=f"PARENT-{red}")
    made = connect(client, org, shopee)
    start_job(client, org, made["channel"]["id"], "product_import", skus=[red, blue])
    settle(db, org)
    report = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    [sent] = [c for c in shopee.state.price_calls if c["item_id"] == pair["item_id"]]
    assert sorted(p["original_price"] for p in sent["price_list"]) == [4.25, 7.0]
