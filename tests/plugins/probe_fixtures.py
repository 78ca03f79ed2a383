"""Probe fixtures for plugins: ``{plugin_name}`` names a plugin installed on the server, the
same for every organization, so the probe checks that one organization's request neither
shows nor changes another's settings of it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.probe import probe_body, shared_probe_fixture


def plugin_state(client: TestClient, org: Org, name: str) -> str:
    response = client.get(f"/api/v1/plugins/{name}", headers=org.headers)
    assert response.status_code == 200, response.text
    return response.text


@shared_probe_fixture("plugin_name", plugin_state)
def plugin_name(client: TestClient, org: Org) -> tuple[str, str]:
    secret = f"https://chat.example.com/hooks/{new_id()}"
    made = client.put("/api/v1/plugins/chat-notifier", headers=org.headers,
                      json={"enabled": True, "config": {"webhook_url": secret}})
    assert made.status_code == 200, made.text
    return "chat-notifier", secret


probe_body("PUT", "/api/v1/plugins/{plugin_name}",
           {"enabled": False, "config": {"webhook_url": "https://chat.example.com/other"}})
