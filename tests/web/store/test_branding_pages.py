"""The store's name, logo and colours from its settings: set through
``PATCH /api/v1/organization`` (validated: a bad colour or logo is a 422 problem and nothing
changes) or the admin's settings page, and shown by the storefront's layout (the logo with the
store's name as alt text, the colours as custom properties in an inline style the page's
policy allows by hash, text on each colour picked for WCAG AA contrast). Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.web.store.branding import contrast, text_on
from tests.conftest import Org
from tests.web.conftest import Browser

ORG = "/api/v1/organization"


@pytest.fixture
def shopper(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def patch(client: TestClient, org: Org, **body: Any) -> Any:
    return client.patch(ORG, headers=org.headers, json=body)


def test_branding_round_trips_through_the_api_and_empty_clears_it(
        client: TestClient, org: Org) -> None:
    done = patch(client, org, logo_url="https://cdn.example.com/logo.svg",
                 brand_color="#1A5FB4", accent_color="#e66100")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["logo_url"], body["brand_color"], body["accent_color"]) == (
        "https://cdn.example.com/logo.svg", "#1a5fb4", "#e66100")
    media = f"/media/{org.id}/logo-1.png"
    assert patch(client, org, logo_url=media).json()["logo_url"] == media
    kept = patch(client, org, name="Renamed").json()  # left out: unchanged
    assert (kept["logo_url"], kept["brand_color"]) == (media, "#1a5fb4")
    cleared = patch(client, org, logo_url="", brand_color="", accent_color="").json()
    assert (cleared["logo_url"], cleared["brand_color"], cleared["accent_color"]) == (
        None, None, None)


@pytest.mark.parametrize("body", [
    {"brand_color": "blue"}, {"brand_color": "#12345"}, {"accent_color": "#12345g"},
    {"brand_color": "#123456;}"}, {"logo_url": "http://cdn.example.com/logo.png"},
    {"logo_url": "javascript:alert(1)"}, {"logo_url": "https://x.test/a b.png"},
    {"logo_url": 'https://x.test/"><script>'}, {"logo_url": "https://user:pw@x.test/l.png"},
    {"logo_url": "/media/01OTHERORG/logo.png"}, {"logo_url": "/media/../etc/passwd"},
    {"logo_url": "//evil.test/logo.png"}])
def test_a_bad_colour_or_logo_is_a_422_problem_naming_the_field_and_changes_nothing(
        client: TestClient, org: Org, body: dict[str, str]) -> None:
    assert patch(client, org, brand_color="#000080").status_code == 200
    before = client.get(ORG, headers=org.headers).json()
    refused = patch(client, org, name="Not saved", **body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == [next(iter(body))]
    after = client.get(ORG, headers=org.headers).json()
    assert after == before


def test_text_on_any_colour_meets_wcag_aa() -> None:
    for color in ("#000000", "#ffffff", "#777777", "#767676", "#1a5fb4", "#ffcc00",
                  "#e66100", "#808080", "#5a5a5a", "#00ff00", "#0000ff"):
        assert contrast(color, text_on(color)) >= 4.5, color
    assert text_on("#1a5fb4") == "#ffffff"
    assert text_on("#ffcc00") == "#000000"


def test_the_storefront_shows_the_logo_and_colours_with_a_policy_that_allows_them(
        client: TestClient, shopper: TestClient, org: Org) -> None:
    plain = shopper.get(f"/s/{org.slug}/")
    assert "<style>" not in plain.text
    assert "brand-logo" not in plain.text
    assert "style-src 'self';" in plain.headers["content-security-policy"]

    assert patch(client, org, logo_url="https://cdn.example.com/logo.svg",
                 brand_color="#1a5fb4", accent_color="#ffcc00").status_code == 200
    for path in ("/", "/products", "/cart", "/locations", "/account/login"):
        shown = shopper.get(f"/s/{org.slug}{path}")
        assert shown.status_code == 200, path
        html = shown.text
        name = client.get(ORG, headers=org.headers).json()["name"]
        assert re.search(r'<img class="brand-logo" src="https://cdn\.example\.com/logo\.svg" '
                         rf'alt="{re.escape(name)}">', html), path
        style = re.search(r"<style>(.*?)</style>", html)
        assert style, path
        assert style.group(1) == (":root{--brand:#1a5fb4;--brand-text:#ffffff;"
                                  "--accent:#ffcc00;--accent-text:#000000;}")
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        policy = shown.headers["content-security-policy"]
        assert f"style-src 'self' 'sha256-{digest}'" in policy, path
        assert "img-src 'self' data: https://cdn.example.com" in policy
        assert "script-src 'self';" in policy  # nothing else loosened


def test_a_logo_of_the_stores_media_needs_no_other_host(
        client: TestClient, shopper: TestClient, org: Org) -> None:
    media = f"/media/{org.id}/logo.png"
    assert patch(client, org, logo_url=media).status_code == 200
    shown = shopper.get(f"/s/{org.slug}/")
    assert f'src="{media}"' in shown.text
    assert "<style>" not in shown.text  # no colours: no inline style
    assert "img-src 'self' data:;" in shown.headers["content-security-policy"]


def test_the_owner_sets_and_clears_branding_on_the_admin_settings_page(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    page = browser.get("/admin/settings")
    for label in ("Logo URL", "Brand colour", "Accent colour"):
        assert re.search(rf'<label for="f-[a-z_]+"[^>]*>{label}', page.text), label
    form = {"name": "Branded", "time_zone": "UTC", "locale": "en", "currency": "USD"}
    refused = browser.submit("/admin/settings/organization", {
        **form, "brand_color": "navy", "logo_url": "ftp://x.test/l.png"})
    assert refused.status_code == 422
    assert 'id="e-brand_color"' in refused.text
    assert 'id="e-logo_url"' in refused.text
    assert 'value="navy"' in refused.text
    assert client.get(ORG, headers=org.headers).json()["brand_color"] is None
    done = browser.submit("/admin/settings/organization", {
        **form, "brand_color": "#2E7D32", "accent_color": "", "logo_url": ""})
    assert done.status_code == 303, done.text
    found = client.get(ORG, headers=org.headers).json()
    assert (found["brand_color"], found["accent_color"], found["logo_url"]) == (
        "#2e7d32", None, None)
    assert 'value="#2e7d32"' in browser.get("/admin/settings").text
