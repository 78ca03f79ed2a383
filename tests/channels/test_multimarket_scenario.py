"""One stock pool and one order inbox across Amazon, Shopee and TikTok Shop (each its
emulator), Shopify and the web store: a sealed product with its last units listed on all five.

- The last two units sold on the three marketplaces at the same moment make two allocated
  orders and one that nothing covers, which is cancelled back on its platform; every channel
  then shows 0, and no buyer gets a Mercato email.
- Platforms that refuse every call for a while (far below their documented rates) catch up
  with the last number once they answer again, nothing left pending.
- A ``mercato worker`` killed (SIGKILL) in the middle of a push loses no change: another
  worker, once the dead one's lease has run out, brings every platform to Mercato's number."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mercato.app import create_app
from mercato.channels import jobs
from mercato.channels.events import OVERSOLD
from mercato.channels.models import Connection
from mercato.core.db import SYSTEM, Database
from mercato.core.ids import new_id
from tests.channels.amazon.helpers import CLIENT_ID as AMAZON_CLIENT_ID
from tests.channels.amazon.helpers import CLIENT_SECRET as AMAZON_SECRET
from tests.channels.amazon.helpers import REFRESH_TOKEN as AMAZON_REFRESH
from tests.channels.amazon.helpers import SELLER as AMAZON_SELLER
from tests.channels.amazon.helpers import AmazonServer
from tests.channels.helpers import ACCESS_TOKEN, VERSION, ShopifyServer, job, settle, start_job
from tests.channels.helpers import CLIENT_SECRET as SHOPIFY_SECRET
from tests.channels.shopee.helpers import PARTNER_ID, PARTNER_KEY, ShopeeServer
from tests.channels.shopee.helpers import SHOP_ID as SHOPEE_SHOP
from tests.channels.tiktok.helpers import APP_KEY, APP_SECRET, SHOP_CIPHER, TiktokServer
from tests.channels.tiktok.helpers import SHOP_ID as TIKTOK_SHOP
from tests.conftest import (
    PUBLIC_URL,
    ROOT,
    SECRET,
    LiveServer,
    Org,
    create_org,
    drop_pg_database,
    make_settings,
    new_database_url,
)
from tests.inventory.helpers import make_location, receive

KINDS = ["web", "shopify", "amazon", "shopee", "tiktok"]
MARKETS = ("amazon", "shopee", "tiktok")
MERCATO = Path(sys.executable).with_name("mercato")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class Platforms:
    """The four emulators, served."""

    def __init__(self, tiktok_gate: Gate | None = None) -> None:
        self.shopify = ShopifyServer()
        self.amazon = AmazonServer(feed_delay=0.05)
        self.shopee = ShopeeServer()
        self.tiktok = TiktokServer()
        if tiktok_gate is not None:  # TikTok's inventory updates pass through the gate
            tiktok_gate.app = self.tiktok.app
            self.tiktok.server.socket.close()  # never served
            self.tiktok.server = LiveServer(tiktok_gate)  # type: ignore[arg-type]
            self.tiktok.url = self.tiktok.server.url

    def __enter__(self) -> Platforms:
        for server in (self.shopify, self.amazon, self.shopee, self.tiktok):
            server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.shopify, self.amazon, self.shopee, self.tiktok):
            server.__exit__(*exc)


class Pool:
    """A sealed product with ``units`` on hand at one location, sold on all five channels."""

    def __init__(self, client: TestClient, org: Org, db: Database, platforms: Platforms,
                 units: int) -> None:
        self.client, self.org, self.db, self.platforms = client, org, db, platforms
        self.location = make_location(client, org)["id"]
        self.sku = f"POOL-{new_id()[-8:]}"
        client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
        _ok(client.post("/api/v1/products", headers=org.headers, json={
            "title": f"Booster box {self.sku[-4:]}", "product_type": "accessory",
            "status": "active", "channels": KINDS,
            "variants": [{"sku": self.sku, "price": "100.00"}]}), 201)
        receive(client, org, self.sku, self.location, units)
        self.channels = {kind: self._channel(kind) for kind in KINDS}
        shopify, amazon = platforms.shopify, platforms.amazon
        shopee, tiktok = platforms.shopee, platforms.tiktok
        self.item = shopify.product(self.sku)["inventory_item_id"]
        self._connect("shopify", {
            "kind": "shopify", "account": shopify.domain, "api_version": VERSION,
            "api_base": shopify.url,
            "credentials": {"access_token": ACCESS_TOKEN, "client_secret": SHOPIFY_SECRET}})
        amazon.state.add_listing(self.sku, quantity=0, price="100.00")
        self._connect("amazon", {
            "kind": "amazon", "account": AMAZON_SELLER, "api_base": amazon.url,
            "credentials": {"client_id": AMAZON_CLIENT_ID, "client_secret": AMAZON_SECRET,
                            "refresh_token": AMAZON_REFRESH}})
        shopee.list_skus(self.sku)
        access, refresh = shopee.state.authorize()
        self._connect("shopee", {
            "kind": "shopee", "account": SHOPEE_SHOP, "api_base": shopee.url,
            "credentials": {"partner_id": PARTNER_ID, "partner_key": PARTNER_KEY,
                            "access_token": access, "refresh_token": refresh}})
        tiktok.state.add_product(f"Booster box {self.sku[-4:]}",
                                 [{"seller_sku": self.sku, "quantity": 0, "price": "100.00"}])
        access, refresh = tiktok.tokens()
        self._connect("tiktok", {
            "kind": "tiktok", "account": SHOP_CIPHER, "api_base": tiktok.url,
            "credentials": {"app_key": APP_KEY, "app_secret": APP_SECRET,
                            "access_token": access, "refresh_token": refresh},
            "settings": {"shop_id": TIKTOK_SHOP}})
        for kind in ("shopify", *MARKETS):
            self._run(kind, "product_import")
        settle(db, org)
        assert self.held() == dict.fromkeys(KINDS, units)

    def _channel(self, kind: str) -> str:
        return str(_ok(self.client.post("/api/v1/channels", headers=self.org.headers, json={
            "name": f"{kind} {new_id()[-6:]}", "kind": kind,
            "locations": [self.location]}), 201)["id"])

    def _connect(self, kind: str, body: dict[str, Any]) -> None:
        _ok(self.client.put(f"/api/v1/channels/{self.channels[kind]}/connection",
                            headers=self.org.headers, json=body), 201)

    def _run(self, kind: str, job_kind: str) -> None:
        started = start_job(self.client, self.org, self.channels[kind], job_kind)
        settle(self.db, self.org)
        done = job(self.client, self.org, started["id"])
        assert (done["status"], done["failed"]) == ("succeeded", 0), done

    def connection(self, kind: str) -> dict[str, Any]:
        return dict(_ok(self.client.get(f"/api/v1/channels/{self.channels[kind]}/connection",
                                        headers=self.org.headers)))

    def held(self) -> dict[str, int | None]:
        """What each place shows buyers."""
        platforms = self.platforms
        web = _ok(self.client.get(f"/api/v1/channels/{self.channels['web']}/availability",
                                  headers=self.org.headers, params={"sku": self.sku}))
        return {"web": web["available_to_sell"],
                "shopify": platforms.shopify.state.available(self.item),
                "amazon": platforms.amazon.state.quantity(self.sku),
                "shopee": platforms.shopee.state.stock(self.sku),
                "tiktok": platforms.tiktok.state.quantity(self.sku)}

    def sell(self, kind: str) -> str:
        """A buyer's order of one unit on the platform; its id there."""
        platforms = self.platforms
        if kind == "amazon":
            made = platforms.amazon.state.place_order([{"sku": self.sku, "quantity": 1}])
            return str(made["AmazonOrderId"])
        if kind == "shopee":
            return str(platforms.shopee.state.place_order(
                [{"sku": self.sku, "quantity": 1}])["order_sn"])
        made = platforms.tiktok.state.place_order([{"seller_sku": self.sku, "quantity": 1}],
                                                  notify=False)
        return str(made["id"])

    def cancelled_there(self, kind: str, external_id: str) -> bool:
        """Whether the platform shows its order cancelled."""
        platforms = self.platforms
        if kind == "amazon":
            with platforms.amazon.state.lock:
                platforms.amazon.state.tick()
                return bool(platforms.amazon.state.orders[external_id]["OrderStatus"]
                            == "Canceled")
        if kind == "shopee":
            return bool(platforms.shopee.state.orders[external_id]["order_status"]
                        == "CANCELLED")
        return bool(platforms.tiktok.state.orders[external_id]["status"] == "CANCELLED")

    def state(self) -> dict[str, Any]:
        """What each place holds, and each connection's health and pending pushes."""
        return {"held": self.held(), **{
            kind: (c["pending_pushes"], c["health"]["status"], c["health"]["last_error"],
                   c["health"]["circuit"])
            for kind in ("shopify", *MARKETS) if (c := self.connection(kind))}}

    def orders(self) -> list[dict[str, Any]]:
        found = _ok(self.client.get("/api/v1/orders", headers=self.org.headers,
                                    params={"sku": self.sku, "limit": 50}))["data"]
        return [_ok(self.client.get(f"/api/v1/orders/{o['id']}", headers=self.org.headers))
                for o in found]


