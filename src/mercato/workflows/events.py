"""Every event may start workflows: the ``"*"`` subscriber creates their executions (once per
workflow and event, however often the event is delivered); the worker runs them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.core.outbox import Event, subscribe
from mercato.workflows.models import Workflow
from mercato.workflows.service import start_for_event


def has_event_workflows(session: Session, organization_id: str) -> bool:
    """An organization without an enabled event-triggered workflow gets no delivery per
    event."""
    return session.scalar(select(Workflow.id).where(
        Workflow.organization_id == organization_id, Workflow.enabled.is_(True),
        Workflow.event_type.is_not(None)).limit(1)) is not None


@subscribe("*", name="workflows.start", when=has_event_workflows)
def start_workflows(session: Session, event: Event) -> None:
    start_for_event(session, event)
