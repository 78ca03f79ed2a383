from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.db import utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import DEAD, OutboxDelivery, OutboxEvent
from tests.conftest import Org
from tests.probe import probe_fixture


@probe_fixture("dead_letter_id")
def dead_letter(client: TestClient, org: Org) -> str:
    """A delivery that failed every attempt, written as the dispatcher leaves one."""
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.transaction(tenant=org.id) as session:
        event = OutboxEvent(type="probe.happened", resource_type="probe", resource_id=new_id(),
                            data={})
        delivery = OutboxDelivery(handler="tests.events.probe", resource_key="probe:x",
                                  event=event, status=DEAD, attempts=10, last_error="probe",
                                  done_at=utcnow())
        session.add_all([event, delivery])
        session.flush()
        return str(delivery.id)
