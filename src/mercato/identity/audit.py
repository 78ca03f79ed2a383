"""The audit log, written in one place: every ORM flush of an audited model leaves an entry.

The listener runs after each flush, while the session still knows what changed, and adds one
``AuditEntry`` per inserted, updated or deleted row, with the actor taken from the session
(``session.info["actor"]``, set by authentication) and the request id from the log context.
Code that changes rows with bulk UPDATE statements calls ``record`` itself.

An entry's action is ``<resource>.<created|updated|deleted>`` unless the service names what it
did (``named``: an order's update during a fulfilment is ``order.fulfilled``); rows it creates
or deletes meanwhile keep their own entries. A row without an ``id`` column is identified by
its primary key's values joined with ``:`` (``channel_id:variant_id``). ``annotate`` adds
what the row's own columns do not hold (a channel's locations) to its next entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from mercato.core.db import Base, get_owned, require_owned
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.principal import Principal
from mercato.identity.models import ApiKey, AuditEntry, StaffUser

REDACTED = "[redacted]"
NAMES = "audit_names"
"""``session.info`` key: the action named for a resource's updates, by (type, id)."""
NOTES = "audit_notes"
"""``session.info`` key: extra (before, after) fields for a resource's next entry."""


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
    return resource_type, _resource_id(obj), org


def _resource_id(obj: Base) -> str:
    """The row's ``id``, or its primary key's values joined with ``:``."""
    if "id" in inspect(obj).mapper.columns:
        return str(getattr(obj, "id", ""))
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ":".join("" if part is None else str(part) for part in key)


def _key(obj: Base) -> tuple[str, str]:
    resource_type, resource_id, _ = _resource(obj)
    return resource_type, resource_id


@contextlib.contextmanager
def named(session: Session, obj: Base, action: str) -> Iterator[None]:
    """Entries for updates of ``obj`` flushed inside the block are called ``action``
    (``order.fulfilled``, not ``order.updated``); the block ends with a flush."""
    names: dict[tuple[str, str], str] = session.info.setdefault(NAMES, {})
    key = _key(obj)
    previous = names.get(key)
    names[key] = action
    try:
        yield
        session.flush()
    finally:
        if previous is None:
            names.pop(key, None)
        else:
            names[key] = previous


def annotate(session: Session, obj: Base, *, before: dict[str, Any],
             after: dict[str, Any]) -> None:
    """Add fields the row's columns do not hold (its child rows) to the entry the next flush
    writes for ``obj``. The caller changes the row too (its ``updated_at``), so there is one."""
    notes: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = \
        session.info.setdefault(NOTES, {})
    notes[_key(obj)] = (before, after)


Actor = tuple[str, str | None, str]
"""(type, id, label) of who made a change."""


def _actor(session: Session) -> Actor:
    actor = session.info.get("actor")
    if isinstance(actor, Principal):
        return actor.kind, actor.id, actor.label
    label = session.info.get("actor_label")
    return "system", None, label if isinstance(label, str) else "system"


def stored_actor(session: Session, actor_id: str | None) -> Actor | None:
    """The staff member or API key with this id (work done later on their behalf, such as an
    import the worker finishes), or None when there is none."""
    if not actor_id:
        return None
    member = get_owned(session, StaffUser, actor_id)
    if member is not None:
        return "staff", member.id, member.email
    key = get_owned(session, ApiKey, actor_id)
    if key is not None:
        return "api_key", key.id, key.name
    return None


def record(
    session: Session,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
    organization_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_id: str | None = None,
) -> AuditEntry:
    """One entry. ``actor_id``: the staff member or API key the change is made for, when the
    session acts for nobody (the worker finishing someone's import); else the session's."""
    actor_type, actor_id, actor_label = stored_actor(session, actor_id) or _actor(session)
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
    names: dict[tuple[str, str], str] = session.info.get(NAMES) or {}
    notes: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = \
        session.info.get(NOTES) or {}
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
        note = notes.pop((resource_type, resource_id), None)
        if note is not None and before is not None and after is not None:
            before, after = {**before, **note[0]}, {**after, **note[1]}
        if verb == "updated" and before == after:
            continue
        action = names.get((resource_type, resource_id)) if verb == "updated" else None
        record(session, action=action or f"{resource_type}.{verb}",
               resource_type=resource_type, resource_id=resource_id, organization_id=org,
               before=before, after=after)


def list_entries(
    session: Session,
    params: PageParams,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> Slice[AuditEntry]:
    """Newest first; ``since`` (inclusive) and ``before`` (exclusive) bound when."""
    stmt = select(AuditEntry)
    if resource_type:
        stmt = stmt.where(AuditEntry.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditEntry.resource_id == resource_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    if before is not None:
        stmt = stmt.where(AuditEntry.created_at < before)
    return paginate(session, stmt, [(AuditEntry.id, True)], params)


@dataclass(frozen=True)
class TrailEntry:
    """One step of a resource's history as a timeline shows it: what, who, when (never the
    row's before and after, which only ``audit:read`` may see)."""

    action: str
    actor_type: str
    actor_label: str
    created_at: dt.datetime


def trail(session: Session, resource_type: str, resource_id: str, *,
          limit: int = 100) -> list[TrailEntry]:
    """The latest ``limit`` entries of one resource, newest first (an order's timeline)."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.resource_type == resource_type,
                                 AuditEntry.resource_id == resource_id)
        .order_by(AuditEntry.id.desc()).limit(limit))
    return [TrailEntry(action=r.action, actor_type=r.actor_type, actor_label=r.actor_label,
                       created_at=r.created_at) for r in rows]


def get_entry(session: Session, entry_id: str) -> AuditEntry:
    return require_owned(session, AuditEntry, entry_id, "Audit entry")
