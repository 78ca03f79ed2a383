"""Plugins (``/admin/plugins``): the plugins installed on this server, each enabled, disabled
and configured for this organization.

Same service, schema and permissions as ``plugins.api``: ``plugins:read`` / ``plugins:write``
(and, to enable one, the permissions the plugin declares). A plugin is named by the ``name``
query parameter rather than in the path: it is the same plugin for every organization, and
each organization sees only its own state of it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute
from mercato.plugins import service
from mercato.plugins.schemas import PluginIn
from mercato.web.admin.settings import available, errors_of, flag, posted, text
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
available.add("/admin/plugins")

Name = Annotated[str, Query(max_length=63)]
Form = Annotated[FormData, Depends(posted)]


def _view(state: service.PluginState) -> dict[str, Any]:
    m = state.manifest
    return {"name": m.name, "version": m.version, "description": m.description,
            "hooks": sorted(m.before), "events": sorted(m.after),
            "permissions": sorted(m.permissions), "enabled": state.enabled,
            "priority": state.priority, "config": state.config,
            "schema": json.dumps(dict(m.settings_schema), indent=2, sort_keys=True)}


@router.get("/admin/plugins", response_class=HTMLResponse)
def plugins_page(request: Request, session: DbSession,
                 staff: StaffSession = Depends(staff_page("plugins:read"))) -> Response:
    return render(request, "admin/plugins/index.html", {
        "plugins": [_view(s) for s in service.list_plugins(session)],
        "can_write": staff.can("plugins:write")})


def _settings_page(request: Request, state: service.PluginState, *, can_write: bool,
                   values: dict[str, Any], errors: list[dict[str, Any]],
                   status: int = 200) -> Response:
    by_field, listed = form_errors(errors)
    return render(request, "admin/plugins/settings.html", {
        "plugin": _view(state), "can_write": can_write, "values": values,
        "errors": by_field, "error_list": listed}, status=status)


def _form_values(state: service.PluginState) -> dict[str, Any]:
    return {"enabled": state.enabled, "priority": str(state.priority),
            "config": json.dumps(state.config, indent=2, sort_keys=True)}


@router.get("/admin/plugins/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, name: Name,
                  staff: StaffSession = Depends(staff_page("plugins:read"))) -> Response:
    state = service.get_plugin(session, name)
    return _settings_page(request, state, can_write=staff.can("plugins:write"),
                          values=_form_values(state), errors=[])


def _page_errors(exc: Exception) -> list[dict[str, Any]]:
    """The configuration's errors beside its one text area, each naming its setting."""
    found = []
    for error in errors_of(exc):
        field = str(error.get("field") or "")
        if field.startswith("config."):
            error = {"field": "config", "message": f"{field[7:]}: {error['message']}"}
        found.append(error)
    return found


def _save(request: Request, session: Any, staff: StaffSession, name: str, *, enabled: bool,
          config_text: str, priority_text: str) -> Response:
    state = service.get_plugin(session, name)
    values = {"enabled": enabled, "priority": priority_text, "config": config_text}
    try:
        config = json.loads(config_text or "{}")
    except ValueError as exc:
        return _settings_page(request, state, can_write=True, values=values, status=422,
                              errors=[{"field": "config", "message": f"not JSON: {exc}"}])
    try:
        body = PluginIn.model_validate({"enabled": enabled, "config": config,
                                        "priority": priority_text or None})
        service.configure(session, name, enabled=body.enabled, config=body.config,
                          priority=body.priority, permissions=staff.principal.permissions)
    except (ValidationError, MercatoError) as exc:
        status = exc.status if isinstance(exc, MercatoError) and exc.status in (403, 404) \
            else 422
        return _settings_page(request, state, can_write=True, values=values, status=status,
                              errors=_page_errors(exc))
    done = "enabled" if enabled else "disabled"
    return redirect("/admin/plugins", flash=f"The {name} plugin is saved and {done}.")


@router.post("/admin/plugins/settings", response_class=HTMLResponse)
def save_settings(request: Request, session: DbSession, name: Name, form: Form,
                  staff: StaffSession = Depends(staff_page("plugins:write"))) -> Response:
    return _save(request, session, staff, name, enabled=flag(form, "enabled"),
                 config_text=text(form, "config"), priority_text=text(form, "priority"))


@router.post("/admin/plugins/toggle", response_class=HTMLResponse)
def toggle(request: Request, session: DbSession, name: Name, form: Form,
           staff: StaffSession = Depends(staff_page("plugins:write"))) -> Response:
    """Enable or disable with the settings as they are (enabling one whose settings do not
    fit shows its settings page with what to fix)."""
    state = service.get_plugin(session, name)
    return _save(request, session, staff, name, enabled=flag(form, "enabled"),
                 config_text=json.dumps(state.config), priority_text=str(state.priority))
