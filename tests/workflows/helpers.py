"""Shared setup for workflow tests: a loopback receiver for webhook steps, workflows through
the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org

WORKFLOWS = "/api/v1/workflows"


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1: records each POST and answers the next status of
    ``statuses`` (200 once they run out)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append({"path": self.path, "json": json.loads(body or b"null"),
                                   "idempotency_key": self.headers.get("Idempotency-Key")})
            code = state.statuses.pop(0) if state.statuses else 200
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def create(client: TestClient, org: Org, *, steps: list[dict[str, Any]],
           trigger: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    response = client.post(WORKFLOWS, headers=org.headers, json={
        "name": extra.pop("name", f"Workflow {new_id()}"),
        "trigger": trigger or {"event": "order.created"}, "steps": steps, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def run_now(client: TestClient, org: Org, workflow_id: str,
             data: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{WORKFLOWS}/{workflow_id}/test-run", headers=org.headers,
                           json={"input": {"data": data}})
    assert response.status_code == 201, response.text
    return dict(response.json())


def execution(client: TestClient, org: Org, execution_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/workflow-executions/{execution_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def executions(client: TestClient, org: Org, workflow_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{WORKFLOWS}/{workflow_id}/executions", headers=org.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])