def eventually(check: Callable[[], bool], work: Callable[[], None], *,
               timeout: float = 30, show: Callable[[], Any] = lambda: None) -> None:
    """Do ``work`` until ``check`` holds (jobs that wait on a platform run again later)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not settled in {timeout} s: {show()}"
        work()
        time.sleep(0.1)


def test_the_last_two_units_sold_on_three_marketplaces_at_once_are_two_orders_and_one_cancelled(
        client: TestClient, org: Org, db: Database) -> None:
    with Platforms() as platforms:
        pool = Pool(client, org, db, platforms, units=2)
        sold = {kind: pool.sell(kind) for kind in MARKETS}  # each still showed 2
        for kind in MARKETS:
            start_job(client, org, pool.channels[kind], "order_pull")
        barrier = threading.Barrier(len(MARKETS))

        def pull(n: int) -> int:  # three workers take the three pulls at once
            barrier.wait()
            return jobs.run_due(db, f"puller-{n}", budget=30, organization_id=org.id)

        with ThreadPoolExecutor(len(MARKETS)) as threads:
            assert sum(threads.map(pull, range(len(MARKETS)))) == len(MARKETS)
        settle(db, org)
        orders = pool.orders()
        assert sorted(o["external_id"] for o in orders) == sorted(sold.values())
        kept = [o for o in orders if o["status"] != "cancelled"]
        [lost] = [o for o in orders if o["status"] == "cancelled"]
        assert len(kept) == 2
        assert all(not o["oversold"] for o in kept)
        assert lost["cancel_reason"] == OVERSOLD
        [lost_on] = [kind for kind in MARKETS if pool.channels[kind] == lost["channel"]]
        eventually(lambda: pool.cancelled_there(lost_on, lost["external_id"])
                   and pool.held() == dict.fromkeys(KINDS, 0),
                   lambda: settle(db, org), show=pool.state)
        assert not [kind for kind in MARKETS if kind != lost_on
                    and pool.cancelled_there(kind, sold[kind])]
        # one inbox: each order carries its channel, its platform id and its buyer
        assert {o["channel"] for o in orders} == {pool.channels[k] for k in MARKETS}
        assert all(o["email"] or o["customer_name"] for o in orders), orders
        for order in orders:
            if order["email"]:
                sent = _ok(client.get("/api/v1/notifications", headers=org.headers,
                                      params={"recipient": order["email"]}))["data"]
                assert sent == [], order["channel"]


def test_platforms_refusing_every_call_catch_up_with_the_last_number_once_they_answer(
        client: TestClient, org: Org, db: Database) -> None:
    with Platforms() as platforms:
        pool = Pool(client, org, db, platforms, units=2)
        for server in (platforms.amazon, platforms.shopee, platforms.tiktok):
            server.state.throttle(1_000)  # every call refused for its rate until lifted
        for delta in (3, -1, 4, -2):  # 2 -> 5 -> 4 -> 8 -> 6, published as they come
            receive(client, org, pool.sku, pool.location, delta)
        settle(db, org)  # a round of pushes, refused by the three
        held = pool.held()
        assert (held["web"], held["shopify"]) == (6, 6)
        assert all(held[kind] == 2 for kind in MARKETS), held
        assert all(pool.connection(kind)["pending_pushes"] >= 1 for kind in MARKETS)
        for server in (platforms.amazon, platforms.shopee, platforms.tiktok):
            server.state.throttle(0)
        eventually(lambda: pool.held() == dict.fromkeys(KINDS, 6), lambda: settle(db, org),
                   show=pool.state)
        for kind in ("shopify", *MARKETS):
            connection = pool.connection(kind)
            assert connection["pending_pushes"] == 0, (kind, connection)


# -- a worker killed mid-push -------------------------------------------------------------------

class Gate:
    """An ASGI wrapper that holds TikTok's inventory updates while ``closed`` is set, after
    telling ``arrived``; the update goes on to the emulator once the gate opens."""

    def __init__(self) -> None:
        self.app: Any = None
        self.closed = threading.Event()
        self.arrived = threading.Event()
        self.opened = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import anyio.to_thread

        if not (scope["type"] == "http" and self.closed.is_set()
                and str(scope.get("path", "")).endswith("/inventory/update")):
            await self.app(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:  # the whole request arrived before the sender dies
            message = await receive()
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
        self.arrived.set()
        await anyio.to_thread.run_sync(self.opened.wait, 30)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _worker_env(url: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    environ.update({
        "MERCATO_DATABASE_URL": url, "MERCATO_SECRET_KEY": SECRET,
        "MERCATO_PUBLIC_URL": PUBLIC_URL, "MERCATO_LOG_LEVEL": "info",
        "MERCATO_LOG_FORMAT": "json", "MERCATO_MIGRATE_ON_START": "false",
        "MERCATO_WORKER_POLL_INTERVAL_SECONDS": "0.05",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                      if p)})
    return environ


class Workers:
    """``mercato worker`` processes of the test; killed at the end, their logs shown on
    failure."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url, self.logs = url, logs
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(MERCATO), "worker"], cwd=ROOT,
                                    env=_worker_env(self.url), stdout=out,
                                    stderr=subprocess.STDOUT)
        self.started.append((proc, log))
        return proc

    def close(self) -> None:
        for proc, log in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            print(f"--- worker {proc.pid} (exit {proc.returncode})")
            print(log.read_text(errors="replace")[-4000:])


