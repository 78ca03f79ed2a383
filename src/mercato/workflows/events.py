"""Every event may start workflows: the ``"*"`` subscriber creates their executions (once per
workflow and event, however often the event is delivered); the worker runs them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mercato.core.outbox import Event, subscribe
from mercato.workflows.service import start_for_event


@subscribe("*", name="workflows.start")
def start_workflows(session: Session, event: Event) -> None:
    start_for_event(session, event)
