"""The inbound webhook framework (``core.inbound``): a bad signature is a 401 that records
nothing; a signed timestamp outside the replay window is refused; one provider event id is
taken once, even posted by many threads at once, and its work is done once, by the worker,
after the answer; every scheme compares in constant time, and any one-byte change to a body
or a signature is refused. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mercato.channels.shopee.inbound import push_signature, push_verified
from mercato.channels.shopify.client import verify_hmac
from mercato.channels.tiktok.inbound import signature as tiktok_signature
from mercato.channels.tiktok.inbound import webhook_verified
from mercato.core import inbound
from mercato.core.db import Database, utcnow
from mercato.core.errors import Unauthorized
from mercato.core.ids import new_id
from mercato.core.inbound import InboundReceipt
from mercato.core.outbox import Dispatcher, OutboxEvent
from mercato.payments.hooks import stripe_signature, verify_stripe_signature
from tests.conftest import LiveServer, Org
from tests.payments.helpers import WEBHOOK_SECRET, connect_stripe

SECRET = "test-provider-secret"


def stripe_header(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """``Stripe-Signature`` made by the test's own code (HMAC-SHA256 of ``<t>.<body>``)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, "sha256").hexdigest()
    return f"t={stamp},v1={digest}"


def stripe_event(kind: str = "customer.created") -> bytes:
    return json.dumps({"id": f"evt_{new_id()}", "object": "event", "type": kind,
                       "created": int(time.time()),
                       "data": {"object": {"id": f"cus_{new_id()}"}}}).encode()


def counts(db: Database, org: Org) -> tuple[int, int]:
    """(receipts, ``webhook.received`` events) of the organization."""
    with db.session(tenant=org.id) as session:
        return (session.scalar(select(func.count()).select_from(InboundReceipt)) or 0,
                session.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.type == inbound.EVENT_TYPE)) or 0)


# -- a provider of the test's own, to watch the work being done -------------------------------

class Effects:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def handle(self, session: Session, event: inbound.InboundEvent) -> None:
        with self.lock:
            self.seen.append(event.event_id)


def verify_test(session: Session, delivery: inbound.Delivery) -> inbound.Verified:
    """Signed like Stripe: ``X-Test-Signature: t=<unix>,v1=<hex HMAC of '<t>.<body>'>``."""
    header = delivery.headers.get("x-test-signature") or ""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp = fields.get("t", "")
    expected = inbound.hmac_sha256(SECRET, f"{stamp}.".encode() + delivery.body).hex()
    if not stamp.isdigit() or not inbound.signatures_match(fields.get("v1"), expected):
        raise Unauthorized("bad signature", headers={})
    body = json.loads(delivery.body)
    return inbound.Verified(event_id=body["id"], event_type=body["type"],
                            occurred_at=inbound.from_unix(stamp), payload=body,
                            resource=str(body.get("object") or ""))


@pytest.fixture
def effects(db: Database) -> Iterator[Effects]:
    seen = Effects()
    inbound.register(inbound.Provider(name="test", verify=verify_test, handle=seen.handle))
    yield seen
    Dispatcher(db).drain()  # nothing of this provider is left for another test's worker
    inbound._providers.pop("test", None)


def signed_delivery(body: bytes, *, at: int | None = None,
                  secret: str = SECRET) -> inbound.Delivery:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, "sha256").hexdigest()
    return inbound.Delivery(store="s", url="https://x.test/webhooks/test/s",
                            headers={"x-test-signature": f"t={stamp},v1={digest}"}, body=body)


def receive_in(db: Database, org: Org, delivery: inbound.Delivery) -> inbound.Receipt:
    spec = inbound.provider("test")
    assert spec is not None
    with db.transaction(tenant=org.id) as session:
        return inbound.receive(session, spec, delivery)


# -- over HTTP (Stripe's route is the framework's face) ---------------------------------------

