"""A store's robots.txt and sitemaps: its published products under MERCATO_PUBLIC_URL, and
nothing of a shopper's own pages, of drafts or of other stores."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.settings import Settings
from tests.conftest import PUBLIC_URL, Org
from tests.web.store.helpers import card


@pytest.fixture
def guest(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def test_robots_txt_keeps_crawlers_out_of_carts_and_accounts_and_names_the_sitemap(
        guest: TestClient, org: Org) -> None:
    robots = guest.get(f"/s/{org.slug}/robots.txt", headers={"Host": "attacker.example"})
    assert robots.status_code == 200
    assert robots.headers["content-type"].startswith("text/plain")
    base = f"/s/{org.slug}"
    assert robots.text.splitlines() == [
        "User-agent: *", f"Disallow: {base}/cart", f"Disallow: {base}/checkout",
        f"Disallow: {base}/account", f"Sitemap: {PUBLIC_URL}{base}/sitemap.xml"]


def test_the_sitemap_lists_published_products_only_under_the_public_url(
        client: TestClient, guest: TestClient, org: Org, other_org: Org) -> None:
    tag = new_id()[-10:].lower()
    shown = card(client, org, f"Shown {tag}", tag=tag)
    draft = card(client, org, f"Draft {tag}", tag=tag, status="draft")
    elsewhere = card(client, other_org, f"Elsewhere {tag}", tag=tag)
    site = f"{PUBLIC_URL}/s/{org.slug}"

    index = guest.get(f"/s/{org.slug}/sitemap.xml", headers={"Host": "attacker.example"})
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("application/xml")
    assert re.findall(r"<loc>([^<]+)</loc>", index.text) == [f"{site}/sitemap-1.xml"]

    part = guest.get(f"/s/{org.slug}/sitemap-1.xml")
    assert part.status_code == 200
    listed = re.findall(r"<loc>([^<]+)</loc>", part.text)
    assert listed[:2] == [f"{site}/", f"{site}/products"]
    assert f"{site}/products/{shown['slug']}" in listed
    assert f"{site}/products/{draft['slug']}" not in listed
    assert all(elsewhere["slug"] not in url for url in listed)
    assert re.search(rf"{re.escape(shown['slug'])}</loc><lastmod>\d{{4}}-\d\d-\d\d</lastmod>",
                     part.text)
    assert "attacker.example" not in index.text + part.text
    assert guest.get(f"/s/{org.slug}/sitemap-2.xml").status_code == 404
    for bad in ("0", "-1", "abc", "99999999999999999999999"):
        assert guest.get(f"/s/{org.slug}/sitemap-{bad}.xml").status_code == 422, bad


def test_without_a_public_url_there_is_no_sitemap(settings: Settings, db: Database,
                                                   org: Org) -> None:
    bare = create_app(settings.model_copy(update={"public_url": None}), db)
    with TestClient(bare, raise_server_exceptions=False) as browser:
        assert browser.get(f"/s/{org.slug}/sitemap.xml").status_code == 404
        robots = browser.get(f"/s/{org.slug}/robots.txt")
        assert robots.status_code == 200
        assert "Sitemap:" not in robots.text
        assert browser.get("/s/no-such-store/robots.txt").status_code == 404
