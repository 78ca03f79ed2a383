"""The admin's workflow pages: create with JSON trigger and steps (errors beside the field,
values kept), enable/disable, a test run and its execution's steps, permissions."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.conftest import Browser, add_staff

STEPS = [{"id": "tag", "type": "set_order_tag",
          "params": {"order_id": "{{ data.order_id }}", "tag": "from-the-admin"}}]
TRIGGER = {"event": "order.created"}


def _error_beside(html: str, field: str) -> str:
    found = re.search(rf'id="e-{re.escape(field)}">([^<]*)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def _create(browser: Browser, name: str = "Tag orders") -> str:
    saved = browser.submit("/admin/workflows", {
        "name": name, "enabled": "true", "trigger": json.dumps(TRIGGER),
        "steps": json.dumps(STEPS)})
    assert saved.status_code == 303, saved.text  # type: ignore[attr-defined]
    return str(saved.headers["location"]).rsplit("/", 1)[1]  # type: ignore[attr-defined]


def test_a_workflow_is_created_tested_and_its_steps_shown(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    assert "There are no workflows yet" in browser.get("/admin/workflows").text
    form = browser.get("/admin/workflows/new")
    assert 'for="f-steps">Steps' in form.text
    workflow_id = _create(browser)
    api = client.get(f"/api/v1/workflows/{workflow_id}", headers=org.headers).json()
    assert api["steps"] == STEPS
    assert api["enabled"] is True
    page = browser.get(f"/admin/workflows/{workflow_id}")
    assert "Test run" in page.text
    assert "No executions yet." in page.text

    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])
    ran = browser.submit(f"/admin/workflows/{workflow_id}/test-run",
                         {"input": json.dumps({"data": {"order_id": order["id"]}})})
    assert ran.status_code == 303  # type: ignore[attr-defined]
    execution = browser.get(ran.headers["location"])  # type: ignore[attr-defined]
    assert "succeeded" in execution.text
    assert "set_order_tag" in execution.text
    tags = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()["tags"]
    assert tags == ["from-the-admin"]
    assert "Test run" in browser.get(f"/admin/workflows/{workflow_id}").text

    disabled = browser.submit(f"/admin/workflows/{workflow_id}/disable")
    assert disabled.status_code == 303  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/workflows/{workflow_id}",
                      headers=org.headers).json()["enabled"] is False
    assert "Disabled" in browser.get("/admin/workflows").text


def test_errors_are_shown_beside_the_json_field_and_nothing_is_saved(
        client: TestClient, browser: Browser, org: Org) -> None:
    browser.sign_in(org.owner_email)
    bad = browser.submit("/admin/workflows", {
        "name": "Broken", "trigger": json.dumps(TRIGGER),
        "steps": json.dumps([{"id": "a", "type": "launch_rocket"}])})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "steps.0.type" in _error_beside(bad.text, "steps")  # type: ignore[attr-defined]
    assert "launch_rocket" in bad.text  # type: ignore[attr-defined] - the value is kept
    not_json = browser.submit("/admin/workflows", {
        "name": "Broken", "trigger": "{", "steps": json.dumps(STEPS)})
    assert not_json.status_code == 422  # type: ignore[attr-defined]
    assert "not valid JSON" in _error_beside(not_json.text, "trigger")  # type: ignore[attr-defined]
    assert client.get("/api/v1/workflows", headers=org.headers).json()["data"] == []


def test_roles_without_workflow_permissions_get_403(browser: Browser, client: TestClient,
                                                    org: Org) -> None:
    browser.sign_in(add_staff(client, org, "cashier"))
    assert browser.get("/admin/workflows").status_code == 403
    assert "/admin/workflows" not in browser.get("/admin/orders").text
