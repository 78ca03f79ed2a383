"""Customer emails carry the organization's branding: its brand colour heads the mail with
readable text, links take the accent colour, an https logo stands for the store's name."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.notifications.service import bodies, queue
from mercato.settings import Settings
from tests.conftest import Org

CONTEXT = {"store_name": "Dragon's Hoard", "customer_name": "Ada", "expires_at": "tomorrow",
           "verify_url": "https://shop.example/account/verify?token=t", "token": "123456"}


def _mail(db: Database, settings: Settings, org: Org) -> tuple[str, str]:
    with db.transaction(tenant=org.id) as session:
        made = queue(session, kind="verify_email", to="ada@example.com", context=CONTEXT,
                     reference=f"branding-{new_id()}")
        assert made is not None
        return bodies(session, made, settings)


def test_an_email_carries_the_organizations_logo_and_colours(
    client: TestClient, db: Database, settings: Settings, org: Org
) -> None:
    changed = client.patch("/api/v1/organization", headers=org.headers, json={
        "brand_color": "#1a5fb4", "accent_color": "#e66100",
        "logo_url": "https://cdn.example.com/logo.png"})
    assert changed.status_code == 200, changed.text
    text, html = _mail(db, settings, org)
    assert "background:#1a5fb4;color:#ffffff" in html  # white reads better on dark blue
    assert 'style="color:#e66100"' in html
    assert '<img src="https://cdn.example.com/logo.png" alt="Dragon&#39;s Hoard"' in html
    assert "Dragon's Hoard" in text


def test_an_email_without_branding_shows_the_stores_name(
    db: Database, settings: Settings, org: Org
) -> None:
    _, html = _mail(db, settings, org)
    assert "<img" not in html
    assert "Dragon&#39;s Hoard</h1>" in html
    assert "background:" not in html