@pytest.fixture
def own_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: the worker processes it starts see no other test's
    connections (whose emulators are gone)."""
    url = new_database_url(backend, tmp_path)
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_push_loses_no_change(
        own_database: str, tmp_path: Path) -> None:
    settings = make_settings(own_database)
    db = Database(own_database, pool_size=5)
    gate = Gate()
    workers = Workers(own_database, tmp_path)
    try:
        with TestClient(create_app(settings, db), raise_server_exceptions=False) as client, \
                Platforms(tiktok_gate=gate) as platforms:
            org = create_org(db, settings)
            pool = Pool(client, org, db, platforms, units=2)
            doomed = workers.start("doomed")
            gate.closed.set()
            receive(client, org, pool.sku, pool.location, 3)  # 2 -> 5
            assert gate.arrived.wait(30), "the worker never pushed to TikTok"
            doomed.send_signal(signal.SIGKILL)  # while its push to TikTok is in flight
            assert doomed.wait(10) == -signal.SIGKILL
            receive(client, org, pool.sku, pool.location, -1)  # 5 -> 4 with no worker alive
            gate.opened.set()  # TikTok now applies the dead worker's 5: it never heard back
            eventually(lambda: platforms.tiktok.state.quantity(pool.sku) == 5,
                       lambda: None, timeout=10)
            with db.transaction(tenant=SYSTEM) as session:  # the dead worker's leases end
                session.execute(update(Connection).values(
                    push_lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
            survivor = workers.start("survivor")
            eventually(lambda: pool.held() == dict.fromkeys(KINDS, 4)
                       and not any(pool.connection(k)["pending_pushes"]
                                   for k in ("shopify", *MARKETS)),
                       lambda: None, timeout=60, show=pool.state)
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(20) == 0
            for kind in ("shopify", *MARKETS):
                health = pool.connection(kind)["health"]
                assert health["status"] == "ok", (kind, health)
    finally:
        workers.close()
        db.dispose()
