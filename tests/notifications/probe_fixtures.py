from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from mercato.notifications.service import queue
from tests.conftest import Org
from tests.probe import probe_fixture


@probe_fixture("notification_id")
def notification(client: TestClient, org: Org) -> str:
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.transaction(tenant=org.id) as session:
        queued = queue(session, kind="password_reset", to="probe@example.com",
                       context={"store_name": "Probe", "customer_name": None,
                                "reset_url": "https://probe.test/r", "token": "t",
                                "expires_at": "soon"},
                       reference=f"password_reset:{new_id()}")
        assert queued is not None
        return str(queued.id)
