"""Workflows against the real parts: orders placed through the API start them through the
outbox, the worker's functions run them, and each step acts through the module it names
(notifications' records, an HTTP receiver on loopback, orders, inventory's ledger). Runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mercato.app import create_app
from mercato.core.db import Database, utcnow
from mercato.core.outbox import Dispatcher, Event
from mercato.settings import Settings
from mercato.workflows.models import WorkflowExecution
from mercato.workflows.service import run_due, schedule_due, start_for_event
from tests.conftest import Org, make_settings, staff_token
from tests.orders.helpers import on_hand, place_order, stocked
from tests.workflows.helpers import (
    WORKFLOWS,
    Receiver,
    create,
    execution,
    executions,
    receiver,
    run_now,
)


@pytest.fixture(scope="module")
def allowing(database_url: str) -> Settings:
    """The test settings, letting workflows call the loopback receiver."""
    return make_settings(database_url, webhook_allow_hosts=["127.0.0.1"])


@pytest.fixture(scope="module")
def wf_app(allowing: Settings, db: Database) -> FastAPI:
    return create_app(allowing, db)


@pytest.fixture(scope="module")
def api(wf_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(wf_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as endpoint:
        yield endpoint


def order(api: TestClient, org: Org, price: str = "10.00", quantity: int = 1) -> dict[str, Any]:
    skus, _ = stocked(api, org, [quantity], price=price)
    return place_order(api, org, [(skus[0], quantity)], price=price)


def get_order(api: TestClient, org: Org, order_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/orders/{order_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def tag_step(step_id: str = "tag", tag: str = "vip", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "set_order_tag",
            "params": {"order_id": "{{ data.order_id }}", "tag": tag}, **extra}


def failing_hook(url: str, attempts: int = 1) -> dict[str, Any]:
    return {"id": "notify", "type": "call_webhook", "params": {"url": url + "/fail"},
            "retry": {"max_attempts": attempts, "backoff": 0}}


# -- event triggers -----------------------------------------------------------------------------

def test_order_event_starts_workflows_whose_conditions_hold(
        api: TestClient, org: Org, db: Database, allowing: Settings) -> None:
    workflow = create(api, org, trigger={"event": "order.created", "conditions": [
        {"path": "data.order.total", "op": "gte", "value": "100"}]}, steps=[
        {"id": "tag", "type": "set_order_tag",
         "params": {"order_id": "{{ data.order.id }}", "tag": "big-spender"}}])
    small, big = order(api, org, "20.00"), order(api, org, "60.00", quantity=2)
    Dispatcher(db).drain()
    run_due(db, allowing)
    assert "big-spender" in get_order(api, org, big["id"])["tags"]
    assert "big-spender" not in get_order(api, org, small["id"])["tags"]
    runs = executions(api, org, workflow["id"])
    assert [run["status"] for run in runs] == ["succeeded"]
    assert runs[0]["input"]["data"]["order"]["id"] == big["id"]
    assert runs[0]["trigger_key"].startswith("event:")


def test_disabled_workflow_is_not_started(api: TestClient, org: Org, db: Database) -> None:
    workflow = create(api, org, steps=[tag_step()], enabled=False)
    order(api, org)
    Dispatcher(db).drain()
    assert executions(api, org, workflow["id"]) == []


def test_redelivered_event_starts_one_execution(api: TestClient, org: Org,
                                                db: Database) -> None:
    workflow = create(api, org, steps=[tag_step()])
    event = Event(id="01JWORKFLOWREDELIVERY" + org.id[-5:], type="order.created",
                  organization_id=org.id, resource_type="order", resource_id="o1",
                  data={"order": {"id": "o1"}}, created_at=utcnow(), position=0)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            with db.transaction(tenant=org.id) as session:
                start_for_event(session, event)
        except BaseException as exc:  # a twin's commit may lose; the count below decides
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction(tenant=org.id) as session:  # and once more, after all of them
        assert start_for_event(session, event) == []
    with db.transaction(tenant=org.id) as session:
        count = session.scalar(select(func.count()).select_from(WorkflowExecution).where(
            WorkflowExecution.workflow_id == workflow["id"]))
    assert count == 1
    assert len(errors) < 6


def test_many_workers_run_each_execution_once(api: TestClient, org: Org, db: Database,
                                              allowing: Settings) -> None:
    skus, place = stocked(api, org, [30])
    workflow = create(api, org, steps=[
        {"id": "take", "type": "adjust_stock",
         "params": {"sku": skus[0], "location": place["code"], "delta": -1}},
        tag_step("after")])
    with db.transaction(tenant=org.id) as session:
        for n in range(12):
            start_for_event(session, Event(
                id=f"01JWORKERS{n:04d}{org.id[-12:]}", type="order.created",
                organization_id=org.id, resource_type="order", resource_id=f"r{n}",
                data={}, created_at=utcnow(), position=0))
    barrier = threading.Barrier(4)

    def work(name: str) -> None:
        barrier.wait()
        while run_due(db, allowing, worker=name, batch_size=2):
            pass

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = executions(api, org, workflow["id"])
    assert len(runs) == 12
    assert {run["status"] for run in runs} == {"failed"}  # the tag step has no order
    assert on_hand(api, org, skus[0], place) == 30 - 12
    for run in runs:
        steps = execution(api, org, run["id"])["steps"]
        assert [(s["step_id"], s["attempts"]) for s in steps] == [("take", 1), ("after", 1)]


# -- schedules ----------------------------------------------------------------------------------

def test_scheduled_workflow_starts_once_per_due_time(api: TestClient, org: Org,
                                                     db: Database) -> None:
    workflow = create(api, org, trigger={"schedule": {"every_minutes": 5}},
                      steps=[{"id": "pause", "type": "wait", "params": {"seconds": 1}}])
    due = dt.datetime.fromisoformat(workflow["next_run_at"])
    assert due > utcnow()
    schedule_due(db, now=due - dt.timedelta(seconds=1))
    assert executions(api, org, workflow["id"]) == []

    later = due + dt.timedelta(seconds=1)
    threads = [threading.Thread(target=schedule_due, args=(db,), kwargs={"now": later})
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    schedule_due(db, now=later)
    runs = executions(api, org, workflow["id"])
    assert len(runs) == 1
    assert runs[0]["trigger_key"] == f"schedule:{due.isoformat()}"
    moved = api.get(f"{WORKFLOWS}/{workflow['id']}", headers=org.headers).json()
    assert dt.datetime.fromisoformat(moved["next_run_at"]) == later + dt.timedelta(minutes=5)


def test_daily_schedule_is_due_at_its_time_of_day(api: TestClient, org: Org) -> None:
    workflow = create(api, org, trigger={"schedule": {"daily_at": "03:30"}},
                      steps=[tag_step()])
    due = dt.datetime.fromisoformat(workflow["next_run_at"])
    assert (due.hour, due.minute) == (3, 30)
    assert dt.timedelta(0) < due - utcnow() <= dt.timedelta(days=1)


# -- each step type -----------------------------------------------------------------------------

def test_send_email_step_queues_the_email_in_notifications(api: TestClient, org: Org) -> None:
    workflow = create(api, org, steps=[{"id": "mail", "type": "send_email", "params": {
        "to": "{{ data.email }}", "subject": "Thanks, {{ data.name }}",
        "body": "Order {{ data.number }} is on its way."}}])
    run = run_now(api, org, workflow["id"], {"email": "alice@example.com", "name": "Alice",
                                              "number": 1042})
    assert run["status"] == "succeeded"
    assert run["test"] is True
    notification_id = run["steps"][0]["output"]["notification_id"]
    mail = api.get(f"/api/v1/notifications/{notification_id}", headers=org.headers).json()
    assert mail["recipient"] == "alice@example.com"
    assert mail["subject"] == "Thanks, Alice"
    assert mail["kind"] == "workflow"


def test_webhook_step_posts_json_to_an_allowed_loopback_receiver(
        api: TestClient, org: Org, hook: Receiver) -> None:
    workflow = create(api, org, steps=[{"id": "notify", "type": "call_webhook", "params": {
        "url": hook.url + "/orders", "body": {"order": "{{ data.order_id }}", "fixed": 7}}}])
    run = run_now(api, org, workflow["id"], {"order_id": "o-77"})
    assert run["status"] == "succeeded", run
    assert hook.received == [{"path": "/orders", "json": {"order": "o-77", "fixed": 7},
                              "idempotency_key": f"workflow:{run['id']}:notify:action"}]
    assert run["steps"][0]["output"]["status"] == 200


def test_templates_read_the_input_and_earlier_outputs_and_never_render_past_the_cap(
        api: TestClient, org: Org, hook: Receiver) -> None:
    workflow = create(api, org, steps=[
        tag_step(),
        {"id": "notify", "type": "call_webhook", "params": {"url": hook.url, "body": {
            "changed": "{{ steps.tag.changed }}", "name": "{{ data.name | default('x') | title }}",
            "huge": "{{ data.big }}{{ data.big }}{{ data.big }}"}}}])
    run = run_now(api, org, workflow["id"], {"order_id": order(api, org)["id"],
                                              "big": "y" * 8000})
    assert run["status"] == "failed"
    assert "rendered too long" in run["steps"][1]["error"]
    assert hook.received == []
    small = run_now(api, org, workflow["id"], {"order_id": order(api, org)["id"], "big": "",
                                                "name": "ada"})
    assert small["status"] == "succeeded", small
    assert hook.received[0]["json"] == {"changed": "True", "name": "Ada", "huge": ""}


def test_webhook_to_loopback_is_refused_unless_the_operator_allows_it(
        client: TestClient, org: Org, hook: Receiver) -> None:
    response = client.post(WORKFLOWS, headers=org.headers, json={
        "name": "Internal", "trigger": {"event": "order.created"},
        "steps": [{"id": "notify", "type": "call_webhook", "params": {"url": hook.url}}]})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["steps.0.params.url"]
    assert client.get(WORKFLOWS, headers=org.headers).json()["data"] == []


def test_order_steps_tag_and_change_status_through_orders(api: TestClient, org: Org) -> None:
    placed = order(api, org)
    workflow = create(api, org, steps=[
        tag_step(),
        {"id": "close", "type": "set_order_status",
         "params": {"order_id": "{{ data.order_id }}", "status": "closed"}}])
    run = run_now(api, org, workflow["id"], {"order_id": placed["id"]})
    assert run["status"] == "succeeded", run
    after = get_order(api, org, placed["id"])
    assert after["tags"] == ["vip"]
    assert after["status"] == "closed"
    assert [step["output"]["changed"] for step in run["steps"]] == [True, True]


def test_cancel_status_step_cancels_the_order(api: TestClient, org: Org) -> None:
    placed = order(api, org)
    workflow = create(api, org, steps=[{"id": "cancel", "type": "set_order_status", "params": {
        "order_id": "{{ data.order_id }}", "status": "cancelled", "reason": "fraud check"}}])
    assert run_now(api, org, workflow["id"], {"order_id": placed["id"]})["status"] == \
        "succeeded"
    assert get_order(api, org, placed["id"])["status"] == "cancelled"


def test_adjust_stock_step_moves_stock_through_the_ledger(api: TestClient, org: Org) -> None:
    skus, place = stocked(api, org, [5])
    workflow = create(api, org, steps=[{"id": "take", "type": "adjust_stock", "params": {
        "sku": "{{ data.sku }}", "location": place["code"], "delta": "{{ data.delta }}",
        "note": "damaged"}}])
    run = run_now(api, org, workflow["id"], {"sku": skus[0], "delta": -2})
    assert run["status"] == "succeeded", run
    assert on_hand(api, org, skus[0], place) == 3
    ledger = api.get("/api/v1/inventory/ledger", headers=org.headers,
                     params={"sku": skus[0]}).json()["data"]
    assert ledger[0]["reference"] == f"workflow:{run['id']}:take:action"


def test_failing_step_changes_nothing_and_records_its_error(api: TestClient, org: Org) -> None:
    skus, place = stocked(api, org, [1])
    workflow = create(api, org, steps=[{"id": "take", "type": "adjust_stock", "params": {
        "sku": skus[0], "location": place["code"], "delta": -5}}])
    run = run_now(api, org, workflow["id"], {})
    assert run["status"] == "failed"
    assert run["steps"][0]["status"] == "failed"
    assert run["steps"][0]["attempts"] == 1
    assert run["steps"][0]["error"]
    assert "take" in run["error"]
    assert on_hand(api, org, skus[0], place) == 1


# -- wait, branch -------------------------------------------------------------------------------

def test_wait_is_persisted_and_resumed_by_the_worker(
        api: TestClient, org: Org, db: Database, allowing: Settings) -> None:
    placed = order(api, org)
    workflow = create(api, org, steps=[
        {"id": "pause", "type": "wait", "params": {"seconds": 3600}}, tag_step()])
    run = run_now(api, org, workflow["id"], {"order_id": placed["id"]})
    assert run["status"] == "waiting"
    assert [step["status"] for step in run["steps"]] == ["waiting"]
    run_due(db, allowing)  # not due yet
    assert execution(api, org, run["id"])["status"] == "waiting"
    run_due(db, allowing, now=utcnow() + dt.timedelta(hours=1, seconds=5))
    done = execution(api, org, run["id"])
    assert done["status"] == "succeeded"
    assert [step["status"] for step in done["steps"]] == ["succeeded", "succeeded"]
    assert get_order(api, org, placed["id"])["tags"] == ["vip"]


@pytest.mark.parametrize(("total", "tag"), [("150.00", "big"), ("15.00", "small")])
def test_branch_runs_then_or_else(api: TestClient, org: Org, total: str, tag: str) -> None:
    placed = order(api, org)
    workflow = create(api, org, steps=[{
        "id": "size", "type": "branch",
        "params": {"conditions": [{"path": "data.total", "op": "gt", "value": 100}]},
        "then": [tag_step("tag_big", "big")], "else": [tag_step("tag_small", "small")]}])
    run = run_now(api, org, workflow["id"], {"order_id": placed["id"], "total": total})
    assert run["status"] == "succeeded", run
    assert get_order(api, org, placed["id"])["tags"] == [tag]
    assert [s["step_id"] for s in run["steps"]] == ["size", f"tag_{tag}"]


# -- retries and compensation -------------------------------------------------------------------

def test_failed_step_is_retried_per_its_policy(api: TestClient, org: Org,
                                               hook: Receiver) -> None:
    hook.statuses = [503, 500]
    workflow = create(api, org, steps=[{"id": "notify", "type": "call_webhook",
                                        "params": {"url": hook.url},
                                        "retry": {"max_attempts": 3, "backoff": 0}}])
    run = run_now(api, org, workflow["id"], {})
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["attempts"] == 3
    assert len(hook.received) == 3
    assert len({r["idempotency_key"] for r in hook.received}) == 1


def test_retry_with_backoff_is_resumed_later_by_the_worker(
        api: TestClient, org: Org, hook: Receiver, db: Database, allowing: Settings) -> None:
    hook.statuses = [503]
    workflow = create(api, org, steps=[{"id": "notify", "type": "call_webhook",
                                        "params": {"url": hook.url},
                                        "retry": {"max_attempts": 2, "backoff": 600}}])
    run = run_now(api, org, workflow["id"], {})
    assert run["status"] == "retrying"
    assert run["steps"][0]["status"] == "retrying"
    assert run["steps"][0]["error"] == "RuntimeError: the endpoint answered 503"
    run_due(db, allowing, now=utcnow() + dt.timedelta(minutes=11))
    done = execution(api, org, run["id"])
    assert done["status"] == "succeeded"
    assert done["steps"][0]["attempts"] == 2


def test_failure_runs_compensations_of_done_steps_in_reverse(
        api: TestClient, org: Org, hook: Receiver) -> None:
    placed = order(api, org)
    skus, place = stocked(api, org, [4])
    hook.statuses = [500, 500]
    workflow = create(api, org, steps=[
        tag_step("tag", "held", compensate={"type": "set_order_tag", "params": {
            "order_id": "{{ data.order_id }}", "tag": "held", "remove": True}}),
        {"id": "take", "type": "adjust_stock",
         "params": {"sku": skus[0], "location": place["code"], "delta": -1},
         "compensate": {"type": "adjust_stock",
                        "params": {"sku": skus[0], "location": place["code"], "delta": 1}}},
        failing_hook(hook.url, attempts=2),
        tag_step("never", "never")])
    run = run_now(api, org, workflow["id"], {"order_id": placed["id"]})
    assert run["status"] == "compensated", run
    assert [(s["step_id"], s["phase"], s["status"]) for s in run["steps"]] == [
        ("tag", "action", "succeeded"), ("take", "action", "succeeded"),
        ("notify", "action", "failed"),
        ("take", "compensation", "succeeded"), ("tag", "compensation", "succeeded")]
    assert run["steps"][2]["attempts"] == 2
    assert get_order(api, org, placed["id"])["tags"] == []
    assert on_hand(api, org, skus[0], place) == 4
    assert "notify" in run["error"]


def test_failed_compensation_ends_the_execution_failed(api: TestClient, org: Org,
                                                       hook: Receiver) -> None:
    placed = order(api, org)
    workflow = create(api, org, steps=[
        tag_step(compensate={"type": "set_order_status", "params": {
            "order_id": "no-such-order", "status": "closed"}}),
        failing_hook(hook.url)])
    hook.statuses = [500]
    run = run_now(api, org, workflow["id"], {"order_id": placed["id"]})
    assert run["status"] == "failed"
    assert [(s["phase"], s["status"]) for s in run["steps"]] == [
        ("action", "succeeded"), ("action", "failed"), ("compensation", "failed")]


# -- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("trigger", "steps", "field"), [
    ({"event": "order.created"}, [{"id": "a", "type": "launch_rocket"}], "steps.0.type"),
    ({"event": "order.created", "conditions": [{"path": "data.x", "op": "near", "value": 1}]},
     [tag_step()], "trigger.conditions.0.op"),
    ({"event": "order.created", "conditions": [{"path": "data.x", "op": "in", "value": 1}]},
     [tag_step()], "trigger.conditions.0"),
    ({"event": "order.created", "conditions": [{"path": "data..x", "op": "eq", "value": 1}]},
     [tag_step()], "trigger.conditions.0.path"),
    ({"event": "order.created", "schedule": {"every_minutes": 5}}, [tag_step()], "trigger"),
    ({"schedule": {"daily_at": "25:00"}}, [tag_step()], "trigger.schedule.daily_at"),
    ({"event": "order.created"}, [{"id": "m", "type": "send_email", "params": {"to": "x"}}],
     "steps.0.params.subject"),
    ({"event": "order.created"}, [{"id": "m", "type": "send_email", "params": {
        "to": "{{ data.email", "subject": "s", "body": "b"}}], "steps.0.params.to"),
    ({"event": "order.created"}, [{"id": "m", "type": "send_email", "params": {
        "to": "a@example.com", "subject": "s",
        "body": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}"
                "{% endfor %}"}}],
     "steps.0.params.body"),
    ({"event": "order.created"}, [{"id": "m", "type": "send_email", "params": {
        "to": "a@example.com", "subject": "{{ 'x' | center(999999999) }}", "body": "b"}}],
     "steps.0.params.subject"),
    ({"event": "order.created"}, [{"id": "m", "type": "send_email", "params": {
        "to": "a@example.com", "subject": "{{ data.__class__ }}", "body": "b"}}],
     "steps.0.params.subject"),
    ({"event": "order.created"}, [{"id": "w", "type": "call_webhook",
                                   "params": {"url": "ftp://example.com/x"}}],
     "steps.0.params.url"),
    ({"event": "order.created"}, [{"id": "w", "type": "call_webhook",
                                   "params": {"url": "http://169.254.169.254/latest"}}],
     "steps.0.params.url"),
    ({"event": "order.created"}, [tag_step("a"), tag_step("a")], "steps.1.id"),
    ({"event": "order.created"}, [{"id": "b", "type": "branch", "params": {"conditions": [
        {"path": "data.x", "op": "exists"}]}, "then": [{"id": "c", "type": "wait",
                                                         "params": {"seconds": 0}}]}],
     "steps.0.then.0.params.seconds"),
    ({"event": "order.created"}, [tag_step(compensate={"type": "wait",
                                                        "params": {"seconds": 5}})],
     "steps.0.compensate.type"),
])
def test_invalid_definitions_are_422_naming_the_field(
        client: TestClient, org: Org, trigger: dict[str, Any], steps: list[dict[str, Any]],
        field: str) -> None:
    response = client.post(WORKFLOWS, headers=org.headers,
                           json={"name": "Bad", "trigger": trigger, "steps": steps})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert client.get(WORKFLOWS, headers=org.headers).json()["data"] == []


def test_invalid_patch_changes_nothing(client: TestClient, org: Org) -> None:
    workflow = create(client, org, steps=[tag_step()])
    response = client.patch(f"{WORKFLOWS}/{workflow['id']}", headers=org.headers,
                            json={"steps": [{"id": "x", "type": "wait", "params": {}}]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "steps.0.params.seconds"
    assert client.get(f"{WORKFLOWS}/{workflow['id']}", headers=org.headers).json()["steps"] \
        == workflow["steps"]


# -- the resource -------------------------------------------------------------------------------

def test_crud_with_etags_enable_disable_and_delete(client: TestClient, org: Org) -> None:
    workflow = create(client, org, steps=[tag_step()], name="Tag VIPs")
    path = f"{WORKFLOWS}/{workflow['id']}"
    assert create_conflict(client, org).status_code == 409
    read = client.get(path, headers=org.headers)
    etag = read.headers["ETag"]
    renamed = client.patch(path, headers={**org.headers, "If-Match": etag},
                           json={"name": "Tag the VIPs"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Tag the VIPs"
    stale = client.patch(path, headers={**org.headers, "If-Match": etag}, json={"name": "x"})
    assert stale.status_code == 412
    assert client.post(f"{path}/disable", headers=org.headers).json()["enabled"] is False
    assert client.get(WORKFLOWS, headers=org.headers,
                      params={"enabled": "true"}).json()["data"] == []
    assert client.post(f"{path}/enable", headers=org.headers).json()["enabled"] is True
    listed = client.get(WORKFLOWS, headers=org.headers).json()
    assert [w["id"] for w in listed["data"]] == [workflow["id"]]
    assert listed["next_cursor"] is None
    assert client.delete(path, headers=org.headers).status_code == 204
    assert client.get(path, headers=org.headers).status_code == 404


def create_conflict(client: TestClient, org: Org) -> Any:
    return client.post(WORKFLOWS, headers=org.headers, json={
        "name": "Tag VIPs", "trigger": {"event": "order.created"}, "steps": [tag_step()]})


def test_roles_without_workflow_permissions_are_refused(client: TestClient, org: Org) -> None:
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    assert client.get(WORKFLOWS, headers=cashier).status_code == 403
    manager = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    assert client.get(WORKFLOWS, headers=manager).status_code == 200


def test_organizations_never_see_or_start_each_others_workflows(
        api: TestClient, org: Org, other_org: Org, db: Database, allowing: Settings) -> None:
    mine = create(api, org, steps=[tag_step()])
    run = run_now(api, org, mine["id"], {"order_id": "nothing"})
    for method, path in [("GET", f"{WORKFLOWS}/{mine['id']}"),
                         ("PATCH", f"{WORKFLOWS}/{mine['id']}"),
                         ("DELETE", f"{WORKFLOWS}/{mine['id']}"),
                         ("POST", f"{WORKFLOWS}/{mine['id']}/test-run"),
                         ("POST", f"{WORKFLOWS}/{mine['id']}/enable"),
                         ("GET", f"{WORKFLOWS}/{mine['id']}/executions"),
                         ("GET", f"/api/v1/workflow-executions/{run['id']}")]:
        response = api.request(method, path, headers=other_org.headers,
                               json={"input": {}} if method == "POST" else {"name": "x"})
        assert response.status_code == 404, (method, path, response.text)
    assert api.get(WORKFLOWS, headers=other_org.headers).json()["data"] == []
    # their order event starts nothing of ours
    before = len(executions(api, org, mine["id"]))
    order(api, other_org)
    Dispatcher(db).drain()
    run_due(db, allowing)
    assert len(executions(api, org, mine["id"])) == before
