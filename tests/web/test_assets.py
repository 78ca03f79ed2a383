"""Static files are fingerprinted and cached; pages travel compressed and stay light."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from mercato.web.assets import ASSETS
from mercato.web.templating import NAV
from tests.conftest import Org
from tests.web.conftest import Browser

BUDGET = 150 * 1024
"""An admin page's HTML, CSS and JS together, compressed on the wire (WEB.md)."""


def test_a_static_file_is_served_under_its_fingerprint_for_a_year(client: TestClient) -> None:
    url = ASSETS.url("vendor/htmx.org-2.0.11/htmx.min.js")
    assert re.fullmatch(r"/assets/vendor/htmx\.org-2\.0\.11/htmx\.min\.[0-9a-f]{12}\.js", url)
    answer = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"].startswith("text/javascript")
    stale = url.replace(url.rsplit(".", 2)[1], "0" * 12)
    assert client.get(stale).status_code == 404
    assert client.get("/assets/../../settings.py").status_code == 404


def test_every_vendored_package_keeps_its_licence() -> None:
    from mercato.web.assets import STATIC_DIR

    for package in (STATIC_DIR / "vendor").iterdir():
        if package.is_dir():
            assert any(p.name.upper().startswith("LICENSE") for p in package.iterdir()), package


def test_every_admin_page_weighs_under_150_kb_compressed(browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    pages = ["/admin/login", *(href for _, href, _ in NAV)]
    for path in pages:
        page = browser.get(path, headers={"Accept-Encoding": "gzip"})
        assert page.status_code in (200, 303), (path, page.status_code)
        total = page.num_bytes_downloaded
        for asset in re.findall(r'(?:href|src)="(/assets/[^"]+\.(?:css|js))"', page.text):
            total += browser.get(asset, headers={"Accept-Encoding": "gzip"}).num_bytes_downloaded
        assert total < BUDGET, f"{path} costs {total} bytes on first load"


def test_the_root_leads_to_the_admin(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin"
