from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.probe import probe_body, probe_fixture
from tests.workflows.helpers import create, run_now

STEPS = [{"id": "tag", "type": "set_order_tag",
          "params": {"order_id": "{{ data.order_id }}", "tag": "probe"}}]


@probe_fixture("workflow_id")
def workflow(client: TestClient, org: Org) -> str:
    return str(create(client, org, steps=STEPS)["id"])


@probe_fixture("execution_id")
def execution(client: TestClient, org: Org) -> str:
    made = create(client, org, steps=[{"id": "pause", "type": "wait",
                                       "params": {"seconds": 60}}])
    return str(run_now(client, org, made["id"], {})["id"])


probe_body("POST", "/api/v1/workflows/{workflow_id}/test-run", {"input": {}})
probe_body("PATCH", "/api/v1/workflows/{workflow_id}", {"name": "Renamed by the probe"})
