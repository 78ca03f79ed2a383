"""HTTP surface of plugins: each organization's state of the installed plugins, and the
plugins' own routes (``/api/v1/plugins/{name}/...``, only for organizations that enabled
them)."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import APIRouter, Depends, Response

from mercato.core.auth import get_principal, require
from mercato.core.errors import NotFound
from mercato.core.principal import Principal
from mercato.core.problems import PROBLEM_RESPONSES
from mercato.core.uow import DbSession, MercatoRoute
from mercato.plugins import registry, service
from mercato.plugins.schemas import PluginIn, PluginOut

log = structlog.get_logger("mercato.plugins")


def _problem(status: int, description: str) -> dict[str, object]:
    """A route's own description of an error status, keeping its problem+json body."""
    return {**PROBLEM_RESPONSES[status], "description": description}


router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["plugins"])
READ = require("plugins:read")
WRITE = require("plugins:write")


def plugin_out(state: service.PluginState) -> PluginOut:
    m = state.manifest
    return PluginOut(name=m.name, version=m.version, description=m.description,
                     hooks=sorted(m.before), events=sorted(m.after),
                     permissions=sorted(m.permissions),
                     settings_schema=dict(m.settings_schema), has_routes=m.routes is not None,
                     enabled=state.enabled, config=state.config, priority=state.priority)


@router.get("/plugins", response_model=dict[str, list[PluginOut]],
            summary="The plugins installed on this server, with this organization's state")
def list_plugins(*, _: Principal = Depends(READ),
                 session: DbSession) -> dict[str, list[PluginOut]]:
    return {"data": [plugin_out(s) for s in service.list_plugins(session)]}


@router.get("/plugins/{plugin_name}", response_model=PluginOut,
            responses={404: _problem(404, "No such plugin is installed")},
            summary="One installed plugin, with this organization's state")
def get_plugin(plugin_name: str, *, _: Principal = Depends(READ),
               session: DbSession) -> PluginOut:
    return plugin_out(service.get_plugin(session, plugin_name))


@router.put("/plugins/{plugin_name}", response_model=PluginOut,
            responses={404: _problem(404, "No such plugin is installed"),
                       403: _problem(403, "Enabling it needs permissions the caller lacks"),
                       422: _problem(422, "The configuration does not fit the plugin's "
                                          "settings schema")},
            summary="Enable or disable a plugin for this organization, and configure it")
def put_plugin(plugin_name: str, body: PluginIn, *, principal: Principal = Depends(WRITE),
               session: DbSession) -> PluginOut:
    return plugin_out(service.configure(
        session, plugin_name, enabled=body.enabled, config=body.config,
        priority=body.priority, permissions=principal.permissions))


@router.delete("/plugins/{plugin_name}", status_code=204, response_class=Response,
               responses={404: _problem(404, "No such plugin is installed")},
               summary="Disable a plugin for this organization and forget its configuration")
def delete_plugin(plugin_name: str, *, _: Principal = Depends(WRITE),
                  session: DbSession) -> Response:
    service.remove(session, plugin_name)
    return Response(status_code=204)


def _enabled_for_caller(name: str) -> Callable[..., object]:
    """A plugin's routes answer 404 to an organization that has not enabled it."""

    def dependency(_: Principal = Depends(get_principal), *, session: DbSession) -> None:
        if not service.is_enabled(session, name):
            raise NotFound(f"The {name} plugin is not enabled for this organization.")

    return dependency


def startup_routers() -> list[APIRouter]:
    """Every installed plugin's routes, each under ``/api/v1/plugins/<name>`` (mounted by
    ``app.create_app``); a factory that fails is logged and its plugin serves no routes."""
    mounted = []
    for name, manifest in sorted(registry.installed().items()):
        if manifest.routes is None:
            continue
        try:
            inner = manifest.routes()
            if not isinstance(inner, APIRouter):
                raise TypeError(f"routes() gave {type(inner).__name__}, not an APIRouter")
        except Exception as exc:
            log.error("plugin_routes_skipped", plugin=name, error=f"{type(exc).__name__}: {exc}")
            continue
        outer = APIRouter(prefix=f"/api/v1/plugins/{name}", tags=[f"plugin {name}"],
                          route_class=MercatoRoute,
                          dependencies=[Depends(_enabled_for_caller(name))])
        outer.include_router(inner)
        mounted.append(outer)
    return mounted
