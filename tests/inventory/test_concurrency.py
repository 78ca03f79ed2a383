"""Proof under concurrency: hundreds of reservations race for a few units over real HTTP.

SQLite is loaded by threads against one in-process uvicorn server; PostgreSQL by threads
against three ``uvicorn mercato.asgi:app`` processes sharing one database, so the guard is
tested across processes and connection pools, not only across threads. Every test asserts
exact counts (units held = the units there were), so a guard that let two requests take the
same unit, or that refused stock that was there, fails it.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.inventory import stock
from mercato.migrations import upgrade
from tests.conftest import (
    ROOT,
    SECRET,
    LiveServer,
    Org,
    create_org,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_settings,
    new_database_url,
    require_postgres,
    walk_pages,
)
from tests.inventory.helpers import make_location, make_variants, receive

THREADS = 32
RESERVE = "/api/v1/inventory/reservations"


@dataclass
class Stack:
    """A database, an in-process client for setup and checks, and the URLs that take load."""

    db: Database
    client: TestClient
    urls: list[str]
    settings: Any
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


class Load:
    """Concurrent requests from a pool of threads, one httpx client per thread, spread over
    the servers round-robin."""

    def __init__(self, urls: list[str], org: Org, threads: int = THREADS) -> None:
        self.urls, self.org, self.threads = urls, org, threads
        self.local = threading.local()
        self.counter = itertools.count()
        self.clients: list[httpx.Client] = []
        self.lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(headers=self.org.headers, timeout=120)
            self.local.client = client
            with self.lock:
                self.clients.append(client)
        return client

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """The answer; a dropped connection (no answer at all) reads as status 0."""
        url = self.urls[next(self.counter) % len(self.urls)]
        try:
            return self._client().post(url + path, json=body)
        except httpx.TransportError as exc:
            return httpx.Response(0, json={"code": f"transport: {exc!r}"})

    def run(self, jobs: list[Callable[[], Any]]) -> list[Any]:
        try:
            with ThreadPoolExecutor(self.threads) as pool:
                return list(pool.map(lambda job: job(), jobs))
        finally:
            for client in self.clients:
                client.close()


def levels_of(client: TestClient, org: Org, sku: str) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/inventory/levels", headers=org.headers, params={"sku": sku})
    assert response.status_code == 200, response.text
    return {lv["location_id"]: lv for lv in response.json()["data"]}


def assert_consistent(stack_: Stack, org: Org) -> None:
    with stack_.db.session(tenant=org.id) as session:
        assert stock.verify(session) == []


def race_for_units(stack_: Stack, org: Org, *, units: list[int], quantity: int,
                   requests: int) -> tuple[str, list[httpx.Response], dict[str, Any]]:
    """``requests`` concurrent reservations of ``quantity`` of one SKU whose stock is
    ``units`` spread over that many locations; asserts every answer is 201 or 409."""
    client = stack_.client
    [sku] = make_variants(client, org)
    for count in units:
        receive(client, org, sku, make_location(client, org)["id"], count)
    load = Load(stack_.urls, org)
    seen = {"min_available": min(units), "max_reserved": 0, "samples": 0}
    done = threading.Event()

    def watch() -> None:  # stock never goes below zero while the race runs, not just after
        with httpx.Client(base_url=stack_.urls[0], headers=org.headers, timeout=60) as http:
            while not done.is_set():
                for lv in http.get("/api/v1/inventory/levels", params={"sku": sku}
                                   ).json()["data"]:
                    seen["min_available"] = min(seen["min_available"], lv["available"])
                    seen["max_reserved"] = max(seen["max_reserved"], lv["reserved"])
                seen["samples"] += 1
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answers = load.run([
            (lambda n=n: load.post(RESERVE, {"reference": f"race-{sku}-{n}",
                                             "lines": [{"sku": sku, "quantity": quantity}]}))
            for n in range(requests)])
    finally:
        done.set()
        watcher.join()
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {201, 409}, dict(statuses)
    for response in answers:
        if response.status_code == 409:
            assert response.json()["code"] == "insufficient_stock", response.text
    total = sum(units)
    winners = [r for r in answers if r.status_code == 201]
    assert len(winners) == total // quantity, statuses
    assert sum(line["quantity"] for r in winners for line in r.json()["lines"]) \
        == total // quantity * quantity
    assert len({r.json()["id"] for r in winners}) == len(winners)
    levels = levels_of(client, org, sku)
    assert sum(lv["reserved"] for lv in levels.values()) == total // quantity * quantity
    assert sum(lv["available"] for lv in levels.values()) == total % quantity
    assert all(lv["available"] >= 0 and lv["reserved"] >= 0 for lv in levels.values())
    assert seen["min_available"] >= 0
    assert seen["samples"] > 0
    assert_consistent(stack_, org)
    return sku, winners, levels


def assert_splits(winners: list[httpx.Response], quantity: int) -> None:
    """With 3 + 3 units and lines of 2, at most one line fits whole in each location: the
    third winner must have been split over both."""
    shapes = Counter(len(r.json()["lines"]) for r in winners)
    assert shapes == {1: 2, 2: 1}, shapes
    for response in winners:
        assert sum(line["quantity"] for line in response.json()["lines"]) == quantity


def same_reference(stack_: Stack, org: Org) -> None:
    """50 identical requests under one reference at once: one hold, 49 answers naming it."""
    client = stack_.client
    [sku] = make_variants(client, org)
    location = make_location(client, org)["id"]
    receive(client, org, sku, location, 100)
    load = Load(stack_.urls, org)
    body = {"reference": f"checkout-{new_id()}", "lines": [{"sku": sku, "quantity": 3}]}
    answers = load.run([lambda: load.post(RESERVE, body) for _ in range(50)])
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 200: 49}, dict(statuses)
    assert len({r.json()["id"] for r in answers}) == 1
    level = levels_of(client, org, sku)[location]
    assert (level["on_hand"], level["reserved"], level["available"]) == (100, 3, 97)
    listed = client.get(RESERVE, headers=org.headers, params={"reference": body["reference"]})
    assert len(listed.json()["data"]) == 1
    assert_consistent(stack_, org)


# -- SQLite: one in-process server, threads --------------------------------------------------

@pytest.fixture(scope="module")
def sqlite_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = new_database_url("sqlite", tmp_path_factory.mktemp("concurrency"))
    settings = make_settings(url)
    db = Database(url, pool_size=20)
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as client, LiveServer(app) as server:
        yield Stack(db, client, [server.url], settings)
    db.dispose()


@pytest.fixture
def sqlite_org(sqlite_stack: Stack) -> Org:
    return create_org(sqlite_stack.db, sqlite_stack.settings)


def test_sqlite_200_threads_reserve_exactly_the_5_units_there_are(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    race_for_units(sqlite_stack, sqlite_org, units=[5], quantity=1, requests=200)


def test_sqlite_200_threads_split_lines_over_two_locations_exactly(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    _, winners, _ = race_for_units(sqlite_stack, sqlite_org, units=[3, 3], quantity=2,
                                   requests=200)
    assert_splits(winners, 2)


def test_sqlite_50_identical_requests_with_one_reference_hold_once(
        sqlite_stack: Stack, sqlite_org: Org) -> None:
    same_reference(sqlite_stack, sqlite_org)


# -- PostgreSQL: three server processes, one database ----------------------------------------

def start_server(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    environ.update({
        "MERCATO_DATABASE_URL": url,
        "MERCATO_SECRET_KEY": SECRET,
        "MERCATO_MIGRATE_ON_START": "false",
        "MERCATO_RUN_WORKER": "false",
        "MERCATO_ARGON2_TIME_COST": "1",
        "MERCATO_ARGON2_MEMORY_KIB": "8",
        "MERCATO_LOG_LEVEL": "warning",
        "MERCATO_DB_POOL_SIZE": "5",  # 3 processes x (5 + 10 overflow) stay under max_connections
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    })
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "mercato.asgi:app", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
             "warning", "--timeout-keep-alive", "300"],
            cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(processes: list[subprocess.Popen[bytes]], urls: list[str],
                 logs: list[Path]) -> None:
    deadline = time.monotonic() + 90
    pending = set(range(len(urls)))
    while pending:
        for i in sorted(pending):
            if processes[i].poll() is not None:
                pytest.fail(f"server {i} exited with {processes[i].returncode}:\n"
                            f"{logs[i].read_text(errors='replace')}")
            try:
                if httpx.get(f"{urls[i]}/health", timeout=2).status_code == 200:
                    pending.discard(i)
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            pytest.fail(f"servers {sorted(pending)} not healthy after 90 s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_postgres()
    url = create_pg_database()
    logs_dir = tmp_path_factory.mktemp("pg-servers")
    processes: list[subprocess.Popen[bytes]] = []
    logs = [logs_dir / f"server-{i}.log" for i in range(3)]
    db = Database(url, pool_size=5)
    try:
        upgrade(url)
        settings = make_settings(url)
        urls = []
        for log in logs:
            process, server_url = start_server(url, log)
            processes.append(process)
            urls.append(server_url)
        wait_healthy(processes, urls, logs)
        app = create_app(settings, db)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Stack(db, client, urls, settings, processes)
        for i, process in enumerate(processes):
            assert process.poll() is None, logs[i].read_text(errors="replace")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for i, log in enumerate(logs):
            if log.exists():  # shown by pytest only when a test failed
                print(f"--- server {i}:\n{log.read_text(errors='replace')[-4000:]}")
        db.dispose()
        drop_pg_database(url)


@pytest.fixture
def pg_org(pg_stack: Stack) -> Org:
    return create_org(pg_stack.db, pg_stack.settings)


def ledger_sums(client: TestClient, org: Org, sku: str) -> dict[str, tuple[int, int]]:
    sums: dict[str, tuple[int, int]] = {}
    for row in walk_pages(client, "/api/v1/inventory/ledger", org.headers, limit=250, sku=sku):
        on_hand, reserved = sums.get(row["location_id"], (0, 0))
        sums[row["location_id"]] = (on_hand + row["delta_on_hand"],
                                    reserved + row["delta_reserved"])
    return sums


@pytest.mark.slow
def test_postgres_300_requests_over_3_processes_reserve_exactly_the_5_units(
        pg_stack: Stack, pg_org: Org) -> None:
    sku, _, levels = race_for_units(pg_stack, pg_org, units=[5], quantity=1, requests=300)
    assert ledger_sums(pg_stack.client, pg_org, sku) == {
        loc: (lv["on_hand"], lv["reserved"]) for loc, lv in levels.items()}


@pytest.mark.slow
def test_postgres_300_requests_over_3_processes_split_over_two_locations_exactly(
        pg_stack: Stack, pg_org: Org) -> None:
    sku, winners, levels = race_for_units(pg_stack, pg_org, units=[3, 3], quantity=2,
                                          requests=300)
    assert_splits(winners, 2)
    assert ledger_sums(pg_stack.client, pg_org, sku) == {
        loc: (lv["on_hand"], lv["reserved"]) for loc, lv in levels.items()}


@pytest.mark.slow
def test_postgres_50_identical_requests_with_one_reference_hold_once(
        pg_stack: Stack, pg_org: Org) -> None:
    same_reference(pg_stack, pg_org)


@pytest.mark.slow
def test_postgres_mixed_reserve_commit_release_and_adjust_never_deadlock_or_drift(
        pg_stack: Stack, pg_org: Org) -> None:
    """Multi-line reservations naming two SKUs in either order, commits, releases and
    two-line adjustments, all at once over three processes: no 5xx (a deadlock would be one),
    and the final levels are exactly what the successful requests add up to."""
    client, org = pg_stack.client, pg_org
    skus = make_variants(client, org, 2)
    locations = [make_location(client, org)["id"] for _ in range(2)]
    start = 10
    for sku in skus:
        for location in locations:
            receive(client, org, sku, location, start)
    load = Load(pg_stack.urls, org)
    rng = random.Random(7)
    plans = [(n, rng.random() < 0.5, rng.choice(("commit", "release", "keep")))
             for n in range(160)]

    def checkout(n: int, reverse: bool, then: str) -> tuple[str, dict[str, Any] | None, int]:
        lines = [{"sku": skus[0], "quantity": 1}, {"sku": skus[1], "quantity": 2}]
        held = load.post(RESERVE, {"reference": f"mixed-{n}",
                                   "lines": lines[::-1] if reverse else lines})
        assert held.status_code in (201, 409), held.text
        if held.status_code == 409:
            assert held.json()["code"] == "insufficient_stock", held.text
            return "short", None, 409
        if then == "keep":
            return "active", held.json(), 201
        closed = load.post(f"{RESERVE}/{held.json()['id']}/{then}", {})
        assert closed.status_code == 200, closed.text
        return ("committed" if then == "commit" else "released"), closed.json(), 200

    def restock(n: int, reverse: bool) -> tuple[str, dict[str, Any] | None, int]:
        lines = [{"sku": skus[0], "location": locations[n % 2], "delta": 2,
                  "reason": "restock"},
                 {"sku": skus[1], "location": locations[(n + 1) % 2], "delta": 3,
                  "reason": "restock"}]
        done = load.post("/api/v1/inventory/adjustments",
                         {"lines": lines[::-1] if reverse else lines})
        assert done.status_code == 201, done.text
        return "restock", {"lines": lines}, 201

    jobs: list[Callable[[], tuple[str, dict[str, Any] | None, int]]] = [
        (lambda n=n, r=r, t=t: checkout(n, r, t)) for n, r, t in plans]
    jobs += [(lambda n=n: restock(n, n % 3 == 0)) for n in range(40)]
    rng.shuffle(jobs)
    results = load.run(jobs)

    outcomes = Counter(kind for kind, _, _ in results)
    for kind in ("committed", "released", "active"):
        assert outcomes[kind], outcomes
    expected = {(sku, loc): [start, 0] for sku in skus for loc in locations}
    for kind, body, _ in results:
        if kind == "restock":
            assert body is not None
            for line in body["lines"]:
                expected[(line["sku"], line["location"])][0] += line["delta"]
        elif kind in ("committed", "active"):
            assert body is not None
            for line in body["lines"]:
                key = (line["sku"], line["location_id"])
                if kind == "committed":
                    expected[key][0] -= line["quantity"]
                else:
                    expected[key][1] += line["quantity"]
    for sku in skus:
        levels = levels_of(client, org, sku)
        assert {loc: [lv["on_hand"], lv["reserved"]] for loc, lv in levels.items()} == {
            loc: expected[(sku, loc)] for loc in locations}
        assert all(lv["available"] >= 0 for lv in levels.values())
        assert ledger_sums(client, org, sku) == {
            loc: (lv["on_hand"], lv["reserved"]) for loc, lv in levels.items()}
    assert_consistent(pg_stack, org)


def test_many_clients_taking_every_sku_of_a_batch_at_once_take_exactly_what_there_is(
        client: TestClient, org: Org, db: Database, live_server: LiveServer) -> None:
    """30 clients at once, each taking 1 unit of each of 20 SKUs in one adjustment (lines in
    an order of its own) where every SKU has 10: exactly 10 adjustments apply, whole; the
    rest are refused whole with ``insufficient_stock``; no level goes below zero, none
    deadlocks, and every level is its ledger. (On PostgreSQL a batch moves its rows in one
    guarded statement after locking them in key order.)"""
    skus = make_variants(client, org, 20)
    place = make_location(client, org)
    for sku in skus:
        receive(client, org, sku, place["code"], 10)
    barrier = threading.Barrier(30)

    def take(n: int) -> int:
        lines = [{"sku": sku, "location": place["code"], "delta": -1, "reason": "damage"}
                 for sku in random.Random(n).sample(skus, len(skus))]
        with httpx.Client(base_url=live_server.url, headers=org.headers, timeout=60) as http:
            barrier.wait()
            answer = http.post("/api/v1/inventory/adjustments", json={"lines": lines})
        assert answer.status_code in (201, 409), answer.text
        if answer.status_code == 409:
            assert answer.json()["code"] == "insufficient_stock", answer.text
        return answer.status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = Counter(pool.map(take, range(30)))
    assert statuses == {201: 10, 409: 20}, statuses
    for sku in skus:
        found = client.get("/api/v1/inventory/levels", headers=org.headers,
                           params={"sku": sku}).json()["data"]
        assert [(lv["on_hand"], lv["available"]) for lv in found] == [(0, 0)]
    with db.session(write=False, tenant=org.id) as session:
        assert stock.verify(session) == []
