"""The key pool is the product's stock: 200 buyers at once through the storefront's real
checkout for a pool of 50 keys get 50 orders and 150 clear refusals; once paid, every order
gets its own key, drawn once, whatever runs at the same time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mercato.core.db import Database
from mercato.core.outbox import Dispatcher
from mercato.digital.models import LicenceKey
from mercato.digital.service import opened_keys
from tests.conftest import LiveServer, Org
from tests.digital.helpers import deliveries, digital_cart, digital_product, pool_of, upload_keys
from tests.storefront_helpers import store_url

KEYS, BUYERS = 50, 200


def _all_at_once(url: str, calls: list[tuple[str, str, dict[str, Any], dict[str, str]]]
                 ) -> list[httpx.Response]:
    """Every (method, path, body, headers) at once, each from its own connection, released
    together by a barrier."""
    start = threading.Barrier(len(calls))

    def one(call: tuple[str, str, dict[str, Any], dict[str, str]]) -> httpx.Response:
        method, path, body, headers = call
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            return http.request(method, path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_200_buyers_of_a_50_key_pool_get_50_distinct_keys_and_150_clear_refusals(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    product = digital_product(client, org)
    variant_id = product["variant_id"]
    keys = [f"POOL-{n:04d}-{variant_id[-6:]}" for n in range(KEYS)]
    assert upload_keys(client, org, variant_id, keys).json()["added"] == KEYS
    carts = [digital_cart(client, org, [(product["sku"], 1)], email=f"buyer{n}@example.com")
             for n in range(BUYERS)]

    answers = _all_at_once(live_server.url, [
        ("POST", store_url(org.slug, f"/carts/{c['id']}/checkout"),
         {"payment": {"method": "manual"}}, {}) for c in carts])

    made = [r.json() for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert len(made) == KEYS, [r.text for r in refused if r.status_code != 409][:3]
    assert len(refused) == BUYERS - KEYS
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(409, "insufficient_stock")}
    assert all(r.headers["content-type"] == "application/problem+json" for r in refused)
    assert len({o["id"] for o in made}) == KEYS

    # every order paid at once, and the paid events handled by four workers at once
    paid = _all_at_once(live_server.url, [
        ("POST", f"/api/v1/orders/{o['id']}/payments", {"method": "bank_transfer"},
         org.headers) for o in made])
    assert {r.status_code for r in paid} == {201}, [r.text for r in paid][:3]
    workers = [threading.Thread(target=Dispatcher(db, batch_size=5).drain) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    delivered = [d for o in made for d in deliveries(client, org, o["id"])]
    assert len(delivered) == KEYS
    assert {d["status"] for d in delivered} == {"delivered"}
    with db.session(tenant=org.id) as session:
        handed = [key for d in delivered for key in opened_keys(session, d["order_line_id"])]
        drawn_rows = session.scalar(select(func.count()).select_from(LicenceKey).where(
            LicenceKey.variant_id == variant_id, LicenceKey.order_line_id.is_not(None)))
    assert len(handed) == KEYS
    assert sorted(handed) == sorted(keys)  # 50 distinct keys, each drawn once
    assert drawn_rows == KEYS
    assert pool_of(client, org, variant_id) == {
        "variant_id": variant_id, "total": KEYS, "drawn": KEYS, "remaining": 0}
    level = client.get("/api/v1/inventory/levels", headers=org.headers,
                       params={"sku": product["sku"]}).json()
    assert sum(row["on_hand"] for row in level["data"]) == 0  # the pool's stock is gone too
