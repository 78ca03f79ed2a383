"""The shipped chat-notifier plugin posts order events to a chat webhook on loopback (allowed
through MERCATO_WEBHOOK_ALLOW_HOSTS), from the outbox, retried when the chat fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.outbox import Dispatcher, OutboxDelivery
from mercato.settings import get_settings
from tests.conftest import Org
from tests.orders.helpers import order_body, stocked

PLUGIN = "/api/v1/plugins/chat-notifier"


class Chat:
    """A chat service's incoming webhook: records each post; answers 503 to the first
    ``fail`` posts."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = 0
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                failing = chat.fail > 0
                chat.fail -= 1 if failing else 0
                if not failing:
                    chat.posts.append({"path": self.path, "json": json.loads(body),
                                       "type": self.headers["Content-Type"]})
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [str(p["json"]["text"]) for p in self.posts]


@pytest.fixture
def chat() -> Iterator[Chat]:
    receiver = Chat()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def allow_hosts(monkeypatch: pytest.MonkeyPatch, hosts: str | None) -> None:
    """The operator's MERCATO_WEBHOOK_ALLOW_HOSTS, as the worker reads it at start."""
    if hosts is None:
        monkeypatch.delenv("MERCATO_WEBHOOK_ALLOW_HOSTS", raising=False)
    else:
        monkeypatch.setenv("MERCATO_WEBHOOK_ALLOW_HOSTS", hosts)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()  # after monkeypatch restored the environment


def drain(db: Database) -> None:
    Dispatcher(db).drain()


def make_due(db: Database) -> None:
    """What the passing of the backoff would do: failed deliveries are due again now."""
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(OutboxDelivery).where(OutboxDelivery.status == "pending")
                        .values(available_at=utcnow()))


def last_error(db: Database, org: Org) -> str | None:
    with db.transaction(tenant=SYSTEM) as session:
        return session.scalar(
            select(OutboxDelivery.last_error)
            .where(OutboxDelivery.handler == "plugin:chat-notifier",
                   OutboxDelivery.organization_id == org.id,
                   OutboxDelivery.last_error.is_not(None))
            .order_by(OutboxDelivery.id.desc()).limit(1))


def test_order_events_are_posted_to_the_chat_as_configured_and_retried_when_it_fails(
        client: TestClient, org: Org, other_org: Org, db: Database, chat: Chat,
        monkeypatch: pytest.MonkeyPatch) -> None:
    allow_hosts(monkeypatch, "127.0.0.1")
    drain(db)
    on = client.put(PLUGIN, headers=org.headers, json={"enabled": True, "config": {
        "webhook_url": chat.url, "events": ["order.created", "order.cancelled"]}})
    assert on.status_code == 200, on.text
    skus, _ = stocked(client, org, [5])
    theirs, _ = stocked(client, other_org, [5])
    chat.fail = 1
    made = client.post("/api/v1/orders", headers=org.headers, json=order_body(
        [(skus[0], 2)], payments=[{"method": "manual", "status": "paid"}]))
    assert made.status_code == 201, made.text  # the chat is not even asked yet
    order = made.json()
    assert order["financial_status"] == "paid"
    assert client.post("/api/v1/orders", headers=other_org.headers,
                       json=order_body([(theirs[0], 1)])).status_code == 201
    drain(db)
    assert chat.posts == []  # the chat answered 503: retried after its backoff
    assert "503" in (last_error(db, org) or "")
    make_due(db)
    drain(db)
    assert chat.texts() == [f"Order #{order['number']} placed: 20.00 USD"]
    assert chat.posts[0]["path"] == "/hooks/abc"
    assert chat.posts[0]["type"] == "application/json"
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=org.headers,
                            json={"reason": "customer"})
    assert cancelled.status_code == 200, cancelled.text
    drain(db)
    # order.paid was not asked for; the other organization never enabled the plugin
    assert chat.texts() == [f"Order #{order['number']} placed: 20.00 USD",
                            f"Order #{order['number']} cancelled: 20.00 USD "
                            "(reason: customer)"]


def test_a_chat_webhook_on_a_private_address_is_refused_unless_the_operator_allows_it(
        client: TestClient, org: Org, db: Database, chat: Chat,
        monkeypatch: pytest.MonkeyPatch) -> None:
    allow_hosts(monkeypatch, None)
    drain(db)
    client.put(PLUGIN, headers=org.headers, json={"enabled": True, "config": {
        "webhook_url": chat.url}})
    skus, _ = stocked(client, org, [5])
    assert client.post("/api/v1/orders", headers=org.headers,
                       json=order_body([(skus[0], 1)])).status_code == 201
    drain(db)
    assert chat.posts == []
    assert "internal addresses are not allowed" in (last_error(db, org) or "") or \
        "loopback" in (last_error(db, org) or "")
    allow_hosts(monkeypatch, "127.0.0.1")
    make_due(db)
    drain(db)
    assert len(chat.posts) == 1
