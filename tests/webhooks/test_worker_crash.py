"""Done-when proof: a real ``mercato worker`` killed (SIGKILL) while a delivery is in the
receiver's hands loses nothing; the worker started after it sends that delivery again with the
same ``Mercato-Event-Id``, and an idempotent receiver ends with every event processed once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from mercato.core.db import SYSTEM, Database
from mercato.webhooks import service
from mercato.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.conftest import (
    ROOT,
    SECRET,
    create_org,
    drop_pg_database,
    make_settings,
    new_database_url,
)
from tests.webhooks.conftest import HOOKS, emit
from tests.webhooks.receiver import Request, receiver, verifies

MERCATO = Path(sys.executable).with_name("mercato")
RESOURCES, PER_RESOURCE = 4, 5


def worker_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    env.update({
        "MERCATO_DATABASE_URL": url, "MERCATO_SECRET_KEY": SECRET,
        "MERCATO_LOG_LEVEL": "warning", "MERCATO_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "MERCATO_WEBHOOK_TIMEOUT_SECONDS": "3", "MERCATO_WEBHOOK_LEASE_SECONDS": "6",
        "MERCATO_WORKER_LEASE_SECONDS": "6", "MERCATO_WORKER_POLL_INTERVAL_SECONDS": "0.05",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PYTHONUNBUFFERED": "1"})
    return env


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(MERCATO), "worker"], cwd=ROOT, env=worker_env(url),
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_loses_nothing_and_delivers_nothing_twice(
        backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    db = Database(url, pool_size=5)
    settings = make_settings(url, **HOOKS)
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen[bytes]] = []
    held, release = threading.Event(), threading.Event()
    seen = Counter[str]()
    lock = threading.Lock()

    def hold(request: Request) -> None:
        """The 6th request stays in the receiver's hands until its worker is dead."""
        with lock:
            seen["requests"] += 1
            mine = seen["requests"] == 6
        if mine:
            held.set()
            release.wait(120)

    try:
        org = create_org(db, settings)
        with receiver() as hooks:
            hooks.hold = hold
            with db.transaction(tenant=org.id) as session:
                _, secret = service.create_endpoint(session, url=hooks.url, events=["test.*"],
                                                    allow_hosts=["127.0.0.1"],
                                                    settings=settings)
            event_ids = [event_id for r in range(RESOURCES)
                         for event_id in emit(db, org, PER_RESOURCE, resource=f"r{r}")]
            workers.append(start_worker(url, log))
            assert held.wait(120), log.read_text()
            first = workers[0]
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait()
            with db.session(write=False, tenant=SYSTEM) as session:
                leased = session.scalars(select(WebhookDelivery).where(
                    WebhookDelivery.lease_owner.like(f"%:{first.pid}:%"))).all()
            assert leased
            assert all(d.status == "pending" for d in leased)
            release.set()  # the receiver processes it, answering a dead worker

            workers.append(start_worker(url, log))
            hooks.wait_for(lambda r: len(r.processed) == len(event_ids), timeout=180)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with db.session(write=False, tenant=SYSTEM) as session:
                    statuses = Counter(session.scalars(select(WebhookDelivery.status)))
                if statuses == {"delivered": len(event_ids)}:
                    break
                time.sleep(0.2)
            assert statuses == {"delivered": len(event_ids)}, statuses
            received = Counter(r.event_id for r in hooks.received)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        release.set()
        print(log.read_text() if log.exists() else "")  # shown when the test fails

    assert sorted(hooks.processed) == sorted(event_ids)  # nothing lost, each processed once
    resent = [event_id for event_id, n in received.items() if n > 1]
    assert len(resent) >= 1  # the one in flight at the kill came again, same event id
    for request in hooks.received:
        assert verifies(secret, request.headers["mercato-signature"], request.body)
    for r in range(RESOURCES):  # and in order per resource
        seqs = [req.json["data"]["seq"] for req in hooks.processed.values()
                if req.json["data"]["resource"] == f"r{r}"]
        assert seqs == list(range(PER_RESOURCE))
    with db.session(write=False, tenant=SYSTEM) as session:
        resent_delivery = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.event_id == resent[0])).one()
        logged = session.scalars(select(WebhookAttempt.number).where(
            WebhookAttempt.delivery_id == resent_delivery.id)).all()
    assert resent_delivery.attempts == 2
    assert logged == [2]
    db.dispose()
    if backend == "postgresql":
        drop_pg_database(url)
