"""Settings: staff and roles (``/admin/settings/staff``) and API keys
(``/admin/settings/api-keys``).

Same services and permissions as ``identity.api``: ``staff:read`` / ``staff:write``,
``api_keys:read`` / ``api_keys:write``. Deactivating a member ends their sign-ins (the
service does it), so their browser's session stops at its next request. An API key's secret
and an invitation's token are in the answer to the form that made them, and never again.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.core.errors import MercatoError
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity.schemas import ApiKeyCreate, ApiKeyOwner, StaffCreate, StaffUpdate
from mercato.identity.service import API_KEY_PREFIX, PERMISSIONS, Identity, Role
from mercato.settings import Settings
from mercato.web.admin.auth import INVITE_PATH
from mercato.web.admin.settings import available, failed
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.update({"/admin/settings/staff", "/admin/settings/api-keys"})

PAGE_SIZE = 50
ROLES = [(role.value, role.value.capitalize()) for role in Role]


def _identity(request: Request) -> Identity:
    found: Identity = request.app.state.identity
    return found


def _next_url(path: str, cursor: str | None) -> str | None:
    return f"{path}?cursor={cursor}" if cursor else None


# -- staff -------------------------------------------------------------------------------------

def _staff_values(request: Request, session: Any, staff: StaffSession,
                  cursor: str | None) -> dict[str, Any]:
    page = _identity(request).list_staff(session, PageParams(limit=PAGE_SIZE, cursor=cursor))
    return {"members": page.items, "roles": ROLES,
            "next_url": _next_url("/admin/settings/staff", page.next_cursor),
            "first_url": "/admin/settings/staff" if cursor else None,
            "can_write": staff.can("staff:write")}


@router.get("/admin/settings/staff", response_class=HTMLResponse)
def staff_list(request: Request, session: DbSession,
               cursor: Annotated[str | None, Query(max_length=500)] = None,
               staff: StaffSession = Depends(staff_page("staff:read"))) -> Response:
    return render(request, "admin/settings/staff.html",
                  {**_staff_values(request, session, staff, cursor),
                   "values": {"role": "cashier"}})


@router.post("/admin/settings/staff", response_class=HTMLResponse)
def add_member(request: Request, session: DbSession,
               email: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
               password: Annotated[str, Form()] = "", invite: Annotated[str, Form()] = "",
               staff: StaffSession = Depends(staff_page("staff:write"))) -> Response:
    form = {"email": email, "role": role, "invite": bool(invite)}
    try:
        body = StaffCreate.model_validate({"email": email, "role": role,
                                           "password": password or None,
                                           "invite": bool(invite)})
        user, invite_token = _identity(request).create_staff(
            session, staff.principal, email=body.email, role=body.role,
            password=body.password, invite=body.invite)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/staff.html",
                      _staff_values(request, session, staff, None), exc, form=form)
    if invite_token is None:
        return redirect("/admin/settings/staff", flash=f"{user.email} is added as {user.role}.")
    # The invitation's token is shown in this answer only: it is stored hashed.
    settings: Settings = request.app.state.settings
    link = f"{INVITE_PATH}?{urlencode({'token': invite_token})}"
    return render(request, "admin/settings/invited.html", {
        "member": user, "invite_token": invite_token,
        # the configured address, never the request's Host (which a client chooses)
        "invite_link": (settings.public_url.rstrip("/") if settings.public_url else "") + link})


def _member_page(request: Request, session: Any, staff: StaffSession,
                 staff_id: str) -> dict[str, Any]:
    return {"member": _identity(request).get_staff(session, staff_id), "roles": ROLES,
            "can_write": staff.can("staff:write"), "is_me": staff.principal.id == staff_id}


@router.get("/admin/settings/staff/{staff_id}", response_class=HTMLResponse)
def member(request: Request, staff_id: str, session: DbSession,
           staff: StaffSession = Depends(staff_page("staff:read"))) -> Response:
    values = _member_page(request, session, staff, staff_id)
    return render(request, "admin/settings/member.html",
                  {**values, "values": {"role": values["member"].role}})


def _update(request: Request, session: Any, staff: StaffSession, staff_id: str,
            changes: dict[str, Any], done: str, form: dict[str, Any]) -> Response:
    ident = _identity(request)
    try:
        body = StaffUpdate.model_validate(changes)
        user = ident.get_staff(session, staff_id)
        ident.update_staff(session, staff.principal, user, role=body.role,
                           is_active=body.is_active)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/member.html",
                      _member_page(request, session, staff, staff_id), exc, form=form)
    return redirect(f"/admin/settings/staff/{staff_id}", flash=done.format(email=user.email))


@router.post("/admin/settings/staff/{staff_id}/role", response_class=HTMLResponse)
def change_role(request: Request, staff_id: str, session: DbSession,
                role: Annotated[str, Form()] = "",
                staff: StaffSession = Depends(staff_page("staff:write"))) -> Response:
    return _update(request, session, staff, staff_id, {"role": role},
                   f"{{email}} is now {role}.", {"role": role})


@router.post("/admin/settings/staff/{staff_id}/deactivate", response_class=HTMLResponse)
def deactivate(request: Request, staff_id: str, session: DbSession,
               staff: StaffSession = Depends(staff_page("staff:write"))) -> Response:
    return _update(request, session, staff, staff_id, {"is_active": False},
                   "{email} is deactivated: their sessions and API keys are ended.", {})


@router.post("/admin/settings/staff/{staff_id}/reactivate", response_class=HTMLResponse)
def reactivate(request: Request, staff_id: str, session: DbSession,
               staff: StaffSession = Depends(staff_page("staff:write"))) -> Response:
    return _update(request, session, staff, staff_id, {"is_active": True},
                   "{email} is active again.", {})


# -- API keys ----------------------------------------------------------------------------------

def _key_view(key: Any) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": f"{API_KEY_PREFIX}{key.id}",
            "scopes": list(key.scopes), "created_at": key.created_at,
            "owner_id": key.created_by_id,
            "last_used_at": key.last_used_at, "revoked_at": key.revoked_at}


def _scopes_for(staff: StaffSession) -> list[tuple[str, str]]:
    """The permissions a member may put on a key: those of their own role."""
    return [(name, text) for name, text in PERMISSIONS.items() if staff.can(name)]


def _keys_values(request: Request, session: Any, staff: StaffSession,
                 cursor: str | None) -> dict[str, Any]:
    ident = _identity(request)
    page = ident.list_api_keys(session, PageParams(limit=PAGE_SIZE, cursor=cursor))
    members = ident.list_staff(session, PageParams(limit=250, cursor=None)).items \
        if staff.can("staff:read") else []
    return {"keys": [_key_view(k) for k in page.items], "scopes": _scopes_for(staff),
            "owners": {m.id: m.email for m in members},
            "active_members": [(m.id, m.email) for m in members if m.status == "active"],
            "can_reassign": staff.can("api_keys:reassign") and bool(members),
            "next_url": _next_url("/admin/settings/api-keys", page.next_cursor),
            "first_url": "/admin/settings/api-keys" if cursor else None,
            "can_write": staff.can("api_keys:write")}


@router.get("/admin/settings/api-keys", response_class=HTMLResponse)
def api_keys(request: Request, session: DbSession,
             cursor: Annotated[str | None, Query(max_length=500)] = None,
             staff: StaffSession = Depends(staff_page("api_keys:read"))) -> Response:
    return render(request, "admin/settings/api_keys.html",
                  {**_keys_values(request, session, staff, cursor),
                   "values": {"scopes": []}})


@router.post("/admin/settings/api-keys", response_class=HTMLResponse)
def create_api_key(request: Request, session: DbSession, name: Annotated[str, Form()] = "",
                   scopes: Annotated[list[str] | None, Form()] = None,
                   staff: StaffSession = Depends(staff_page("api_keys:write"))) -> Response:
    chosen = scopes or []
    try:
        body = ApiKeyCreate.model_validate({"name": name, "scopes": chosen})
        key, secret = _identity(request).create_api_key(session, staff.principal,
                                                        name=body.name, scopes=body.scopes)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/api_keys.html",
                      _keys_values(request, session, staff, None), exc,
                      form={"name": name, "scopes": chosen})
    # The secret is in this answer only (stored hashed): no redirect could show it again.
    return render(request, "admin/settings/api_key_created.html",
                  {"key": _key_view(key), "secret": secret})


@router.post("/admin/settings/api-keys/{api_key_id}/owner", response_class=HTMLResponse)
def reassign_api_key(request: Request, api_key_id: str, session: DbSession,
                     staff_id: Annotated[str, Form()] = "",
                     staff: StaffSession = Depends(staff_page("api_keys:reassign"))
                     ) -> Response:
    try:
        body = ApiKeyOwner.model_validate({"staff_id": staff_id})
        key = _identity(request).reassign_api_key(session, api_key_id, staff_id=body.staff_id)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/settings/api_keys.html",
                      _keys_values(request, session, staff, None), exc,
                      form={"scopes": [], "staff_id": staff_id})
    return redirect("/admin/settings/api-keys",
                    flash=f"The key {key.name} has a new owner: their permissions bound it.")


@router.post("/admin/settings/api-keys/{api_key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(request: Request, api_key_id: str, session: DbSession,
                   staff: StaffSession = Depends(staff_page("api_keys:write"))) -> Response:
    key = _identity(request).revoke_api_key(session, api_key_id)
    session.flush()
    return redirect("/admin/settings/api-keys", flash=f"The key {key.name} is revoked.")
