"""The TCGplayer connector against the emulator: the store authorization code exchanged at
the first call and kept sealed, cards linked to TCGplayer SKUs, stock pushed (latest number,
through throttling), market prices pulled as history, orders pulled once each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.db import Database
from tests.channels.helpers import job, settle, start_job
from tests.channels.tcgplayer.helpers import (
    PRIVATE_KEY,
    TcgplayerServer,
    connect,
    make_card,
)
from tests.conftest import Org, stored_text
from tests.inventory.helpers import receive


@pytest.fixture
def tcg() -> Iterator[TcgplayerServer]:
    with TcgplayerServer() as server:
        yield server


def linked(client: TestClient, org: Org, db: Database, server: TcgplayerServer,
           units: int, **settings: Any) -> tuple[dict[str, Any], str, int]:
    """A Mercato card matching the emulator's Lightning Bolt (NM, normal, English) with
    ``units`` in stock, linked by a product_import job."""
    sku = make_card(client, org)
    made = connect(client, org, server, **settings)
    receive(client, org, sku, made["location"], units)
    start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    return made, sku, server.sku("Lightning Bolt")


def mappings(client: TestClient, org: Org, channel_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/channels/{channel_id}/mappings", headers=org.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_the_authorization_code_is_exchanged_once_and_the_store_token_kept_sealed(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made = connect(client, org, tcg)
    hints = made["connection"]["credentials"]
    assert hints["authorization_code"]["set"]
    assert not hints["access_token"]["set"]
    start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    connection = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                            headers=org.headers).json()
    assert connection["credentials"]["access_token"] == {
        "set": True, "last4": tcg.state.store_access_token[-4:]}
    assert connection["credentials"]["authorization_code"]["set"] is False
    assert tcg.state.store_access_token not in str(connection)
    assert PRIVATE_KEY not in str(connection)
    assert tcg.state.store_access_token not in stored_text(db)  # sealed at rest
    again = start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    assert job(client, org, again["id"])["status"] == "succeeded"  # no second exchange
    assert tcg.state.calls("POST /app/authorize") == 1


def test_a_spent_authorization_code_fails_the_job_as_auth(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    code = tcg.state.new_code()
    tcg.state.redeem(code)  # used elsewhere already
    made = connect(client, org, tcg, code=code)
    started = start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    report = job(client, org, started["id"])
    assert report["status"] == "failed"
    assert report["error_kind"] == "validation"
    assert "authorization code" in report["error"]
    health = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                        headers=org.headers).json()["health"]
    assert code not in report["error"]
    assert code not in str(health)


def test_cards_are_linked_by_tcg_sku_and_by_attributes_and_unmatched_ones_reported(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    charizard = tcg.sku("Charizard", "LP", "Holofoil", "EN")
    direct = make_card(client, org, sku=f"TCG-{charizard}", game="pokemon", set_code="BS",
                       number="4/102", title="Charizard")
    bolt = make_card(client, org, condition="LP", finish="foil")
    pikachu = make_card(client, org, game="pokemon", set_code=None, set_name="Base Set",
                        number="58", title="Pikachu", language="JA")
    unknown = make_card(client, org, number="999", title="Nope")
    bad_sku = make_card(client, org, sku="TCG-42", title="Unknown id")
    made = connect(client, org, tcg)
    started = start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    report = job(client, org, started["id"])
    assert report["status"] == "completed_with_errors"
    assert sorted(e["item"] for e in report["errors"]) == sorted(
        [f"sku {unknown}", f"sku {bad_sku}"])
    linked = {m["sku"]: m["remote_id"] for m in mappings(client, org, made["channel"]["id"])}
    assert linked == {direct: str(charizard),
                      bolt: str(tcg.sku("Lightning Bolt", "LP", "Foil", "EN")),
                      pikachu: str(tcg.sku("Pikachu", "NM", "Normal", "JA"))}


def test_explicit_mappings_are_kept_by_the_link_job(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    sku = make_card(client, org)
    made = connect(client, org, tcg)
    chosen = tcg.sku("Lightning Bolt", "MP")
    response = client.put(f"/api/v1/channels/{made['channel']['id']}/mappings",
                          headers=org.headers, json={"mappings": [
                              {"resource": "variant", "local": sku,
                               "remote_id": str(chosen)}]})
    assert response.status_code == 200, response.text
    start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    assert [m["remote_id"] for m in mappings(client, org, made["channel"]["id"])] == [
        str(chosen)]


def test_the_pusher_exchanges_the_code_itself_when_no_job_has_run(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    sku = make_card(client, org)
    made = connect(client, org, tcg)
    remote = tcg.sku("Lightning Bolt")
    response = client.put(f"/api/v1/channels/{made['channel']['id']}/mappings",
                          headers=org.headers, json={"mappings": [
                              {"resource": "variant", "local": sku, "remote_id": str(remote)}]})
    assert response.status_code == 200, response.text
    receive(client, org, sku, made["location"], 7)
    settle(db, org)
    assert tcg.state.listing(remote)["quantity"] == 7
    assert tcg.state.calls("POST /app/authorize") == 1
    connection = client.get(f"/api/v1/channels/{made['channel']['id']}/connection",
                            headers=org.headers).json()
    assert connection["credentials"]["access_token"]["set"] is True
    assert connection["credentials"]["authorization_code"]["set"] is False
    assert connection["health"]["status"] == "ok"


def test_stock_reaches_the_store_and_a_burst_of_changes_sends_the_last_number(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, sku, remote = linked(client, org, db, tcg, 30)
    assert tcg.state.listing(remote) == {"quantity": 30, "price": None}
    before = tcg.state.calls(f"PUT /stores/{tcg.store_key}/inventory/skus/{remote}")
    for _ in range(12):
        receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert tcg.state.listing(remote)["quantity"] == 18
    sent = tcg.state.calls(f"PUT /stores/{tcg.store_key}/inventory/skus/{remote}")
    assert sent - before == 1
    assert all(m["in_sync"] for m in mappings(client, org, made["channel"]["id"]))


def test_a_throttled_store_catches_up_with_nothing_lost(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    skus = [make_card(client, org, condition=c) for c in ("NM", "LP", "MP", "HP", "DMG")]
    made = connect(client, org, tcg, rate_per_second=100)
    for sku in skus:
        receive(client, org, sku, made["location"], 5)
    start_job(client, org, made["channel"]["id"], "product_import")
    settle(db, org)
    tcg.state.throttle(rate_per_second=4)  # far below what the connection allows itself
    for index, sku in enumerate(skus):
        receive(client, org, sku, made["location"], index + 1)
    settle(db, org)
    assert [tcg.state.listing(tcg.sku("Lightning Bolt", c))["quantity"]
            for c in ("NM", "LP", "MP", "HP", "DMG")] == [6, 7, 8, 9, 10]
    assert tcg.state.refused > 0  # it did answer 429s
    assert all(m["push_error"] is None for m in mappings(client, org, made["channel"]["id"]))


def test_an_expired_bearer_token_is_renewed_once(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, sku, remote = linked(client, org, db, tcg, 4)
    tokens = tcg.state.calls("POST /token")
    tcg.state.expire_tokens()
    receive(client, org, sku, made["location"], 1)
    settle(db, org)
    assert tcg.state.listing(remote)["quantity"] == 5
    assert tcg.state.calls("POST /token") == tokens + 1


def test_price_pull_records_market_prices_with_the_time_pulled(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, sku, remote = linked(client, org, db, tcg, 1)
    channel = made["channel"]["id"]
    start_job(client, org, channel, "price_pull")
    settle(db, org)
    tcg.state.set_price(remote, market="95.50")
    again = start_job(client, org, channel, "price_pull")
    settle(db, org)
    assert job(client, org, again["id"])["status"] == "succeeded"
    latest = client.get(f"/api/v1/channels/{channel}/market-prices", headers=org.headers)
    assert latest.status_code == 200, latest.text
    [row] = latest.json()
    assert (row["sku"], row["remote_id"], row["market"], row["low"], row["direct_low"]) == (
        sku, str(remote), "95.50", "80.10", "89.00")
    assert row["pulled_at"]
    history = client.get(f"/api/v1/channels/{channel}/market-prices", headers=org.headers,
                         params={"sku": sku}).json()
    assert [h["market"] for h in history] == ["95.50", "89.00"]


def test_price_push_sets_the_listing_price(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, _, remote = linked(client, org, db, tcg, 2)
    start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert tcg.state.listing(remote) == {"quantity": 2, "price": 80.0}


def test_price_push_sends_the_channels_price_from_a_market_rule_for_tcgplayer(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, _, remote = linked(client, org, db, tcg, 2)
    channel = made["channel"]["id"]
    for body in ({"title": "TCGplayer at market", "adjustment": "market", "value": "98",
                  "currency": "USD", "channel_kinds": ["tcgplayer"]},
                 {"title": "Web half off", "adjustment": "percentage", "value": "50",
                  "channel_kinds": ["web"], "priority": 10}):
        rule = client.post("/api/v1/pricing-rules", headers=org.headers, json=body)
        assert rule.status_code == 201, rule.text
    start_job(client, org, channel, "price_push")
    settle(db, org)  # no market price pulled yet: the catalog price
    assert tcg.state.listing(remote)["price"] == 80.0
    start_job(client, org, channel, "price_pull")  # market 89.00
    settle(db, org)
    start_job(client, org, channel, "price_push")
    settle(db, org)
    assert tcg.state.listing(remote)["price"] == 87.22  # 89.00 x 0.98


def test_orders_are_pulled_once_and_bad_ones_reported_with_their_number(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, _sku, remote = linked(client, org, db, tcg, 5)
    channel = made["channel"]["id"]
    sold = tcg.state.place_order([{"skuId": remote, "quantity": 2, "price": "85.00"}])
    stray = tcg.state.place_order([{"skuId": tcg.sku("Black Lotus"), "quantity": 1,
                                    "price": "1.00"}], check_stock=False)
    broken = tcg.state.place_order([{"skuId": remote, "quantity": "two"}],
                                   check_stock=False)
    started = start_job(client, org, channel, "order_pull")
    settle(db, org)
    report = job(client, org, started["id"])
    assert report["status"] == "completed_with_errors"
    assert sorted(e["item"] for e in report["errors"]) == sorted(
        [f"order {stray['orderNumber']}", f"order {broken['orderNumber']}"])
    found = client.get("/api/v1/orders", headers=org.headers,
                       params={"channel": channel}).json()["data"]
    assert [(o["external_id"], o["total"]) for o in found] == [
        (sold["orderNumber"], "170.99")]
    assert tcg.state.listing(remote)["quantity"] == 3  # Mercato's 3 left, pushed back
    again = start_job(client, org, channel, "order_pull",
                      since="2000-01-01T00:00:00+00:00")
    settle(db, org)
    assert job(client, org, again["id"])["done"] == 3
    assert len(client.get("/api/v1/orders", headers=org.headers,
                          params={"channel": channel}).json()["data"]) == 1


def test_a_fulfillment_with_tracking_is_added_to_the_tcgplayer_order_once(
        client: TestClient, org: Org, db: Database, tcg: TcgplayerServer) -> None:
    made, _, remote = linked(client, org, db, tcg, 3)
    channel = made["channel"]["id"]
    sold = tcg.state.place_order([{"skuId": remote, "quantity": 1}])
    start_job(client, org, channel, "order_pull")
    settle(db, org)
    [order] = client.get("/api/v1/orders", headers=org.headers,
                         params={"channel": channel}).json()["data"]
    response = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                           json={"carrier": "USPS", "tracking_number": "9400100000000000000"})
    assert response.status_code in (200, 201), response.text
    settle(db, org)
    assert tcg.state.orders[sold["orderNumber"]].tracking == [
        {"carrier": "USPS", "trackingNumber": "9400100000000000000"}]
    assert tcg.state.orders[sold["orderNumber"]].status_id == 3  # shipped