def test_a_bad_signature_is_a_401_problem_and_records_nothing(
        client: TestClient, db: Database, org: Org) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = stripe_event()
    url = f"/webhooks/stripe/{org.slug}"
    good = stripe_header(body)
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    for headers in ({}, {"Stripe-Signature": flipped},
                    {"Stripe-Signature": stripe_header(body, secret="whsec_someoneelse0")},
                    {"Stripe-Signature": "t=abc,v1=zz"}, {"Stripe-Signature": "garbage"}):
        answer = client.post(url, content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert counts(db, org) == (0, 0)


def test_a_signed_timestamp_outside_the_replay_window_is_refused_and_records_nothing(
        client: TestClient, db: Database, org: Org) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = stripe_event()
    url = f"/webhooks/stripe/{org.slug}"
    for skew in (-301, -3600, 301):  # too old, far too old, from the future
        answer = client.post(url, content=body, headers={
            "Stripe-Signature": stripe_header(body, at=int(time.time()) + skew)})
        assert answer.status_code == 401, answer.text
        assert "replay" in answer.json()["detail"]
    assert counts(db, org) == (0, 0)
    # the same event, signed now, is taken: the refusals left nothing behind
    taken = client.post(url, content=body, headers={"Stripe-Signature": stripe_header(body)})
    assert taken.json()["duplicate"] is False
    assert counts(db, org) == (1, 1)


def test_many_threads_posting_one_event_get_one_receipt_and_one_queued_work(
        client: TestClient, db: Database, org: Org, live_server: LiveServer) -> None:
    connect_stripe(client, org, "http://127.0.0.1:9")
    body = stripe_event("payment_intent.succeeded")
    url = f"{live_server.url}/webhooks/stripe/{org.slug}"
    barrier = threading.Barrier(24)

    def deliver(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(url, content=body, timeout=60,
                          headers={"Stripe-Signature": stripe_header(body)})

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(deliver, range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 23
    assert counts(db, org) == (1, 1)


# -- the framework itself, with the test's provider --------------------------------------------

def test_the_answer_comes_first_and_the_worker_does_the_work_once(
        db: Database, org: Org, effects: Effects) -> None:
    body = json.dumps({"id": f"e-{new_id()}", "type": "thing.happened"}).encode()
    first = receive_in(db, org, signed_delivery(body))
    assert (first.duplicate, first.queued) == (False, True)
    assert effects.seen == []  # answered; nothing done yet
    again = receive_in(db, org, signed_delivery(body))  # a redelivery, signed anew
    assert again.duplicate is True
    Dispatcher(db).drain()
    assert effects.seen == [json.loads(body)["id"]]
    Dispatcher(db).drain()
    assert len(effects.seen) == 1


def test_the_same_event_from_many_threads_at_once_is_taken_once_and_handled_once(
        db: Database, org: Org, effects: Effects) -> None:
    event_id = f"e-{new_id()}"
    body = json.dumps({"id": event_id, "type": "thing.happened"}).encode()
    barrier = threading.Barrier(16)

    def one(_: int) -> bool:
        barrier.wait()
        return receive_in(db, org, signed_delivery(body)).duplicate

    with ThreadPoolExecutor(16) as pool:
        duplicates = sorted(pool.map(one, range(16)))
    assert duplicates == [False] + [True] * 15
    Dispatcher(db).drain()
    assert effects.seen.count(event_id) == 1


def test_a_payload_holding_the_nul_character_is_taken_and_handled(
        db: Database, org: Org, effects: Effects) -> None:
    """JSON allows ``\\u0000``; PostgreSQL's jsonb does not: it is stored as U+FFFD."""
    body = json.dumps({"id": f"e-{new_id()}", "type": "thing.happened",
                       "note": "a\u0000b", "a\u0000": ["\u0000"]}).encode()
    assert receive_in(db, org, signed_delivery(body)).queued is True
    Dispatcher(db).drain()
    assert effects.seen == [json.loads(body)["id"]]


def test_the_same_event_id_in_two_organizations_is_two_events(
        db: Database, org: Org, other_org: Org, effects: Effects) -> None:
    body = json.dumps({"id": f"e-{new_id()}", "type": "thing.happened"}).encode()
    assert receive_in(db, org, signed_delivery(body)).duplicate is False
    assert receive_in(db, other_org, signed_delivery(body)).duplicate is False


def test_a_refused_delivery_records_nothing_and_a_stale_one_neither(
        db: Database, org: Org, effects: Effects) -> None:
    body = json.dumps({"id": f"e-{new_id()}", "type": "thing.happened"}).encode()
    with pytest.raises(Unauthorized):
        receive_in(db, org, signed_delivery(body, secret="not-the-secret"))
    with pytest.raises(Unauthorized, match="replay"):
        receive_in(db, org, signed_delivery(body, at=int(time.time()) - 301))
    assert counts(db, org) == (0, 0)
    assert receive_in(db, org, signed_delivery(body)).duplicate is False


def test_the_replay_window_is_five_minutes_either_way_and_skipped_without_a_signed_time(
        ) -> None:
    now = utcnow()
    inbound.check_window(None, now=now)
    inbound.check_window(now - dt.timedelta(seconds=300), now=now)
    inbound.check_window(now + dt.timedelta(seconds=300), now=now)
    for off in (-301, 301, -86_400):
        with pytest.raises(Unauthorized):
            inbound.check_window(now + dt.timedelta(seconds=off), now=now)


# -- constant-time comparison, and every scheme refuses any one-byte change -------------------

def test_every_scheme_compares_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = b'{"id": 1}'
    assert verify_stripe_signature(WEBHOOK_SECRET, body, stripe_header(body)) > 0
    shopify = base64.b64encode(inbound.hmac_sha256("s", body)).decode()
    assert verify_hmac("s", body, shopify)
    assert push_verified("k", "https://x", body, push_signature("k", "https://x", body))
    assert webhook_verified("a", "s", body, tiktok_signature("a", "s", body))
    assert len(calls) == 4


def test_a_signature_that_is_not_ascii_is_a_mismatch_not_an_error() -> None:
    assert inbound.signatures_match("é" * 64, "a" * 64) is False
    assert not verify_hmac("s", b"{}", "\udcff")
    assert inbound.signatures_match(None, "a") is False
    assert inbound.signatures_match("", "") is False


def _stripe(body: bytes, signature: str) -> bool:
    stamp = int(time.time())
    try:
        verify_stripe_signature(WEBHOOK_SECRET, body, f"t={stamp},v1={signature}")
    except Unauthorized:
        return False
    return True


SCHEMES: dict[str, tuple[Callable[[bytes], str], Callable[[bytes, str], bool]]] = {
    "stripe": (lambda body: stripe_signature(WEBHOOK_SECRET, int(time.time()), body), _stripe),
    "shopify": (lambda body: base64.b64encode(inbound.hmac_sha256("cs", body)).decode(),
                lambda body, sig: verify_hmac("cs", body, sig)),
    "shopee": (lambda body: push_signature("pk", "https://m.test/webhooks/shopee/s", body),
               lambda body, sig: push_verified("pk", "https://m.test/webhooks/shopee/s", body,
                                               sig)),
    "tiktok": (lambda body: tiktok_signature("ak", "as", body),
               lambda body, sig: webhook_verified("ak", "as", body, sig)),
}


HEX = {"shopee", "tiktok"}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(min_size=1, max_size=300), where=st.integers(min_value=0),
       change=st.integers(min_value=1, max_value=255), in_signature=st.booleans())
def test_any_one_byte_change_to_the_body_or_the_signature_is_refused(
        scheme: str, body: bytes, where: int, change: int, in_signature: bool) -> None:
    sign, check = SCHEMES[scheme]
    signature = sign(body)
    assert check(body, signature)
    if in_signature:
        raw = bytearray(signature.encode())
        raw[where % len(raw)] = (raw[where % len(raw)] + change) % 256
        altered = raw.decode("utf-8", "surrogateescape")
        # blanks around a signature are not part of it, and hex is read in either case
        same = altered.strip().lower() == signature.lower() if scheme in HEX \
            else altered.strip() == signature
        assume(not same)
        assert not check(body, altered)
    else:
        raw = bytearray(body)
        raw[where % len(raw)] = (raw[where % len(raw)] + change) % 256
        assert not check(bytes(raw), signature)
