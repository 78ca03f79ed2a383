"""The admin's CSV import pages: upload, the live progress bar, row errors, failed rows."""

from __future__ import annotations

import csv
import io
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.catalog.tasks import run_imports
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.catalog.test_imports import HEADER, _card_row, _csv, _with_sku
from tests.catalog.test_products import _install
from tests.conftest import Org
from tests.web.conftest import Browser, add_staff

VALUENOW = re.compile(r'role="progressbar"[^>]*aria-valuenow="(\d+)"')


def _upload(browser: Browser, content: bytes, **form: str) -> str:
    answer = browser.post("/admin/imports", data={"csrf_token": browser.csrf, **form},
                          files={"file": ("cards.csv", content, "text/csv")},
                          follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location = str(answer.headers["location"])
    assert re.fullmatch(r"/admin/imports/[0-9A-Z]{26}", location), location
    return location


def _poll_to_end(browser: Browser, db: Database, path: str) -> str:
    """What the page's htmx does (GET the ``job`` fragment every second), with the worker's
    task run between polls, until the bar reaches 100 and the fragment stops polling."""
    for _ in range(50):
        fragment = browser.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 200, fragment.text
        assert "<html" not in fragment.text  # the block, not the page
        found = VALUENOW.search(fragment.text)
        assert found, fragment.text
        if found.group(1) == "100":
            assert 'hx-trigger="every 1s"' not in fragment.text
            return fragment.text
        assert 'hx-trigger="every 1s"' in fragment.text
        assert f'hx-get="{path}"' in fragment.text
        run_imports(db)
    raise AssertionError("the import never reached 100%")


def test_upload_a_csv_watch_the_bar_reach_100_and_see_the_products(
        client: TestClient, browser: Browser, org: Org, db: Database) -> None:
    _install(client, org)
    browser.sign_in(org.owner_email)
    form = browser.get("/admin/imports/new")
    assert form.status_code == 200
    assert re.search(r'<label for="f-file">CSV file', form.text)
    assert 'type="file"' in form.text
    assert ">Import</button>" in form.text
    for layout in ("Mercato", "TCGplayer", "BinderPOS"):
        assert f">{layout}</option>" in form.text
    assert "Dry run" in form.text

    t = new_id()[-8:].lower()
    path = _upload(browser, _csv(_card_row(f"bolt-{t}", f"B-NM-{t}", title=f"Bolt {t}"),
                                 _card_row(f"elf-{t}", f"E-NM-{t}", title=f"Elf {t}")))
    page = browser.get(path)
    assert page.status_code == 200
    assert VALUENOW.search(page.text).group(1) == "0"  # type: ignore[union-attr]
    assert 'aria-valuemin="0"' in page.text
    assert 'aria-valuemax="100"' in page.text
    assert 'hx-trigger="every 1s"' in page.text
    done = _poll_to_end(browser, db, path)
    assert "100%" in done
    assert "No row errors." in done
    assert _with_sku(client, org, t, f"B-NM-{t}")  # the API sees what the page imported

    listed = browser.get("/admin/imports")
    assert listed.status_code == 200
    assert f'href="{path}"' in listed.text


def test_a_bad_row_is_listed_with_its_line_and_column_and_can_be_downloaded(
        client: TestClient, browser: Browser, org: Org, db: Database) -> None:
    _install(client, org)
    browser.sign_in(org.owner_email)
    t = new_id()[-8:].lower()
    path = _upload(browser, _csv(_card_row(f"ok-{t}", f"OK-{t}"),
                                 _card_row(f"bad-{t}", f"BAD-{t}", price="lots"),
                                 _card_row(f"ok2-{t}", f"OK2-{t}")))
    done = _poll_to_end(browser, db, path)
    assert "completed with errors" in done
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>", done)
    assert ("3", "price", f"BAD-{t}") in rows, done
    assert f'href="{path}/failed-rows.csv"' in done
    failed = browser.get(f"{path}/failed-rows.csv")
    assert failed.status_code == 200
    assert failed.headers["content-type"].startswith("text/csv")
    read = list(csv.reader(io.StringIO(failed.text)))
    assert read[0] == HEADER.split(",")
    assert [row[6] for row in read[1:]] == [f"BAD-{t}"]
    assert not _with_sku(client, org, t, f"BAD-{t}")
    assert _with_sku(client, org, t, f"OK2-{t}")


def test_a_dry_run_writes_nothing(client: TestClient, browser: Browser, org: Org,
                                  db: Database) -> None:
    _install(client, org)
    browser.sign_in(org.owner_email)
    t = new_id()[-8:].lower()
    path = _upload(browser, _csv(_card_row(f"dry-{t}", f"DRY-{t}")), dry_run="true",
                   format="mercato")
    done = _poll_to_end(browser, db, path)
    assert "Dry run progress" in done
    assert "Would create" in done
    assert not _with_sku(client, org, t, f"DRY-{t}")
    assert ">Import this file</button>" in done
    real = browser.submit(f"{path}/apply")
    assert real.status_code == 303, real.text  # type: ignore[attr-defined]
    real_path = real.headers["location"]  # type: ignore[attr-defined]
    assert real_path != path
    finished = _poll_to_end(browser, db, real_path)
    assert ">Import this file</button>" not in finished
    assert _with_sku(client, org, t, f"DRY-{t}")
    again = browser.submit(f"{real_path}/apply")  # not a dry run: refused, nothing queued
    assert again.status_code == 409  # type: ignore[attr-defined]


def test_a_file_that_is_not_a_csv_of_products_is_refused_beside_the_field(
        browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    before = browser.get("/admin/imports").text.count('href="/admin/imports/0')
    refused = browser.post("/admin/imports", data={"csrf_token": browser.csrf,
                                                   "format": "binderpos"},
                           files={"file": ("x.csv", b"\xff\xfe not utf-8", "text/csv")},
                           follow_redirects=False)
    assert refused.status_code == 422
    assert 'id="e-file"' in refused.text
    assert "not UTF-8" in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert '<option value="binderpos" selected>' in refused.text  # the choice is kept
    missing = browser.post("/admin/imports", data={"csrf_token": browser.csrf},
                           files={"file": ("", b"", "application/octet-stream")},
                           follow_redirects=False)
    assert missing.status_code == 422
    assert 'id="e-file"' in missing.text
    assert browser.get("/admin/imports").text.count('href="/admin/imports/0') == before


def test_without_catalog_write_the_import_pages_are_403(client: TestClient, app: FastAPI,
                                                        org: Org) -> None:
    clerk = Browser(app, raise_server_exceptions=False)
    clerk.sign_in(add_staff(client, org, "fulfillment"))
    assert clerk.get("/admin/imports").status_code == 403
    assert clerk.get("/admin/imports/new").status_code == 403
    refused = clerk.post("/admin/imports", data={"csrf_token": clerk.csrf},
                         files={"file": ("a.csv", b"sku\n", "text/csv")},
                         follow_redirects=False)
    assert refused.status_code == 403
    stock = Browser(app, raise_server_exceptions=False)
    stock.sign_in(add_staff(client, org, "inventory"))
    assert stock.get("/admin/imports/new").status_code == 200


def test_another_organizations_import_is_404(client: TestClient, browser: Browser, org: Org,
                                             other_org: Org) -> None:
    _install(client, other_org)
    theirs = client.post("/api/v1/imports", headers=other_org.headers,
                         files={"file": ("c.csv", _csv(_card_row("x", f"X-{new_id()}")),
                                         "text/csv")})
    assert theirs.status_code == 202, theirs.text
    browser.sign_in(org.owner_email)
    job_id = theirs.json()["id"]
    assert browser.get(f"/admin/imports/{job_id}").status_code == 404
    assert browser.get(f"/admin/imports/{job_id}/failed-rows.csv").status_code == 404
