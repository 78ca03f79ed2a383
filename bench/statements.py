"""SQL statements per checkout, counted, with the ones that ran more than once.

``python -m bench.statements [--db sqlite,postgresql] [--show] [--repeat N]``

Not a load benchmark: one checkout of a one-line cart (manual payment, flat shipping, a tax
rate: the store ``bench/checkout.py`` measures), run in-process through the real app and a
``TestClient`` on a fresh migrated database, with a SQLAlchemy ``before_cursor_execute``
listener on the engine around the one request. An order ingested with ``POST
/api/v1/orders`` is counted the same way for comparison. ``--show`` prints every statement.
``--repeat N`` then checks out N more carts one after another and prints the mean CPU time of
this process per checkout (``time.process_time``: the app and the test client, not the
database server) and the mean wall time: one request at a time, a busy machine stretches the
wall time far more than the CPU time, so the CPU time is the figure to compare between runs.

The counts depend only on the code, not on the machine: this is what "statements per
checkout" in bench/README.md means, before and after a change.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from bench.checkout import ADDRESS, SHIPPING_PRICE, TAX_RATE
from bench.stack import BACKENDS, SECRET_KEY, fresh_database

PASSWORD = "benchpass123"


@dataclass
class Counted:
    """The statements one block ran on one engine (the worker's threads left out), and for
    ``--repeat`` the CPU and wall seconds of the repeated checkouts."""

    statements: list[str] = field(default_factory=list)
    runs: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.statements)

    def repeated(self) -> list[tuple[int, str]]:
        """(times, statement) of the statements that ran more than once, parameters aside."""
        counts = Counter(normalized(s) for s in self.statements)
        return sorted(((n, s) for s, n in counts.items() if n > 1), reverse=True)


def normalized(statement: str) -> str:
    """The statement without its literal parameters' placeholders' numbering (PostgreSQL's
    ``%(id_1)s``), collapsed to one line: two runs of one query compare equal."""
    text = re.sub(r"%\((\w+?)_\d+\)s", r"%(\1)s", statement)
    text = re.sub(r"__\[POSTCOMPILE_(\w+?)_\d+\]", r"__[POSTCOMPILE_\1]", text)
    return " ".join(text.split())


@contextmanager
def counting(engine: Any) -> Iterator[Counted]:
    """Record every statement ``engine`` sends while the block runs, except the dispatcher's
    (its thread runs beside the request in an app with a worker)."""
    counted = Counted()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if not threading.current_thread().name.startswith("mercato-"):
            counted.statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _ok(response: Any) -> Any:
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{response.request.method} {response.request.url} answered "
                           f"{response.status_code}: {response.text[:500]}")
    return response.json()


def measure(backend: str, repeat: int = 0) -> dict[str, Counted]:
    """One checkout and one order ingest on a fresh database of ``backend``; then ``repeat``
    checkouts more, timed."""
    from fastapi.testclient import TestClient

    from mercato.app import create_app
    from mercato.core.db import Database
    from mercato.core.observability import configure_logging
    from mercato.identity.service import Identity
    from mercato.settings import Settings
    from mercato.tenancy.service import create_organization

    configure_logging("warning", "json")
    with fresh_database(backend) as url:
        settings = Settings(database_url=url, secret_key=SECRET_KEY, log_level="warning",
                            migrate_on_start=False, run_worker=False, argon2_time_cost=1,
                            argon2_memory_kib=8)
        db = Database(url, pool_size=2)
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
            with TestClient(create_app(settings, db)) as client:
                _ok(client.post("/api/v1/product-types/install", headers=staff,
                                json={"set": "tcg"}))
                location = _ok(client.post("/api/v1/locations", headers=staff, json={
                    "name": "Store", "code": "ST", "kind": "store", "pickup": True}))["id"]
                zone = _ok(client.post("/api/v1/shipping/zones", headers=staff,
                                       json={"name": "US", "countries": ["US"]}))
                method = _ok(client.post("/api/v1/shipping/methods", headers=staff, json={
                    "zone_id": zone["id"], "title": "Standard", "code": "std", "kind": "flat",
                    "currency": "USD", "price": SHIPPING_PRICE}))["id"]
                _ok(client.post("/api/v1/tax/rates", headers=staff, json={
                    "country": "US", "title": "Sales tax", "rate": TAX_RATE}))
                _ok(client.post("/api/v1/products", headers=staff, json={
                    "title": "Bench", "product_type": "accessory", "status": "active",
                    "variants": [{"sku": f"ST-{i}", "price": "10.00"} for i in range(3)]}))
                _ok(client.post("/api/v1/inventory/adjustments", headers=staff, json={
                    "lines": [{"sku": f"ST-{i}", "location": location,
                               "delta": 100 + repeat, "reason": "restock"} for i in range(3)]}))

                def cart(sku: str) -> str:
                    made = _ok(client.post("/store/v1/bench/carts", json={
                        "currency": "USD", "email": "shopper@bench.test",
                        "lines": [{"sku": sku, "quantity": 1}], "shipping_address": ADDRESS,
                        "shipping_method_id": method}))
                    return str(made["id"])

                # a first checkout and order warm every cache (ORM, statements, mappers)
                warm = cart("ST-0")
                _ok(client.post(f"/store/v1/bench/carts/{warm}/checkout",
                                json={"payment": {"method": "manual"}}))
                order = {"channel": "pos", "currency": "USD", "lines": [
                    {"sku": "ST-2", "quantity": 1}]}
                _ok(client.post("/api/v1/orders", headers=staff,
                                json={**order, "external_id": "warm"}))
                one = cart("ST-1")
                with counting(db.engine) as checkout:
                    _ok(client.post(f"/store/v1/bench/carts/{one}/checkout",
                                    json={"payment": {"method": "manual"}}))
                with counting(db.engine) as ingest:
                    _ok(client.post("/api/v1/orders", headers=staff,
                                    json={**order, "external_id": "counted"}))
                carts = [cart("ST-1") for _ in range(repeat)]
                cpu, wall = time.process_time(), time.perf_counter()
                for each in carts:
                    _ok(client.post(f"/store/v1/bench/carts/{each}/checkout",
                                    json={"payment": {"method": "manual"}}))
                checkout.runs = repeat
                checkout.cpu_seconds = time.process_time() - cpu
                checkout.wall_seconds = time.perf_counter() - wall
            return {"checkout": checkout, "order ingest": ingest}
        finally:
            db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--db", default=",".join(BACKENDS),
                        help="comma-separated: sqlite,postgresql")
    parser.add_argument("--show", action="store_true", help="print every statement")
    parser.add_argument("--repeat", type=int, default=0, metavar="N",
                        help="then time N checkouts, one after another")
    args = parser.parse_args(argv)
    for backend in [b.strip() for b in args.db.split(",") if b.strip()]:
        for case, counted in measure(backend, args.repeat).items():
            timed = ""
            if counted.runs:
                timed = (f"; {counted.runs} more: {counted.cpu_seconds / counted.runs * 1000:.1f}"
                         f" ms CPU, {counted.wall_seconds / counted.runs * 1000:.1f} ms wall"
                         " per checkout")
            print(f"{backend:<10} {case:<13} {counted.total:>3} statements{timed}")
            for times, statement in counted.repeated():
                print(f"{'':>10} {times}x {statement[:150]}")
            if args.show:
                for n, statement in enumerate(counted.statements, 1):
                    print(f"{'':>10} {n:>3}. {' '.join(statement.split())[:200]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
