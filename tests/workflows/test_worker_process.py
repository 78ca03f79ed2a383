"""A real ``mercato worker`` process: an order placed through the API starts a workflow from
the outbox, and the worker's own loop runs it through a wait to the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SECRET, Org
from tests.core.test_outbox import ROOT, Processes, wait_for
from tests.orders.helpers import place_order, stocked
from tests.workflows.helpers import create, executions


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.cleanup()


@pytest.mark.slow
def test_a_worker_process_starts_and_runs_workflows_through_a_wait(
        client: TestClient, org: Org, database_url: str, processes: Processes) -> None:
    workflow = create(client, org, trigger={"event": "order.created"}, steps=[
        {"id": "first", "type": "set_order_tag",
         "params": {"order_id": "{{ data.order.id }}", "tag": "seen"}},
        {"id": "pause", "type": "wait", "params": {"seconds": 1}},
        {"id": "second", "type": "set_order_tag",
         "params": {"order_id": "{{ data.order.id }}", "tag": "followed-up"}}])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    environ.update({
        "MERCATO_DATABASE_URL": database_url, "MERCATO_SECRET_KEY": SECRET,
        "MERCATO_MIGRATE_ON_START": "false", "MERCATO_WORKER_POLL_INTERVAL_SECONDS": "0.05",
        "MERCATO_LOG_LEVEL": "warning",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT),
                                                  os.environ.get("PYTHONPATH")) if p)})
    worker = processes.start(["worker"], environ, "worker")
    skus, _ = stocked(client, org, [1])
    order = place_order(client, org, [(skus[0], 1)])

    def tags() -> list[str]:
        got = client.get(f"/api/v1/orders/{order['id']}", headers=org.headers).json()
        return list(got["tags"])

    wait_for(lambda: tags() == ["followed-up", "seen"], what="the workflow to finish",
             alive=lambda: processes.check_alive(worker))
    runs = executions(client, org, workflow["id"])
    assert [run["status"] for run in runs] == ["succeeded"]
    assert processes.stop(worker) == 0
