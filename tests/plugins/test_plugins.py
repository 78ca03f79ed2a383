"""Plugins: discovered through real entry points, enabled and configured per organization;
before hooks change or refuse in the caller's transaction, in priority order; after hooks
run from the outbox, retried, only where enabled; a plugin sees its organization only."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi.testclient import TestClient
from sqlalchemy import update

from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.outbox import Dispatcher, OutboxDelivery
from mercato.plugins import registry
from tests.conftest import Org, staff_token
from tests.orders.helpers import order_body, stocked
from tests.plugins.sample_plugins import FAILURES, SEEN

TAGGER = "/api/v1/plugins/test-tagger"


def enable(client: TestClient, org: Org, name: str, config: dict[str, Any] | None = None,
           priority: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"enabled": True, "config": config or {}}
    if priority is not None:
        body["priority"] = priority
    response = client.put(f"/api/v1/plugins/{name}", headers=org.headers, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def drain(db: Database) -> None:
    Dispatcher(db, max_attempts=10).drain()


def make_due(db: Database) -> None:
    """What the passing of the backoff would do: failed deliveries are due again now."""
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(OutboxDelivery).where(OutboxDelivery.status == "pending")
                        .values(available_at=utcnow()))


def test_installed_plugins_are_discovered_through_their_entry_points_and_broken_ones_skipped(
        test_plugins: object) -> None:
    with structlog.testing.capture_logs() as logs:
        found = registry.refresh()
    # the two shipped in the repository (installed distributions) and the tests' own
    assert {"min-order-value", "chat-notifier", "test-tagger", "test-second"} <= set(found)
    assert found["test-second"].permissions == ("organization:write",)  # a factory's
    skipped = {entry["entry_point"]: entry["error"] for entry in logs
               if entry["event"] == "plugin_skipped"}
    assert set(skipped) == {"test-broken-import", "test-not-a-manifest", "test-bad-hook"}
    assert "before_everything" in skipped["test-bad-hook"]
    assert "not a mercato.plugins.Manifest" in skipped["test-not-a-manifest"]


def test_an_organization_enables_configures_and_disables_a_plugin_for_itself(
        pclient: TestClient, org: Org, other_org: Org) -> None:
    listed = pclient.get("/api/v1/plugins", headers=org.headers)
    assert listed.status_code == 200, listed.text
    by_name = {p["name"]: p for p in listed.json()["data"]}
    assert by_name["test-tagger"]["enabled"] is False
    assert by_name["test-tagger"]["hooks"] == ["before_order_create", "before_product_save"]
    assert by_name["test-tagger"]["events"] == ["order.created"]
    assert by_name["chat-notifier"]["permissions"] == ["orders:read"]

    on = enable(pclient, org, "test-tagger", {"tag": "vip"}, priority=5)
    assert (on["enabled"], on["config"], on["priority"]) == (True, {"tag": "vip"}, 5)
    assert pclient.get(TAGGER, headers=org.headers).json()["enabled"] is True
    theirs = pclient.get(TAGGER, headers=other_org.headers).json()
    assert (theirs["enabled"], theirs["config"]) == (False, {})

    off = pclient.put(TAGGER, headers=org.headers, json={"enabled": False,
                                                         "config": {"tag": "vip"}})
    assert (off.json()["enabled"], off.json()["config"], off.json()["priority"]) == \
        (False, {"tag": "vip"}, 5)  # disabled, its settings kept
    assert pclient.delete(TAGGER, headers=org.headers).status_code == 204
    gone = pclient.get(TAGGER, headers=org.headers).json()
    assert (gone["enabled"], gone["config"], gone["priority"]) == (False, {}, 100)
    assert pclient.put("/api/v1/plugins/no-such-plugin", headers=org.headers,
                       json={"enabled": True}).status_code == 404


def test_a_configuration_the_settings_schema_refuses_is_a_422_naming_each_field(
        pclient: TestClient, org: Org) -> None:
    enable(pclient, org, "test-tagger", {"tag": "kept"})
    bad = pclient.put(TAGGER, headers=org.headers, json={
        "enabled": True, "config": {"tag": 5, "fail_times": 99, "colour": "red"}})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"config.tag", "config.fail_times", "config"} <= fields
    missing = pclient.put("/api/v1/plugins/chat-notifier", headers=org.headers,
                          json={"enabled": True, "config": {}})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["config.webhook_url"]
    assert pclient.get(TAGGER, headers=org.headers).json()["config"] == {"tag": "kept"}


def test_plugins_need_the_plugins_permissions_and_enabling_needs_the_plugins_own(
        pclient: TestClient, org: Org) -> None:
    cashier = {"Authorization": f"Bearer {staff_token(pclient, org, 'cashier')}"}
    assert pclient.get("/api/v1/plugins", headers=cashier).status_code == 403
    manager = {"Authorization": f"Bearer {staff_token(pclient, org, 'manager')}"}
    assert pclient.get("/api/v1/plugins", headers=manager).status_code == 200
    assert pclient.put(TAGGER, headers=manager, json={"enabled": True}).status_code == 200
    # test-second asks for organization:write, which a manager does not hold
    refused = pclient.put("/api/v1/plugins/test-second", headers=manager,
                          json={"enabled": True})
    assert refused.status_code == 403
    assert refused.json()["missing_permissions"] == ["organization:write"]
    assert pclient.get("/api/v1/plugins/test-second",
                       headers=org.headers).json()["enabled"] is False


def test_a_before_hook_changes_the_order_and_the_product_in_the_callers_transaction(
        pclient: TestClient, org: Org) -> None:
    enable(pclient, org, "test-tagger", {"tag": "vip", "prefix": "[P] "})
    skus, _ = stocked(pclient, org, [5])
    made = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[0], 1)]))
    assert made.status_code == 201, made.text
    assert "vip" in made.json()["tags"]
    assert made.json()["note"] == "test-tagger;"
    product = pclient.post("/api/v1/products", headers=org.headers, json={
        "title": "Lamp", "product_type": "accessory",
        "variants": [{"sku": f"LAMP-{org.slug}", "price": "3.00"}]})
    assert product.status_code == 201, product.text
    assert product.json()["title"] == "[P] Lamp"


def test_a_refusing_before_hook_is_a_422_naming_the_plugin_and_nothing_changes(
        pclient: TestClient, org: Org, db: Database) -> None:
    enable(pclient, org, "test-tagger", {"refusal": "no notes like that"})
    skus, _ = stocked(pclient, org, [5])
    before = pclient.get("/api/v1/orders", headers=org.headers).json()["data"]
    refused = pclient.post("/api/v1/orders", headers=org.headers,
                           json=order_body([(skus[0], 1)], note="refuse"))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["plugin"] == "test-tagger"
    assert "test-tagger" in problem["detail"]
    assert "no notes like that" in problem["detail"]
    assert problem["errors"] == [{"field": "note", "message": "test-tagger: no notes like that"}]
    assert pclient.get("/api/v1/orders", headers=org.headers).json()["data"] == before
    product = pclient.post("/api/v1/products", headers=org.headers, json={
        "title": "A forbidden lamp", "product_type": "accessory",
        "variants": [{"sku": f"FLAMP-{org.slug}", "price": "3.00"}]})
    assert product.status_code == 422
    assert pclient.get("/api/v1/variants", headers=org.headers,
                       params={"sku": f"FLAMP-{org.slug}"}).json()["data"] == []


def test_before_hooks_run_in_priority_order_then_by_name(
        pclient: TestClient, org: Org) -> None:
    enable(pclient, org, "test-tagger", {"tag": "a"}, priority=20)
    enable(pclient, org, "test-second", priority=10)
    skus, _ = stocked(pclient, org, [5, 5])
    first = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[0], 1)]))
    assert first.json()["note"] == "test-second;test-tagger;"
    enable(pclient, org, "test-tagger", {"tag": "a"}, priority=1)
    second = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[1], 1)]))
    assert second.json()["note"] == "test-tagger;test-second;"
    enable(pclient, org, "test-second", priority=1)  # a tie: by name
    third = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[1], 1)]))
    assert third.json()["note"] == "test-second;test-tagger;"


def test_an_after_hook_runs_from_the_outbox_is_retried_and_never_breaks_the_request(
        pclient: TestClient, org: Org, other_org: Org, db: Database) -> None:
    enable(pclient, org, "test-tagger", {"fail_times": 2})
    drain(db)
    skus, _ = stocked(pclient, org, [5])
    theirs, _ = stocked(pclient, other_org, [5])
    made = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[0], 1)]))
    assert made.status_code == 201, made.text  # the hook has not even run yet
    other = pclient.post("/api/v1/orders", headers=other_org.headers,
                         json=order_body([(theirs[0], 1)]))
    assert other.status_code == 201
    order_id = made.json()["id"]

    def runs() -> list[dict[str, Any]]:
        return [s for s in SEEN if s["hook"] == "order.created"
                and s["order_id"] in (order_id, other.json()["id"])]

    drain(db)
    assert runs() == []  # failed once, waiting for its backoff
    make_due(db)
    drain(db)
    assert runs() == []  # failed twice
    make_due(db)
    drain(db)
    done = runs()
    assert [(r["order_id"], r["organization_id"]) for r in done] == [(order_id, org.id)]
    assert sum(n for key, n in FAILURES.items() if key == done[0]["event_id"]) == 2
    make_due(db)
    drain(db)
    assert len(runs()) == 1  # delivered once; the other organization never enabled it


def test_a_plugin_sees_only_its_organizations_rows(
        pclient: TestClient, org: Org, other_org: Org, db: Database) -> None:
    theirs, _ = stocked(pclient, other_org, [5])
    assert pclient.post("/api/v1/orders", headers=other_org.headers,
                        json=order_body([(theirs[0], 1)])).status_code == 201
    enable(pclient, org, "test-tagger")
    skus, _ = stocked(pclient, org, [5])
    assert pclient.post("/api/v1/orders", headers=org.headers,
                        json=order_body([(skus[0], 1)])).status_code == 201
    drain(db)
    SEEN.clear()
    made = pclient.post("/api/v1/orders", headers=org.headers, json=order_body([(skus[0], 1)]))
    assert made.status_code == 201
    drain(db)
    runs = [s for s in SEEN if s["organization_id"] == org.id]
    assert {s["hook"] for s in runs} == {"before_order_create", "order.created"}
    for run in runs:  # it queried every order it could: its organization's only
        assert run["orders_of"], run
        assert set(run["orders_of"]) == {org.id}


def test_a_plugins_routes_answer_only_organizations_that_enabled_it(
        pclient: TestClient, org: Org, other_org: Org) -> None:
    enable(pclient, org, "test-tagger")
    mine = pclient.get(f"{TAGGER}/whoami", headers=org.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {"organization_id": org.id}
    assert pclient.get(f"{TAGGER}/whoami", headers=other_org.headers).status_code == 404
    assert pclient.get(f"{TAGGER}/whoami").status_code == 401
