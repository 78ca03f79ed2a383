"""Images uploaded on a product's page: kept as files, served at /media, linked from the
product's media as the API shows them; only real PNG, JPEG and WebP images, at most 5 MB."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.web.admin.media import MAX_IMAGE_BYTES
from tests.conftest import Org
from tests.web.conftest import Browser, add_staff
from tests.web.test_products import _card, _install, _product

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
def media_dir(app: FastAPI, tmp_path: Path) -> Iterator[Path]:
    """Uploads into ``tmp_path`` (on PostgreSQL too, where there is no default directory).
    Set and put back by hand: pytest's monkeypatch deletes a Starlette ``State`` attribute
    when it undoes."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"media_dir": str(tmp_path)})
    try:
        yield tmp_path
    finally:
        app.state.settings = settings


def _upload(browser: Browser, product_id: str, name: str, content: bytes,
            alt: str = "") -> Any:
    return browser.post(f"/admin/products/{product_id}/media",
                        data={"csrf_token": browser.csrf, "alt": alt},
                        files={"image": (name, content, "image/png")},
                        follow_redirects=False)


def test_an_uploaded_image_is_stored_served_and_listed_in_the_products_media(
        client: TestClient, browser: Browser, org: Org, media_dir: Path) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    page = browser.get(f"/admin/products/{card['id']}")
    assert 'for="f-image">Image file' in page.text
    for name, content, alt in (("front.png", PNG, "The front"), ("back.jpeg", JPEG, "The back"),
                               ("side.txt", WEBP, "The side")):
        done = _upload(browser, card["id"], name, content, alt=alt)
        assert done.status_code == 303, done.text
    media = _product(client, org, card["id"])["media"]
    assert [m["alt"] for m in media] == ["The front", "The back", "The side"]
    assert [m["position"] for m in media] == [0, 1, 2]
    first = media[0]["url"]
    assert re.fullmatch(rf"https?://[^/]+/media/{org.id}/[0-9A-Z]{{26}}\.png", first), first
    path = "/media/" + first.split("/media/", 1)[1]
    served = TestClient(browser.app).get(path)  # public: no session
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == PNG
    assert "immutable" in served.headers["cache-control"]
    assert media[1]["url"].endswith(".jpg")
    assert media[2]["url"].endswith(".webp")
    assert len(list((media_dir / org.id).iterdir())) == 3
    # the URL list keeps each kept image's alt text
    version = re.search(r'name="version" value="(\d+)"',
                        browser.get(f"/admin/products/{card['id']}").text)
    assert version
    kept = browser.submit(f"/admin/products/{card['id']}", {
        "version": version.group(1), "title": "Alpha", "status": "draft",
        "attributes.game": "magic", "attributes.set_code": "M21",
        "attributes.collector_number": "1", "media": f"{media[2]['url']}\n{first}"})
    assert kept.status_code == 303, kept.text
    assert [(m["url"], m["alt"]) for m in _product(client, org, card["id"])["media"]] == [
        (media[2]["url"], "The side"), (first, "The front")]


def test_what_is_not_an_image_or_too_large_is_refused_beside_the_field(
        client: TestClient, browser: Browser, org: Org, media_dir: Path) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    browser.sign_in(org.owner_email)
    for name, content in (("evil.png", b"<svg onload=alert(1)></svg>"),
                          ("script.jpg", b"#!/bin/sh\necho hi\n"),
                          ("huge.png", PNG + b"\x00" * MAX_IMAGE_BYTES),
                          ("empty.png", b"")):
        refused = _upload(browser, card["id"], name, content)
        assert refused.status_code == 422, name
        assert re.search(r'id="e-image">[^<]+<', refused.text), name
    assert _product(client, org, card["id"])["media"] == []
    assert not (media_dir / org.id).exists() or not list((media_dir / org.id).iterdir())


def test_only_catalog_writers_upload_and_bad_names_are_not_served(
        app: FastAPI, client: TestClient, org: Org, media_dir: Path) -> None:
    _install(client, org)
    card = _card(client, org, "Alpha")
    cashier = Browser(app, raise_server_exceptions=False)
    cashier.sign_in(add_staff(client, org, "cashier"))
    assert "Upload image" not in cashier.get(f"/admin/products/{card['id']}").text
    assert _upload(cashier, card["id"], "a.png", PNG).status_code == 403
    assert _product(client, org, card["id"])["media"] == []
    (media_dir / "secret.txt").write_text("no")
    public = TestClient(app)
    for path in (f"/media/{org.id}/../secret.txt", f"/media/{org.id}/nothing.png",
                 "/media/x/y.png", f"/media/{org.id}/{'A' * 26}.png"):
        assert public.get(path).status_code == 404, path


def test_where_uploads_go_and_what_counts_as_an_image() -> None:
    from mercato.settings import Settings
    from mercato.web.admin.catalog_forms import media_directory
    from mercato.web.admin.media import image_kind

    beside = media_directory(Settings(database_url="sqlite:////srv/shop/mercato.db"))
    assert beside == Path("/srv/shop/media")
    assert media_directory(Settings(database_url="postgresql+psycopg://u@h/db")) is None
    assert media_directory(Settings(database_url="postgresql+psycopg://u@h/db",
                                    media_dir="/srv/media")) == Path("/srv/media")
    assert [image_kind(b[:16]) for b in (PNG, JPEG, WEBP)] == ["png", "jpg", "webp"]
    for other in (b"GIF89a", b"<svg", b"RIFF\x00\x00\x00\x00WAVE", b"%PDF-1.7", b""):
        assert image_kind(other) is None
