"""Links in shoppers' emails are built from configuration (MERCATO_PUBLIC_URL, or the store's
verified custom domain), never from the request: a forged ``Host`` cannot steer a password-reset
token to an attacker's site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog.testing
from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.app import create_app
from mercato.core.db import Database
from mercato.notifications.models import Notification
from mercato.notifications.service import bodies
from tests.conftest import PUBLIC_URL, Org, create_org, make_settings
from tests.storefront_helpers import sign_up, store_url
from tests.tenancy.verifiers import verified_domain

POISON = {"Host": "evil.attacker.test", "X-Forwarded-Host": "evil.attacker.test",
          "X-Forwarded-Proto": "https", "Forwarded": "host=evil.attacker.test;proto=https"}


def mailed(db: Database, org: Org, kind: str, to: str) -> Notification | None:
    """The newest email of ``kind`` to ``to``, its bodies opened as the worker sends them."""
    with db.transaction(tenant=org.id) as session:
        found = session.scalars(select(Notification).where(
            Notification.kind == kind, Notification.recipient == to)
            .order_by(Notification.created_at.desc())).first()
        if found is not None:
            text, html = bodies(session, found)
            session.expunge(found)
            found.body_text, found.body_html = text, html
        return found


def mailed_link(db: Database, org: Org, kind: str, to: str) -> str:
    """The one link of the newest email of ``kind`` to ``to``, the same in text and HTML."""
    email = mailed(db, org, kind, to)
    assert email is not None, f"no {kind} email to {to}"
    links = re.findall(r"https?://[^\s\"<]+", email.body_text)
    assert len(links) == 1, email.body_text
    assert f'href="{links[0]}"' in (email.body_html or "").replace("&amp;", "&")
    assert "evil" not in email.body_text + (email.body_html or "")
    return links[0]


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def test_a_reset_asked_with_a_forged_host_mails_a_link_on_the_public_url(
        client: TestClient, org: Org, db: Database) -> None:
    shopper = sign_up(client, org.slug)
    asked = client.post(store_url(org.slug, "/auth/password-reset"), headers=POISON,
                        json={"email": shopper["email"]})
    assert asked.status_code == 202, asked.text
    link = mailed_link(db, org, "password_reset", shopper["email"])
    assert link.startswith(f"{PUBLIC_URL}/s/{org.slug}/account/reset-password?token=cst_")
    # the link's token is the one that resets the password
    done = client.post(store_url(org.slug, "/auth/password-reset/confirm"),
                       json={"token": token_of(link), "password": "a brand new password"})
    assert done.status_code == 200, done.text


def test_a_verification_link_ignores_the_request_host_too(client: TestClient, org: Org,
                                                          db: Database) -> None:
    email = f"verify-{org.slug}@example.com"
    made = client.post(store_url(org.slug, "/customers"), headers=POISON,
                       json={"email": email, "password": "shopper horse battery"})
    assert made.status_code == 201, made.text
    link = mailed_link(db, org, "verify_email", email)
    assert link.startswith(f"{PUBLIC_URL}/s/{org.slug}/account/verify-email?token=cst_")
    verified = client.post(store_url(org.slug, "/auth/verify-email/confirm"),
                           json={"token": token_of(link)})
    assert verified.status_code == 200, verified.text


def test_a_store_with_a_verified_domain_gets_links_on_that_domain(
        client: TestClient, org: Org, db: Database) -> None:
    domain = f"{org.slug}.cards.test"
    verified_domain(client, org, domain)
    shopper = sign_up(client, org.slug)
    for headers, path in ((POISON, store_url(org.slug, "/auth/password-reset")),
                          ({"Host": domain}, "/store/v1/auth/password-reset"),
                          ({}, store_url(org.slug, "/auth/password-reset"))):
        asked = client.post(path, headers=headers, json={"email": shopper["email"]})
        assert asked.status_code == 202, asked.text
        link = mailed_link(db, org, "password_reset", shopper["email"])
        assert link.startswith(f"https://{domain}/account/reset-password?token=cst_"), link
    done = client.post(store_url(org.slug, "/auth/password-reset/confirm"),
                       json={"token": token_of(link), "password": "a brand new password"})
    assert done.status_code == 200, done.text


@pytest.fixture
def unconfigured(database_url: str, db: Database) -> Iterator[TestClient]:
    """An app with no MERCATO_PUBLIC_URL."""
    settings = make_settings(database_url, public_url=None)
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as http:
        yield http


def test_without_a_public_url_or_domain_no_link_is_mailed_and_the_log_says_why(
        unconfigured: TestClient, db: Database) -> None:
    org = create_org(db, make_settings(str(db.engine.url)))
    with structlog.testing.capture_logs() as logs:
        shopper = sign_up(unconfigured, org.slug)
        asked = unconfigured.post(store_url(org.slug, "/auth/password-reset"),
                                  headers=POISON, json={"email": shopper["email"]})
    assert asked.status_code == 202  # the same answer: the form reveals nothing
    for kind in ("verify_email", "password_reset"):
        assert mailed(db, org, kind, shopper["email"]) is None
    unsent = [e for e in logs if e["event"] == "email_link_unavailable"]
    assert [e["kind"] for e in unsent] == ["verify_email", "password_reset"]
    assert all(e["log_level"] == "error" and "MERCATO_PUBLIC_URL" in e["hint"]
               for e in unsent)
