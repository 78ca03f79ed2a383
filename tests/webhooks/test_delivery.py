"""Deliveries: fan-out once per (endpoint, event), signed as API.md says (checked by a receiver
with its own HMAC), retried with backoff, dead-lettered, retried by hand, held by the circuit
breaker, in order per resource, and never held up by a dead endpoint."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import defaultdict

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.outbox import Event, OutboxEvent
from mercato.settings import Settings
from mercato.webhooks.events import fan_out as fan_out_handler
from mercato.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.catalog.probe_fixtures import make_product
from tests.conftest import Org
from tests.webhooks.conftest import create_endpoint, emit, fan_out, make_due, sender
from tests.webhooks.receiver import dead_endpoint, parse_signature, receiver, verifies

PATH = "/api/v1/webhook-endpoints"


def deliveries(db: Database, endpoint_id: str) -> list[WebhookDelivery]:
    with db.session(write=False, tenant=SYSTEM) as session:
        return list(session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.event_position)))


def test_a_delivery_is_signed_and_carries_the_event(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    with receiver() as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url, events=["test.*"])
        other = create_endpoint(hook_client, org, hooks.url + "/orders",
                                events=["order.paid"])
        (event_id,) = emit(db, org, event_type="test.pinged")
        fan_out(db)
        assert deliveries(db, other["id"]) == []
        assert sender(db, hook_settings).drain() == 1
    (request,) = hooks.received
    assert verifies(endpoint["secret"], request.headers["mercato-signature"], request.body)
    assert not verifies("whsec_someone-else", request.headers["mercato-signature"],
                        request.body)
    assert request.headers["mercato-event-id"] == event_id
    assert request.headers["mercato-event-type"] == "test.pinged"
    assert request.headers["content-type"] == "application/json"
    body = request.json
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["id"] == event_id
    assert body["type"] == "test.pinged"
    assert body["data"] == {"seq": 0, "resource": "r1"}
    assert dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    (delivery,) = deliveries(db, endpoint["id"])
    shown = hook_client.get(f"{PATH}/{endpoint['id']}/deliveries/{delivery.id}",
                            headers=org.headers).json()
    assert shown["status"] == "delivered"
    assert shown["attempts"] == 1
    (attempt,) = shown["attempts_log"]
    assert attempt["response_status"] == 200
    assert attempt["response_body"] == "status 200"
    assert attempt["request_body"] == request.body.decode()
    assert attempt["latency_ms"] >= 0
    assert attempt["request_headers"]["Mercato-Signature"] == request.headers[
        "mercato-signature"]


def test_a_real_change_reaches_the_endpoint(hook_client: TestClient, hook_settings: Settings,
                                            db: Database, org: Org) -> None:
    with receiver() as hooks:
        create_endpoint(hook_client, org, hooks.url, events=["product.*"])
        product = make_product(hook_client, org)
        fan_out(db)
        sender(db, hook_settings).drain()
    assert [r.json["type"] for r in hooks.received] == ["product.created"]
    assert product["id"] in hooks.received[0].body.decode()


def test_fan_out_writes_one_delivery_per_endpoint_and_event_however_often_it_runs(
        hook_client: TestClient, db: Database, org: Org) -> None:
    first = create_endpoint(hook_client, org, "https://93.184.215.14/a")
    second = create_endpoint(hook_client, org, "https://93.184.215.14/b", events=["x.*"])
    (event_id,) = emit(db, org)
    with db.session(write=False, tenant=SYSTEM) as session:
        row = session.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id)).one()
        event = Event.of(row)
    for _ in range(3):  # the outbox handing the event over again
        with db.transaction(tenant=org.id) as session:
            fan_out_handler(session, event)
    fan_out(db)
    assert len(deliveries(db, first["id"])) == 1
    assert deliveries(db, second["id"]) == []


def test_rotation_signs_with_both_secrets_during_the_grace_and_only_the_new_after(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    with receiver() as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url)
        old = endpoint["secret"]
        new = hook_client.post(f"{PATH}/{endpoint['id']}/rotate-secret", headers=org.headers,
                               json={"grace_seconds": 3600}).json()["secret"]
        emit(db, org, resource="during")
        fan_out(db)
        sender(db, hook_settings).drain()
        with db.transaction(tenant=SYSTEM) as session:  # the grace period ends
            session.execute(update(WebhookEndpoint).values(
                previous_secret_expires_at=utcnow() - dt.timedelta(seconds=1)))
        emit(db, org, resource="after")
        fan_out(db)
        sender(db, hook_settings).drain()
    during, after = hooks.received
    assert len(parse_signature(during.headers["mercato-signature"])[1]) == 2
    assert verifies(new, during.headers["mercato-signature"], during.body)
    assert verifies(old, during.headers["mercato-signature"], during.body)
    assert len(parse_signature(after.headers["mercato-signature"])[1]) == 1
    assert verifies(new, after.headers["mercato-signature"], after.body)
    assert not verifies(old, after.headers["mercato-signature"], after.body)


def test_failures_back_off_then_dead_letter_then_manual_and_bulk_retry(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    failing = True
    with receiver(lambda request: 503 if failing else 204) as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url)
        emit(db, org, 3, resource="a")
        emit(db, org, 1, resource="b")
        fan_out(db)
        send = sender(db, hook_settings, webhook_breaker_threshold=50)
        assert send.drain() == 0
        first = deliveries(db, endpoint["id"])
        waiting = [d for d in first if d.attempts == 1]
        assert len(waiting) == 2  # the first of each resource; the rest wait behind them
        for delivery in waiting:
            assert delivery.status == "pending"
            assert delivery.last_status_code == 503
            assert delivery.next_attempt_at > utcnow() + dt.timedelta(seconds=10)  # backoff
        assert send.drain() == 0  # nothing is due before its backoff ends
        for _ in range(hook_settings.webhook_max_attempts - 1):
            make_due(db)
            send.drain()
        a0, a1, a2, b0 = deliveries(db, endpoint["id"])
        assert (a0.status, a0.attempts, b0.status, b0.attempts) == ("dead", 4, "dead", 4)
        assert a1.attempts == 1
        assert a2.attempts == 0
        make_due(db)
        while send.drain() == 0 and any(d.status == "pending" for d in
                                        deliveries(db, endpoint["id"])):
            make_due(db)
        assert all(d.status == "dead" for d in deliveries(db, endpoint["id"]))
        listed = hook_client.get(f"{PATH}/{endpoint['id']}/deliveries", headers=org.headers,
                                 params={"status": "dead"}).json()["data"]
        assert len(listed) == 4
        shown = hook_client.get(f"{PATH}/{endpoint['id']}/deliveries/{listed[0]['id']}",
                                headers=org.headers).json()
        assert [a["response_status"] for a in shown["attempts_log"]] == [503] * 4

        failing = False
        one = hook_client.post(f"{PATH}/{endpoint['id']}/deliveries/{listed[0]['id']}/retry",
                               headers=org.headers)
        assert one.status_code == 200
        assert one.json()["status"] == "pending"
        again = hook_client.post(
            f"{PATH}/{endpoint['id']}/deliveries/{listed[0]['id']}/retry", headers=org.headers)
        assert again.status_code == 409
        assert send.drain() == 1
        assert hook_client.post(f"{PATH}/{endpoint['id']}/deliveries/{listed[0]['id']}/retry",
                                headers=org.headers).status_code == 409  # delivered
        bulk = hook_client.post(f"{PATH}/{endpoint['id']}/deliveries/retry",
                                headers=org.headers)
        assert bulk.status_code == 200
        assert bulk.json() == {"retried": 3}
        assert send.drain() == 3
    assert {d.status for d in deliveries(db, endpoint["id"])} == {"delivered"}
    assert hook_client.get(f"{PATH}/{endpoint['id']}/deliveries", headers=org.headers,
                           params={"status": "nonsense"}).status_code == 422
    ok = [r for r in hooks.received if r.status == 204]
    assert len({r.event_id for r in ok}) == 4


def test_the_breaker_opens_after_consecutive_failures_and_one_probe_closes_it(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    failing = True
    with receiver(lambda request: 500 if failing else 200) as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url)
        for resource in range(6):
            emit(db, org, resource=f"r{resource}")
        fan_out(db)
        send = sender(db, hook_settings, webhook_endpoint_concurrency=1,
                      webhook_max_attempts=50)
        while len(hooks.received) < 3:
            send.drain()
            make_due(db)
        url = f"{PATH}/{endpoint['id']}"
        breaker = hook_client.get(url, headers=org.headers).json()["breaker"]
        assert breaker["state"] == "open"
        assert breaker["consecutive_failures"] == 3
        used = {d.id: d.attempts for d in deliveries(db, endpoint["id"])}
        make_due(db)
        assert send.drain() == 0  # held: no attempt is used while the breaker is open
        assert {d.id: d.attempts for d in deliveries(db, endpoint["id"])} == used
        assert len(hooks.received) == 3

        with db.transaction(tenant=SYSTEM) as session:  # the cool-down ends
            session.execute(update(WebhookEndpoint).values(
                open_until=utcnow() - dt.timedelta(seconds=1)))
        assert hook_client.get(url, headers=org.headers).json()["breaker"]["state"] == \
            "half_open"
        failing = False
        probe = send.claim(10)
        assert len(probe) == 1  # one probe, however many are due
        assert send.claim(10) == []
        assert send.send(probe[0]) is True
        breaker = hook_client.get(url, headers=org.headers).json()["breaker"]
        assert breaker == {"state": "closed", "consecutive_failures": 0, "open_until": None}
        send.drain()
    assert {d.status for d in deliveries(db, endpoint["id"])} == {"delivered"}


def test_a_failed_probe_opens_the_breaker_again(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    with receiver(lambda request: 500) as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url)
        emit(db, org, resource="x")
        emit(db, org, resource="y")
        fan_out(db)
        send = sender(db, hook_settings, webhook_breaker_threshold=1,
                      webhook_endpoint_concurrency=1)
        send.drain()
        with db.transaction(tenant=SYSTEM) as session:
            session.execute(update(WebhookEndpoint).values(
                open_until=utcnow() - dt.timedelta(seconds=1)))
        make_due(db)
        assert send.drain() == 0
    assert len(hooks.received) == 2
    state = hook_client.get(f"{PATH}/{endpoint['id']}", headers=org.headers).json()["breaker"]
    assert state["state"] == "open"
    assert state["consecutive_failures"] == 2


def test_events_of_one_resource_arrive_in_order_under_failures_and_many_senders(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    rng = random.Random(28)
    lock = threading.Lock()

    def flaky(request: object) -> int:
        with lock:
            return 500 if rng.random() < 0.3 else 200

    resources = [f"res{i}" for i in range(6)]
    per_resource = 15
    with receiver(flaky) as hooks:
        create_endpoint(hook_client, org, hooks.url)
        for start in range(0, per_resource, 5):
            for resource in resources:
                emit(db, org, 5, resource=resource, start=start)
        fan_out(db)
        settings = hook_settings.model_copy(update={
            "webhook_retry_base_seconds": 0.01, "webhook_retry_cap_seconds": 0.05,
            "webhook_max_attempts": 50, "webhook_endpoint_concurrency": 4,
            "webhook_breaker_threshold": 1000,
            "worker_poll_interval_seconds": 0.01})
        senders = [sender(db, settings) for _ in range(3)]  # three workers at once
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,)) for s in senders]
        for thread in threads:
            thread.start()
        try:
            hooks.wait_for(lambda r: len(r.processed) == len(resources) * per_resource,
                           timeout=120)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for s in senders:
                s.close()
    order: dict[str, list[int]] = defaultdict(list)
    for request in hooks.ok():
        data = request.json["data"]
        order[data["resource"]].append(data["seq"])
    assert order == {resource: list(range(per_resource)) for resource in resources}
    assert any(r.status == 500 for r in hooks.received)  # failures did happen


def test_a_dead_endpoint_does_not_delay_a_healthy_one_or_another_organization(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org,
        other_org: Org) -> None:
    """The dead endpoint's sends wait for a timeout far longer than the test: the others are
    all delivered while its first sends are still waiting (no attempt of it is recorded)."""
    settings = hook_settings.model_copy(update={
        "webhook_timeout_seconds": 600.0, "webhook_lease_seconds": 900.0,
        "webhook_concurrency": 4, "webhook_endpoint_concurrency": 2,
        "worker_poll_interval_seconds": 0.02})
    with dead_endpoint() as dead_url, receiver() as mine, receiver() as theirs:
        dead = create_endpoint(hook_client, org, dead_url)
        create_endpoint(hook_client, org, mine.url)
        create_endpoint(hook_client, other_org, theirs.url)
        for i in range(10):
            emit(db, org, resource=f"m{i}")
            emit(db, other_org, resource=f"t{i}")
        fan_out(db)
        send = sender(db, settings)
        stop = threading.Event()
        thread = threading.Thread(target=send.run, args=(stop,))
        thread.start()
        try:
            mine.wait_for(lambda r: len(r.processed) == 10)
            theirs.wait_for(lambda r: len(r.processed) == 10)
            with db.session(write=False, tenant=SYSTEM) as session:
                dead_rows = list(session.scalars(select(WebhookDelivery).where(
                    WebhookDelivery.endpoint_id == dead["id"])))
                attempts = session.scalars(select(WebhookAttempt.id).where(
                    WebhookAttempt.delivery_id.in_([d.id for d in dead_rows]))).all()
            in_flight = [d for d in dead_rows if d.lease_owner is not None]
            assert len(in_flight) == 2  # its cap: the other two threads served everyone else
            assert attempts == []  # still waiting for an answer that never comes
        finally:
            stop.set()
    thread.join()
    send.close()


def test_no_more_than_the_per_endpoint_cap_is_in_flight_across_many_senders(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    changed = threading.Condition()
    active = {"now": 0, "most": 0}

    def hold(request: object) -> None:
        """Answer once another send is in flight too (or after a second): sends overlap as
        much as the senders let them."""
        with changed:
            active["now"] += 1
            active["most"] = max(active["most"], active["now"])
            changed.notify_all()
            changed.wait_for(lambda: active["now"] > 1, timeout=1.0)
            active["now"] -= 1

    with receiver() as hooks:
        hooks.hold = hold
        create_endpoint(hook_client, org, hooks.url)
        for resource in range(40):  # 40 resources: all could be sent at once but for the cap
            emit(db, org, resource=f"c{resource}")
        fan_out(db)
        settings = hook_settings.model_copy(update={
            "webhook_concurrency": 8, "webhook_endpoint_concurrency": 3,
            "worker_poll_interval_seconds": 0.01})
        senders = [sender(db, settings) for _ in range(4)]
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,)) for s in senders]
        for thread in threads:
            thread.start()
        try:
            hooks.wait_for(lambda r: len(r.processed) == 40, timeout=120)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for s in senders:
                s.close()
    assert active["most"] <= 3
    assert active["most"] >= 2  # the senders did overlap


def test_a_suspended_organizations_deliveries_wait_until_it_is_reactivated(
        hook_client: TestClient, hook_settings: Settings, db: Database, org: Org) -> None:
    from mercato.tenancy import get_organization
    from mercato.tenancy.platform import reactivate, suspend

    with receiver() as hooks:
        endpoint = create_endpoint(hook_client, org, hooks.url, events=["test.*"])
        emit(db, org, 2)
        fan_out(db)
        with db.transaction(tenant=SYSTEM) as session:
            suspend(session, get_organization(session, org.id), "unpaid")
        assert sender(db, hook_settings).drain() == 0
        assert hooks.received == []
        with db.transaction(tenant=SYSTEM) as session:
            reactivate(session, get_organization(session, org.id))
        assert sender(db, hook_settings).drain() == 2
    assert len(hooks.received) == 2
    assert {d.status for d in deliveries(db, endpoint["id"])} == {"delivered"}
