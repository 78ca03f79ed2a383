"""Customer emails: order events queue them in the database, the sender delivers them to a
real SMTP server (aiosmtpd on a local port) as multipart/alternative, retries with backoff,
gives up as ``failed``, and never sends a duplicate. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from mercato.core.db import Database, utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher, record_event
from mercato.notifications.models import Notification
from mercato.notifications.service import MAX_ATTEMPTS, queue, render, send_pending
from mercato.orders.service import summary
from mercato.settings import Settings
from tests.checkout.helpers import ADDRESS, checkout, new_cart, shop
from tests.conftest import Org, free_port, make_settings, staff_token, stored_text, walk_pages
from tests.notifications.smtp import Inbox, smtp_server
from tests.orders.helpers import place_order, stocked
from tests.storefront_helpers import sign_in, sign_up, store_url

NOTIFICATIONS = "/api/v1/notifications"
SENDER = "shop@cards.test"


@pytest.fixture
def inbox() -> Any:
    with smtp_server() as server:
        yield server


def smtp(settings: Settings, port: int) -> Settings:
    """The test settings, sending through a local SMTP server on ``port``."""
    return make_settings(settings.database_url, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_from=f"Card Shop <{SENDER}>")


def address() -> str:
    return f"alice-{new_id().lower()}@example.com"


def place(client: TestClient, org: Org, email: str | None, *, title_price: str = "10.00",
          **extra: Any) -> dict[str, Any]:
    skus, _ = stocked(client, org, [5], price=title_price)
    customer = {"email": email, "first_name": "Alice", "last_name": "Liddell"} if email \
        else {"first_name": "Anonymous"}
    return place_order(client, org, [(skus[0], 2)], customer=customer,
                       shipping_address={"first_name": "Alice", "line1": "1 Rabbit Hole",
                                         "city": "Oxford", "country": "GB"}, **extra)


def deliver_events(db: Database) -> None:
    Dispatcher(db).drain()


def records(client: TestClient, org: Org, **filters: str) -> list[dict[str, Any]]:
    return walk_pages(client, NOTIFICATIONS, org.headers, limit=50, **filters)


def parts(message: Any) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return (str(text.get_content()).replace("\r\n", "\n"),
            str(html.get_content()).replace("\r\n", "\n"))


# -- order emails through a real SMTP server ------------------------------------------------

def test_placed_order_is_emailed_as_multipart_alternative_with_both_parts(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    order = place(client, org, email)
    deliver_events(db)
    [queued] = records(client, org, reference=f"order:{order['id']}", kind="order_placed")
    assert queued["status"] == "pending"
    assert queued["recipient"] == email

    assert send_pending(db, smtp(settings, inbox.port)) >= 1

    [received] = inbox.to(email)
    message = received.message
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [email]
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == email
    assert message["From"] == f"Card Shop <{SENDER}>"
    assert message["Subject"] == f"Org {org.slug}: we received your order #{order['number']}"
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith(
        "@cards.test>")
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message)
    line = order["lines"][0]
    assert "Hello Alice Liddell," in text
    assert f"#{order['number']}" in text
    assert f"2 x {line['title']}: 20.00 USD" in text
    assert "Total: 20.00 USD" in text
    assert "1 Rabbit Hole" in text
    assert "<!DOCTYPE html>" in html
    assert f"<strong>#{order['number']}</strong>" in html
    assert "20.00 USD" in html

    [sent] = records(client, org, reference=f"order:{order['id']}", kind="order_placed")
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
    assert sent["message_id"] == message["Message-ID"]
    assert sent["sent_at"] is not None
    assert sent["next_attempt_at"] is None
    detail = client.get(f"{NOTIFICATIONS}/{sent['id']}", headers=org.headers).json()
    assert detail["body_text"] == text
    assert detail["body_html"] == html


def test_paid_and_shipped_emails_name_the_payment_carrier_and_tracking_number(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    order = place(client, org, email, payments=[{"method": "card"}])
    shipped = client.post(f"/api/v1/orders/{order['id']}/fulfillments", headers=org.headers,
                          json={"carrier": "Royal Mail", "tracking_number": "RM123456789GB"})
    assert shipped.status_code == 201, shipped.text
    deliver_events(db)
    send_pending(db, smtp(settings, inbox.port))

    subjects = {r.message["Subject"]: r.message for r in inbox.to(email)}
    number = order["number"]
    assert set(subjects) == {
        f"Org {org.slug}: we received your order #{number}",
        f"Org {org.slug}: payment received for order #{number}",
        f"Org {org.slug}: order #{number} is on its way",
    }
    paid_text, _ = parts(subjects[f"Org {org.slug}: payment received for order #{number}"])
    assert "We received your payment of 20.00 USD" in paid_text
    text, html = parts(subjects[f"Org {org.slug}: order #{number} is on its way"])
    assert "Shipment by Royal Mail, tracking number RM123456789GB:" in text
    assert "Tracking number: <strong>RM123456789GB</strong>" in html
    assert "Royal Mail" in html
    kinds = {r["kind"]: r["status"] for r in records(client, org,
                                                     reference=f"order:{order['id']}")}
    assert kinds == {"order_placed": "sent", "order_paid": "sent", "order_shipped": "sent"}


def test_html_part_escapes_what_customers_and_staff_typed(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)], customer={
        "email": email, "first_name": "<script>alert(1)</script>"})
    deliver_events(db)
    send_pending(db, smtp(settings, inbox.port))
    [received] = inbox.to(email)
    text, html = parts(received.message)
    assert "Hello <script>alert(1)</script>" in text  # text is text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert order["number"]


def test_an_order_event_delivered_twice_sends_one_email(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    order = place(client, org, email)
    deliver_events(db)
    with db.transaction(tenant=org.id) as session:  # the same event again, as after a crash
        stored = session.scalar(select(Notification).where(
            Notification.reference == f"order:{order['id']}"))
        assert stored is not None
        from mercato.orders.service import get_order

        record_event(session, "order.created", resource_type="order", resource_id=order["id"],
                     data={"order": summary(get_order(session, order["id"]))})
    deliver_events(db)
    send_pending(db, smtp(settings, inbox.port))
    send_pending(db, smtp(settings, inbox.port))
    assert len(inbox.to(email)) == 1
    assert len(records(client, org, reference=f"order:{order['id']}")) == 1


def test_queue_returns_none_for_a_kind_and_reference_queued_before(
        org: Org, db: Database) -> None:
    context = {"store_name": "S", "customer_name": None, "reset_url": "https://x.test/r",
               "token": "T0KEN", "expires_at": "12:00"}
    reference = f"password_reset:{new_id()}"
    with db.transaction(tenant=org.id) as session:
        first = queue(session, kind="password_reset", to="Bob@Example.com", context=context,
                      reference=reference)
        again = queue(session, kind="password_reset", to="bob@example.com", context=context,
                      reference=reference)
    assert first is not None
    assert again is None
    assert first.recipient == "bob@example.com"
    assert first.status == "pending"


def test_orders_without_an_email_get_no_notification(
        client: TestClient, org: Org, db: Database) -> None:
    order = place(client, org, None, payments=[{"method": "cash"}])
    deliver_events(db)
    assert records(client, org, reference=f"order:{order['id']}") == []


def channel_of(client: TestClient, org: Org, kind: str, location: dict[str, Any],
               **body: Any) -> dict[str, Any]:
    made = client.post("/api/v1/channels", headers=org.headers, json={
        "name": f"{kind} {new_id()[-6:]}", "kind": kind, "locations": [location["id"]],
        **body})
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_buyers_are_emailed_only_where_the_orders_channel_says_so(
        client: TestClient, org: Org, db: Database) -> None:
    """A platform's order (Shopify emails its own buyers) gets no email from Mercato; web,
    POS and manual orders do; the channel's ``email_buyers`` overrides its kind's default."""
    skus, place = stocked(client, org, [20])
    shopify = channel_of(client, org, "shopify", place)
    pos = channel_of(client, org, "pos", place)
    quiet_pos = channel_of(client, org, "pos", place, email_buyers=False)

    def order(channel: str, email: str, external_id: str | None = None) -> dict[str, Any]:
        return place_order(client, org, [(skus[0], 1)], channel=channel,
                           external_id=external_id or new_id(),
                           customer={"email": email, "first_name": "Alice"},
                           payments=[{"method": "card"}])

    platform, counter, quiet, named = address(), address(), address(), address()
    from_shopify = order(shopify["id"], platform)
    from_pos = order(pos["id"], counter)
    from_quiet = order(quiet_pos["id"], quiet)
    by_hand = order("manual", named)
    shipped = client.post(f"/api/v1/orders/{from_shopify['id']}/fulfillments",
                          headers=org.headers, json={})
    assert shipped.status_code in (200, 201), shipped.text
    deliver_events(db)
    assert records(client, org, recipient=platform) == []
    assert records(client, org, recipient=quiet) == []
    assert {r["kind"] for r in records(client, org, recipient=counter)} == {
        "order_placed", "order_paid"}
    assert {r["reference"] for r in records(client, org, recipient=named)} == {
        f"order:{by_hand['id']}"}
    assert from_pos["channel_id"] == pos["id"]
    assert from_quiet["channel_id"] == quiet_pos["id"]
    # the merchant turns Shopify's emails off and Mercato's on for that channel
    turned = client.patch(f"/api/v1/channels/{shopify['id']}", headers=org.headers,
                          json={"email_buyers": True})
    assert turned.status_code == 200, turned.text
    later = order(shopify["id"], platform)
    deliver_events(db)
    assert {r["reference"] for r in records(client, org, recipient=platform)} == {
        f"order:{later['id']}"}


def test_a_storefront_order_is_emailed_through_the_web_channel(
        client: TestClient, org: Org, db: Database) -> None:
    skus, place, method = shop(client, org, [3])
    web = channel_of(client, org, "web", place)
    cart = new_cart(client, org, [(skus[0], 1)], email=(buyer := address()),
                    method_id=method, address=ADDRESS)
    done = checkout(client, org, cart["id"], {"method": "manual"})
    assert done.status_code == 201, done.text
    staff = client.get(f"/api/v1/orders/{done.json()['id']}", headers=org.headers).json()
    assert (staff["source"], staff["channel_id"]) == ("web", web["id"])
    deliver_events(db)
    assert [(r["kind"], r["reference"]) for r in records(client, org, recipient=buyer)] == [
        ("order_placed", f"order:{done.json()['id']}")]


# -- failures and retries -------------------------------------------------------------------

def test_unreachable_smtp_server_is_retried_with_backoff_then_marked_failed(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    order = place(client, org, email)
    deliver_events(db)
    dead = smtp(settings, free_port())  # nothing listens there: connection refused
    ref = {"reference": f"order:{order['id']}", "kind": "order_placed"}

    assert send_pending(db, dead) == 0
    [row] = records(client, org, **ref)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "ConnectionRefusedError" in row["last_error"]
    due = dt.datetime.fromisoformat(row["next_attempt_at"])
    assert due > utcnow() + dt.timedelta(seconds=10)  # backoff, not a busy loop

    send_pending(db, dead)  # not due yet: untouched
    assert records(client, org, **ref)[0]["attempts"] == 1

    for attempt in range(2, MAX_ATTEMPTS + 1):
        due = dt.datetime.fromisoformat(records(client, org, **ref)[0]["next_attempt_at"])
        send_pending(db, dead, now=due + dt.timedelta(seconds=1))
        [row] = records(client, org, **ref)
        assert row["attempts"] == attempt
    assert row["status"] == "failed"
    assert row["next_attempt_at"] is None
    assert inbox.to(email) == []

    # staff resend it once the server is back
    resent = client.post(f"{NOTIFICATIONS}/{row['id']}/resend", headers=org.headers)
    assert resent.status_code == 200, resent.text
    assert (resent.json()["status"], resent.json()["attempts"]) == ("pending", 0)
    again = client.post(f"{NOTIFICATIONS}/{row['id']}/resend", headers=org.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    send_pending(db, smtp(settings, inbox.port))
    assert len(inbox.to(email)) == 1
    assert records(client, org, **ref)[0]["status"] == "sent"


def test_a_refused_recipient_fails_at_once_without_retries(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = f"nobody@{new_id().lower()}.example.com"
    order = place(client, org, email)
    deliver_events(db)
    send_pending(db, smtp(settings, inbox.port))
    [row] = records(client, org, reference=f"order:{order['id']}")
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "550" in row["last_error"]


def test_without_an_smtp_host_emails_are_recorded_as_skipped(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    assert settings.smtp_host is None
    order = place(client, org, address())
    deliver_events(db)
    send_pending(db, settings)
    [row] = records(client, org, reference=f"order:{order['id']}")
    assert (row["status"], row["attempts"], row["sent_at"]) == ("skipped", 0, None)
    assert inbox.received == [] or all(r.rcpt_tos != [row["recipient"]]
                                       for r in inbox.received)


def test_concurrent_senders_deliver_each_email_exactly_once(
        org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    """Eight senders at once over 60 queued emails: claims are disjoint (SKIP LOCKED on
    PostgreSQL, the write lock on SQLite), so every email goes out once."""
    tag = new_id().lower()
    recipients = [f"r{i}-{tag}@example.com" for i in range(60)]
    context = {"store_name": "S", "customer_name": "R", "reset_url": "https://x.test/r",
               "token": "T", "expires_at": "soon"}
    with db.transaction(tenant=org.id) as session:
        for i, to in enumerate(recipients):
            queue(session, kind="password_reset", to=to, context=context,
                  reference=f"password_reset:{tag}-{i}")
    config = smtp(settings, inbox.port)
    counts: list[int] = []
    barrier = threading.Barrier(8)

    def sender() -> None:
        barrier.wait()
        counts.append(send_pending(db, config, batch_size=5))

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    delivered = Counter(to for r in inbox.received for to in r.rcpt_tos if tag in to)
    assert delivered == Counter(recipients)
    assert sum(counts) >= 60
    with db.transaction(tenant=org.id) as session:
        statuses = Counter(session.scalars(select(Notification.status).where(
            Notification.reference.like(f"password_reset:{tag}-%"))))
    assert statuses == {"sent": 60}


# -- the API --------------------------------------------------------------------------------

def test_password_reset_bodies_are_never_shown_by_the_api(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    email = address()
    context = {"store_name": "Card Shop", "customer_name": "Bob",
               "reset_url": "https://shop.test/reset?token=SECRET-TOKEN-123",
               "token": "SECRET-TOKEN-123", "expires_at": "2030-01-01 12:00 UTC"}
    with db.transaction(tenant=org.id) as session:
        queued = queue(session, kind="password_reset", to=email, context=context,
                       reference=f"password_reset:{new_id()}")
        assert queued is not None
        notification_id = queued.id
    send_pending(db, smtp(settings, inbox.port))
    [received] = inbox.to(email)
    text, html = parts(received.message)
    assert "SECRET-TOKEN-123" in text
    assert 'href="https://shop.test/reset?token=SECRET-TOKEN-123"' in html

    detail = client.get(f"{NOTIFICATIONS}/{notification_id}", headers=org.headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["body_text"] is None
    assert body["body_html"] is None
    assert body["subject"] == "Card Shop: reset your password"
    assert body["status"] == "sent"
    listed = client.get(NOTIFICATIONS, headers=org.headers, params={"recipient": email})
    assert "SECRET-TOKEN" not in listed.text
    assert "SECRET-TOKEN" not in detail.text


def test_list_filters_by_kind_status_recipient_and_reference_newest_first(
        client: TestClient, org: Org, db: Database) -> None:
    email = address()
    first = place(client, org, email, payments=[{"method": "card"}])
    second = place(client, org, email)
    deliver_events(db)
    mine = records(client, org, recipient=email.upper())
    assert [(n["kind"], n["reference"]) for n in mine] == [
        ("order_placed", f"order:{second['id']}"),
        ("order_paid", f"order:{first['id']}"),
        ("order_placed", f"order:{first['id']}"),
    ]
    assert all("body_text" not in n for n in mine)
    assert [n["reference"] for n in records(client, org, recipient=email,
                                            kind="order_paid")] == [f"order:{first['id']}"]
    assert len(records(client, org, reference=f"order:{first['id']}")) == 2
    assert len(records(client, org, recipient=email, status="pending")) == 3
    assert records(client, org, recipient=email, status="sent") == []
    one_by_one = walk_pages(client, NOTIFICATIONS, org.headers, limit=1, recipient=email)
    assert [n["id"] for n in one_by_one] == [n["id"] for n in mine]
    bad = client.get(NOTIFICATIONS, headers=org.headers, params={"kind": "newsletter"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "kind"


def test_reading_needs_notifications_read_and_resending_needs_orders_write(
        client: TestClient, org: Org, db: Database) -> None:
    order = place(client, org, address())
    deliver_events(db)
    [row] = records(client, org, reference=f"order:{order['id']}")
    fulfillment = {"Authorization": f"Bearer {staff_token(client, org, 'fulfillment')}"}
    denied = client.get(NOTIFICATIONS, headers=fulfillment)
    assert denied.status_code == 403
    assert denied.json()["missing_permissions"] == ["notifications:read"]
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    assert client.get(f"{NOTIFICATIONS}/{row['id']}", headers=cashier).status_code == 403
    assert client.post(f"{NOTIFICATIONS}/{row['id']}/resend",
                       headers=fulfillment).status_code == 403
    assert client.get(NOTIFICATIONS).status_code == 401


def test_another_organizations_notification_is_404(
        client: TestClient, org: Org, other_org: Org, db: Database) -> None:
    order = place(client, org, address())
    deliver_events(db)
    [row] = records(client, org, reference=f"order:{order['id']}")
    theirs = client.get(f"{NOTIFICATIONS}/{row['id']}", headers=other_org.headers)
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not_found"
    assert records(client, other_org, reference=f"order:{order['id']}") == []


# -- templates (no database) ----------------------------------------------------------------

@hypothesis_settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(max_size=40), url_tail=st.text(max_size=20))
def test_html_part_never_carries_markup_from_its_context(name: str, url_tail: str) -> None:
    rendered = render("password_reset", {
        "store_name": "S", "customer_name": name, "reset_url": f"https://s.test/{url_tail}",
        "token": "T", "expires_at": "soon"})
    for dangerous in ("<", ">", '"'):
        if dangerous in name or dangerous in url_tail:
            inserted = rendered.html.count(dangerous)
            bare = render("password_reset", {
                "store_name": "S", "customer_name": "", "reset_url": "https://s.test/",
                "token": "T", "expires_at": "soon"}).html.count(dangerous)
            assert inserted == bare
    assert "\n" not in rendered.subject


def test_a_template_missing_a_context_value_fails_loudly() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("password_reset", {"store_name": "S", "customer_name": "X"})
    with pytest.raises(ValueError, match="unknown notification kind"):
        render("newsletter", {})


def test_an_email_claimed_by_a_dead_worker_is_sent_after_its_lease_with_its_message_id(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    from mercato.notifications.service import LEASE_SECONDS, _claim

    email = address()
    order = place(client, org, email)
    deliver_events(db)
    claimed = _claim(db, "crashed-worker", utcnow(), 1000, "cards.test")
    [row] = records(client, org, reference=f"order:{order['id']}")
    assert row["id"] in claimed
    assert row["message_id"].endswith("@cards.test>")

    send_pending(db, smtp(settings, inbox.port))  # leased to the dead worker: left alone
    assert inbox.to(email) == []
    later = utcnow() + dt.timedelta(seconds=LEASE_SECONDS + 1)
    send_pending(db, smtp(settings, inbox.port), now=later)
    [received] = inbox.to(email)
    assert received.message["Message-ID"] == row["message_id"]
    assert records(client, org, reference=f"order:{order['id']}")[0]["status"] == "sent"


# -- emails that carry a secret -------------------------------------------------------------

def test_a_reset_email_keeps_no_usable_token_at_rest_and_its_delivered_link_resets_the_password(
        client: TestClient, org: Org, db: Database, settings: Settings, inbox: Inbox) -> None:
    shopper = sign_up(client, org.slug)
    asked = client.post(store_url(org.slug, "/auth/password-reset"),
                        json={"email": shopper["email"]})
    assert asked.status_code == 202, asked.text

    # the first attempt fails (the server is down), the retry delivers: the row stays sendable
    assert send_pending(db, smtp(settings, free_port())) == 0
    [row] = records(client, org, kind="password_reset", recipient=shopper["email"])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    due = dt.datetime.fromisoformat(row["next_attempt_at"])
    send_pending(db, smtp(settings, inbox.port), now=due + dt.timedelta(seconds=1))
    [received] = [r for r in inbox.to(shopper["email"])
                  if "password" in str(r.message["Subject"]).lower()]
    text, html = parts(received.message)
    link = re.search(r"https?://\S+\?token=(cst_\S+)", text)
    assert link is not None, text
    token = link.group(1)
    assert f'href="{link.group(0)}"' in html.replace("&amp;", "&")
    assert token in text.replace(link.group(0), "")  # the code to type in, too

    dump = stored_text(db)
    assert token not in dump
    assert token.split("_", 2)[2] not in dump

    reset = client.post(store_url(org.slug, "/auth/password-reset/confirm"),
                        json={"token": token, "password": "a brand new password"})
    assert reset.status_code == 200, reset.text
    assert sign_in(client, org.slug, shopper["email"], "a brand new password")
