from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.channels.helpers import ACCESS_TOKEN, CLIENT_SECRET, VERSION
from tests.conftest import Org
from tests.inventory import probe_fixtures as inventory_probes
from tests.inventory.probe_fixtures import PROBE_SKU
from tests.probe import FIXTURES, probe_body, probe_fixture


def _body() -> dict[str, object]:
    return {"kind": "shopify", "account": f"p-{new_id()[-10:].lower()}.myshopify.com",
            "api_version": VERSION,
            "credentials": {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET}}


def connected_channel(client: TestClient, org: Org) -> str:
    """A Shopify channel with a connection, standing in for inventory's probe channel: the
    connection's routes need one to answer the owner (the probe's control)."""
    inventory_probes.channel(client, org)  # the probe SKU that inventory's routes ask for
    made = client.post("/api/v1/channels", headers=org.headers,
                       json={"name": "Probe shop", "kind": "shopify"})
    assert made.status_code == 201, made.text
    channel_id = str(made.json()["id"])
    response = client.put(f"/api/v1/channels/{channel_id}/connection", headers=org.headers,
                          json=_body())
    assert response.status_code == 201, response.text
    return channel_id


FIXTURES["channel_id"] = connected_channel


@probe_fixture("job_id")
def sync_job(client: TestClient, org: Org) -> str:
    channel_id = connected_channel(client, org)
    response = client.post(f"/api/v1/channels/{channel_id}/sync-jobs", headers=org.headers,
                           json={"kind": "order_pull"})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


probe_body("PUT", "/api/v1/channels/{channel_id}/connection", {**_body(), "kind": "shopify"})
probe_body("PUT", "/api/v1/channels/{channel_id}/mappings", {"mappings": [
    {"resource": "variant", "local": PROBE_SKU, "remote_id": "gid://shopify/ProductVariant/1"}]})
probe_body("POST", "/api/v1/channels/{channel_id}/sync-jobs", {"kind": "order_pull"})
