"""The TikTok Shop connector against the emulator: SKUs linked by seller SKU, stock changes
pushed per product (a refused SKU fails alone), prices, throttling retried, and the shop's
tokens: renewed before they expire and on an expired-token answer (the rotated pair sealed),
an unrenewable refresh token shown as needing re-authorization."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mercato.channels.models import Connection
from mercato.channels.tiktok import client as tiktok_client
from mercato.core.db import Database
from mercato.core.secrets import Vault
from tests.channels.helpers import job, settle, start_job
from tests.channels.tiktok.helpers import (
    OTHER_WAREHOUSE,
    WAREHOUSE,
    TiktokServer,
    connect,
    connection,
    linked,
    listed,
    mappings,
)
from tests.conftest import Org
from tests.inventory.helpers import receive


@pytest.fixture(scope="module")
def tts() -> Iterator[TiktokServer]:
    with TiktokServer() as server:
        yield server


def sealed(db: Database, org: Org, channel_id: str) -> dict[str, str]:
    with db.transaction(tenant=org.id) as session:
        row = session.query(Connection).filter_by(channel_id=channel_id).one()
        secrets: dict[str, str] = json.loads(Vault.of(session, "channels").open(row.credentials))
        return secrets


def test_skus_are_linked_by_seller_sku_and_stock_changes_reach_tiktok(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, (first, second) = linked(client, org, db, tts, units=5, count=2)
    product, sku = tts.state.sku(first)
    shown = {m["sku"]: m for m in mappings(client, org, made["channel"]["id"])}
    assert shown[first]["remote_id"] == sku["id"]
    assert shown[first]["remote_extra"] == f"{product['id']}/{WAREHOUSE},{OTHER_WAREHOUSE}"
    assert shown[first]["in_sync"]
    assert shown[first]["remote_quantity"] == 5
    assert tts.state.quantities()[first] == {WAREHOUSE: 5, OTHER_WAREHOUSE: 0}
    before = len(tts.state.inventory_updates)
    receive(client, org, first, made["location"], -2)
    receive(client, org, second, made["location"], -1)
    settle(db, org)
    assert (tts.state.quantity(first), tts.state.quantity(second)) == (3, 4)
    [update] = tts.state.inventory_updates[before:]  # both SKUs of the product in one call
    assert update["product_id"] == product["id"]
    assert sorted(s["inventory"][0]["quantity"] for s in update["skus"]) == [3, 4]


def test_a_refused_sku_fails_alone_and_the_warehouse_setting_is_used(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, (good, gone) = linked(client, org, db, tts, units=3, count=2,
                                warehouse_id=OTHER_WAREHOUSE)
    product, _ = tts.state.sku(gone)
    assert tts.state.quantities()[good] == {OTHER_WAREHOUSE: 3, WAREHOUSE: 0}
    product["skus"] = [s for s in product["skus"] if s["seller_sku"] != gone]  # deleted there
    receive(client, org, good, made["location"], 1)
    receive(client, org, gone, made["location"], 1)
    settle(db, org)
    assert tts.state.quantities()[good][OTHER_WAREHOUSE] == 4
    shown = {m["sku"]: m for m in mappings(client, org, made["channel"]["id"])}
    assert shown[good]["push_error"] is None
    assert "12052031" in shown[gone]["push_error"]


def test_a_sku_without_a_tiktok_sku_is_reported_by_the_link_job(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made = connect(client, org, tts)
    [there] = listed(client, org, tts)
    from tests.inventory.helpers import make_variants

    [missing] = make_variants(client, org)
    report = start_job(client, org, made["channel"]["id"], "product_import",
                       skus=[there, missing])
    settle(db, org)
    done = job(client, org, report["id"])
    assert done["status"] == "completed_with_errors"
    assert [e["item"] for e in done["errors"]] == [f"sku {missing}"]
    assert [m["sku"] for m in mappings(client, org, made["channel"]["id"])] == [there]


def test_throttled_calls_are_retried(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, [sku] = linked(client, org, db, tts, units=2)
    tts.state.throttle(2)
    receive(client, org, sku, made["location"], 4)
    settle(db, org)
    assert tts.state.quantity(sku) == 6
    assert tts.state.refused[-2:] == [36009002, 36009002]


def test_a_price_change_reaches_the_sku(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, [sku] = linked(client, org, db, tts)
    [shown] = mappings(client, org, made["channel"]["id"])
    changed = client.patch(f"/api/v1/variants/{shown['local_id']}", headers=org.headers,
                           json={"price": "14.25"})
    assert changed.status_code == 200, changed.text
    report = start_job(client, org, made["channel"]["id"], "price_push")
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    assert tts.state.sku(sku)[1]["price"]["sale_price"] == "14.25"


def test_an_expired_token_is_renewed_once_and_the_rotated_pair_sealed(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made, [sku] = linked(client, org, db, tts)
    channel_id = made["channel"]["id"]
    refreshes = tts.state.refreshes
    with tts.state.lock:
        tts.state.access_tokens[made["access_token"]] = tts.state.now() - 1
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert tts.state.quantity(sku) == 4
    assert tts.state.refreshes == refreshes + 1
    secrets = sealed(db, org, channel_id)
    assert secrets["refresh_token"] != made["refresh_token"]  # rotated, and kept
    assert secrets["access_token"] in tts.state.access_tokens
    assert float(secrets["access_token_expires_at"]) > tts.state.now()
    tiktok_client._tokens.clear()  # a restarted worker uses the sealed pair
    receive(client, org, sku, made["location"], -1)
    settle(db, org)
    assert tts.state.quantity(sku) == 3
    assert tts.state.refreshes == refreshes + 1
    shown = connection(client, org, channel_id)
    assert "access_token" in shown["credentials"]
    assert shown["health"]["status"] == "ok"


def test_a_token_about_to_expire_is_renewed_before_it_is_used(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made = connect(client, org, tts, token_lifetime=240)
    [sku] = listed(client, org, tts)
    receive(client, org, sku, made["location"], 2)
    # TikTok gave the expiry with the pair: Mercato knows it from its last renewal
    with db.transaction(tenant=org.id) as session:
        row = session.query(Connection).filter_by(channel_id=made["channel"]["id"]).one()
        vault = Vault.of(session, "channels")
        secrets = json.loads(vault.open(row.credentials))
        secrets["access_token_expires_at"] = str(int(tts.state.now()) + 240)
        row.credentials = vault.seal(json.dumps(secrets))
    refused, refreshes = len(tts.state.refused), tts.state.refreshes
    report = start_job(client, org, made["channel"]["id"], "product_import", skus=[sku])
    settle(db, org)
    assert job(client, org, report["id"])["status"] == "succeeded"
    assert tts.state.refreshes == refreshes + 1
    assert len(tts.state.refused) == refused  # never sent with the old one
    assert tts.state.quantity(sku) == 2


def test_an_unrenewable_refresh_token_shows_as_needing_reauthorization(
        client: TestClient, org: Org, db: Database, tts: TiktokServer) -> None:
    made = connect(client, org, tts)
    with tts.state.lock:
        tts.state.access_tokens[made["access_token"]] = tts.state.now() - 1
        del tts.state.refresh_tokens[made["refresh_token"]]
    report = start_job(client, org, made["channel"]["id"], "order_pull")
    settle(db, org)
    failed = job(client, org, report["id"])
    assert (failed["status"], failed["error_kind"]) == ("failed", "auth")
    assert "re-authorization" in failed["error"]
    health = connection(client, org, made["channel"]["id"])["health"]
    assert (health["status"], health["last_error_kind"]) == ("failing", "auth")
    assert "re-authorization" in health["last_error"]
