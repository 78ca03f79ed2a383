"""The export of committed events to NATS JetStream, against the real local NATS server.

Each test publishes under a prefix and into a stream of its own (tests run in parallel against
one server) and deletes the stream after. Without NATS the tests skip, unless
``MERCATO_TEST_REQUIRE_NATS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import select, update

from mercato.app import load_modules
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import (
    DONE,
    PENDING,
    Dispatcher,
    OutboxDelivery,
    OutboxEvent,
    handlers,
    record_event,
)
from mercato.events.nats import HANDLER, ExportConfig, configure, disable, enable, subject
from mercato.settings import Settings
from tests.conftest import Org, free_port, make_settings, require_nats
from tests.orders.helpers import place_order, stocked
from tests.test_cli import cli_env, run_cli


@pytest.fixture
def nats_url() -> str:
    return require_nats()


async def _delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url, allow_reconnect=False)
    try:
        await client.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await client.close()


def _forget_pending_exports(db: Database) -> None:
    """A test's undelivered exports must not be published by the next test's exporter."""
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(OutboxDelivery)
                        .where(OutboxDelivery.handler == HANDLER,
                               OutboxDelivery.status == PENDING)
                        .values(status=DONE))


@pytest.fixture
def export(nats_url: str, client: TestClient, db: Database) -> Iterator[ExportConfig]:
    """The export on, to a prefix and a stream of this test's own (after the app, whose
    settings have no NATS URL, configured it off)."""
    uid = new_id()
    config = ExportConfig(url=nats_url, prefix=f"t{uid.lower()}", stream=f"T_{uid}")
    enable(config)
    yield config
    disable()
    _forget_pending_exports(db)
    asyncio.run(_delete_stream(nats_url, config.stream))


async def _all_messages(config: ExportConfig) -> list[Msg]:
    """Every message of the stream, by sequence (a direct read, not a consumer)."""
    client = await nats.connect(config.url, allow_reconnect=False)
    try:
        js = client.jetstream()
        info = await js.stream_info(config.stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg(config.stream, seq)
            messages.append(raw)
        return messages  # type: ignore[return-value]
    finally:
        await client.close()


def all_messages(config: ExportConfig) -> list[Any]:
    return asyncio.run(_all_messages(config))


def record(db: Database, org: Org, event_type: str, resource_id: str,
           data: dict[str, Any]) -> str:
    with db.transaction(tenant=org.id) as session:
        event = record_event(session, event_type, resource_type="widget",
                             resource_id=resource_id, data=data)
        session.flush()
        return event.id


def exports(db: Database, event_ids: list[str]) -> list[OutboxDelivery]:
    with db.session(write=False, tenant=SYSTEM) as session:
        rows = session.scalars(select(OutboxDelivery).join(OutboxDelivery.event).where(
            OutboxDelivery.handler == HANDLER, OutboxEvent.id.in_(event_ids)))
        return sorted(rows, key=lambda row: row.id)


def test_each_committed_event_is_published_once_with_its_id_as_nats_msg_id(
    db: Database, org: Org, export: ExportConfig
) -> None:
    widget = new_id()
    ids = [record(db, org, "widget.created", widget, {"n": 1}),
           record(db, org, "widget.updated", widget, {"n": 2}),
           record(db, org, "widget.updated", new_id(), {"n": 3, "note": "ünïcode"})]
    Dispatcher(db).drain()
    assert all(row.status == DONE for row in exports(db, ids))

    messages = [m for m in all_messages(export) if m.subject.startswith(
        f"{export.prefix}.{org.slug}.")]
    published = [m.headers["Nats-Msg-Id"] for m in messages]
    assert sorted(published) == sorted(ids), "once each"
    assert published.index(ids[0]) < published.index(ids[1]), "one resource's in order"
    assert {m.headers["Nats-Msg-Id"]: m.subject for m in messages} == {
        ids[0]: f"{export.prefix}.{org.slug}.widget.created",
        ids[1]: f"{export.prefix}.{org.slug}.widget.updated",
        ids[2]: f"{export.prefix}.{org.slug}.widget.updated"}
    with db.session(write=False, tenant=org.id) as session:
        recorded = {e.id: e for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_(ids)))}
    for message in messages:
        body = json.loads(message.data)
        event = recorded[body["id"]]
        assert body == {
            "id": event.id, "type": event.type, "organization_id": org.id,
            "resource_type": "widget", "resource_id": event.resource_id,
            "created_at": event.created_at.isoformat(), "data": event.data}
    assert {json.loads(m.data)["data"].get("note") for m in messages} == {None, "ünïcode"}


def test_an_event_delivered_twice_is_one_message_in_the_stream(
    db: Database, org: Org, export: ExportConfig
) -> None:
    ids = [record(db, org, "widget.created", new_id(), {"n": n}) for n in range(3)]
    Dispatcher(db).drain()
    assert len(all_messages(export)) == 3

    # the outbox delivers again (a worker died after publishing, before marking it done)
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(OutboxDelivery)
                        .where(OutboxDelivery.id.in_([r.id for r in exports(db, ids)]))
                        .values(status=PENDING, attempts=0, available_at=utcnow(),
                                done_at=None, lease_owner=None, lease_until=None))
    assert Dispatcher(db).drain() >= 3
    assert all(row.status == DONE for row in exports(db, ids))
    messages = all_messages(export)
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(ids), \
        "JetStream dropped the repeats"

    # and the publisher is told so: PubAck.duplicate
    exporter = next(h.func for h in handlers() if h.name == HANDLER)
    again = exporter.publisher.publish(  # type: ignore[attr-defined]
        messages[0].subject, messages[0].data, ids[0])
    assert again is True
    fresh = exporter.publisher.publish(  # type: ignore[attr-defined]
        f"{export.prefix}.x.widget.created", b"{}", new_id())
    assert fresh is False
    assert len(all_messages(export)) == 4


def test_many_workers_at_once_publish_every_event_exactly_once(
    db: Database, org: Org, export: ExportConfig
) -> None:
    """Workers in one process share the connection; on PostgreSQL they claim disjoint
    batches, on SQLite one after another: either way each event is one message."""
    ids = [record(db, org, "widget.created", new_id(), {"n": n}) for n in range(60)]
    start = threading.Barrier(6)

    def work() -> int:
        start.wait()
        return Dispatcher(db, batch_size=5).drain()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: work(), range(6)))
    assert all(row.status == DONE for row in exports(db, ids))
    published = [m.headers["Nats-Msg-Id"] for m in all_messages(export)]
    assert sorted(published) == sorted(ids)


async def rebuild_order_statuses(url: str, stream: str, subjects: str) -> dict[str, str]:
    """A consumer outside Mercato (docs/events.md's example): each order's latest status, from
    a durable pull consumer that reads the stream from its start."""
    client = await nats.connect(url)
    statuses: dict[str, str] = {}
    try:
        js = client.jetstream()
        durable = f"orders_read_model_{new_id()}"
        sub = await js.pull_subscribe(subjects, durable=durable, stream=stream,
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        while True:
            try:
                batch = await sub.fetch(50, timeout=1)
            except TimeoutError:  # nothing came in time: caught up, or a slow server?
                if (await sub.consumer_info()).num_pending == 0:
                    break
                continue
            for message in batch:
                event = json.loads(message.data)
                order = event["data"]["order"]
                statuses[order["id"]] = order["status"]
                await message.ack()
        await js.delete_consumer(stream, durable)
    finally:
        await client.close()
    return statuses


def test_a_consumer_outside_mercato_rebuilds_each_orders_status_from_the_stream(
    db: Database, client: TestClient, org: Org, export: ExportConfig
) -> None:
    skus, _ = stocked(client, org, [20])
    orders = [place_order(client, org, [(skus[0], 1)]) for _ in range(4)]
    cancelled = client.post(f"/api/v1/orders/{orders[0]['id']}/cancel", headers=org.headers,
                            json={"reason": "customer"})
    assert cancelled.status_code == 200, cancelled.text
    for order in orders[1:3]:
        closed = client.post(f"/api/v1/orders/{order['id']}/close", headers=org.headers)
        assert closed.status_code == 200, closed.text
    reopened = client.post(f"/api/v1/orders/{orders[2]['id']}/reopen", headers=org.headers)
    assert reopened.status_code == 200, reopened.text
    Dispatcher(db).drain()

    model = asyncio.run(rebuild_order_statuses(
        export.url, export.stream, f"{export.prefix}.{org.slug}.order.>"))
    truth = {o["id"]: client.get(f"/api/v1/orders/{o['id']}", headers=org.headers)
             .json()["status"] for o in orders}
    assert model == truth
    assert sorted(truth.values()) == ["cancelled", "closed", "open", "open"]


def test_a_nats_that_is_down_fails_the_delivery_which_is_retried_and_then_published(
    db: Database, client: TestClient, org: Org, export: ExportConfig
) -> None:
    down = ExportConfig(url=f"nats://127.0.0.1:{free_port()}", prefix=export.prefix,
                        stream=export.stream, timeout_seconds=1)
    enable(down)
    event_id = record(db, org, "widget.created", new_id(), {"n": 1})
    other = client.get("/api/v1/events/dead-letters", headers=org.headers)
    assert other.status_code == 200, "the API does not wait for NATS"
    Dispatcher(db).drain()
    row, = exports(db, [event_id])
    assert (row.status, row.attempts) == (PENDING, 1), "failed, and waits for its retry"
    assert row.last_error
    assert row.available_at > utcnow(), "retried after a backoff"

    enable(export)  # NATS is back
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(OutboxDelivery).where(OutboxDelivery.id == row.id)
                        .values(available_at=utcnow()))
    Dispatcher(db).drain()
    row, = exports(db, [event_id])
    assert row.status == DONE
    assert [m.headers["Nats-Msg-Id"] for m in all_messages(export)] == [event_id]


def test_the_export_is_subscribed_only_when_a_nats_url_is_set(
    database_url: str, db: Database, org: Org, client: TestClient
) -> None:
    configure(make_settings(database_url))
    assert HANDLER not in {h.name for h in handlers()}
    off = record(db, org, "widget.created", new_id(), {})
    assert exports(db, [off]) == [], "without NATS, events cost no export delivery"

    uid = new_id()
    settings: Settings = make_settings(database_url, nats_url="nats://127.0.0.1:4222",
                                       nats_subject_prefix=f"t{uid.lower()}",
                                       nats_stream=f"T_{uid}")
    try:
        load_modules(settings)  # what `serve` and `worker` do
        assert HANDLER in {h.name for h in handlers()}
        on = record(db, org, "widget.created", new_id(), {})
        assert [row.status for row in exports(db, [on])] == [PENDING]
    finally:
        disable()
        _forget_pending_exports(db)
    assert HANDLER not in {h.name for h in handlers()}


def test_mercato_worker_exports_with_the_nats_settings_of_its_environment(
    database_url: str, db: Database, org: Org, export: ExportConfig
) -> None:
    """The real worker process: MERCATO_NATS_* turn the export on through load_modules."""
    event_id = record(db, org, "widget.created", new_id(), {"n": 1})  # recorded with the
    disable()  # export subscribed here, as the API process would; delivered by the worker
    env = cli_env(database_url, MERCATO_NATS_URL=export.url,
                  MERCATO_NATS_SUBJECT_PREFIX=export.prefix, MERCATO_NATS_STREAM=export.stream)
    worker = run_cli(["worker", "--once"], env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert [row.status for row in exports(db, [event_id])] == [DONE]
    message, = all_messages(export)
    assert message.headers["Nats-Msg-Id"] == event_id
    assert message.subject == f"{export.prefix}.{org.slug}.widget.created"


def test_bad_nats_settings_are_refused() -> None:
    from pydantic import ValidationError

    for bad in ({"nats_subject_prefix": "a b"}, {"nats_subject_prefix": "a.>"},
                {"nats_subject_prefix": ""}, {"nats_stream": "a.b"}):
        with pytest.raises(ValidationError):
            make_settings("sqlite://", **bad)


TOKEN = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(organization=TOKEN, event_type=TOKEN)
def test_every_event_gets_a_valid_subject_under_its_prefix(organization: str,
                                                           event_type: str) -> None:
    to = subject("mercato", organization, event_type)
    tokens = to.split(".")
    assert tokens[0] == "mercato"
    assert all(tokens), "no empty token"
    assert all(c.isascii() and (c.isalnum() or c in "_-") for t in tokens for c in t)
    if organization.isalnum() and organization.isascii():
        assert tokens[1] == organization
