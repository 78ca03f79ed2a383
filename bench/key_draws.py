"""Licence-key draws per second under contention, from one pool (docs/digital.md).

``python -m bench.key_draws [--db sqlite,postgresql] [--keys 200] [--buyers 400]
[--threads 32] [--workers 4] [--raw 500] [--out PATH]``

Measured, never asserted. Per database, on a fresh migrated database, in one process (the
app served by uvicorn on a thread, clients on threads):

1. **checkout**: ``--buyers`` carts of one key each, checked out at once by ``--threads``
   clients through ``POST /store/v1/{store}/carts/{id}/checkout`` (the real checkout: the
   key pool is the product's stock, so exactly ``--keys`` succeed and the rest are
   ``409 insufficient_stock``): holds per second. Every client at once on one pool is a hot
   row: on a loaded machine a request may wait past ``MERCATO_STATEMENT_TIMEOUT_MS`` (PostgreSQL,
   503 ``statement_timeout``); those are counted as ``timeouts``, never as sales.
2. **deliver**: every order paid (``POST /api/v1/orders/{id}/payments``, not timed), then
   ``--workers`` outbox dispatchers at once run the ``order.paid`` handlers, each drawing the
   order's key for good: draws per second, end to end (event, delivery row, draw, email).
3. **raw**: ``--threads`` threads draw from a pool of ``--raw`` keys, one key per
   transaction through ``digital.service.draw_keys`` (the conditional update under ``FOR
   UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite): draws per second of the
   draw alone.

Every phase checks what it promises (each key drawn once, distinct keys, nothing over-sold)
and says so in its ``checks`` column. Prints a table, then the JSON (also written to
``bench/results/<UTC timestamp>-key-draws.json`` and ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.runner import RESULTS_DIR, machine_info
from bench.stack import BACKENDS, SECRET_KEY, fresh_database

PASSWORD = "benchpass123"


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="off", timeout_keep_alive=60))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, thread, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


def measure(backend: str, *, keys: int, buyers: int, threads: int, workers: int,
            raw: int) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from mercato.app import create_app
    from mercato.core.db import Database
    from mercato.core.ids import new_id
    from mercato.core.observability import configure_logging
    from mercato.core.outbox import Dispatcher
    from mercato.digital.models import LicenceKey
    from mercato.digital.service import draw_keys, opened_keys
    from mercato.identity.service import Identity
    from mercato.settings import Settings
    from mercato.tenancy.service import create_organization

    configure_logging("warning", "json")
    logging.getLogger("mercato").setLevel(logging.ERROR)
    rows: list[dict[str, Any]] = []
    with fresh_database(backend) as url:
        settings = Settings(database_url=url, secret_key=SECRET_KEY, log_level="warning",
                            migrate_on_start=False, run_worker=False, argon2_time_cost=1,
                            argon2_memory_kib=8)
        db = Database(url, pool_size=threads + workers + 4)
        try:
            identity = Identity(settings, db)
            with db.transaction() as session:
                org = create_organization(session, name="Bench", slug="bench")
                owner = identity.bootstrap_owner(session, org.id, "owner@bench.test",
                                                 PASSWORD)
                session.flush()
                org_id, owner_id = org.id, owner.id
            token = identity.signer.issue(subject=owner_id, organization_id=org_id,
                                          role="owner", email="owner@bench.test")
            staff = {"Authorization": f"Bearer {token}"}
            app = create_app(settings, db)
            with TestClient(app) as client:
                _ok(client.post("/api/v1/product-types", headers=staff, json={
                    "name": "Game key", "slug": "game-key", "digital": True}))

                def product(sku: str, pool: int) -> str:
                    made = _ok(client.post("/api/v1/products", headers=staff, json={
                        "title": sku, "product_type": "game-key", "status": "active",
                        "variants": [{"sku": sku, "price": "10.00"}]}))
                    variant = str(made["variants"][0]["id"])
                    for start in range(0, pool, 5000):
                        _ok(client.post(f"/api/v1/digital/variants/{variant}/keys",
                                        headers=staff, json={"keys": [
                                            f"{sku}-{n:06d}" for n in
                                            range(start, min(pool, start + 5000))]}))
                    return variant

                variant = product("KEY-E2E", keys)
                carts = [_ok(client.post("/store/v1/bench/carts", json={
                    "lines": [{"sku": "KEY-E2E", "quantity": 1}],
                    "email": f"buyer{n}@bench.test"}))["id"] for n in range(buyers)]
                server, thread, base = _serve(app)
                try:
                    gate = threading.Event()

                    def buy(cart_id: str) -> httpx.Response:
                        with httpx.Client(base_url=base, timeout=300) as http:
                            gate.wait()  # every client starts at once
                            return http.post(f"/store/v1/bench/carts/{cart_id}/checkout",
                                             json={"payment": {"method": "manual"}})

                    with ThreadPoolExecutor(max_workers=threads) as pool:
                        pending = [pool.submit(buy, cart) for cart in carts]
                        time.sleep(0.5)  # the pool's threads are up and waiting
                        began = time.perf_counter()
                        gate.set()
                        answers = [f.result() for f in pending]
                    took = time.perf_counter() - began
                finally:
                    server.should_exit = True
                    thread.join(timeout=10)
                made = [a.json()["id"] for a in answers if a.status_code == 201]
                refused = [a for a in answers if a.status_code == 409
                           and a.json().get("code") == "insufficient_stock"]
                timeouts = [a for a in answers if a.status_code == 503]
                rows.append({
                    "db": backend, "phase": "checkout", "operations": len(answers),
                    "seconds": round(took, 3), "per_second": round(len(answers) / took, 1),
                    "held": len(made), "refused": len(refused), "timeouts": len(timeouts),
                    # never more sold than keys; every other answer a clear refusal (or, on
                    # a machine too loaded for the hot row's queue, a 503 statement_timeout)
                    "checks": "ok" if len(made) <= keys
                    and (len(made) == min(keys, buyers) or timeouts)
                    and len(made) + len(refused) + len(timeouts) == len(answers)
                    else "FAILED"})

                for order_id in made:
                    _ok(client.post(f"/api/v1/orders/{order_id}/payments", headers=staff,
                                    json={"method": "bank_transfer"}))
                dispatchers = [threading.Thread(target=Dispatcher(db, batch_size=10).drain)
                               for _ in range(workers)]
                began = time.perf_counter()
                for worker in dispatchers:
                    worker.start()
                for worker in dispatchers:
                    worker.join()
                took = time.perf_counter() - began
                with db.session(tenant=org_id) as session:
                    lines = list(session.scalars(select(LicenceKey.order_line_id).where(
                        LicenceKey.variant_id == variant,
                        LicenceKey.order_line_id.is_not(None))))
                    handed = [k for line in lines for k in opened_keys(session, line)]
                rows.append({
                    "db": backend, "phase": "deliver", "operations": len(handed),
                    "seconds": round(took, 3), "per_second": round(len(handed) / took, 1),
                    "workers": workers,
                    "checks": "ok" if len(handed) == len(set(handed)) == len(made)
                    else "FAILED"})

                raw_variant = product("KEY-RAW", raw)
            per_thread = raw // threads
            barrier = threading.Barrier(threads)
            drawn: list[list[str]] = [[] for _ in range(threads)]

            def draw(index: int) -> None:
                barrier.wait()
                for _ in range(per_thread):
                    with db.transaction(tenant=org_id) as session:
                        drawn[index] += draw_keys(session, "bench", new_id(), raw_variant, 1)

            workers_ = [threading.Thread(target=draw, args=(i,)) for i in range(threads)]
            began = time.perf_counter()
            for worker in workers_:
                worker.start()
            for worker in workers_:
                worker.join()
            took = time.perf_counter() - began
            every = [k for part in drawn for k in part]
            with db.session(tenant=org_id) as session:
                counted = session.scalar(select(func.count()).select_from(LicenceKey).where(
                    LicenceKey.variant_id == raw_variant, LicenceKey.order_line_id.is_not(None)))
            rows.append({
                "db": backend, "phase": "raw", "operations": len(every),
                "seconds": round(took, 3), "per_second": round(len(every) / took, 1),
                "threads": threads,
                "checks": "ok" if len(every) == len(set(every)) == counted == per_thread
                * threads else "FAILED"})
        finally:
            db.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.key_draws",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=",".join(BACKENDS))
    parser.add_argument("--keys", type=int, default=200, help="the pool checkout sells from")
    parser.add_argument("--buyers", type=int, default=400, help="carts checked out at once")
    parser.add_argument("--threads", type=int, default=32, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=4, help="concurrent dispatchers")
    parser.add_argument("--raw", type=int, default=640, help="keys drawn in the raw phase")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    databases = [b.strip() for b in args.db.split(",") if b.strip()]
    load_start = os.getloadavg()
    rows = [row for backend in databases for row in measure(
        backend, keys=args.keys, buyers=args.buyers, threads=args.threads,
        workers=args.workers, raw=args.raw)]
    print(f"{'db':<11}{'phase':<10}{'ops':>6}{'seconds':>9}{'per s':>9}  checks")
    for row in rows:
        print(f"{row['db']:<11}{row['phase']:<10}{row['operations']:>6}{row['seconds']:>9.2f}"
              f"{row['per_second']:>9.1f}  {row['checks']}")
    result = {"benchmark": "key_draws", "at": dt.datetime.now(dt.UTC).isoformat(),
              "machine": machine_info(databases),
              "load_average": {"start": load_start, "end": os.getloadavg()},
              "config": {k: v for k, v in vars(args).items() if k != "out"}, "rows": rows}
    text = json.dumps(result, indent=2, default=str)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"{stamp}-key-draws.json").write_text(text)
    if args.out:
        args.out.write_text(text)
    return 0 if all(row["checks"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
