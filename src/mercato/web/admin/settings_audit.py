"""Settings: the audit log (``/admin/settings/audit-log``), newest first, with filters by
actor, action, resource type and day, in cursor pages.

Same service and permission as ``identity.api``'s audit routes: ``audit:read``. Days are the
organization's (its time zone).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import get_audit_entry, list_audit_entries
from mercato.identity.service import Identity
from mercato.web.admin.settings import available, next_url
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import form_errors, formats_of, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.add("/admin/settings/audit-log")

PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=100)]


def _day(value: str, field: str, errors: list[dict[str, str]]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append({"field": field, "message": "a date such as 2026-12-31"})
        return None


@router.get("/admin/settings/audit-log", response_class=HTMLResponse)
def audit_log(request: Request, session: DbSession,
              actor: Annotated[str, Query(max_length=26)] = "", action: Text = "",
              resource_type: Text = "", resource_id: Text = "",
              date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
              date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
              cursor: Annotated[str | None, Query(max_length=500)] = None,
              staff: StaffSession = Depends(staff_page("audit:read"))) -> Response:
    zone = formats_of(request).zone
    errors: list[dict[str, str]] = []
    first, last = _day(date_from, "from", errors), _day(date_to, "to", errors)
    since = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC) if first else None
    before = (dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone)
              .astimezone(dt.UTC) if last else None)
    filters = {"actor": actor, "action": action.strip(), "resource_type": resource_type.strip(),
               "resource_id": resource_id.strip(), "from": date_from, "to": date_to}
    entries: list[Any] = []
    next_cursor = None
    if not errors:
        page = list_audit_entries(
            session, PageParams(limit=PAGE_SIZE, cursor=cursor),
            resource_type=filters["resource_type"] or None,
            resource_id=filters["resource_id"] or None, actor_id=actor or None,
            action=filters["action"] or None, since=since, before=before)
        entries, next_cursor = page.items, page.next_cursor
    members: list[tuple[str, str]] = []
    if staff.can("staff:read"):
        identity: Identity = request.app.state.identity
        members = [(m.id, m.email) for m in
                   identity.list_staff(session, PageParams(limit=250, cursor=None)).items]
    by_field, listed = form_errors(errors)
    return render(request, "admin/settings/audit_log.html", {
        "entries": entries, "members": members, "filters": filters,
        "next_url": next_url("/admin/settings/audit-log", next_cursor, **filters),
        "first_url": "/admin/settings/audit-log" if cursor else None,
        "errors": by_field, "error_list": listed}, status=422 if errors else 200,
        block="rows")


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each field with its value before and after, the changed ones marked."""
    names = sorted(set(before or {}) | set(after or {}))
    return [{"name": name, "before": (before or {}).get(name), "after": (after or {}).get(name),
             "changed": (before or {}).get(name) != (after or {}).get(name)} for name in names]


@router.get("/admin/settings/audit-log/{entry_id}", response_class=HTMLResponse)
def audit_entry(request: Request, entry_id: str, session: DbSession,
                staff: StaffSession = Depends(staff_page("audit:read"))) -> Response:
    entry = get_audit_entry(session, entry_id)
    return render(request, "admin/settings/audit_entry.html", {
        "entry": entry, "changes": _changes(entry.before, entry.after)})
