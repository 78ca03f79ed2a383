"""In a real browser: write a workflow (JSON trigger and steps), test-run it, read the
execution's steps, disable it."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.orders.helpers import place_order, stocked
from tests.web.browser.conftest import screenshot, sign_in


def test_create_test_run_and_disable_a_workflow(page: Any, client: TestClient,
                                                org: Org) -> None:
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])
    sign_in(page, org.owner_email, start="/admin/workflows")
    page.get_by_role("button", name="New workflow").first.click()
    page.get_by_label("Name").fill("Tag every order")
    page.get_by_label("Trigger").fill(json.dumps({"event": "order.created"}))
    page.get_by_label("Steps").fill(json.dumps([
        {"id": "tag", "type": "set_order_tag",
         "params": {"order_id": "{{ data.order_id }}", "tag": "seen"}}]))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/admin/workflows/[0-9A-Z]{26}$"))
    page.get_by_label("Test input").fill(json.dumps({"data": {"order_id": order["id"]}}))
    page.get_by_role("button", name="Test run").click()
    page.wait_for_url(re.compile(r"/admin/workflow-executions/[0-9A-Z]{26}$"))
    assert page.get_by_role("cell", name="set_order_tag").is_visible()
    assert page.get_by_text("succeeded").first.is_visible()
    screenshot(page, "workflow-execution")
    tags = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()["tags"]
    assert tags == ["seen"]
    page.get_by_role("button", name=re.compile("Back to")).click()
    page.get_by_role("button", name="Disable").click()
    assert page.get_by_role("button", name="Enable").is_visible()
    listed = client.get("/api/v1/workflows", headers=org.headers).json()["data"]
    assert [w["enabled"] for w in listed] == [False]
