"""The channels pages: the list with health, connecting with a generated form (secrets never
shown again), sync jobs with live progress, cancel and retry."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import make_location
from tests.web.conftest import Browser
from tests.web.test_settings import signed_in

TOKEN = "shpat_" + "0123456789abcdef0123456789abcdef"
SECRET = "shpss_" + "fedcba9876543210fedcba9876543210"


def a_channel(browser: Browser, client: TestClient, org: Org, kind: str = "shopify") -> str:
    location = make_location(client, org)
    added = browser.submit("/admin/channels", {"name": f"Shop {new_id()[-5:]}",
                                               "kind": kind,
                                               "locations": location["code"]})
    assert added.status_code == 303, added.text
    return added.headers["location"].rsplit("/", 1)[1]


def connection(client: TestClient, org: Org, channel_id: str) -> Any:
    return client.get(f"/api/v1/channels/{channel_id}/connection", headers=org.headers)


def connect(browser: Browser, channel_id: str, **changes: str) -> Any:
    return browser.submit(f"/admin/channels/{channel_id}/connection", {
        "account": f"s-{new_id()[-8:].lower()}.myshopify.com", "mode": "channel",
        "credentials.access_token": TOKEN, "credentials.client_secret": SECRET,
        "settings.bucket_size": "2000", "settings.restore_rate": "100",
        "settings.push_fulfillments": "true", "enabled": "true", **changes})


def test_channels_for_who_may_see_them(app: FastAPI, client: TestClient, org: Org) -> None:
    clerk = signed_in(app, client, org, "inventory")  # channels:read only
    page = clerk.get("/admin/channels")
    assert page.status_code == 200
    assert "Add channel" not in page.text
    assert clerk.submit("/admin/channels", {"name": "X", "kind": "shopify"}).status_code == 403
    cashier = signed_in(app, client, org, "cashier")
    assert cashier.get("/admin/channels").status_code == 403


def test_connect_with_the_generated_form_and_never_show_the_secrets(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org)
    form = browser.get(f"/admin/channels/{channel_id}")
    assert form.status_code == 200
    assert 'for="f-credentials-access_token">Access token' in form.text
    assert 'id="f-credentials-access_token" name="credentials.access_token" type="password"' \
        in form.text
    assert 'id="f-credentials-client_secret" name="credentials.client_secret" ' \
        'type="password"' in form.text
    assert 'name="settings.bucket_size" type="number"' in form.text
    done = connect(browser, channel_id)
    assert done.status_code == 303, done.text
    out = connection(client, org, channel_id).json()
    assert out["credentials"]["access_token"] == {"set": True, "last4": TOKEN[-4:]}
    assert out["settings"]["push_fulfillments"] is True
    assert out["settings"]["push_refunds"] is False  # unticked
    page = browser.get(f"/admin/channels/{channel_id}")
    assert TOKEN not in page.text
    assert SECRET not in page.text
    assert f"ending in {TOKEN[-4:]}" in page.text
    listed = browser.get("/admin/channels")
    assert out["account"] in listed.text
    assert "Not checked yet" in listed.text
    kept = browser.submit(f"/admin/channels/{channel_id}/connection", {
        "account": out["account"], "mode": "channel", "settings.bucket_size": "3000",
        "settings.restore_rate": "100", "enabled": "true"})
    assert kept.status_code == 303, kept.text
    after = connection(client, org, channel_id).json()
    assert after["settings"]["bucket_size"] == 3000
    assert after["credentials"]["client_secret"]["last4"] == SECRET[-4:]


def test_a_bad_connection_is_422_beside_the_field_and_echoes_no_secret(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org)
    refused = connect(browser, channel_id, account="not a shop!")
    assert refused.status_code == 422
    assert 'id="e-account"' in refused.text
    assert 'value="not a shop!"' in refused.text
    assert TOKEN not in refused.text
    assert connection(client, org, channel_id).status_code == 404
    no_secrets = browser.submit(f"/admin/channels/{channel_id}/connection", {
        "account": "fine.myshopify.com", "mode": "channel", "enabled": "true"})
    assert no_secrets.status_code == 422
    assert "Credentials are required" in no_secrets.text or 'id="e-credentials"' in \
        no_secrets.text
    short = connect(browser, channel_id, **{"credentials.access_token": "short"})
    assert short.status_code == 422
    assert 'id="e-credentials-access_token"' in short.text
    assert connection(client, org, channel_id).status_code == 404


def test_a_sync_job_shows_live_progress_and_is_cancelled_and_retried(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org)
    assert connect(browser, channel_id).status_code == 303
    started = browser.submit(f"/admin/channels/{channel_id}/jobs", {"kind": "product_import"})
    assert started.status_code == 303, started.text
    job_path = started.headers["location"]
    page = browser.get(job_path)
    assert page.status_code == 200
    assert 'role="progressbar"' in page.text
    assert 'aria-valuenow="0"' in page.text
    assert f'hx-get="{job_path}/progress" hx-trigger="every 2s"' in page.text
    fragment = browser.get(job_path + "/progress", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'role="progressbar"' in fragment.text
    twin = browser.submit(f"/admin/channels/{channel_id}/jobs", {"kind": "product_import"})
    assert twin.status_code == 409
    assert "already queued or running" in twin.text
    cancelled = browser.submit(job_path + "/cancel")
    assert cancelled.status_code == 303
    job_id = job_path.rsplit("/", 1)[1]
    assert client.get(f"/api/v1/sync-jobs/{job_id}", headers=org.headers).json()[
        "status"] == "cancelled"
    after = browser.get(job_path + "/progress")
    assert "hx-trigger" not in after.text
    retried = browser.submit(job_path + "/retry")
    assert retried.status_code == 303, retried.text
    again = retried.headers["location"].rsplit("/", 1)[1]
    jobs = client.get(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers).json()
    assert [j["id"] for j in jobs][:2] == [again, job_id]
    assert jobs[0]["retry_of"] == job_id
    history = browser.get(f"/admin/channels/{channel_id}")
    assert len(re.findall(r'href="/admin/channels/jobs/', history.text)) == 2
    not_again = browser.submit(f"/admin/channels/jobs/{again}/retry")
    assert not_again.status_code == 409


def test_disconnect(browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org)
    assert connect(browser, channel_id).status_code == 303
    gone = browser.submit(f"/admin/channels/{channel_id}/disconnect")
    assert gone.status_code == 303
    assert connection(client, org, channel_id).status_code == 404


def test_an_ebay_channel_s_form_asks_for_ebay_s_credentials_and_settings(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org, "ebay")
    page = browser.get(f"/admin/channels/{channel_id}")
    assert page.status_code == 200
    for name in ("credentials.client_id", "credentials.client_secret",
                 "credentials.refresh_token"):
        assert re.search(rf'name="{re.escape(name)}" type="password"', page.text), name
    assert 'name="settings.marketplace_id"' in page.text
    assert 'name="settings.bucket_size"' not in page.text  # Shopify's
    assert 'value="system_of_record"' not in page.text
    refresh = "v^1.1#i^1#" + "r" * 30
    made = browser.submit(f"/admin/channels/{channel_id}/connection", {
        "account": "Card_Shop", "mode": "channel", "credentials.client_id": "App-0123456789",
        "credentials.client_secret": "PRD-0123456789", "credentials.refresh_token": refresh,
        "settings.marketplace_id": "EBAY_GB", "settings.content_language": "en-GB",
        "settings.category_id": "183454", "settings.daily_revision_limit": "250",
        "enabled": "true"})
    assert made.status_code == 303, made.text
    out = connection(client, org, channel_id).json()
    assert (out["kind"], out["account"], out["settings"]["marketplace_id"]) == (
        "ebay", "card_shop", "EBAY_GB")
    shown = browser.get(f"/admin/channels/{channel_id}")
    assert refresh not in shown.text


def test_an_amazon_channel_s_form_takes_its_marketplaces_as_a_comma_separated_list(
        browser: Browser, client: TestClient, org: Org) -> None:
    browser.sign_in(org.owner_email)
    channel_id = a_channel(browser, client, org, "amazon")
    page = browser.get(f"/admin/channels/{channel_id}")
    assert page.status_code == 200
    for name in ("credentials.client_id", "credentials.client_secret",
                 "credentials.refresh_token"):
        assert re.search(rf'name="{re.escape(name)}" type="password"', page.text), name
    assert re.search(r'name="settings.marketplace_ids"[^>]*value="ATVPDKIKX0DER"', page.text)
    made = browser.submit(f"/admin/channels/{channel_id}/connection", {
        "account": "A2EXAMPLE1SELLER", "mode": "channel",
        "credentials.client_id": "amzn1.application-oa2-client.0123",
        "credentials.client_secret": "amzn-secret-0123456789",
        "credentials.refresh_token": "Atzr|" + "r" * 30,
        "settings.marketplace_ids": "ATVPDKIKX0DER, A2EUQ1WTGCTBG2",
        "settings.product_type": "PRODUCT", "settings.feed_threshold": "20",
        "enabled": "true"})
    assert made.status_code == 303, made.text
    out = connection(client, org, channel_id).json()
    assert out["settings"]["marketplace_ids"] == ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]
    shown = browser.get(f"/admin/channels/{channel_id}")
    assert re.search(r'name="settings.marketplace_ids"[^>]*value="ATVPDKIKX0DER, '
                     r'A2EUQ1WTGCTBG2"', shown.text), shown.text
