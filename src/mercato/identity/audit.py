"""The audit log, written in one place: every ORM flush of an audited model leaves an entry.

The listener runs after each flush, while the session still knows what changed, and adds one
``AuditEntry`` per inserted, updated or deleted row, with the actor taken from the session
(``session.info["actor"]``, set by authentication) and the request id from the log context.
Code that changes rows with bulk UPDATE statements calls ``record`` itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

import structlog
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from mercato.core.auth import Principal
from mercato.core.db import Base, require_owned
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity.models import AuditEntry

REDACTED = "[redacted]"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return None
    return value


def _snapshot(obj: Base, *, old: bool) -> dict[str, Any]:
    """Column values of ``obj``; with ``old``, as loaded from the database (before changes)."""
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if old and key in state.committed_state:
            value = state.committed_state[key]
        elif key in state.dict:
            value = state.dict[key]
        else:
            continue
        out[key] = REDACTED if key in obj.__audit_exclude__ and value is not None \
            else _json_safe(value)
    return out


def _resource(obj: Base) -> tuple[str, str, str | None]:
    table = obj.__tablename__
    resource_type = table[:-1] if table.endswith("s") else table
    org = getattr(obj, "organization_id", None)
    if org is None and table == "organizations":
        org = getattr(obj, "id", None)
    return resource_type, str(getattr(obj, "id", "")), org


def _actor(session: Session) -> tuple[str, str | None, str]:
    actor = session.info.get("actor")
    if isinstance(actor, Principal):
        return actor.kind, actor.id, actor.label
    label = session.info.get("actor_label")
    return "system", None, label if isinstance(label, str) else "system"


def record(
    session: Session,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
    organization_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    actor_type, actor_id, actor_label = _actor(session)
    context = structlog.contextvars.get_contextvars()
    entry = AuditEntry(
        organization_id=organization_id,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=before,
        after=after,
        request_id=context.get("request_id"),
    )
    session.add(entry)
    return entry


def _audited(obj: object) -> bool:
    return isinstance(obj, Base) and obj.__audited__


@event.listens_for(Session, "before_flush")
def _remember_before(session: Session, flush_context: Any, instances: Any) -> None:
    """Snapshot changed rows before the flush bumps versions and timestamps."""
    before: dict[int, dict[str, Any]] = session.info.setdefault("audit_before", {})
    for obj in (*session.dirty, *session.deleted):
        if _audited(obj) and id(obj) not in before:
            before[id(obj)] = _snapshot(obj, old=True)


@event.listens_for(Session, "after_flush")
def _audit_flush(session: Session, flush_context: Any) -> None:
    remembered: dict[int, dict[str, Any]] = session.info.pop("audit_before", {})
    changes: list[tuple[str, Base]] = []
    changes += [("created", o) for o in session.new]
    changes += [("updated", o) for o in session.dirty if session.is_modified(o)]
    changes += [("deleted", o) for o in session.deleted]
    for verb, obj in changes:
        if not _audited(obj):
            continue
        resource_type, resource_id, org = _resource(obj)
        if org is None:
            continue
        before = None if verb == "created" else remembered.get(id(obj)) or _snapshot(obj, old=True)
        after = None if verb == "deleted" else _snapshot(obj, old=False)
        if verb == "updated" and before == after:
            continue
        record(session, action=f"{resource_type}.{verb}", resource_type=resource_type,
               resource_id=resource_id, organization_id=org, before=before, after=after)


def list_entries(
    session: Session,
    params: PageParams,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
) -> Slice[AuditEntry]:
    stmt = select(AuditEntry)
    if resource_type:
        stmt = stmt.where(AuditEntry.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditEntry.resource_id == resource_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return paginate(session, stmt, [(AuditEntry.id, True)], params)


def get_entry(session: Session, entry_id: str) -> AuditEntry:
    return require_owned(session, AuditEntry, entry_id, "Audit entry")
