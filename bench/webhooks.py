"""Outbound webhooks: deliveries per second to a local receiver, and the latency from a
committed change to the receiver holding it, with an endpoint that never answers present.

The system under test is Mercato as deployed: the server (``bench.stack``) and a separate
``mercato worker`` process (same ``MERCATO_*`` environment, plus
``MERCATO_WEBHOOK_ALLOW_HOSTS=127.0.0.1``) whose dispatcher fans each event out to the
endpoints and whose webhook sender posts them (``mercato.webhooks.sender``: 16 threads, at most
4 sends per endpoint in flight, 5 s timeout, breaker after 5 failures). The receiver is a
threaded ``http.server`` on loopback in this process that answers 204 at once and notes when
each event id first arrived. A second endpoint points at a socket that takes connections and
never answers: every send to it waits for the timeout, until its breaker opens.

Both endpoints subscribe to ``*`` and are created in the database through
``mercato.webhooks.service`` (the server, like any default deployment, refuses loopback URLs).

1. ``deliveries``: ``MERCATO_BENCH_WEBHOOK_EVENTS`` (default 2,000) events, one resource each,
   recorded in one transaction (``record_events``, as a bulk import does); req/s is events
   received per second, from the commit to the last arrival (fan-out included); the latencies
   are commit -> arrival of each event.
2. ``change_latency``: ``MERCATO_BENCH_WEBHOOK_CHANGES`` (default 50) product updates
   (``PATCH /api/v1/products/{id}``, one at a time, each after the previous one arrived plus a
   random 0-200 ms); latency = the receiver's first sight of the ``product.updated`` event
   - the moment the PATCH answered (its transaction committed). The worker polls every 0.2 s
   (``MERCATO_WORKER_POLL_INTERVAL_SECONDS``) before the fan-out, and the sender is woken by it.

``python -m bench webhooks [--db sqlite,postgresql]`` (no ceilings; ``--duration``,
``--warmup`` and ``--concurrency`` do not apply). Besides the runner's table it prints one JSON
line per database: ``{"benchmark": "webhooks", "database", "deliveries_per_s", ...}``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, percentile
from bench.registry import Context, Row, register
from bench.stack import ROOT, SECRET_KEY, Server, mercato_command, server_env, stack, stop

ARRIVAL_TIMEOUT = 300.0


class Arrivals:
    """Event id -> first arrival (monotonic seconds), and the product titles seen."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.titles: dict[str, float] = {}
        self.requests = 0
        self.cond = threading.Condition()

    def wait(self, predicate: Any, timeout: float = ARRIVAL_TIMEOUT) -> bool:
        with self.cond:
            return bool(self.cond.wait_for(predicate, timeout))


@contextmanager
def receiver() -> Iterator[tuple[str, Arrivals]]:
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            now = time.monotonic()
            event_id = self.headers.get("Mercato-Event-Id", "")
            title = None
            if self.headers.get("Mercato-Event-Type") == "product.updated":
                change = json.loads(body)["data"].get("changes", {}).get("title") or {}
                title = change.get("to")
            with arrivals.cond:
                arrivals.requests += 1
                arrivals.first.setdefault(event_id, now)
                if isinstance(title, str):
                    arrivals.titles.setdefault(title, now)
                arrivals.cond.notify_all()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dead_endpoint() -> Iterator[str]:
    """Takes connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"
    finally:
        sock.close()


def worker_env(database_url: str) -> dict[str, str]:
    return {**server_env(database_url), "MERCATO_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}


@contextmanager
def running_worker(database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.NamedTemporaryFile(prefix="mercato-bench-worker-", suffix=".log",
                                     delete=False) as log:
        log_path = Path(log.name)
        process = subprocess.Popen([*mercato_command(), "worker"],
                                   env=worker_env(database_url), cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"mercato worker exited with {process.returncode}")
        yield process
    except BaseException:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        sys.stderr.write("--- worker log (last lines) ---\n" + "\n".join(tail) + "\n")
        raise
    finally:
        stop(process)
        log_path.unlink(missing_ok=True)


def endpoints(database_url: str, organization_id: str, urls: list[str]) -> None:
    """The endpoints, written through the service (loopback is allowed here only)."""
    from mercato.core.db import Database
    from mercato.settings import Settings
    from mercato.webhooks import service

    db = Database(database_url, pool_size=1)
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
    try:
        with db.transaction(tenant=organization_id) as session:
            for url in urls:
                service.create_endpoint(session, url=url, events=["*"],
                                        allow_hosts=["127.0.0.1"], settings=settings)
    finally:
        db.dispose()


def record(database_url: str, organization_id: str, count: int) -> tuple[list[str], float]:
    """``count`` events of as many resources in one transaction; their ids and the commit's
    moment."""
    from sqlalchemy import select

    from mercato.app import load_modules
    from mercato.core.db import Database
    from mercato.core.outbox import NewEvent, OutboxEvent, record_events
    from mercato.settings import Settings

    # subscriptions are fixed when an event is recorded: this process needs the handlers too
    load_modules(Settings(database_url=database_url, secret_key=SECRET_KEY))
    db = Database(database_url, pool_size=1)
    try:
        with db.transaction(tenant=organization_id) as session:
            record_events(session, organization_id, [
                NewEvent("bench.pinged", "bench", f"b{n}", {"n": n}) for n in range(count)])
        committed = time.monotonic()
        with db.session(write=False, tenant=organization_id) as session:
            ids = list(session.scalars(select(OutboxEvent.id).where(
                OutboxEvent.type == "bench.pinged")))
        return ids, committed
    finally:
        db.dispose()


def result(latencies: list[float], count: int, seconds: float, missing: int) -> LoadResult:
    ordered = sorted(latencies)
    return LoadResult(
        requests=count, duration=seconds, rps=count / seconds if seconds else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1000, p95_ms=percentile(ordered, 0.95) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000, max_ms=(ordered[-1] if ordered else 0) * 1000,
        non_2xx=0, errors=missing, status_counts={}, ok_total=count, errors_total=missing,
        sample_error=None, server_cpu=None, client_cpu=None, machine_cpu=None,
        event_loop="measured in bench.webhooks")


def call(server: Server, method: str, path: str, body: Any = None) -> Any:
    status, payload = server.request(method, path, body, server.headers)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
    return json.loads(payload) if payload else None


def deliveries(ctx: Context, url: str, org_id: str, arrivals: Arrivals) -> Row:
    count = int(os.environ.get("MERCATO_BENCH_WEBHOOK_EVENTS", "2000"))
    ids, committed = record(url, org_id, count)
    arrived = arrivals.wait(lambda: all(i in arrivals.first for i in ids))
    got = [arrivals.first[i] - committed for i in ids if i in arrivals.first]
    seconds = max(got) if got else 0.0
    row = Row(ctx.benchmark, ctx.database, "deliveries", result(got, len(got), seconds,
                                                                 len(ids) - len(got)), 1)
    row.extra["note"] = (f"{len(got)}/{count} events, commit -> last arrival "
                         f"{seconds:.1f} s" + ("" if arrived else " (timed out)"))
    return row


def change_latency(ctx: Context, server: Server, arrivals: Arrivals) -> Row:
    changes = int(os.environ.get("MERCATO_BENCH_WEBHOOK_CHANGES", "50"))
    call(server, "POST", "/api/v1/product-types/install", {"set": "tcg"})
    product = call(server, "POST", "/api/v1/products", {
        "title": "Bench hook", "product_type": "accessory",
        "variants": [{"sku": "BENCH-HOOK-1", "price": "1.00"}]})
    rng = random.Random(28)
    latencies: list[float] = []
    started = time.monotonic()
    for n in range(changes):
        title = f"bench-hook-{n}"
        call(server, "PATCH", f"/api/v1/products/{product['id']}", {"title": title})
        changed = time.monotonic()
        if not arrivals.wait(lambda title=title: title in arrivals.titles, timeout=30):
            continue
        latencies.append(arrivals.titles[title] - changed)
        time.sleep(rng.uniform(0, 0.2))
    seconds = time.monotonic() - started
    row = Row(ctx.benchmark, ctx.database, "change_latency",
              result(latencies, len(latencies), seconds, changes - len(latencies)), 1)
    row.extra["note"] = f"{len(latencies)}/{changes} product updates arrived"
    return row


@register("webhooks", uses_ceilings=False,
          description="Outbound webhooks with a dead endpoint present: deliveries/s to a "
                      "local receiver, committed change -> receiver latency")
def webhooks(ctx: Context) -> list[Row]:
    with stack(ctx.database) as s, receiver() as (hook_url, arrivals), \
            dead_endpoint() as dead_url:
        endpoints(s.database_url, s.org["id"], [hook_url, dead_url])
        with running_worker(s.database_url) as worker:
            rows = [deliveries(ctx, s.database_url, s.org["id"], arrivals),
                    change_latency(ctx, s.server, arrivals)]
            if worker.poll() is not None:
                raise RuntimeError(f"mercato worker exited with {worker.returncode}")
    first, second = rows
    print(json.dumps({
        "benchmark": "webhooks", "database": ctx.database,
        "events": first.result.requests, "deliveries_per_s": round(first.result.rps, 1),
        "commit_to_arrival_p50_ms": round(first.result.p50_ms),
        "commit_to_arrival_p95_ms": round(first.result.p95_ms),
        "change_latency_p50_ms": round(second.result.p50_ms),
        "change_latency_p95_ms": round(second.result.p95_ms),
        "changes": second.result.requests, "dead_endpoint": True}), flush=True)
    return rows
